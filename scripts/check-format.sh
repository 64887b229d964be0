#!/usr/bin/env bash
# Checks that the C++ files changed since the format check began (FORMAT_BASE below) are formatted
# as .clang-format says, include order included, with clang-format-14 (the version Debian 12
# ships, so the result does not depend on which clang-format a developer has). A file is
# formatted whole the first time it is touched: the tree converges without one commit that
# rewrites every file and conflicts with every branch in flight. A shallow clone without the base
# checks the newest commit's files, or says loudly that it checked nothing.
#   check-format.sh          report the files that differ, fail if any
#   check-format.sh --fix    rewrite them in place
#   check-format.sh --all    check (or with --fix, rewrite) every tracked file
set -euo pipefail
cd "$(dirname "$0")/.."
# main when the check was added to scripts/test.sh.
FORMAT_BASE=1baee2ac2cd20fde17699805f79b90c76c175545
fix=0 all=0
for arg in "$@"; do
  case "$arg" in
    --fix) fix=1 ;;
    --all) all=1 ;;
    *) echo "usage: $0 [--fix] [--all]" >&2; exit 2 ;;
  esac
done
if [ "$all" = 1 ]; then
  mapfile -t files < <(git ls-files '*.cc' '*.h')
elif git cat-file -e "${FORMAT_BASE}^{commit}" 2>/dev/null; then
  # Committed changes since the base, and uncommitted ones; deleted files drop out below.
  mapfile -t files < <({ git diff --name-only "$FORMAT_BASE" HEAD -- '*.cc' '*.h'
                         git diff --name-only HEAD -- '*.cc' '*.h'
                         git ls-files --others --exclude-standard -- '*.cc' '*.h'; } | sort -u |
                       while read -r f; do [ -f "$f" ] && echo "$f"; done)
elif git cat-file -e "HEAD^{commit}" 2>/dev/null && git cat-file -e "HEAD^1^{commit}" 2>/dev/null; then
  # A shallow clone without the base: the files of the newest commit (all files would fail on
  # the ones not yet touched since the base).
  echo "format: base commit ${FORMAT_BASE:0:7} is not in this clone (shallow?): checking the" \
       "files of the newest commit" >&2
  mapfile -t files < <(git diff --name-only HEAD^1 HEAD -- '*.cc' '*.h' |
                       while read -r f; do [ -f "$f" ] && echo "$f"; done)
else
  echo "format: SKIPPED: neither the base commit ${FORMAT_BASE:0:7} nor HEAD's parent is in" \
       "this clone (depth 1); fetch more history to check the format" >&2
  exit 0
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "format: no C++ file changed since ${FORMAT_BASE:0:7}"
  exit 0
fi
if [ "$fix" = 1 ]; then
  clang-format-14 -i "${files[@]}"
  echo "format: ${#files[@]} files rewritten as .clang-format says"
  exit 0
fi
# One run over every file; a file that differs shows as "FILE:LINE:COL: error: ..." lines.
mapfile -t bad < <(clang-format-14 --dry-run --Werror "${files[@]}" 2>&1 |
                     sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: error: .*/\1/p' | sort -u)
if [ "${#bad[@]}" -gt 0 ]; then
  printf 'not formatted as .clang-format says (run scripts/check-format.sh --fix):\n' >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "format: ${#files[@]} files changed since ${FORMAT_BASE:0:7}, all as .clang-format says"
