# slicekeeper's container images, every stage on Debian 12 (bookworm), the distribution the
# project builds and tests on, so the image runs exactly the libraries the tests ran against.
#
#   docker build -t slicekeeper .                    # the default (last) stage: runtime
#   docker build --target etcd -t slicekeeper-etcd .  # etcd from Debian's etcd-server package
#
# docker-compose.yml builds both. tests/deploy/compose_test.py checks this file against the
# binaries built in the tree: the runtime stage must install a package for every library they
# load, run as non-root, and ship the binaries docker-compose.yml runs.

# --- builder: the repository's own dependency script, then a Release build of the binaries. ---
FROM debian:12 AS builder
WORKDIR /src
# The dependency script alone first (with the xDS protos' npm pin it fetches): its layer is
# rebuilt only when they change.
COPY scripts/install-deps.sh scripts/xds-protos.pin scripts/
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Only the two binaries are built: no test or benchmark target (SK_BUILD_BENCH=OFF skips even
# configuring the benchmarks).
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSK_BUILD_BENCH=OFF \
 && cmake --build /build --target slicekeeper skctl \
 && strip /build/server/slicekeeper /build/client/skctl

# --- etcd: the etcd cluster docker-compose.yml runs slicekeeper on (no Debian-based etcd image
# is published). etcd-server ships /usr/bin/etcd and creates the etcd user; etcd-client ships
# etcdctl, for the health check. ---
FROM debian:12 AS etcd
# No init script may start etcd while the package is configured (the image has no init).
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      etcd-server etcd-client \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o etcd -g etcd -m 0700 /var/lib/etcd
USER etcd
WORKDIR /var/lib/etcd
VOLUME /var/lib/etcd
EXPOSE 2379 2380
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["etcdctl", "--endpoints=http://127.0.0.1:2379", "--command-timeout=3s", "endpoint", "health"]
ENTRYPOINT ["etcd"]

# --- runtime (default): slicekeeper and skctl with only the shared libraries they load. ---
FROM debian:12 AS runtime
# One package per library `ldd` lists for the two binaries (tests/deploy/compose_test.py checks
# that none is missing), ca-certificates for TLS peers, and openssl for make-certs.sh.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates openssl \
      libc6 libgcc-s1 libstdc++6 \
      libabsl20220623 libgrpc29 libgrpc++1.51 libprotobuf32 libre2-9 libc-ares2 libssl3 \
      zlib1g librocksdb7.8 libsnappy1v5 liblz4-1 libzstd1 libbz2-1.0 libgflags2.2 \
      libyaml-cpp0.7 libspdlog1.10 libfmt9 libcivetweb1 libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid, so volume ownership is predictable across rebuilds.
RUN groupadd --system --gid 10001 slicekeeper \
 && useradd --system --uid 10001 --gid slicekeeper --home-dir /var/lib/slicekeeper \
      --no-create-home --shell /usr/sbin/nologin slicekeeper \
 && install -d -o slicekeeper -g slicekeeper -m 0750 /var/lib/slicekeeper \
 && install -d -o slicekeeper -g slicekeeper -m 0755 /certs
COPY --from=builder /build/server/slicekeeper /build/client/skctl /usr/local/bin/
# docker-compose.yml's one-shot `certs` service (openssl above): a CA and mTLS certificates into
# /certs, which a fresh named volume mounted there inherits the ownership of.
COPY --from=builder /src/scripts/make-certs.sh /usr/local/bin/
USER slicekeeper
WORKDIR /var/lib/slicekeeper
VOLUME /var/lib/slicekeeper
# gRPC, and HTTP (/metrics, /healthz, /readyz).
EXPOSE 50051 9090
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["skctl", "health", "--server=127.0.0.1:50051", "--timeout=3s"]
ENTRYPOINT ["slicekeeper"]
# Durable on the image's volume, reachable from other containers. Arguments given to
# `docker run IMAGE ...` (or a compose `command:`) replace these.
CMD ["--listen=0.0.0.0:50051", "--http_listen=0.0.0.0:9090", "--store=rocksdb", \
     "--data_dir=/var/lib/slicekeeper"]
