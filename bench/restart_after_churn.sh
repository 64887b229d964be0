#!/usr/bin/env bash
# Restart after churn (issue 16): starts SERVER on a fresh RocksDB data dir with the flags
# ./scripts/run.sh uses (--store=rocksdb, default sync and history flags), runs
# `skctl churn --services S --endpoints E --changes C` against it (CHANGES may be a comma list:
# consecutive churn runs on the same server, each one's rate reported, to see whether throughput
# stays flat as the history grows), reads its RSS, kills it with
# SIGKILL, measures the data dir, then restarts it on the same dir and reports how long the load
# took (the server's own `store loaded ... took=` line) and what it read.
#
#   bench/restart_after_churn.sh SERVER SKCTL CHANGES [SERVICES] [ENDPOINTS] [-- server flags...]
#
# Prints one line: changes, churn seconds, changes/s (per segment), revision, RSS before the kill (MiB), data dir
# (MB), restart took, and the restarted server's load counters. Uses loopback ports chosen at run
# time and a temporary directory it removes.
set -euo pipefail
server="$1" skctl="$2" changes="$3" services="${4:-100}" endpoints="${5:-100}"
shift $(( $# < 5 ? $# : 5 ))
[ "${1:-}" = "--" ] && shift
extra=("$@")

dir="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT

start() {
  rm -f "$dir/port"
  "$server" --store=rocksdb --data_dir="$dir/data" --listen=127.0.0.1:0 --http_listen= \
    --port_file="$dir/port" "${extra[@]}" >>"$dir/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 6000); do
    [ -s "$dir/port" ] && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
    sleep 0.05
  done
  echo "server did not start" >&2
  exit 1
}

start
addr="127.0.0.1:$(cut -d" " -f1 "$dir/port")"
rates="" total=0 churn_s=0
IFS=, read -ra segments <<<"$changes"
for c in "${segments[@]}"; do
  t0=$(date +%s.%N)
  "$skctl" --server "$addr" churn --services "$services" --endpoints "$endpoints" \
    --changes "$c" >"$dir/churn" 2>&1 || { cat "$dir/churn" >&2; exit 1; }
  t1=$(date +%s.%N)
  s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
  rates="${rates}${rates:+,}$(awk -v c="$c" -v s="$s" 'BEGIN { printf "%.0f", c / s }')"
  total=$((total + c))
  churn_s=$(awk -v a="$churn_s" -v s="$s" 'BEGIN { printf "%.2f", a + s }')
done
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
data_bytes=$(du -sb "$dir/data" | cut -f1)
: >"$dir/log"
start
loaded=$(grep -m1 "store loaded" "$dir/log" || true)
revision=$(sed -n 's/.*revision=\([0-9]*\).*/\1/p' <<<"$loaded")
took=$(sed -n 's/.*took=\([^ ]*\).*/\1/p' <<<"$loaded")
counters=$(grep -o 'endpoints=[0-9]*\|keys_read=[0-9]*\|history_records_read=[0-9]*' <<<"$loaded" \
  | tr '\n' ' ')
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""
awk -v c="$total" -v s="$churn_s" -v r="$rates" -v rss="$rss_kb" -v d="$data_bytes" \
  -v rev="$revision" -v took="$took" -v k="$counters" 'BEGIN {
    printf "changes=%d churn_s=%.1f changes_per_s=%s revision=%s rss_mib=%.0f data_mb=%.1f " \
           "restart_took=%s %s\n", c, s, r, rev, rss / 1024, d / 1e6, took, k }'
