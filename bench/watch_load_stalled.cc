// watch_load's stalled phase: writer throughput with 0, 1 and 100 watchers that stop reading
// (see watch_load.cc).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "bench/watch_load_cluster.h"

ABSL_FLAG(int, stalled_changes, 500'000, "Stalled phase: endpoint changes per run");
ABSL_FLAG(std::string, stalled_watchers, "0,1,100",
          "Stalled phase: watcher counts, each run on a fresh server, interleaved; N: N watchers "
          "that stop reading after their snapshot, Nr: N that keep reading (a reference)");
ABSL_FLAG(int, stalled_warmup, 100'000,
          "Stalled phase: changes of the same churn before the watchers open (untimed), so the "
          "server's own working set under churn is in place when RSS is first read");
ABSL_FLAG(int, stalled_reps, 5, "Stalled phase: runs per watcher count");
ABSL_FLAG(int64_t, stalled_history, 1,
          "Stalled phase: the server's --history (retained commits pin slice versions too)");

namespace slicekeeper::bench {
namespace {

constexpr int kStalledServices = 50;
constexpr int kStalledEndpoints = 200;
constexpr int kStalledBatch = 500;
constexpr int kStalledInFlight = 16;

// A watch of every service in "bench" on the blocking API, read only when the harness says so.
class StalledWatch {
 public:
  explicit StalledWatch(v1::EndpointDiscovery::Stub* stub) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(30)));
    v1::WatchRequest req;
    req.set_namespace_("bench");
    req.set_bookmarks(true);
    reader_ = stub->Watch(&ctx_, req);
  }
  ~StalledWatch() {
    ctx_.TryCancel();
    reader_->Finish();
  }
  // Reads until a SYNCED or BOOKMARK at >= `revision` (read again after each message). False if
  // the stream ended first.
  bool ReadUntil(const std::atomic<int64_t>& revision) {
    v1::WatchResponse m;
    while (synced_ < revision.load()) {
      if (!reader_->Read(&m)) return false;
      for (const v1::WatchEvent& e : m.events()) {
        if (e.type() == v1::WatchEvent::SYNCED || e.type() == v1::WatchEvent::BOOKMARK) {
          synced_ = std::max(synced_, e.revision());
        } else if (e.type() == v1::WatchEvent::RESET) {
          ++resets_;
        } else {
          ++events_;
        }
      }
    }
    return true;
  }
  // Events (other than SYNCED / BOOKMARK / RESET) and RESETs read since construction or the last
  // ClearCounts.
  void ClearCounts() { events_ = resets_ = 0; }
  int64_t events() const { return events_; }
  int64_t resets() const { return resets_; }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader_;
  int64_t synced_ = -1;
  int64_t events_ = 0;
  int64_t resets_ = 0;
};

// The same churn for every run: built once, before any clock starts.
std::vector<v1::ChangeBatch> StalledChurn(int changes) {
  Churn churn(kStalledServices, kStalledEndpoints, 11);
  std::vector<v1::ChangeBatch> out(changes / kStalledBatch);
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].set_batch_id(i + 1);
    for (v1::EndpointChange& ch : churn.Batch(static_cast<int>(i * kStalledBatch), kStalledBatch,
                                              /*spread=*/true)) {
      *out[i].add_changes() = std::move(ch);
    }
  }
  return out;
}

// kStalledServices x kStalledEndpoints live endpoints, one service per write.
void FillStalled(Cluster& c) {
  const Churn churn(kStalledServices, kStalledEndpoints, 1);
  for (int s = 0; s < kStalledServices; ++s) {
    grpc::ClientContext ctx;
    v1::ChangeBatch fill;
    v1::ChangeAck ack;
    for (v1::EndpointChange& ch : churn.Fill(s)) *fill.add_changes() = std::move(ch);
    if (!c.registry->ApplyChanges(&ctx, fill, &ack).ok() || ack.code() != 0) {
      std::fprintf(stderr, "stalled fill failed: %s\n", ack.message().c_str());
      std::exit(1);
    }
  }
}

struct StalledConfig {
  std::string label;  // as given in --stalled_watchers
  int watchers = 0;
  bool reading = false;
};

