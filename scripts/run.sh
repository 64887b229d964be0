#!/usr/bin/env bash
# Builds slicekeeper and skctl (Release) and starts the server in the foreground. Extra arguments are passed
# to the server, e.g. ./scripts/run.sh --listen=0.0.0.0:50051
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSK_BUILD_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target slicekeeper skctl

# Durable by default: RocksDB in ./data (docs/storage.md); later flags override, e.g. --store=memory.
exec ./build/release/server/slicekeeper --store=rocksdb --data_dir=./data "$@"
