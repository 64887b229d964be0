#!/usr/bin/python3
"""The HTTP port's cost of TLS: the real slicekeeper binary in one invocation, plaintext and
HTTPS with mTLS (--client_auth=require, certificates from scripts/make-certs.sh), the same data
(skctl churn), the same requests, interleaved rounds; and a third server with TLS but no client
certificates, to split the cost of the handshake from that of mTLS. Reports the server's CPU per request (from
/proc/PID/stat) and the client-observed rate, and the TLS/plaintext ratios.

Requests, each on a new connection (the port closes after every response, as a scraper sees it):
  metrics  GET /metrics
  list     GET /apis/discovery.k8s.io/v1/endpointslices (every slice: kubectl get -A, an
           informer's list)
  watch    GET ...endpointslices?watch=1&resourceVersion=0 read until the initial ADDED events of
           every slice arrived (an informer's start; the stream is the chunked path)

Usage: https_cost.py <slicekeeper> <skctl> <make-certs.sh> [--rounds N] [--services N]
"""

import argparse
import http.client
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import python_client_test as sk  # noqa: E402  (the Server helper)

TICK = os.sysconf("SC_CLK_TCK")
LIST = "/apis/discovery.k8s.io/v1/endpointslices"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def request(port, ctx, path, until=None):
    conn = (http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=60) if ctx
            else http.client.HTTPConnection("127.0.0.1", port, timeout=60))
    conn.request("GET", path)
    r = conn.getresponse()
    if r.status != 200:
        raise RuntimeError("%s: %d" % (path, r.status))
    if until is None:
        n = len(r.read())
    else:
        n, lines = 0, 0
        while lines < until:
            line = r.readline()
            n += len(line)
            lines += 1
    conn.close()
    return n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("slicekeeper")
    ap.add_argument("skctl")
    ap.add_argument("make_certs")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per_round", type=int, default=40)
    ap.add_argument("--services", type=int, default=20)
    args = ap.parse_args()
    sk.BINARY = os.path.abspath(args.slicekeeper)
    tmp = tempfile.mkdtemp(prefix="slicekeeper-https-bench-")
    try:
        pki = os.path.join(tmp, "pki")
        subprocess.run(["sh", args.make_certs, pki], check=True, capture_output=True)
        p = lambda name: os.path.join(pki, name)  # noqa: E731
        tls_flags = ["--tls_cert_file=" + p("server.crt"), "--tls_key_file=" + p("server.key")]
        mtls_flags = tls_flags + ["--tls_client_ca_file=" + p("ca.crt"), "--client_auth=require"]
        servers = {"plain": sk.Server(["--store=memory"]),
                   "tls": sk.Server(["--store=memory"] + tls_flags),
                   "mtls": sk.Server(["--store=memory"] + mtls_flags)}
        ctx = ssl.create_default_context(cafile=p("ca.crt"))
        mctx = ssl.create_default_context(cafile=p("ca.crt"))
        mctx.load_cert_chain(p("ops.crt"), p("ops.key"))
        contexts = {"plain": None, "tls": ctx, "mtls": mctx}
        try:
            for name, server in servers.items():
                churn = [args.skctl, "churn", "--server=" + server.grpc_address,
                         "--services=%d" % args.services, "--endpoints=100", "--changes=%d"
                         % (args.services * 200)]
                if name != "plain":
                    churn += ["--ca=" + p("ca.crt"), "--cert=" + p("churn.crt"),
                              "--key=" + p("churn.key")]
                subprocess.run(churn, check=True, capture_output=True)
            kinds = {"metrics": ("/metrics", None), "list": (LIST, None),
                     "watch": (LIST + "?watch=1&resourceVersion=0", args.services)}
            totals = {(s, k): [0.0, 0.0, 0, 0] for s in servers for k in kinds}
            for _ in range(args.rounds):
                for kind, (path, until) in kinds.items():
                    order = ["plain", "tls", "mtls"]
                    for name in (order if _ % 2 == 0 else order[::-1]):
                        pid = servers[name].proc.pid
                        c0, t0 = cpu_seconds(pid), time.monotonic()
                        nbytes = 0
                        for _i in range(args.per_round):
                            nbytes += request(servers[name].http_port, contexts[name], path,
                                              until)
                        t = totals[(name, kind)]
                        t[0] += cpu_seconds(pid) - c0
                        t[1] += time.monotonic() - t0
                        t[2] += args.per_round
                        t[3] += nbytes
            print("| request | bytes | port | µs server CPU/req | CPU vs plain | req/s | "
                  "req/s vs plain |")
            print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
            for kind in kinds:
                pl = totals[("plain", kind)]
                for name in servers:
                    t = totals[(name, kind)]
                    print("| %s | %d | %s | %.0f | %.2f | %.0f | %.2f |"
                          % (kind, t[3] // t[2], name, t[0] / t[2] * 1e6,
                             (t[0] / t[2]) / (pl[0] / pl[2]), t[2] / t[1],
                             (t[2] / t[1]) / (pl[2] / pl[1])))
        finally:
            for server in servers.values():
                server.kill()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