// The state the stalled watchers watch, serialized as ListEndpointSlices returns it: {slices,
// bytes}.
std::pair<int, int64_t> WatchedState(Cluster& c) {
  grpc::ClientContext ctx;
  v1::ListEndpointSlicesRequest req;
  req.set_namespace_("bench");
  v1::ListEndpointSlicesResponse resp;
  c.discovery[0]->ListEndpointSlices(&ctx, req, &resp);
  int64_t bytes = 0;
  for (const v1::EndpointSlice& s : resp.slices()) bytes += s.ByteSizeLong();
  return {resp.slices_size(), bytes};
}

struct StalledRun {
  double changes_per_s = 0;
  int64_t last_revision = 0;
  int64_t fill_kib = 0;  // what filling the watched state added to the server's RSS
  int64_t rss_before_kib = 0;
  int64_t rss_after_kib = 0;
  std::pair<int, int64_t> watched;  // slices and serialized bytes after the churn
  double converge_ms = 0;
  int64_t events = 0;  // the most any watcher read after its snapshot
  int64_t resets = 0;
  bool converged = true;
};

// Streams `batches`, kStalledInFlight unacknowledged at most, as fast as the server acks them.
// Sets the run's changes/s (first write to last ack) and last revision.
void WriteStalledChurn(Cluster& c, const std::vector<v1::ChangeBatch>& batches, StalledRun* run) {
  grpc::ClientContext ctx;
  auto stream = c.registry->StreamChanges(&ctx);
  absl::Mutex mu;
  int64_t acked = 0, last = 0;
  bool failed = false;
  std::thread reader([&] {
    for (v1::ChangeAck ack; stream->Read(&ack);) {
      absl::MutexLock l(&mu);
      ++acked;
      failed = failed || ack.code() != 0;
      last = std::max(last, ack.revision());
    }
  });
  const absl::Time start = absl::Now();
  for (size_t i = 0; i < batches.size(); ++i) {
    {
      absl::MutexLock l(&mu);
      auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
        return static_cast<int64_t>(i) - acked < kStalledInFlight || failed;
      };
      mu.Await(absl::Condition(&room));
      if (failed) break;
    }
    if (!stream->Write(batches[i])) break;
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status st = stream->Finish();
  if (!st.ok() || failed || acked != static_cast<int64_t>(batches.size())) {
    std::fprintf(stderr, "stalled churn failed: %s (%lld of %zu acked)\n",
                 st.error_message().c_str(), static_cast<long long>(acked), batches.size());
    std::exit(1);
  }
  run->changes_per_s = acked * kStalledBatch / absl::ToDoubleSeconds(absl::Now() - start);
  run->last_revision = last;
}

