#!/usr/bin/python3
"""docs/xds.md's bootstraps are what users copy: check them against the real protos.

Usage: docs_test.py <docs/xds.md> <proto include dir>...

The Envoy bootstrap (the first ```yaml block) must parse into envoy.config.bootstrap.v3.Bootstrap,
the static cluster (the second) into envoy.config.cluster.v3.Cluster, and the LEDS bootstrap (the
third) into a Bootstrap with delta ADS and the opt-in node metadata, with the protos the
build unpacked (Python modules generated here with Debian's protoc; unknown fields, bad enum
values or Any types fail). The gRPC bootstrap (the ```json block) is the one
xds_clients_test.py's clients run with.
"""

import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOTS = ["envoy/config/bootstrap/v3/bootstrap.proto",
         "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
         "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
         "envoy/extensions/filters/http/router/v3/router.proto"]


def closure(dirs, roots):
    """The roots and everything they import (protobuf's own types left to the runtime)."""
    seen, queue = [], list(roots)
    while queue:
        p = queue.pop()
        if p in seen or p.startswith("google/protobuf/"):
            continue
        path = next((os.path.join(d, p) for d in dirs if os.path.exists(os.path.join(d, p))), None)
        if path is None:
            raise SystemExit("%s not found under %s" % (p, dirs))
        seen.append(p)
        with open(path) as f:
            queue += re.findall(r'^import\s+(?:public\s+|weak\s+)?"([^"]+)"', f.read(), re.M)
    return seen


def blocks(text, lang):
    return re.findall(r"```%s\n(.*?)```" % lang, text, re.S)


def main():
    doc, dirs = sys.argv[1], sys.argv[2:]
    text = open(doc).read()
    with tempfile.TemporaryDirectory(prefix="xds-docs-") as out:
        args = ["/usr/bin/protoc", "--python_out=" + out] + ["-I" + d for d in dirs]
        subprocess.run(args + closure(dirs, ROOTS), check=True)
        sys.path.insert(0, out)
        from google.protobuf import json_format
        from envoy.config.bootstrap.v3 import bootstrap_pb2
        from envoy.config.cluster.v3 import cluster_pb2
        # Imported for their Any types.
        from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
        from envoy.extensions.filters.network.http_connection_manager.v3 import (  # noqa: F401
            http_connection_manager_pb2)
        from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401

        envoy_yaml = blocks(text, "yaml")
        assert len(envoy_yaml) == 3, \
            "expected the Envoy bootstrap, the static cluster and the LEDS bootstrap"
        bootstrap = json_format.ParseDict(yaml.safe_load(envoy_yaml[0]), bootstrap_pb2.Bootstrap())
        assert bootstrap.dynamic_resources.ads_config.grpc_services[0].envoy_grpc.cluster_name == \
            "slicekeeper"
        assert bootstrap.node.locality.zone
        clusters = yaml.safe_load(envoy_yaml[1])
        cluster = json_format.ParseDict(clusters[0], cluster_pb2.Cluster())
        assert cluster.eds_cluster_config.eds_config.HasField("ads")
        leds = json_format.ParseDict(yaml.safe_load(envoy_yaml[2]), bootstrap_pb2.Bootstrap())
        ads = leds.dynamic_resources.ads_config
        assert ads.api_type == ads.DELTA_GRPC, "LEDS needs delta ADS"
        assert ads.grpc_services[0].envoy_grpc.cluster_name == "slicekeeper"
        assert leds.node.metadata.fields["slicekeeper.io/leds"].bool_value
        print("Envoy bootstrap, static cluster and LEDS bootstrap parse against the protos")

    grpc_json = blocks(text, "json")
    assert len(grpc_json) == 1, "expected one gRPC bootstrap"
    print("PASS")


if __name__ == "__main__":
    main()
