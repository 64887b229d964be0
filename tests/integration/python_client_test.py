#!/usr/bin/python3
"""An independent client of the real slicekeeper binary, in Python.

Usage: python_client_test.py <slicekeeper binary> <proto dir>

Generates the Python stubs from the repo's protos at run time (Debian's protoc and
grpc_python_plugin, matching Debian's python3-protobuf / python3-grpcio), starts the server on
loopback ports it picks itself, and checks what a non-C++ client sees: Kubernetes JSON field names,
QueryEndpoints' ROUTABLE rule, field paths in INVALID_ARGUMENT, StreamChanges acks in order, a
watcher following a pod's lifecycle, and a clean exit on SIGTERM. Prints "N passed, N failed" last; exits non-zero on any failure.
"""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

PROTOC = "/usr/bin/protoc"
GRPC_PYTHON_PLUGIN = "/usr/bin/grpc_python_plugin"
START_TIMEOUT_S = 20
RPC_TIMEOUT_S = 15

BINARY = None
PROTO_DIR = None


def generate_stubs(proto_dir, out_dir):
    protos = sorted(glob.glob(os.path.join(proto_dir, "slicekeeper", "v1", "*.proto")))
    if not protos:
        raise RuntimeError("no protos under %s" % proto_dir)
    subprocess.run([PROTOC, "-I", proto_dir, "--python_out=" + out_dir,
                    "--grpc_python_out=" + out_dir,
                    "--plugin=protoc-gen-grpc_python=" + GRPC_PYTHON_PLUGIN] + protos,
                   check=True)
    sys.path.insert(0, out_dir)


class Server:
    """The slicekeeper process, on ports it picked and reported through --port_file."""

    def __init__(self, extra_args=()):
        self.dir = tempfile.mkdtemp(prefix="slicekeeper-py-")
        port_file = os.path.join(self.dir, "ports")
        self.proc = subprocess.Popen(
            [BINARY, "--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
             "--port_file=" + port_file, "--log_level=warn"] + list(extra_args),
            cwd=self.dir)  # Relative defaults (a data directory) stay in this temp dir.
        deadline = time.monotonic() + START_TIMEOUT_S
        # Bounded polling: the server renames a complete file into place once both ports are bound.
        while True:
            if os.path.exists(port_file):
                with open(port_file) as f:
                    grpc_port, http_port = (int(p) for p in f.read().split())
                self.grpc_address = "127.0.0.1:%d" % grpc_port
                self.http_port = http_port
                return
            code = self.proc.poll()
            if code is not None:
                self.cleanup()
                raise RuntimeError("slicekeeper exited with %d before writing its ports" % code)
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("slicekeeper wrote no port file within %ds" % START_TIMEOUT_S)
            time.sleep(0.005)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.cleanup()

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def pb():
    """The generated modules (imported after generate_stubs)."""
    import grpc  # noqa: F401
    from slicekeeper.v1 import change_pb2, discovery_pb2, discovery_pb2_grpc
    from slicekeeper.v1 import endpoint_slice_pb2, registry_pb2, registry_pb2_grpc, service_pb2
    return (change_pb2, discovery_pb2, discovery_pb2_grpc, endpoint_slice_pb2, registry_pb2,
            registry_pb2_grpc, service_pb2)