// Four connections without BDP probing, so the client's windows stay small and a watch that is
// not read really stalls the server's writes.
std::vector<std::unique_ptr<v1::EndpointDiscovery::Stub>> StalledStubs(const Cluster& c) {
  std::vector<std::unique_ptr<v1::EndpointDiscovery::Stub>> stubs;
  for (int i = 0; i < 4; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt("slicekeeper.bench.stalled_channel", i);
    stubs.push_back(v1::EndpointDiscovery::NewStub(grpc::CreateCustomChannel(
        c.server->grpc_address(), grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

// One run on a fresh server: fill, the warm-up churn, the watches (each reads its snapshot; a
// stalled one then stops), the churn, then every stalled watcher reads again (in parallel) until a
// BOOKMARK covers the last write.
StalledRun RunStalled(const std::string& binary, const StalledConfig& config,
                      const std::vector<v1::ChangeBatch>& warmup,
                      const std::vector<v1::ChangeBatch>& batches) {
  Cluster c =
      StartCluster(binary, {absl::StrCat("--history=", absl::GetFlag(FLAGS_stalled_history)),
                            "--watch_max_lag=30m", "--bookmark_interval=100ms"});
  StalledRun run;
  run.fill_kib = RssKiB(c.server->pid());
  FillStalled(c);
  run.fill_kib = RssKiB(c.server->pid()) - run.fill_kib;
  WriteStalledChurn(c, warmup, &run);
  std::vector<std::unique_ptr<v1::EndpointDiscovery::Stub>> stubs = StalledStubs(c);
  std::vector<std::unique_ptr<StalledWatch>> watches;
  const std::atomic<int64_t> synced{0};
  for (int i = 0; i < config.watchers; ++i) {
    watches.push_back(std::make_unique<StalledWatch>(stubs[i % stubs.size()].get()));
    if (!watches.back()->ReadUntil(synced)) std::exit(1);
    watches.back()->ClearCounts();
  }
  std::atomic<int64_t> target{std::numeric_limits<int64_t>::max()};
  std::vector<std::thread> readers;
  std::atomic<bool> all{true};
  auto read = [&] {
    for (auto& w : watches) {
      readers.emplace_back([&w, &target, &all] { all = w->ReadUntil(target) && all; });
    }
  };
  if (config.reading) read();
  run.rss_before_kib = RssKiB(c.server->pid());
  WriteStalledChurn(c, batches, &run);
  run.rss_after_kib = RssKiB(c.server->pid());
  const absl::Time resume = absl::Now();
  target = run.last_revision;
  if (!config.reading) read();
  for (std::thread& t : readers) t.join();
  run.converge_ms = absl::ToDoubleMilliseconds(absl::Now() - resume);
  run.converged = all;
  run.watched = WatchedState(c);
  for (auto& w : watches) {
    run.events = std::max(run.events, w->events());
    run.resets += w->resets();
  }
  return run;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

void StalledPhase(const std::string& binary) {
  std::vector<StalledConfig> configs;
  for (absl::string_view n : absl::StrSplit(absl::GetFlag(FLAGS_stalled_watchers), ',')) {
    configs.push_back({.label = std::string(n),
                       .watchers = std::atoi(std::string(n).c_str()),
                       .reading = absl::EndsWith(n, "r")});
  }
  const int warmup_changes = absl::GetFlag(FLAGS_stalled_warmup);
  std::vector<v1::ChangeBatch> batches =
      StalledChurn(warmup_changes + absl::GetFlag(FLAGS_stalled_changes));
  const std::vector<v1::ChangeBatch> warmup(batches.begin(),
                                            batches.begin() + warmup_changes / kStalledBatch);
  batches.erase(batches.begin(), batches.begin() + warmup_changes / kStalledBatch);
  std::printf(
      "stalled: %lld changes (after %d untimed) in %d-change batches over %d services x %d "
      "endpoints, --history=%lld. fill: RSS added by filling the watched state; state: the "
      "watched slices after the churn, serialized\n",
      static_cast<long long>(batches.size()) * kStalledBatch, warmup_changes, kStalledBatch,
      kStalledServices, kStalledEndpoints,
      static_cast<long long>(absl::GetFlag(FLAGS_stalled_history)));
  std::printf("%-4s %9s %10s %9s %9s %9s %10s %9s %18s %8s %7s\n", "rep", "watchers", "changes/s",
              "fill MiB", "rss0 MiB", "rss1 MiB", "growth MiB", "converge", "state", "events",
              "resets");
  std::map<std::string, std::vector<double>> rates, growth;
  for (int rep = 0; rep < absl::GetFlag(FLAGS_stalled_reps); ++rep) {
    for (const StalledConfig& config : configs) {
      const StalledRun r = RunStalled(binary, config, warmup, batches);
      rates[config.label].push_back(r.changes_per_s);
      growth[config.label].push_back((r.rss_after_kib - r.rss_before_kib) / 1024.0);
      std::printf(
          "%-4d %9s %10.0f %9.1f %9.1f %9.1f %+10.1f %6.0f ms %4d / %5.2f MiB %8lld %7lld%s\n", rep,
          config.label.c_str(), r.changes_per_s, r.fill_kib / 1024.0, r.rss_before_kib / 1024.0,
          r.rss_after_kib / 1024.0, growth[config.label].back(), r.converge_ms, r.watched.first,
          r.watched.second / 1048576.0, static_cast<long long>(r.events),
          static_cast<long long>(r.resets), r.converged ? "" : "  NOT CONVERGED");
      std::fflush(stdout);
    }
  }
  const double base = Median(rates[configs.front().label]);
  for (const StalledConfig& config : configs) {
    const std::vector<double>& r = rates[config.label];
    std::printf(
        "watchers=%s: median %.0f changes/s (min %.0f, max %.0f), %.3fx of watchers=%s; median "
        "RSS growth %+.1f MiB\n",
        config.label.c_str(), Median(r), *std::min_element(r.begin(), r.end()),
        *std::max_element(r.begin(), r.end()), Median(r) / base, configs.front().label.c_str(),
        Median(growth[config.label]));
  }
}

}  // namespace slicekeeper::bench
