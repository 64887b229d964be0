#!/usr/bin/python3
"""Stock proxyless gRPC clients following slicekeeper's endpoints over xDS, nothing of ours on
their side but a bootstrap file.

Usage:
  xds_clients_test.py --slicekeeper BIN --proto-dir DIR --scenario churn --client python|cpp|node
                      [--cpp-client BIN] [--node-dir DIR]
  xds_clients_test.py --slicekeeper BIN --proto-dir DIR --scenario topology

Clients use the gRPC bootstrap of docs/xds.md, pointed at the server. Starts the real server (memory store, --allow_loopback_endpoints) on loopback ports it picks,
gRPC backends on 127.0.0.x that answer /slicekeeper.test.Backend/Who with their own id, and the
client as a separate process (one xDS bootstrap per process) calling, in a loop, and printing
who answered, `xds:///echo.xds-test:grpc` (by port name), or for Node
`xds:///echo.xds-test:<port number>` (grpc-js parses the target's authority as a URL, which a
port name is not). Every backend listens on the same port of its own address, as pods do.
Endpoints are written through slicekeeper's own API.

  churn:    all 3 backends receive calls; marking one not ready and removing another stops
            traffic to both within 2 s; adding a fourth brings it traffic.
  topology: with trafficDistribution PreferClose (zone hints), a client whose bootstrap says
            zone-a is only answered by zone-a backends and one in zone-b only by zone-b ones;
            without hints both reach all four.

Every wait polls the clients' output against a deadline; nothing sleeps for a race. Exits
non-zero on failure.
"""

import argparse
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import python_client_test as sk  # noqa: E402  the server process and stub generation

NAMESPACE = "xds-test"
SERVICE = "echo"
FIRST_CALLS_S = 45     # client start, xDS handshake, first connections (ASan server, cold node)
STOP_WITHIN_S = 2.0    # the bound for a removed / unready endpoint
CONVERGE_S = 15        # how long a change may take to be seen at all before the test fails
STABLE_CALLS = 60      # consecutive answers that show traffic has settled


class Backend:
    """A gRPC server on host:port (0: a free one) answering Who with its id."""

    def __init__(self, ident, host, port):
        import grpc
        self.id = ident
        self.host = host
        handler = grpc.method_handlers_generic_handler(
            "slicekeeper.test.Backend",
            {"Who": grpc.unary_unary_rpc_method_handler(lambda req, ctx: ident.encode())})
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=[handler])
        self.port = self.server.add_insecure_port("%s:%d" % (host, port))
        if self.port == 0:
            raise RuntimeError("cannot bind %s:%d" % (host, port))
        self.server.start()

    def stop(self):
        self.server.stop(None)


class Client:
    """A client process; a thread timestamps each line it prints."""

    def __init__(self, argv, bootstrap, log_path, env):
        env = dict(os.environ, GRPC_XDS_BOOTSTRAP=bootstrap, **env)
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     text=True, bufsize=1)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put((time.monotonic(), line.strip()))
        self.lines.put((time.monotonic(), None))

    def next(self, deadline):
        """(time, answer) of the next call, or None at the deadline; fails if the client died."""
        try:
            t, line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        if line is None:
            raise AssertionError("client exited with %s" % self.proc.wait())
        return t, line

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def await_answers(client, wanted, timeout, allowed=None):
    """Reads answers until every id in `wanted` answered; with `allowed`, fails on any other."""
    deadline = time.monotonic() + timeout
    missing, seen = set(wanted), {}
    while missing:
        got = client.next(deadline)
        if got is None:
            raise AssertionError("no answer from %s within %ss; seen %s" %
                                 (sorted(missing), timeout, seen))
        answer = got[1]
        seen[answer] = seen.get(answer, 0) + 1
        if allowed is not None and answer not in allowed and not answer.startswith("ERR"):
            raise AssertionError("answer from %s, outside %s" % (answer, sorted(allowed)))
        missing.discard(answer)
    return seen


