#!/usr/bin/python3
"""The HTTP port over TLS and mTLS (the same --tls_* and --client_auth flags as gRPC), against the
real slicekeeper binary: kubectl 1.32 with a client certificate (apply, get, a watch that outlives
a certificate rotation), a Python scrape of /metrics, refusals (no certificate under `require`,
a certificate of another CA, plaintext on the TLS port), identities from the certificate (CN and
a SPIFFE URI SAN) feeding the policy, bearer tokens under `request`, and certificate reload.

Usage: https_test.py <slicekeeper> <make-certs.sh> <example slice yaml>

Certificates are made at run time by scripts/make-certs.sh (and openssl for a SPIFFE client).
Prints "N passed, N failed" last; exits non-zero on any failure.
"""

import json
import os
import queue
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import python_client_test as sk  # noqa: E402  (the Server helper)

KUBECTL = "/usr/bin/kubectl"
MAKE_CERTS = None
EXAMPLE = None
DEADLINE_S = 30

POLICY = """rules:
  - {role: writer, identities: [churn, "spiffe://sk.test/ns/default/sa/deployer"]}
  - {role: reader, identities: [watch, ops], groups: [bots]}
"""


class Dir:
    """Paths in a directory: d("ca.crt")."""

    def __init__(self, directory):
        self.directory = directory

    def __call__(self, name):
        return os.path.join(self.directory, name)


def make_certs(directory):
    subprocess.run(["sh", MAKE_CERTS, directory, "slicekeeper"], check=True, capture_output=True)
    return Dir(directory)


def spiffe_client(pki, name, uri):
    """A client certificate of pki's CA whose identity is a SPIFFE URI SAN (CN says otherwise)."""
    key, csr, ext, crt = (pki(name + s) for s in (".key", ".csr", ".ext", ".crt"))
    subprocess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=not-the-identity"],
                   check=True, capture_output=True)
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\nsubjectAltName=URI:%s\n"
                % uri)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", pki("ca.crt"), "-CAkey",
                    pki("ca.key"), "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", crt],
                   check=True, capture_output=True)
    return crt, key


def install(src, dst):
    """Replaces dst atomically, as a secret volume update does."""
    shutil.copyfile(src, dst + ".new")
    os.replace(dst + ".new", dst)


