#!/usr/bin/env bash
# Checks the lock annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...) of every
# translation unit of common/, workload/, server/ and client/ with clang-14's thread-safety analysis,
# as LevelDB does, and fails on any violation or any other clang error or warning (-Werror comes
# with the build's own flags).
#   check-thread-safety.sh BUILD_DIR [CLANG_BUILD_DIR TARGET]
# BUILD_DIR is any configured and built tree (a developer's g++ build; scripts/test.sh's own build
# is clang, which runs the analysis as it compiles): its
# compile_commands.json gives each file's flags and its generated protobuf headers are used as they
# are. The analysis runs in clang's semantic pass, so -fsyntax-only finds every violation a full
# clang build would, for a fraction of the compile time (no code generation, no second set of
# objects). Every opt-out (ABSL_NO_THREAD_SAFETY_ANALYSIS) says why beside it.
# Only translation units that can break a lock contract are analysed: those whose source, or a
# project header it includes itself, names a lock (absl::Mutex, MutexLock, CondVar ...) or a lock
# annotation. A violation needs one of these in sight: taking or releasing a lock, touching a
# guarded member, calling an annotated function, and each comes from a header the file includes
# directly (include what you use, STYLE.md). That is a third of the files and of the time.
# CLANG_BUILD_DIR is a clang tree in which TARGET was just built: CMakeLists.txt compiles every
# file of a clang build with the analysis as an error, so the files TARGET's objects come from
# (ninja -t inputs) have passed it and are skipped here (a fuzz build covers the store and the
# common code: 15 of the 43 files).
set -euo pipefail
build="$(cd "$1" && pwd)"
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="$(nproc)"
analysed="$build/thread-safety-analysed"
: > "$analysed"
if [ $# -ge 3 ]; then
  clang_build="$(cd "$2" && pwd)"
  grep -q '^CMAKE_CXX_COMPILER:.*clang' "$clang_build/CMakeCache.txt" ||
    { echo "$clang_build is not a clang build" >&2; exit 1; }
  ninja -C "$clang_build" -t inputs "$3" | grep '\.o$' > "$analysed.objects" || true
  /usr/bin/python3 - "$clang_build" "$analysed.objects" > "$analysed" <<'EOF'
import json, shlex, sys
build, objects = sys.argv[1], set(open(sys.argv[2]).read().split())
for entry in json.load(open(f"{build}/compile_commands.json")):
    words = shlex.split(entry["command"])
    if "-o" in words and words[words.index("-o") + 1] in objects:
        print(entry["file"])
EOF
fi
# One line per translation unit: the directory, then the clang command, NUL-separated.
/usr/bin/python3 - "$build" "$root" "$analysed" > "$build/thread-safety-commands" <<'EOF'
import json, os, re, shlex, sys
build, root = sys.argv[1], sys.argv[2]
analysed = set(open(sys.argv[3]).read().split())
locks = re.compile(r"\babsl::(Mutex|MutexLock|ReaderMutexLock|WriterMutexLock|ReleasableMutexLock"
                   r"|CondVar)\b|\bABSL_[A-Z_]*(GUARDED_BY|LOCKS?_|LOCKABLE|_LOCK_FUNCTION"
                   r"|ASSERT_|LOCK_RETURNED|ACQUIRED_)")
include = re.compile(r'^#include "([^"]+)"', re.M)
def names_a_lock(path):
    text = open(path).read()
    return bool(locks.search(text)) or any(
        locks.search(open(f"{root}/{h}").read())
        for h in include.findall(text) if os.path.exists(f"{root}/{h}"))
for entry in json.load(open(f"{build}/compile_commands.json")):
    rel = entry["file"][len(root) + 1:] if entry["file"].startswith(root + "/") else ""
    if rel.split("/")[0] not in ("common", "workload", "server", "client"):
        continue
    if entry["file"] in analysed or not names_a_lock(entry["file"]):
        continue
    # Without g++'s precompiled header (SK_PCH: "-include .../cmake_pch.hxx", which clang cannot
    # read as a .gch): each file is then also checked for including what it uses.
    args, skip, words = [], False, shlex.split(entry["command"])[1:]
    for i, a in enumerate(words):
        if skip:
            skip = False
        elif a in ("-o", "-MF", "-MT", "-MQ") or (
                a == "-include" and i + 1 < len(words) and words[i + 1].endswith("cmake_pch.hxx")):
            skip = True
        elif a not in ("-c", "-MD", "-MMD", "-Winvalid-pch"):
            args.append(a)
    cmd = ["clang++-14", "-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety",
           "-Wno-unknown-warning-option"] + args
    print(f"cd {shlex.quote(entry['directory'])} && {shlex.join(cmd)}", end="\0")
EOF
count="$(tr -cd '\0' < "$build/thread-safety-commands" | wc -c)"
[ "$count" -gt 0 ] || { echo "no translation units found in $build/compile_commands.json" >&2; exit 1; }
echo "thread-safety analysis of ${count} translation units (the clang build compiled $(wc -l < "$analysed"))"
xargs -0 -P"$jobs" -n1 bash -c < "$build/thread-safety-commands"
