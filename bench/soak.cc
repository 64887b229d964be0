// soak: a long churn against one durable system at a time, then a crash and a restart (issue 16).
//
// For each of --systems (rocksdb: the real slicekeeper binary with --store=rocksdb and the default
// --sync=always and history flags, as ./scripts/run.sh runs it; sk-etcd: slicekeeper over its own
// etcd; etcd: raw etcd, one key per endpoint, compacted as the Kubernetes API server does):
//   1. load --services x --endpoints endpoints and open --watchers watchers (etcd_baseline's
//      workload and systems, bench/baseline_systems.h);
//   2. write --changes endpoint changes in batches of --batch as fast as acks return (at most
//      --max_inflight in flight), measured in --segments equal segments: changes/s, write latency
//      (send -> ack) p50 / p99, server CPU per change, RSS. "Flat" means the last segment's rate
//      and p50 within 10 % of the first's;
//      with --window (issue 16's own measure: "rate and ack latency after 10 M changes within
//      10 % of the first minute's"), the churn starts with one --window of writing (the first
//      minute) before the segments and ends with another after them (the minute after --changes),
//      and the summary compares those two as well;
//   3. read what the system holds (revision, live endpoints or keys), its RSS and its data
//      directory's bytes; SIGKILL it, start it again on the same data and time how long until it
//      serves (slicekeeper: until it has loaded its store and written its port file); read what it
//      holds again: it must be the same (no acknowledged write lost).
// Prints a markdown table per system and a summary; exits 1 when a system failed or lost state.
//
//   build/bench/soak --changes=10000000 --services=100 --endpoints=100
//   build/bench/soak --changes=10000000 --services=1000 --endpoints=1000 --systems=rocksdb,etcd
//   build/bench/soak --changes=10000000 --window=60s --services=1000 --endpoints=1000
//   --systems=rocksdb
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/baseline_phase.h"
#include "bench/baseline_systems.h"

#ifndef SK_SLICEKEEPER_BINARY
#define SK_SLICEKEEPER_BINARY ""
#endif

ABSL_FLAG(std::string, slicekeeper, SK_SLICEKEEPER_BINARY, "Path of the slicekeeper binary");
ABSL_FLAG(std::string, etcd_binary, "/usr/bin/etcd", "Path of the etcd binary");
ABSL_FLAG(std::string, systems, "rocksdb,etcd", "Systems, in this order: rocksdb, sk-etcd, etcd");
ABSL_FLAG(int, services, 100, "Services");
ABSL_FLAG(int, endpoints, 100, "Endpoints per service");
ABSL_FLAG(int, batch, 100, "Changes per batch, all in one service");
ABSL_FLAG(int64_t, changes, 10'000'000, "Endpoint changes to write");
ABSL_FLAG(int, segments, 10, "Equal segments the changes are measured in");
ABSL_FLAG(absl::Duration, window, absl::ZeroDuration(),
          "When set: also write for this long before the segments (the first window, counted in "
          "--changes) and for this long after them, and compare the two (issue 16 says a minute)");
ABSL_FLAG(int, max_inflight, 64, "Batches in flight at most (capped at --services)");
ABSL_FLAG(int, watchers, 10, "Watchers, each of --watch_fraction of the services");
ABSL_FLAG(double, watch_fraction, 0.1, "Fraction of the services each watcher watches");
ABSL_FLAG(std::vector<std::string>, server_flags, {},
          "Extra slicekeeper flags, comma-separated (e.g. --log_level=info: its log goes to "
          "stderr)");