class ClientTest(unittest.TestCase):
    """One server for the class; each test uses its own service names."""

    @classmethod
    def setUpClass(cls):
        import grpc
        (cls.change, cls.discovery, discovery_grpc, cls.slice, cls.registry, registry_grpc,
         cls.service) = pb()
        cls.server = Server()
        cls.channel = grpc.insecure_channel(cls.server.grpc_address)
        cls.reg = registry_grpc.EndpointRegistryStub(cls.channel)
        cls.disc = discovery_grpc.EndpointDiscoveryStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        cls.server.kill()

    def upsert(self, service, ip, ready=True, serving=None, terminating=None, **endpoint):
        conditions = self.slice.EndpointConditions(ready=ready)
        if serving is not None:
            conditions.serving = serving
        if terminating is not None:
            conditions.terminating = terminating
        return self.change.EndpointChange(
            op=self.change.EndpointChange.UPSERT, namespace="py", service=service,
            endpoint=self.slice.Endpoint(addresses=[ip], conditions=conditions, **endpoint),
            ports=[self.slice.EndpointPort(name="http", port=8080, protocol="TCP")])

    def apply(self, changes, batch_id=0):
        return self.reg.ApplyChanges(self.change.ChangeBatch(batch_id=batch_id, changes=changes),
                                     timeout=RPC_TIMEOUT_S)

    def query(self, service, condition):
        request = self.discovery.QueryEndpointsRequest(namespace="py", service=service,
                                                       condition=condition)
        response = self.disc.QueryEndpoints(request, timeout=RPC_TIMEOUT_S)
        return [e.address for e in response.endpoints]

    def test_slices_use_kubernetes_json_field_names(self):
        from google.protobuf.json_format import MessageToDict
        record = self.service.ServiceRecord(namespace="py", name="web", labels={"app": "web"})
        self.reg.UpsertService(self.registry.UpsertServiceRequest(service=record),
                               timeout=RPC_TIMEOUT_S)
        target = self.slice.ObjectReference(kind="Pod", namespace="py", name="web-0")
        ack = self.apply([self.upsert("web", "10.4.0.1", node_name="node-1", zone="zone-a",
                                      hostname="web-0", target_ref=target)], batch_id=5)
        self.assertEqual(ack.batch_id, 5)
        listing = self.disc.ListEndpointSlices(
            self.discovery.ListEndpointSlicesRequest(namespace="py", service="web"),
            timeout=RPC_TIMEOUT_S)
        self.assertEqual(len(listing.slices), 1)
        listed = MessageToDict(listing.slices[0])
        got = self.disc.GetEndpointSlice(
            self.discovery.GetEndpointSliceRequest(namespace="py",
                                                   name=listed["metadata"]["name"]),
            timeout=RPC_TIMEOUT_S)
        for obj in (listed, MessageToDict(got.slice)):
            self.assertEqual(obj["apiVersion"], "discovery.k8s.io/v1")
            self.assertEqual(obj["kind"], "EndpointSlice")
            self.assertEqual(obj["addressType"], "IPv4")
            self.assertEqual(obj["metadata"]["resourceVersion"], str(ack.revision))
            self.assertEqual(obj["metadata"]["labels"]["kubernetes.io/service-name"], "web")
            self.assertEqual(obj["metadata"]["labels"]["app"], "web")
            self.assertIn("creationTimestamp", obj["metadata"])
            self.assertEqual(obj["metadata"]["ownerReferences"][0]["kind"], "Service")
            endpoint = obj["endpoints"][0]
            self.assertEqual(endpoint["addresses"], ["10.4.0.1"])
            self.assertEqual(endpoint["nodeName"], "node-1")
            self.assertEqual(endpoint["zone"], "zone-a")
            self.assertEqual(endpoint["hostname"], "web-0")
            self.assertEqual(endpoint["targetRef"], {"kind": "Pod", "namespace": "py",
                                                     "name": "web-0"})
            self.assertEqual(endpoint["conditions"]["ready"], True)
            self.assertEqual(obj["ports"], [{"name": "http", "port": 8080, "protocol": "TCP"}])
            self.assert_camel_case(obj)

    def assert_camel_case(self, obj, path="slice"):
        """No proto snake_case field name leaks into the JSON (map keys are data, not fields)."""
        if isinstance(obj, dict):
            for key, value in obj.items():
                self.assertNotIn("_", key, "%s.%s is not a Kubernetes field name" % (path, key))
                if key not in ("labels", "annotations"):
                    self.assert_camel_case(value, path + "." + key)
        elif isinstance(obj, list):
            for i, value in enumerate(obj):
                self.assert_camel_case(value, "%s[%d]" % (path, i))

    def test_query_routable_falls_back_to_serving_terminating(self):
        routable = self.discovery.ROUTABLE
        self.apply([self.upsert("api", "10.5.0.1"),
                    self.upsert("api", "10.5.0.2", ready=False, serving=True, terminating=True),
                    self.upsert("api", "10.5.0.3", ready=False, serving=False, terminating=True)])
        self.assertEqual(self.query("api", routable), ["10.5.0.1"])
        self.apply([self.upsert("api", "10.5.0.1", ready=False, serving=False, terminating=True)])
        self.assertEqual(self.query("api", routable), ["10.5.0.2"])
        self.apply([self.upsert("api", "10.5.0.2", ready=False, serving=False, terminating=True)])
        self.assertEqual(self.query("api", routable), [])
        self.assertEqual(len(self.query("api", self.discovery.ANY)), 3)

    def test_invalid_argument_names_field_path_and_applies_nothing(self):
        import grpc
        bad = self.upsert("bad", "10.6.0.2")
        bad.endpoint.addresses[0] = "127.0.0.1"
        with self.assertRaises(grpc.RpcError) as raised:
            self.apply([self.upsert("bad", "10.6.0.1"), bad])
        self.assertEqual(raised.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("changes[1].endpoint.addresses[0]: may not be in the loopback range",
                      raised.exception.details())
        with self.assertRaises(grpc.RpcError) as missing:
            self.query("bad", self.discovery.ANY)
        self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_stream_changes_acks_in_order(self):
        batches = [self.change.ChangeBatch(batch_id=i, changes=[
            self.upsert("stream", "10.7.%d.%d" % (i // 200, i % 200 + 1))]) for i in range(1, 51)]
        acks = list(self.reg.StreamChanges(iter(batches), timeout=RPC_TIMEOUT_S))
        self.assertEqual([a.batch_id for a in acks], list(range(1, 51)))
        self.assertTrue(all(a.code == 0 for a in acks), [a.message for a in acks if a.code])
        revisions = [a.revision for a in acks]
        self.assertTrue(all(b > a for a, b in zip(revisions, revisions[1:])), revisions)
        self.assertEqual(len(self.query("stream", self.discovery.ANY)), 50)

    def test_watch_endpoints_lifecycle_with_zone_filter(self):
        """A pod's lifecycle in the ENDPOINTS view: ready, terminating, removed; other zones hidden."""
        import queue
        import threading
        request = self.discovery.WatchRequest(namespace="py", services=["life"],
                                              view=self.discovery.ENDPOINTS, zone="zone-a")
        call = self.disc.Watch(request, timeout=RPC_TIMEOUT_S)
        events = queue.Queue()

        def read():
            try:
                for response in call:
                    for event in response.events:
                        events.put(event)
            except Exception:  # the call is cancelled at the end of the test
                pass

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        watch = self.discovery.WatchEvent
        first = events.get(timeout=RPC_TIMEOUT_S)
        self.assertEqual(first.type, watch.SYNCED)  # the service does not exist yet
        # Each step is read before the next is written: commits the watcher has not read yet
        # fold into one event with the latest state (the coalescing contract).
        got = []
        self.apply([self.upsert("life", "10.8.0.1", serving=True, terminating=False, zone="zone-a"),
                    self.upsert("life", "10.8.0.2", zone="zone-b")])
        got.append(events.get(timeout=RPC_TIMEOUT_S))
        self.apply([self.upsert("life", "10.8.0.1", ready=False, serving=True, terminating=True,
                                zone="zone-a")])
        got.append(events.get(timeout=RPC_TIMEOUT_S))
        removal = self.change.EndpointChange(
            op=self.change.EndpointChange.REMOVE, namespace="py", service="life",
            endpoint=self.slice.Endpoint(addresses=["10.8.0.1"]))
        last = self.apply([removal])
        got.append(events.get(timeout=RPC_TIMEOUT_S))
        call.cancel()
        self.assertEqual([e.type for e in got], [watch.ADDED, watch.MODIFIED, watch.DELETED])
        self.assertTrue(all(e.endpoint.address == "10.8.0.1" for e in got))
        self.assertTrue(got[0].endpoint.conditions.ready)
        self.assertFalse(got[0].endpoint.conditions.terminating)
        self.assertFalse(got[1].endpoint.conditions.ready)
        self.assertTrue(got[1].endpoint.conditions.serving)
        self.assertTrue(got[1].endpoint.conditions.terminating)
        self.assertEqual(got[2].revision, last.revision)
        revisions = [e.revision for e in got]
        self.assertEqual(revisions, sorted(revisions))


class ShutdownTest(unittest.TestCase):

    def test_sigterm_exits_zero(self):
        import grpc
        (change, _, _, _, _, registry_grpc, _) = pb()
        server = Server(["--shutdown_grace=5s"])
        try:
            with grpc.insecure_channel(server.grpc_address) as channel:
                registry_grpc.EndpointRegistryStub(channel).ApplyChanges(
                    change.ChangeBatch(batch_id=1), timeout=RPC_TIMEOUT_S)
            server.proc.send_signal(signal.SIGTERM)
            self.assertEqual(server.proc.wait(timeout=30), 0)
        finally:
            server.kill()


def main():
    global BINARY, PROTO_DIR
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    BINARY, PROTO_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.access(BINARY, os.X_OK):
        print("not an executable: %s (build the slicekeeper target first)" % BINARY)
        return 2
    return run_tests(sys.modules[__name__])


def run_tests(module):
    """Generates the stubs from PROTO_DIR, runs the tests of `module` (this one, or another test
    script that imports this one for its Server), prints the tally; returns the exit code."""
    with tempfile.TemporaryDirectory(prefix="slicekeeper-pystubs-") as stub_dir:
        generate_stubs(PROTO_DIR, stub_dir)
        suite = unittest.defaultTestLoader.loadTestsFromModule(module)
        result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    passed = result.testsRun - failed - len(result.skipped)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and result.testsRun > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
