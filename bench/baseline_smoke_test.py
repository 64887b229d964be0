"""Smoke test of etcd_baseline and bench/null_server: a short run against the null server and the
real binary (memory store) must complete with every batch acked and every delivery received, and
the null server must refuse a StreamChanges message that is not a ChangeBatch.

It checks the harness and the transport floor still work (wire formats, the null server's routing
and acks), not their speed: speed lives in BENCHMARKS.md. Debian's interpreter (python3-grpcio).

usage: baseline_smoke_test.py ETCD_BASELINE_BINARY NULL_SERVER_BINARY
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import grpc


def check_null_server_refuses_garbage(binary):
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "ports")
        server = subprocess.Popen([binary, "--listen=127.0.0.1:0", f"--port_file={port_file}"])
        try:
            deadline = time.monotonic() + 20
            while not os.path.exists(port_file):
                assert server.poll() is None, "null_server exited"
                assert time.monotonic() < deadline, "null_server wrote no port file"
                time.sleep(0.05)
            port = open(port_file).read().split()[0]
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                call = channel.stream_stream("/slicekeeper.v1.EndpointRegistry/StreamChanges")
                try:
                    list(call(iter([b"\xff\xff\xff"]), timeout=10))
                    raise AssertionError("garbage accepted")
                except grpc.RpcError as e:
                    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
                    assert "not a ChangeBatch" in e.details(), e.details()
            assert server.poll() is None, "null_server died on garbage"
        finally:
            server.kill()
            server.wait()


def main():
    check_null_server_refuses_garbage(sys.argv[2])
    cmd = [sys.argv[1], "--systems=null,memory", "--duration=1s", "--services=10",
           "--watchers=5", "--watch_fraction=0.2", "-o", "json"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        sys.exit(f"etcd_baseline exited {run.returncode}:\n{run.stderr}")
    report = json.loads(run.stdout)
    assert report["failures"] == [], report["failures"]
    seen = set()
    cpu_us = {}
    for p in report["phases"]:
        where = f'{p["system"]}/{p["phase"]}'
        seen.add(where)
        assert p["batches_acked"] > 0 and p["batches_failed"] == 0, where
        assert p["achieved"] > 0, where
        # Each system is one process here, read from /proc around the phase: it holds memory and
        # spent CPU on the changes (in 10 ms ticks: a short phase may read 0, a whole run not).
        (name, cost), = p["processes"].items()
        assert name == ("null_server" if p["system"] == "null" else "slicekeeper"), (where, name)
        assert cost["ok"] and cost["rss_kib"] > 0, (where, cost)
        assert cost["cpu_us_per_change"] >= 0 and cost["voluntary_switches_per_batch"] >= 0, where
        cpu_us[p["system"]] = cpu_us.get(p["system"], 0) + cost["cpu_us_per_change"]
        if p["phase"] == "load":
            continue
        # 5 watchers x 2 of 10 services: each service has one watcher, so one delivery a batch.
        assert p["deliveries"] == p["batches_acked"], (where, p["deliveries"], p["batches_acked"])
        assert p["missing"] == 0, where
    for system in ("null", "memory"):
        for phase in ("load", "common", "target", "peak"):
            assert f"{system}/{phase}" in seen, (system, phase, seen)
        assert cpu_us[system] > 0, (system, "spent no CPU in the whole run")
    print("ok:", ", ".join(f'{p["system"]}/{p["phase"]} {p["achieved"]:.0f}/s'
                           for p in report["phases"]))


if __name__ == "__main__":
    main()