def context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def get(port, path, ctx, token=None):
    """(status, body) of an HTTPS GET; raises on a refused handshake."""
    req = urllib.request.Request("https://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=DEADLINE_S) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def served_certificate(port):
    """The DER certificate a new handshake gets (not verified: the test compares bytes)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def der(path):
    return ssl.PEM_cert_to_DER_cert(open(path).read())


class Kubectl:
    """kubectl with its own HOME and a kubeconfig holding the cluster's CA and a client cert."""

    def __init__(self, port, ca, cert=None, key=None, token=None):
        self.dir = tempfile.mkdtemp(prefix="slicekeeper-kubectl-")
        config = os.path.join(self.dir, "kubeconfig")
        user = {}
        if cert:
            user = {"client-certificate": cert, "client-key": key}
        if token:
            user["token"] = token
        with open(config, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "Config", "current-context": "sk",
                       "clusters": [{"name": "sk", "cluster": {
                           "server": "https://127.0.0.1:%d" % port,
                           "certificate-authority": ca}}],
                       "users": [{"name": "u", "user": user}],
                       "contexts": [{"name": "sk", "context": {
                           "cluster": "sk", "user": "u", "namespace": "default"}}]}, f)
        self.env = dict(os.environ, HOME=self.dir, KUBECONFIG=config)
        self.base = [KUBECTL, "--cache-dir=" + os.path.join(self.dir, "cache")]

    def run(self, *args):
        return subprocess.run(self.base + list(args), env=self.env, capture_output=True,
                              text=True, timeout=DEADLINE_S)

    def apply(self, yaml):
        return subprocess.run(self.base + ["apply", "-f", "-"], env=self.env, input=yaml,
                              capture_output=True, text=True, timeout=DEADLINE_S)

    def popen(self, *args):
        return subprocess.Popen(self.base + list(args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def lines(pipe, out):
    for line in iter(pipe.readline, ""):
        out.put(line.strip())
    out.put(None)


def slice_yaml(name, address):
    with open(EXAMPLE) as f:
        text = f.read()
    return text.replace("example-abc", name).replace("10.1.2.3", address)


class HttpsTest(unittest.TestCase):
    """One server with --client_auth=require, a policy and a token file."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="slicekeeper-https-")
        cls.pki = make_certs(os.path.join(cls.tmp, "pki"))
        cls.other = make_certs(os.path.join(cls.tmp, "other"))  # another CA, same names
        cls.deployer = spiffe_client(cls.pki, "deployer", "spiffe://sk.test/ns/default/sa/deployer")
        # The server reads its files from here; rotations replace them.
        cls.live = Dir(cls.tmp)
        for name in ("server.crt", "server.key", "ca.crt"):
            shutil.copyfile(cls.pki(name), cls.live(name))
        with open(cls.live("policy.yaml"), "w") as f:
            f.write(POLICY)
        cls.server = sk.Server([
            "--store=memory", "--tls_cert_file=" + cls.live("server.crt"),
            "--tls_key_file=" + cls.live("server.key"),
            "--tls_client_ca_file=" + cls.live("ca.crt"), "--client_auth=require",
            "--tls_reload_interval=1s", "--authz_policy_file=" + cls.live("policy.yaml")])
        cls.port = cls.server.http_port

    @classmethod
    def tearDownClass(cls):
        cls.server.kill()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def kubectl(self, user, **kw):
        cert, key = (self.pki(user + ".crt"), self.pki(user + ".key")) if user else (None, None)
        k = Kubectl(self.port, self.pki("ca.crt"), cert, key, **kw)
        self.addCleanup(k.cleanup)
        return k

    def test_kubectl_writes_reads_and_watches_over_mtls(self):
        churn = self.kubectl("churn")
        watch = self.kubectl("watch")
        proc = watch.popen("get", "endpointslices", "--watch", "-o",
                           "custom-columns=NAME:.metadata.name,ADDR:.endpoints[0].addresses[0]",
                           "--no-headers")
        self.addCleanup(proc.kill)
        out = queue.Queue()
        threading.Thread(target=lines, args=(proc.stdout, out), daemon=True).start()
        p = churn.apply(slice_yaml("web-1", "10.9.0.1"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(out.get(timeout=DEADLINE_S).split(), ["web-1", "10.9.0.1"])
        got = watch.run("get", "endpointslices", "web-1", "-o", "json")
        self.assertEqual(got.returncode, 0, got.stderr)
        self.assertEqual(json.loads(got.stdout)["endpoints"][0]["addresses"], ["10.9.0.1"])
        # The identity is the certificate's CN: `watch` is a reader, so its write is forbidden.
        denied = watch.apply(slice_yaml("web-2", "10.9.0.2"))
        self.assertNotEqual(denied.returncode, 0)
        self.assertIn('identity "watch" is not a writer', denied.stderr)

    def test_spiffe_uri_san_is_the_identity(self):
        cert, key = self.deployer
        k = Kubectl(self.port, self.pki("ca.crt"), cert, key)
        self.addCleanup(k.cleanup)
        p = k.apply(slice_yaml("spiffe-1", "10.9.1.1"))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_metrics_scrape_over_mtls(self):
        ctx = context(self.pki("ca.crt"), self.pki("ops.crt"), self.pki("ops.key"))
        status, body = get(self.port, "/metrics", ctx)
        self.assertEqual(status, 200)
        self.assertIn("slicekeeper_", body)
        self.assertEqual(get(self.port, "/healthz", ctx)[0], 200)

    def test_refusals(self):
        ca = self.pki("ca.crt")
        # No client certificate under `require`: the handshake fails, nothing is served.
        with self.assertRaises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            get(self.port, "/healthz", context(ca))
        # A certificate of another CA.
        with self.assertRaises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            get(self.port, "/healthz", context(ca, self.other("ops.crt"), self.other("ops.key")))
        # kubectl without a certificate.
        p = self.kubectl(None).run("get", "endpointslices")
        self.assertNotEqual(p.returncode, 0)
        # Plaintext HTTP on the TLS port is never served.
        with socket.create_connection(("127.0.0.1", self.port), timeout=DEADLINE_S) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            try:
                while chunk := s.recv(4096):
                    reply += chunk
            except ConnectionError:
                pass
        self.assertNotIn(b"HTTP/1.1 200", reply)
        # The server still serves good clients.
        ctx = context(ca, self.pki("ops.crt"), self.pki("ops.key"))
        self.assertEqual(get(self.port, "/healthz", ctx)[0], 200)

    def test_zz_rotation(self):
        """Runs last (name order): rotates the server certificate and the client CA to `other`."""
        watch = self.kubectl("watch")
        proc = watch.popen("get", "endpointslices", "--watch", "-o",
                           "custom-columns=NAME:.metadata.name", "--no-headers")
        self.addCleanup(proc.kill)
        out = queue.Queue()
        threading.Thread(target=lines, args=(proc.stdout, out), daemon=True).start()
        churn = self.kubectl("churn")
        p = churn.apply(slice_yaml("before", "10.9.2.1"))
        self.assertEqual(p.returncode, 0, p.stderr)
        seen = set()
        while "before" not in seen:
            seen.add(out.get(timeout=DEADLINE_S))
        self.assertEqual(served_certificate(self.port), der(self.pki("server.crt")))

        install(self.other("server.key"), self.live("server.key"))
        install(self.other("server.crt"), self.live("server.crt"))
        install(self.other("ca.crt"), self.live("ca.crt"))
        deadline = time.monotonic() + DEADLINE_S
        while served_certificate(self.port) != der(self.other("server.crt")):
            self.assertLess(time.monotonic(), deadline, "the new certificate was never served")
            time.sleep(0.1)
        # New connections: the other CA's clients get in, the old CA's do not.
        ctx = context(self.other("ca.crt"), self.other("ops.crt"), self.other("ops.key"))
        self.assertEqual(get(self.port, "/metrics", ctx)[0], 200)
        with self.assertRaises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            get(self.port, "/healthz",
                context(self.other("ca.crt"), self.pki("ops.crt"), self.pki("ops.key")))
        # The watch opened before the rotation keeps going.
        k = Kubectl(self.port, self.other("ca.crt"), self.other("churn.crt"),
                    self.other("churn.key"))
        self.addCleanup(k.cleanup)
        p = k.apply(slice_yaml("after", "10.9.2.2"))
        self.assertEqual(p.returncode, 0, p.stderr)
        while "after" not in seen:
            line = out.get(timeout=DEADLINE_S)
            if line is None:
                proc.kill()
                self.fail("the watch opened before the rotation ended: " + proc.stderr.read())
            seen.add(line)


class HttpsRequestModeTest(unittest.TestCase):
    """--client_auth=request: a certificate is optional; a bearer token works without one."""

    def test_token_without_certificate(self):
        tmp = tempfile.mkdtemp(prefix="slicekeeper-https-")
        self.addCleanup(shutil.rmtree, tmp, True)
        pki = make_certs(os.path.join(tmp, "pki"))
        with open(os.path.join(tmp, "policy.yaml"), "w") as f:
            f.write(POLICY)
        with open(os.path.join(tmp, "tokens.csv"), "w") as f:
            f.write("tok-bot,bot,bots\n")
        server = sk.Server([
            "--store=memory", "--tls_cert_file=" + pki("server.crt"),
            "--tls_key_file=" + pki("server.key"), "--tls_client_ca_file=" + pki("ca.crt"),
            "--client_auth=request", "--authz_policy_file=" + os.path.join(tmp, "policy.yaml"),
            "--token_file=" + os.path.join(tmp, "tokens.csv")])
        self.addCleanup(server.kill)
        ctx = context(pki("ca.crt"))
        self.assertEqual(get(server.http_port, "/metrics", ctx, token="tok-bot")[0], 200)
        self.assertEqual(get(server.http_port, "/metrics", ctx)[0], 401)
        self.assertEqual(get(server.http_port, "/metrics", ctx, token="wrong")[0], 401)
        k = Kubectl(server.http_port, pki("ca.crt"), token="tok-bot")
        self.addCleanup(k.cleanup)
        p = k.run("get", "endpointslices", "-A")
        self.assertEqual(p.returncode, 0, p.stderr)
        # A foreign certificate is refused even though one is optional.
        other = make_certs(os.path.join(tmp, "other"))
        with self.assertRaises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            get(server.http_port, "/healthz", context(pki("ca.crt"), other("ops.crt"),
                                                     other("ops.key")))


def main():
    global MAKE_CERTS, EXAMPLE
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    sk.BINARY = os.path.abspath(sys.argv[1])
    MAKE_CERTS, EXAMPLE = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    suite = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors)
    print("%d passed, %d failed" % (result.testsRun - failed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
