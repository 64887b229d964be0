#!/usr/bin/env bash
# Checks the format of changed C++ files, builds slicekeeper and runs every test with ctest:
#   1. an ASan+UBSan build (g++, -O1, -Werror, benchmarks compiled but not run): every test;
#   2. a clang-14 build of the fuzz targets of fuzz/ and the decoders they reach, with ASan, UBSan
#      and libFuzzer: each runs for a bounded time, planted-bug variants included (docs/fuzzing.md);
#   3. clang-14's thread-safety analysis of common/, workload/, server/ and client/ over the first
#      build's compile commands (-Wthread-safety as errors; scripts/check-thread-safety.sh), less
#      the files the fuzz build compiled, which clang analysed there;
#   4. only with SK_TEST_PLAIN=1: the plain build (RelWithDebInfo, -Werror): every test again;
#   5. only with SK_TEST_TSAN=1: a TSan build of the concurrency tests (label "tsan"), see below.
# One sanitized g++ build instead of a plain one plus a sanitized one, and clang only where it
# adds something (its analysis, libFuzzer): on CI's 2 cores full builds take most of the time the
# whole run may take, and every test passes under both builds.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh

# First, since it takes seconds: the C++ files changed since the check began are formatted as
# .clang-format says (scripts/check-format.sh).
./scripts/check-format.sh

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
  echo "=== ${dir}: configure ${cmake_args[*]} (at ${SECONDS} s)"
  if [ "$dir" = build/clang ]; then
    CC=clang-14 CXX=clang++-14 cmake -S . -B "$dir" -G Ninja -DSK_WERROR=ON "${cmake_args[@]}" \
      >/dev/null
  else
    cmake -S . -B "$dir" -G Ninja -DSK_WERROR=ON "${cmake_args[@]}" >/dev/null
  fi
  echo "=== ${dir}: build ${targets[*]} (at ${SECONDS} s)"
  cmake --build "$dir" -j"$jobs" "${targets[@]}"
  echo "=== ${dir}: test (at ${SECONDS} s)"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" "${ctest_args[@]}")
}

# -O1 -g1: ASan's recommended optimization (about twice as fast as -O0 here, same reports with
# file:line stacks; -g1 also compiles a fifth faster than -g). UBSan's null and alignment checks
# are left out (SK_NO_SANITIZE): together they cost a third of a file's compile time (token_file.cc
# 13.4 s -> 8.7 s), a null dereference still stops the test through ASan's SEGV report with its
# stack, and x86 does not fault on alignment; the clang fuzz build below keeps all of UBSan for the
# decoders. The tests' and benchmarks' own code (SK_TEST_CODE_OPTIONS) compiles at -O0 and without
# UBSan (store_test.cc: 19 s at -O1, 12.9 s at -O0, 8.9 s without UBSan) and without debug
# information (front_ends_test.cc: 16.3 s -> 13.6 s; gtest reports its failures by file and line
# anyway, and an ASan report still names the test's functions): it checks the code under test,
# which keeps both sanitizers and its line tables. Generated protobuf code compiles without
# sanitizers (SK_GENERATED_CODE_OPTIONS: protobuf's parsers, not ours; etcd's rpc.pb.cc 18.2 s ->
# 8.0 s).
# SK_PCH precompiles the headers most files include, once for the libraries, once for the tests
# and once for the benchmarks (a test file: 8.6 -> 5.8 s); a file that misses an #include still
# fails the default build every developer runs, and the thread-safety pass below compiles the
# library files that name a lock without it. lld links the 40-odd ASan binaries in a third of
# ld.bfd's time (security_test: 3.7 -> 1.2 s).
run_suite build/ci -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
  "-DSK_SANITIZE=address,undefined" -DSK_NO_SANITIZE=null,alignment -DSK_BUILD_BENCH=ON \
  "-DSK_TEST_CODE_OPTIONS=-O0;-g0;-fno-sanitize=undefined" -DSK_PCH=ON \
  "-DSK_GENERATED_CODE_OPTIONS=-fno-sanitize=all" -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld

# The generated protobuf parsers keep libFuzzer's coverage (it guides the inputs through them)
# but not the sanitizers, as in the build above.
run_suite build/clang -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" \
  "-DSK_SANITIZE=address,undefined" -DSK_FUZZ=ON -DSK_BUILD_BENCH=OFF -DSK_FUZZ_SECONDS=10 \
  "-DSK_GENERATED_CODE_OPTIONS=-fno-sanitize=address,undefined" -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld \
  -- fuzz_targets -- -L fuzz

# After the fuzz build, which analysed the files it compiled (clang builds treat the analysis as an
# error): the rest is checked over the g++ build's compile commands.
echo "=== thread-safety analysis (clang-14) (at ${SECONDS} s)"
./scripts/check-thread-safety.sh build/ci build/clang fuzz_targets

if [ "${SK_TEST_PLAIN:-0}" = "1" ]; then
  run_suite build/plain -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
fi
# No TSan job: Debian's Abseil is not built with TSan, so absl::Mutex (our lock everywhere) is
# invisible to it and every mutex-guarded access is reported as a race. SK_TEST_TSAN=1 still runs
# the concurrency tests under TSan, for a machine with an instrumented Abseil.
if [ "${SK_TEST_TSAN:-0}" = "1" ]; then
  run_suite build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSK_SANITIZE=thread -DSK_BUILD_BENCH=OFF \
    -- store_concurrency_test watch_concurrency_test -- -L tsan
fi
echo "=== all passed in ${SECONDS} s"