def await_only(client, allowed, since):
    """Reads answers until STABLE_CALLS in a row come from `allowed`; returns the time of the
    last answer from outside (or `since`)."""
    deadline = since + CONVERGE_S
    last_outside, streak = since, 0
    while streak < STABLE_CALLS:
        got = client.next(deadline)
        if got is None:
            raise AssertionError("traffic did not settle on %s within %ss" %
                                 (sorted(allowed), CONVERGE_S))
        t, answer = got
        if answer in allowed:
            streak += 1
        else:
            last_outside, streak = t, 0
    return last_outside


def doc_bootstrap(server_uri, node_id, zone):
    """The gRPC bootstrap users copy from docs/xds.md, pointed at this server."""
    with open(os.path.join(HERE, "..", "..", "docs", "xds.md")) as f:
        text = f.read()
    bootstrap = json.loads(text.split("```json\n", 1)[1].split("```", 1)[0])
    bootstrap["xds_servers"][0]["server_uri"] = server_uri
    bootstrap["node"]["id"] = node_id
    bootstrap["node"]["locality"]["zone"] = zone
    return bootstrap


class Harness:
    """The server, its registry stub, backends and clients of one scenario."""

    def __init__(self, args, work_dir):
        import grpc
        self.args, self.dir = args, work_dir
        (self.pb_change, _, _, self.pb_slice, self.pb_registry, registry_grpc,
         self.pb_service) = sk.pb()
        self.server = sk.Server(["--store=memory", "--allow_loopback_endpoints"])
        self.channel = grpc.insecure_channel(self.server.grpc_address)
        self.reg = registry_grpc.EndpointRegistryStub(self.channel)
        self.backends, self.clients = {}, []
        # Every backend listens on the same port of its own address, as a service's pods do.
        self.port = 0

    def close(self):
        for c in self.clients:
            c.kill()
        for b, _ in self.backends.values():
            b.stop()
        self.channel.close()
        self.server.kill()

    def backend(self, ident, host, zone="zone-a"):
        b = Backend(ident, host, self.port)
        self.port = b.port
        self.backends[ident] = (b, zone)
        return ident

    def change(self, ident, op="UPSERT", ready=True):
        b, zone = self.backends[ident]
        endpoint = self.pb_slice.Endpoint(
            addresses=[b.host], zone=zone, conditions=self.pb_slice.EndpointConditions(ready=ready),
            target_ref=self.pb_slice.ObjectReference(kind="Pod", namespace=NAMESPACE, name=ident))
        return self.pb_change.EndpointChange(
            op=getattr(self.pb_change.EndpointChange, op), namespace=NAMESPACE, service=SERVICE,
            endpoint=endpoint,
            ports=[self.pb_slice.EndpointPort(name="grpc", port=b.port, protocol="TCP")])

    def apply(self, changes):
        """Applies a batch; returns the monotonic time its ack arrived."""
        self.reg.ApplyChanges(self.pb_change.ChangeBatch(changes=changes),
                              timeout=sk.RPC_TIMEOUT_S)
        return time.monotonic()

    def set_traffic_distribution(self, value):
        record = self.pb_service.ServiceRecord(namespace=NAMESPACE, name=SERVICE,
                                               traffic_distribution=value)
        self.reg.UpsertService(self.pb_registry.UpsertServiceRequest(service=record),
                               timeout=sk.RPC_TIMEOUT_S)
        return time.monotonic()

    def client(self, kind, zone):
        bootstrap = os.path.join(self.dir, "bootstrap-%d.json" % len(self.clients))
        with open(bootstrap, "w") as f:
            json.dump(doc_bootstrap(self.server.grpc_address,
                                    "xds-test-%s-%d" % (kind, len(self.clients)), zone), f)
        # By port name; Node by number: grpc-js makes the target's authority a URL, and
        # "echo.xds-test:grpc" does not parse as one.
        target = "xds:///%s.%s:%s" % (SERVICE, NAMESPACE, self.port if kind == "node" else "grpc")
        argv = {"python": ["/usr/bin/python3", os.path.join(HERE, "xds_test_client.py"), target],
                "cpp": [self.args.cpp_client or "", target],
                "node": ["node", os.path.join(HERE, "node", "client.js"), target]}[kind]
        env = {}
        if kind == "node" and self.args.node_dir:
            env["NODE_PATH"] = os.path.join(self.args.node_dir, "node_modules")
        c = Client(argv, bootstrap, os.path.join(self.dir, "client-%d.log" % len(self.clients)),
                   env)
        self.clients.append(c)
        return c


