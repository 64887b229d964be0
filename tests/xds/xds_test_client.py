#!/usr/bin/python3
"""Debian's python3-grpcio as a real proxyless xDS client, for xds_clients_test.py.

Usage: GRPC_XDS_BOOTSTRAP=<bootstrap.json> xds_test_client.py xds:///<service>.<namespace>:<port>

Calls /slicekeeper.test.Backend/Who (an empty request; the answer is the backend's id) in a loop
on one channel and prints one line per call: the id, or "ERR <code>". Calls wait for the channel
to be ready (at most 1 s each), so an unresolved name costs one line a second, not a busy loop.
Runs until the driver kills it.
"""

import sys

import grpc


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: xds_test_client.py xds:///<name>")
    channel = grpc.insecure_channel(sys.argv[1])
    who = channel.unary_unary("/slicekeeper.test.Backend/Who")  # bytes in, bytes out
    while True:
        try:
            line = who(b"", timeout=1, wait_for_ready=True).decode()
        except grpc.RpcError as e:
            line = "ERR %s" % e.code().value[0]
        print(line, flush=True)


if __name__ == "__main__":
    main()