namespace slicekeeper::bench {
namespace {

// etcd as the Kubernetes API server runs it: big transactions allowed, the history compacted
// every 5 minutes (the API server's default --etcd-compaction-interval), room for the history
// written between compactions.
const std::vector<std::string> kEtcdArgs = {
    "--max-txn-ops=10000", "--max-request-bytes=10485760", "--auto-compaction-mode=periodic",
    "--auto-compaction-retention=5m", "--quota-backend-bytes=8589934592"};

absl::StatusOr<std::unique_ptr<System>> StartSystem(const std::string& kind) {
  SlicekeeperOptions sk{.binary = absl::GetFlag(FLAGS_slicekeeper),
                        .args = {"--log_level=warn"},
                        .watch_slices = true};
  for (const std::string& f : absl::GetFlag(FLAGS_server_flags)) sk.args.push_back(f);
  if (kind == "etcd") return StartRawEtcd(absl::GetFlag(FLAGS_etcd_binary), kEtcdArgs);
  if (kind == "rocksdb") {
    sk.args.push_back("--store=rocksdb");
    sk.durable = true;
  } else if (kind == "sk-etcd") {
    sk.args.insert(sk.args.end(), {"--store=etcd", "--etcd_prefix=/sk/"});
    sk.etcd_binary = absl::GetFlag(FLAGS_etcd_binary);
    sk.etcd_args = kEtcdArgs;
  } else {
    return absl::InvalidArgumentError("unknown or non-durable system " + kind);
  }
  return StartSlicekeeper(std::move(sk));
}

struct Segment {
  int64_t changes_after = 0;  // cumulative
  PhaseResult result;
};

struct SoakResult {
  std::string system;
  PhaseResult load;
  std::vector<Segment> segments;
  // With --window: the first window of churn, and the window after --changes.
  std::optional<Segment> first_window, last_window;
  System::State before, after;
  int64_t rss_kib_before_kill = 0;
  int64_t data_bytes = 0;
  absl::Duration restart;
  std::string error;
};

SoakResult Soak(const std::string& kind) {
  SoakResult r{.system = kind};
  std::fprintf(stderr, "== %s: starting\n", kind.c_str());
  absl::StatusOr<std::unique_ptr<System>> sys = StartSystem(kind);
  if (!sys.ok()) {
    r.error = sys.status().ToString();
    return r;
  }
  const int services = absl::GetFlag(FLAGS_services);
  Workload wl{.services = services,
              .endpoints = absl::GetFlag(FLAGS_endpoints),
              .batch = absl::GetFlag(FLAGS_batch),
              .max_inflight = std::min(absl::GetFlag(FLAGS_max_inflight), services),
              .duration = absl::Hours(24)};
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const int per_watcher = std::max(
      1, std::min(services, static_cast<int>(services * absl::GetFlag(FLAGS_watch_fraction))));
  wl.watch.resize(watchers);
  for (int w = 0; w < watchers; ++w) {
    for (int j = 0; j < per_watcher; ++j) wl.watch[w].push_back((w * per_watcher + j) % services);
  }
  Churn churn(wl.services, wl.endpoints, 7);
  DeliveryLog log(watchers, wl.services);
  r.load = RunLoad(**sys, churn, log, wl);
  if (!r.load.first_error.empty()) {
    r.error = r.load.first_error;
    return r;
  }
  std::fprintf(stderr, "   loaded %d x %d endpoints at %.0f endpoints/s\n", wl.services,
               wl.endpoints, r.load.achieved);
  int64_t total = 0;
  const absl::Duration window = absl::GetFlag(FLAGS_window);
  // One --window of writing as fast as acks return; false (r.error set) on failure.
  auto run_window = [&](const char* what, std::optional<Segment>* out) {
    Workload timed = wl;
    timed.duration = window;
    timed.max_batches = 0;
    PhaseResult p = RunPhase(**sys, churn, log, timed, 0);
    total += p.batches_acked * wl.batch;
    std::fprintf(stderr, "   %s window: %lld changes, %.0f changes/s, write p50 %.1f ms\n", what,
                 static_cast<long long>(total), p.achieved, p.write_p50);
    if (!p.first_error.empty() || p.batches_failed > 0) {
      r.error = absl::StrCat(what, " window: ", p.first_error);
      return false;
    }
    *out = Segment{.changes_after = total, .result = std::move(p)};
    return true;
  };
  if (window > absl::ZeroDuration() && !run_window("first", &r.first_window)) return r;
  const int segments = std::max(1, absl::GetFlag(FLAGS_segments));
  wl.max_batches = std::max<int64_t>(
      1, std::max<int64_t>(absl::GetFlag(FLAGS_changes) - total, 0) / wl.batch / segments);
  for (int i = 0; i < segments; ++i) {
    PhaseResult p = RunPhase(**sys, churn, log, wl, 0);
    total += p.batches_acked * wl.batch;
    std::fprintf(stderr, "   segment %d: %lld changes, %.0f changes/s, write p50 %.1f ms\n", i + 1,
                 static_cast<long long>(total), p.achieved, p.write_p50);
    if (!p.first_error.empty() || p.batches_failed > 0) {
      r.error = absl::StrCat("segment ", i + 1, ": ", p.first_error);
      return r;
    }
    r.segments.push_back({.changes_after = total, .result = std::move(p)});
  }
  if (window > absl::ZeroDuration() && !run_window("last", &r.last_window)) return r;
  absl::StatusOr<System::State> before = (*sys)->ReadState();
  if (!before.ok()) {
    r.error = before.status().ToString();
    return r;
  }
  r.before = *before;
  r.rss_kib_before_kill =
      RssKiBTotal(r.last_window.has_value() ? r.last_window->result : r.segments.back().result);
  r.data_bytes = (*sys)->DataBytes();
  absl::StatusOr<absl::Duration> took = (*sys)->KillAndRestart();
  if (!took.ok()) {
    r.error = took.status().ToString();
    return r;
  }
  r.restart = *took;
  absl::StatusOr<System::State> after = (*sys)->ReadState();
  if (!after.ok()) {
    r.error = after.status().ToString();
    return r;
  }
  r.after = *after;
  std::fprintf(stderr, "   restart took %s\n", absl::FormatDuration(r.restart).c_str());
  if (!(r.after == r.before)) {
    r.error = absl::StrFormat("restart lost state: revision %d, %d live before; %d, %d after",
                              r.before.revision, r.before.live, r.after.revision, r.after.live);
  }
  return r;
}

std::string Table(const SoakResult& r) {
  std::string out = absl::StrFormat(
      "\n%s: load %.0f endpoints/s\n\n| segment | changes | changes/s | write p50 ms | write p99 "
      "ms | CPU µs/change | RSS MiB |\n|---|---|---|---|---|---|---|\n",
      r.system, r.load.achieved);
  auto row = [&out](const std::string& name, const Segment& s) {
    const PhaseResult& p = s.result;
    absl::StrAppendFormat(&out, "| %s | %d | %.0f | %.1f | %.1f | %.2f | %.0f |\n", name,
                          s.changes_after, p.achieved, p.write_p50, p.write_p99, CpuUsPerChange(p),
                          RssKiBTotal(p) / 1024.0);
  };
  if (r.first_window.has_value()) row("first window", *r.first_window);
  for (size_t i = 0; i < r.segments.size(); ++i) row(absl::StrCat(i + 1), r.segments[i]);
  if (r.last_window.has_value()) row("last window", *r.last_window);
  return out;
}

std::string Summary(const std::vector<SoakResult>& results) {
  std::string out =
      "\n| system | changes | last / first segment: changes/s, write p50 | window after the "
      "segments / first window: changes/s, write p50 | RSS before kill MiB | data dir MB | restart "
      "| revision, live after restart |\n|---|---|---|---|---|---|---|---|\n";
  auto ratios = [](const PhaseResult& last, const PhaseResult& first) {
    return absl::StrFormat("%.2f×, %.2f×", last.achieved / std::max(first.achieved, 1.0),
                           last.write_p50 / std::max(first.write_p50, 1e-3));
  };
  for (const SoakResult& r : results) {
    if (!r.error.empty()) {
      absl::StrAppendFormat(&out, "| %s | FAILED: %s | | | | | | |\n", r.system, r.error);
      continue;
    }
    const Segment& end = r.last_window.has_value() ? *r.last_window : r.segments.back();
    const std::string windows = r.first_window.has_value() && r.last_window.has_value()
                                    ? ratios(r.last_window->result, r.first_window->result)
                                    : "–";
    absl::StrAppendFormat(
        &out, "| %s | %d | %s | %s | %.0f | %.1f | %.2f s | %d, %d (same as before) |\n", r.system,
        end.changes_after, ratios(r.segments.back().result, r.segments.front().result), windows,
        r.rss_kib_before_kill / 1024.0, r.data_bytes / 1e6, absl::ToDoubleSeconds(r.restart),
        r.after.revision, r.after.live);
  }
  return out;
}

int Run() {
  rlimit nofile{65536, 65536};
  setrlimit(RLIMIT_NOFILE, &nofile);
  std::printf("soak: %d services x %d endpoints, %lld changes in batches of %d, %d segments\n",
              absl::GetFlag(FLAGS_services), absl::GetFlag(FLAGS_endpoints),
              static_cast<long long>(absl::GetFlag(FLAGS_changes)), absl::GetFlag(FLAGS_batch),
              absl::GetFlag(FLAGS_segments));
  std::vector<SoakResult> results;
  bool ok = true;
  for (absl::string_view name : absl::StrSplit(absl::GetFlag(FLAGS_systems), ',')) {
    results.push_back(Soak(std::string(name)));
    if (!results.back().error.empty()) {
      ok = false;
      std::fprintf(stderr, "== %s FAILED: %s\n", results.back().system.c_str(),
                   results.back().error.c_str());
    } else {
      std::fputs(Table(results.back()).c_str(), stdout);
      std::fflush(stdout);
    }
  }
  std::fputs(Summary(results).c_str(), stdout);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_slicekeeper).empty()) {
    std::fprintf(stderr, "--slicekeeper=PATH is required\n");
    return 2;
  }
  return slicekeeper::bench::Run();
}
