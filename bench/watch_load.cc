// watch_load: the end-to-end fan-out harness. It starts the real `slicekeeper` binary (memory
// store) on loopback, fills it, opens N Watch streams (one service each, like sidecars; SLICES
// view, or ENDPOINTS with --view=endpoints) read off the wire (bench/raw_watch.h), and drives
// churn through StreamChanges:
//   1. peak:  churn as fast as the writer can for --seconds over --hot_services services, each
//             watched by watchers/hot_services streams; delivered events/s, writer rate;
//   2. paced: churn at 10 % and 50 % of the peak writer rate; propagation latency p50/p99/p999.
//             After each churn phase the harness waits until every watcher holds its service's
//             last acked revision ("drain": how far behind the watchers were when the writer
//             stopped), so no phase measures the previous one's backlog; the delivered rates
//             count every event of the phase's churn over the phase plus its drain.
//             --view=endpoints watches per-endpoint deltas (one event per endpoint) instead of
//             slices; --rates adds phases at fixed rates. Each phase also reports the server's
//             cost from /proc over the same span: CPU µs per change and per event delivered,
//             context switches per 100-change batch, RSS at its end. --security=mtls runs them
//             on a server with mTLS, a policy and an audit log; --security=both alternates a
//             plaintext and such a server (the cost of TLS and authorization, same invocation);
//   3. idle:  server RSS per idle watch with --idle_watchers streams open;
//   4. snapshot: a 1 M-endpoint store (--snapshot_services x 100) streamed to one new watcher;
//   5. stalled: writer throughput of one fixed churn (--stalled_changes over 50 services x 200
//             endpoints, 500-change batches, after an untimed --stalled_warmup) with 0, 1 and
//             100 watchers of all 50 services that read their snapshot and then stop reading
//             (`--stalled_watchers=0,100r` compares 100 that keep reading), each on a fresh
//             server, interleaved --stalled_reps times; server RSS growth over the churn, and how
//             long the stalled watchers take to converge when they read again.
// Propagation latency is measured as kube-proxy's network-programming latency: from the
// `endpoints.kubernetes.io/last-change-trigger-time` annotation the server stamps on a slice
// when it receives the batch, to the watcher holding the event. Same machine, same clock. The
// ENDPOINTS view carries no annotation: there it is from the writer holding the batch's ack to the
// watcher holding an event of that revision (negative when the watcher was first).
//
//   build-x/bench/watch_load --slicekeeper=build-x/server/slicekeeper [--phases=stalled]
#include <sys/resource.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "bench/watch_load_cluster.h"

ABSL_FLAG(std::string, slicekeeper, "", "Path of the slicekeeper binary");
ABSL_FLAG(std::string, phases, "churn,idle,snapshot",
          "Phases to run, comma-separated: churn, idle, snapshot, stalled");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string binary = absl::GetFlag(FLAGS_slicekeeper);
  if (binary.empty()) {
    std::fprintf(stderr, "--slicekeeper=PATH is required\n");
    return 2;
  }
  rlimit nofile{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &nofile);
  const std::string phases = absl::GetFlag(FLAGS_phases);
  auto wanted = [&phases](absl::string_view p) {
    for (absl::string_view q : absl::StrSplit(phases, ',')) {
      if (q == p) return true;
    }
    return false;
  };
  if (wanted("churn")) slicekeeper::bench::ChurnPhases(binary);
  if (wanted("idle")) slicekeeper::bench::IdlePhase(binary);
  if (wanted("snapshot")) slicekeeper::bench::SnapshotPhase(binary);
  if (wanted("stalled")) slicekeeper::bench::StalledPhase(binary);
  return 0;
}
