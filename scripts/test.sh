#!/usr/bin/env bash
# Builds slicekeeper and runs every test with ctest:
#   1. the normal build (RelWithDebInfo, -Werror): every test;
#   2. an ASan+UBSan build: every test;
#   3. only with SK_TEST_TSAN=1: a TSan build of the concurrency tests (label "tsan"), see below.
# SK_TEST_QUICK=1 runs step 1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

jobs="$(nproc)"
# run_suite DIR [cmake-args...] [-- targets...] [-- ctest-args...]
run_suite() {
  local dir="$1"; shift
  local cmake_args=() targets=() ctest_args=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do cmake_args+=("$1"); shift; done
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do targets+=("--target" "$1"); shift; done
  [ $# -gt 0 ] && shift
  ctest_args=("$@")
  echo "=== ${dir}: configure ${cmake_args[*]}"
  cmake -S . -B "$dir" -G Ninja -DSK_WERROR=ON "${cmake_args[@]}" >/dev/null
  echo "=== ${dir}: build ${targets[*]}"
  cmake --build "$dir" -j"$jobs" "${targets[@]}"
  echo "=== ${dir}: test"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "${ctest_args[@]}")
}

run_suite build/ci -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${SK_TEST_QUICK:-0}" = "1" ]; then exit 0; fi
run_suite build/asan -DCMAKE_BUILD_TYPE=Debug "-DSK_SANITIZE=address,undefined" -DSK_BUILD_BENCH=OFF
# No TSan job: Debian's Abseil is not built with TSan, so absl::Mutex (our lock everywhere) is
# invisible to it and every mutex-guarded access is reported as a race. SK_TEST_TSAN=1 still runs
# the concurrency tests under TSan, for a machine with an instrumented Abseil.
if [ "${SK_TEST_TSAN:-0}" = "1" ]; then
  run_suite build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_SANITIZE=thread -DSK_BUILD_BENCH=OFF \
    -- store_concurrency_test watch_concurrency_test -- -L tsan
fi
