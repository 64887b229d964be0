#!/usr/bin/env bash
# Runs one libFuzzer target of fuzz/ (docs/fuzzing.md).
#   fuzz.sh run TARGET CORPUS SECONDS      fuzz for SECONDS from CORPUS (read only: new inputs go to
#                                          a temporary directory); fails on any finding
#   fuzz.sh planted TARGET CORPUS SECONDS  the target built with SK_FUZZ_PLANTED must crash within
#                                          SECONDS: proves the harness reaches the code and reports.
#                                          Its dictionary is the planted token "zzz" alone and each
#                                          run mutates once, so the search takes seconds, not luck
# The dictionary of a target is fuzz/dict/<corpus name>.dict.
#   fuzz.sh long TARGET CORPUS [SECONDS]   a longer run that adds what it finds to CORPUS (default
#                                          1 h); crashes land in ./fuzz-artifacts/
set -euo pipefail
mode="$1" target="$2" corpus="$3" seconds="${4:-3600}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
dict="$(dirname "$0")/../fuzz/dict/$(basename "$corpus").dict"
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)
if [ "$mode" = planted ]; then
  echo '"zzz"' > "$work/dict"
  common+=(-dict="$work/dict" -mutate_depth=1)
else
  common+=(-dict="$dict")
fi
case "$mode" in
  run)
    "$target" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$work/" \
      "$work" "$corpus"
    ;;
  planted)
    if "$target" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$work/" \
        "$work" "$corpus" >"$work/log" 2>&1; then
      tail -n 20 "$work/log"
      echo "fuzz.sh: $(basename "$target") did not find its planted bug in ${seconds}s" >&2
      exit 1
    fi
    if ! ls "$work"/crash-* >/dev/null 2>&1; then
      tail -n 20 "$work/log"
      echo "fuzz.sh: $(basename "$target") failed without a crash input" >&2
      exit 1
    fi
    grep -m1 -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/log" || true
    echo "fuzz.sh: $(basename "$target") found its planted bug: $(ls "$work"/crash-*)"
    ;;
  long)
    mkdir -p fuzz-artifacts
    "$target" "${common[@]}" -max_total_time="$seconds" -artifact_prefix=fuzz-artifacts/ "$corpus"
    ;;
  *)
    echo "usage: fuzz.sh run|planted|long TARGET CORPUS [SECONDS]" >&2
    exit 2
    ;;
esac
