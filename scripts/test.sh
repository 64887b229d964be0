#!/usr/bin/env bash
# Checks the format of changed C++ files, builds slicekeeper and runs every test with ctest:
#   1. one clang-14 build with ASan and UBSan (-O1, -Werror, benchmarks compiled but not run) of
#      everything: the tests, the benchmarks and the libFuzzer targets of fuzz/ with their
#      planted-bug variants (docs/fuzzing.md). Being clang, it also runs clang's thread-safety
#      analysis over every file it compiles, as an error (CMakeLists.txt); ctest then runs every
#      test, the fuzz targets for a bounded time among them;
#   2. only with SK_TEST_PLAIN=1: the plain g++ build (RelWithDebInfo, -Werror): every test again;
#   3. only with SK_TEST_TSAN=1: a TSan build of the concurrency tests (label "tsan"), see below.
# One build, not three: until 2026-12 this ran a g++ ASan build of everything, a clang build of the
# fuzz targets and the libraries they reach (the store, the reconciler, the codecs: the same code
# again), and a clang -fsyntax-only pass for the lock analysis of the rest. On CI's 2 cores those
# took 1060 + 210 + 63 s of a 1640 s run (over the 25-minute budget); the one clang build does all
# three jobs in half the time of the first (490-543 s; whole runs 757-840 s). g++ stays the compiler of the default build every
# developer runs before a commit and of scripts/run.sh's release build; SK_TEST_PLAIN=1 tests it.
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

# -O1: ASan's recommended optimization (about twice as fast as -O0 here, same reports);
# -gline-tables-only keeps file:line in every report for a fifth less compile time than -g.
# UBSan's null and alignment checks are left out (SK_NO_SANITIZE): together they cost a third of a
# file's compile time, a null dereference still stops the test through ASan's SEGV report with its
# stack, and x86 does not fault on alignment. SK_FUZZ gives every library libFuzzer's coverage
# instrumentation (-fsanitize=fuzzer-no-link); outside a fuzz target its callbacks are the
# sanitizer runtime's no-ops, and the tests run about as fast as without it (store_test's history
# and memory tests: 19.5 s against
# 17.9 s for the g++ build it replaced). The tests' and benchmarks' own code (SK_TEST_CODE_OPTIONS)
# compiles at -O0, without UBSan and without debug information: it checks the code under test,
# which keeps both sanitizers and its line tables; gtest reports its failures by file and line
# anyway. Generated protobuf code compiles without sanitizers (SK_GENERATED_CODE_OPTIONS:
# protobuf's parsers, not ours; they double its compile time) but keeps the coverage that guides
# the fuzzers through it. SK_PCH precompiles the headers most files include, once for the
# libraries, once for the tests and once for the benchmarks (a test file: 8.6 -> 5.8 s); a file
# that misses an #include still fails the default build every developer runs. lld links the
# 60-odd binaries in a third of ld.bfd's time.
run_suite build/clang -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" \
  "-DSK_SANITIZE=address,undefined" -DSK_NO_SANITIZE=null,alignment -DSK_BUILD_BENCH=ON \
  -DSK_FUZZ=ON -DSK_FUZZ_SECONDS=20 "-DSK_TEST_CODE_OPTIONS=-O0;-g0;-fno-sanitize=undefined" \
  -DSK_PCH=ON "-DSK_GENERATED_CODE_OPTIONS=-fno-sanitize=address,undefined" \
  -DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld

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
