#!/usr/bin/python3
"""Real Kubernetes clients against the real slicekeeper binary: kubectl (1.32, /usr/bin/kubectl)
and an @kubernetes/client-node 2.0.1 informer, compared with what the gRPC API says the store
holds.

Usage: k8s_clients_test.py <slicekeeper> <proto dir> <node dir> <example slice yaml>

<node dir> holds informer.mjs and its node_modules (npm ci of tests/k8s/clients, done by the
k8s_node_modules ctest fixture). kubectl runs with a fresh HOME, kubeconfig and cache directory
in a temp dir. Prints "N passed, N failed" last; exits non-zero on any failure.
"""

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import python_client_test as sk  # noqa: E402  (the Server and stub helpers)

KUBECTL = "/usr/bin/kubectl"
NODE_DIR = None
EXAMPLE = None
DEADLINE_S = 60


def eventually(check, what, deadline_s=DEADLINE_S):
    """Polls check() (returning (done, detail)) until done or the deadline; fails with detail."""
    end = time.monotonic() + deadline_s
    while True:
        done, detail = check()
        if done:
            return detail
        if time.monotonic() > end:
            raise AssertionError("%s: not reached in %ds; last: %s" % (what, deadline_s, detail))
        time.sleep(0.05)


def normalize(value):
    """Drops empty values (null, [], {}) recursively: Kubernetes JSON and protobuf's mapping
    differ only in how they print emptiness."""
    if isinstance(value, dict):
        out = {k: normalize(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, [], {})}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