def churn(h, kind):
    b0 = h.backend("b0", "127.0.0.11")
    b1 = h.backend("b1", "127.0.0.12")
    b2 = h.backend("b2", "127.0.0.13")
    h.apply([h.change(b) for b in (b0, b1, b2)])
    client = h.client(kind, "zone-a")
    await_answers(client, {b0, b1, b2}, FIRST_CALLS_S)
    print("all 3 backends answer", flush=True)

    acked = h.apply([h.change(b1, ready=False), h.change(b2, op="REMOVE")])
    last = await_only(client, {b0}, acked)
    print("b1 (not ready) and b2 (removed) last answered %.3fs after the ack" % (last - acked),
          flush=True)
    assert last - acked <= STOP_WITHIN_S, "traffic to b1/b2 went on for %.3fs" % (last - acked)

    b3 = h.backend("b3", "127.0.0.14")
    h.apply([h.change(b3)])
    await_answers(client, {b3}, CONVERGE_S)
    print("the fourth backend answers", flush=True)


def topology(h):
    h.set_traffic_distribution("PreferClose")
    zone_a = {h.backend("a1", "127.0.0.21", "zone-a"), h.backend("a2", "127.0.0.22", "zone-a")}
    zone_b = {h.backend("b1", "127.0.0.23", "zone-b"), h.backend("b2", "127.0.0.24", "zone-b")}
    h.apply([h.change(b) for b in sorted(zone_a | zone_b)])
    in_a, in_b = h.client("python", "zone-a"), h.client("python", "zone-b")
    # Hints are on from the first slice written: never an answer from the other zone.
    await_answers(in_a, zone_a, FIRST_CALLS_S, allowed=zone_a)
    await_answers(in_b, zone_b, FIRST_CALLS_S, allowed=zone_b)
    print("each client is answered only by its zone's backends", flush=True)

    h.set_traffic_distribution("")
    await_answers(in_a, zone_a | zone_b, CONVERGE_S)
    await_answers(in_b, zone_a | zone_b, CONVERGE_S)
    print("without hints both clients reach all four", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--slicekeeper", required=True)
    p.add_argument("--proto-dir", required=True)
    p.add_argument("--scenario", choices=["churn", "topology"], required=True)
    p.add_argument("--client", choices=["python", "cpp", "node"], default="python")
    p.add_argument("--cpp-client")
    p.add_argument("--node-dir", help="folder whose node_modules holds @grpc/grpc-js-xds")
    args = p.parse_args()
    sk.BINARY = args.slicekeeper
    with tempfile.TemporaryDirectory(prefix="slicekeeper-xds-") as work_dir:
        sk.generate_stubs(args.proto_dir, work_dir)
        h = Harness(args, work_dir)
        try:
            if args.scenario == "churn":
                churn(h, args.client)
            else:
                topology(h)
        except AssertionError:
            for i, c in enumerate(h.clients):
                c.kill()
                with open(os.path.join(work_dir, "client-%d.log" % i)) as f:
                    sys.stderr.write("--- client %d stderr ---\n%s" % (i, f.read()[-4000:]))
            h.clients = []
            raise
        finally:
            h.close()
    print("PASS", flush=True)


if __name__ == "__main__":
    main()