class Cluster:
    """A slicekeeper server with gRPC stubs and the helpers to write and read the store."""

    def __init__(self, extra_args=()):
        import grpc
        (self.change, self.discovery, discovery_grpc, self.slice, self.registry, registry_grpc,
         _) = sk.pb()
        self.server = sk.Server(extra_args)
        self.channel = grpc.insecure_channel(self.server.grpc_address)
        self.reg = registry_grpc.EndpointRegistryStub(self.channel)
        self.disc = discovery_grpc.EndpointDiscoveryStub(self.channel)
        self.url = "http://127.0.0.1:%d" % self.server.http_port

    def close(self):
        self.channel.close()
        self.server.kill()

    def endpoint_change(self, ns, service, i, ready=True, remove=False):
        op = self.change.EndpointChange.REMOVE if remove else self.change.EndpointChange.UPSERT
        c = self.change.EndpointChange(op=op, namespace=ns, service=service)
        c.endpoint.addresses.append("10.%d.%d.%d" % (1 + i // 62500, i // 250 % 250, i % 250 + 1))
        c.endpoint.conditions.ready = ready
        c.endpoint.zone = "zone-%d" % (i % 3)
        c.endpoint.node_name = "node-%d" % (i % 5)
        c.endpoint.target_ref.kind = "Pod"
        c.endpoint.target_ref.name = "pod-%d" % i
        if not remove:
            c.ports.add(name="http", port=8080, protocol="TCP")
        return c

    def apply(self, changes):
        return self.reg.ApplyChanges(self.change.ChangeBatch(changes=changes),
                                     timeout=sk.RPC_TIMEOUT_S).revision

    def slices(self, **request):
        answer = self.disc.ListEndpointSlices(self.discovery.ListEndpointSlicesRequest(**request),
                                              timeout=sk.RPC_TIMEOUT_S)
        return {"%s/%s" % (s.metadata.namespace, s.metadata.name): s for s in answer.slices}

    def state(self):
        """ns/name -> (resourceVersion, first addresses), as the informer reports it."""
        return {k: {"rv": s.metadata.resource_version,
                    "addresses": [e.addresses[0] for e in s.endpoints]}
                for k, s in self.slices().items()}

    def metric(self, name):
        with urllib.request.urlopen(self.url + "/metrics", timeout=10) as r:
            for line in r.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
        return None


class Kubectl:
    """kubectl with its own HOME, kubeconfig and cache directory."""

    def __init__(self, url):
        self.dir = tempfile.mkdtemp(prefix="slicekeeper-kubectl-")
        config = os.path.join(self.dir, "kubeconfig")
        with open(config, "w") as f:
            f.write("apiVersion: v1\nkind: Config\n"
                    "clusters: [{name: sk, cluster: {server: '%s'}}]\n"
                    "users: [{name: anonymous, user: {}}]\n"
                    "contexts: [{name: sk, context: {cluster: sk, user: anonymous, "
                    "namespace: default}}]\ncurrent-context: sk\n" % url)
        self.env = dict(os.environ, HOME=self.dir, KUBECONFIG=config)
        self.base = [KUBECTL, "--cache-dir=" + os.path.join(self.dir, "cache")]

    def run(self, *args, check=True):
        p = subprocess.run(self.base + list(args), env=self.env, capture_output=True, text=True,
                           timeout=DEADLINE_S)
        if check and p.returncode != 0:
            raise AssertionError("kubectl %s failed: %s" % (" ".join(args), p.stderr))
        return p

    def popen(self, *args):
        return subprocess.Popen(self.base + list(args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def json_stream(pipe, out):
    """Reads concatenated JSON documents (kubectl's watch output) from pipe into queue out."""
    decoder, buf = json.JSONDecoder(), ""
    for chunk in iter(lambda: pipe.read(1), ""):
        buf += chunk
        stripped = buf.lstrip()
        if not stripped.endswith("}"):
            continue
        try:
            obj, end = decoder.raw_decode(stripped)
        except ValueError:
            continue
        out.put(obj)
        buf = stripped[end:]
    out.put(None)


class KubectlTest(unittest.TestCase):
    """kubectl against a server after a churn of 3 services."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.kubectl = Kubectl(cls.cluster.url)
        c = cls.cluster
        for s in range(3):
            c.apply([c.endpoint_change("k8s", "svc-%d" % s, 1000 * s + i) for i in range(150)])
        for step in range(20):  # removes, re-adds and readiness flips
            c.apply([c.endpoint_change("k8s", "svc-%d" % (step % 3), 1000 * (step % 3) + i,
                                       ready=step % 2 == 0, remove=i % 7 == 0)
                     for i in range(step, 150, 11)])

    @classmethod
    def tearDownClass(cls):
        cls.kubectl.cleanup()
        cls.cluster.close()

    def test_get_all_namespaces_lists_every_slice(self):
        out = self.kubectl.run("get", "endpointslices", "-A").stdout.splitlines()
        self.assertEqual(out[0].split(), ["NAMESPACE", "NAME", "ADDRESSTYPE", "PORTS",
                                          "ENDPOINTS", "AGE"])
        listed = {"%s/%s" % tuple(line.split()[:2]) for line in out[1:]}
        self.assertEqual(listed, set(self.cluster.slices()))
        self.assertGreaterEqual(len(listed), 6)

    def test_json_equals_grpc_field_by_field(self):
        from google.protobuf import json_format
        items = json.loads(self.kubectl.run("get", "endpointslices", "-A", "-o", "json").stdout)
        got = {"%s/%s" % (i["metadata"]["namespace"], i["metadata"]["name"]): i
               for i in items["items"]}
        want = {}
        for key, s in self.cluster.slices().items():
            d = json_format.MessageToDict(s)
            d["metadata"]["generation"] = int(d["metadata"]["generation"])  # int64: a JSON string
            want[key] = d
        self.assertEqual(set(got), set(want))
        for key in want:
            self.assertEqual(normalize(got[key]), normalize(want[key]), key)
            self.assertIsInstance(got[key]["metadata"]["generation"], int)
            self.assertIsInstance(got[key]["metadata"]["resourceVersion"], str)

    def test_label_selector_filters(self):
        out = self.kubectl.run("get", "endpointslices", "-n", "k8s", "-o", "name", "-l",
                               "kubernetes.io/service-name=svc-1").stdout.split()
        want = self.cluster.slices(namespace="k8s", service="svc-1")
        self.assertEqual(sorted(out), sorted("endpointslice.discovery.k8s.io/" + k.split("/")[1]
                                             for k in want))

    def put(self, name, ip):
        s = self.cluster.slice.EndpointSlice()
        s.metadata.name, s.metadata.namespace = name, "watched"
        s.metadata.labels["kubernetes.io/service-name"] = "w"
        s.metadata.labels["endpointslice.kubernetes.io/managed-by"] = "test"
        s.address_type = "IPv4"
        s.endpoints.add().addresses.append(ip)
        self.cluster.reg.PutEndpointSlice(self.cluster.registry.PutEndpointSliceRequest(slice=s),
                                          timeout=sk.RPC_TIMEOUT_S)

    def test_watch_sees_scripted_changes_in_order(self):
        proc = self.kubectl.popen("get", "endpointslices", "-n", "watched", "--watch",
                                  "--output-watch-events", "-o", "json")
        events = queue.Queue()
        threading.Thread(target=json_stream, args=(proc.stdout, events), daemon=True).start()
        seen = []

        def expect(kind, name):
            event = events.get(timeout=DEADLINE_S)
            if event is None:
                self.fail("kubectl exited: %s" % proc.stderr.read())
            seen.append((event["type"], event["object"]["metadata"]["name"]))
            self.assertEqual(seen[-1], (kind, name), seen)
        try:
            self.put("s1", "10.9.0.1")
            expect("ADDED", "s1")
            self.put("s1", "10.9.0.2")
            expect("MODIFIED", "s1")
            self.put("s2", "10.9.0.3")
            expect("ADDED", "s2")
            self.cluster.reg.DeleteEndpointSlice(self.cluster.registry.DeleteEndpointSliceRequest(
                namespace="watched", name="s1"), timeout=sk.RPC_TIMEOUT_S)
            expect("DELETED", "s1")
        finally:
            proc.kill()
            proc.wait()

    def test_create_get_invalid_delete(self):
        self.kubectl.run("create", "-f", EXAMPLE)
        got = json.loads(self.kubectl.run("get", "endpointslice", "example-abc", "-o",
                                          "json").stdout)
        self.assertEqual(got["endpoints"][0]["addresses"], ["10.1.2.3"])
        self.assertEqual(got["metadata"]["labels"]["kubernetes.io/service-name"], "example")
        self.assertIn("default/example-abc", self.cluster.slices())
        with open(EXAMPLE) as f:
            bad = f.read().replace("10.1.2.3", "127.0.0.1").replace("example-abc", "bad-one")
        p = subprocess.run(self.kubectl.base + ["create", "-f", "-"], input=bad, env=self.kubectl.env,
                           capture_output=True, text=True, timeout=DEADLINE_S)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('The EndpointSlice "bad-one" is invalid: endpoints[0].addresses[0]',
                      p.stderr)
        self.assertNotIn("default/bad-one", self.cluster.slices())
        self.kubectl.run("delete", "endpointslice", "example-abc")
        p = self.kubectl.run("get", "endpointslice", "example-abc", check=False)
        self.assertIn("NotFound", p.stderr)
        self.assertNotIn("default/example-abc", self.cluster.slices())


class InformerTest(unittest.TestCase):
    """A client-node informer: initial sync, 1 000 changes, and a relist after it fell out of
    the history."""

    def setUp(self):
        self.cluster = Cluster(["--history=50", "--watch_max_lag=1s"])
        self.node = None

    def tearDown(self):
        if self.node is not None:
            self.node.kill()
            self.node.wait()
        self.cluster.close()

    def dump(self):
        self.node.stdin.write("dump\n")
        self.node.stdin.flush()
        line = self.node.stdout.readline()
        if not line:
            self.fail("the informer exited: %s" % self.node.stderr.read())
        return json.loads(line)

    def converged(self):
        dump, state = self.dump(), self.cluster.state()
        return dump["objects"] == state, {"informer": len(dump["objects"]), "store": len(state),
                                          "lists": dump["lists"], "errors": dump["errors"]}

    def test_informer_follows_the_store(self):
        c = self.cluster
        for s in range(3):
            c.apply([c.endpoint_change("inf", "svc-%d" % s, 1000 * s + i) for i in range(100)])
        self.node = subprocess.Popen(["node", os.path.join(NODE_DIR, "informer.mjs"), c.url],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.assertEqual(json.loads(self.node.stdout.readline() or "null"), {"event": "started"})
        eventually(self.converged, "initial sync")
        # 1 000 changes in 100 commits: readiness flips, removes and new endpoints.
        for b in range(100):
            c.apply([c.endpoint_change("inf", "svc-%d" % (b % 3), 1000 * (b % 3) + (b * 7 + i) % 130,
                                       ready=(b + i) % 3 != 0, remove=(b + i) % 5 == 0)
                     for i in range(10)])
        eventually(self.converged, "after 1 000 changes")
        self.assertEqual(self.dump()["lists"], 1)
        # Stop the informer while slices are rewritten far beyond the 50 retained commits and
        # the socket buffers: the hub resets its watch for lag, it gets 410 and lists again.
        self.node.send_signal(signal.SIGSTOP)
        try:
            b = 0
            while c.metric("slicekeeper_watch_lag_resets") < 1:
                self.assertLess(b, 5000, "the hub never reset the stalled informer")
                # Every write flips one endpoint: each is a commit rewriting a 100-endpoint slice.
                c.apply([c.endpoint_change("inf", "svc-%d" % (b % 3), 1000 * (b % 3) + b % 100,
                                           ready=b // 300 % 2 == 1)])
                b += 1
        finally:
            self.node.send_signal(signal.SIGCONT)
        detail = eventually(lambda: (lambda d: (d[0] and d[1]["lists"] >= 2, d[1]))(
            self.converged()), "relist after 410")
        self.assertEqual(detail["errors"], [])


def main():
    global NODE_DIR, EXAMPLE
    if len(sys.argv) != 5:
        print(__doc__)
        return 2
    sk.BINARY, sk.PROTO_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    NODE_DIR, EXAMPLE = os.path.abspath(sys.argv[3]), os.path.abspath(sys.argv[4])
    for tool in (KUBECTL, shutil.which("node") or "node"):
        if not os.access(tool, os.X_OK):
            print("missing %s: kubectl 1.32 and Node >= 20.18 come with the machine image" % tool)
            return 1
    return sk.run_tests(sys.modules[__name__])


if __name__ == "__main__":
    sys.exit(main())
