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
//             slices; --rates adds phases at fixed rates;
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

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "bench/raw_watch.h"
#include "common/percentile.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/integration/server_process.h"

ABSL_FLAG(std::string, slicekeeper, "", "Path of the slicekeeper binary");
ABSL_FLAG(int, services, 1000, "Services (x 100 endpoints) in the store for the churn phases");
ABSL_FLAG(int, hot_services, 100,
          "Of those, the services that are watched and churned (watchers spread evenly)");
ABSL_FLAG(int, watchers, 1000, "Watch streams in the churn phases (one service each)");
ABSL_FLAG(int, idle_watchers, 10000, "Watch streams in the idle-memory phase");
ABSL_FLAG(int, snapshot_services, 10000, "Services x 100 endpoints for the snapshot phase");
ABSL_FLAG(double, seconds, 5, "Duration of each churn phase");
ABSL_FLAG(std::string, view, "slices", "Churn phases: the watchers' view, slices or endpoints");
ABSL_FLAG(std::string, rates, "",
          "Churn phases: extra phases at these fixed rates (changes/s, comma-separated), after the "
          "peak, 10 % and 50 % phases");
ABSL_FLAG(std::string, phases, "churn,idle,snapshot",
          "Phases to run, comma-separated: churn, idle, snapshot, stalled");
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

using integration::ServerProcess;

constexpr int kEndpoints = 100;
constexpr int kChannels = 8;

// Latency samples and event counts shared by every watcher of a phase.
struct Recorder {
  std::atomic<int64_t> events{0};     // ADDED / MODIFIED / DELETED
  std::atomic<int64_t> endpoints{0};  // endpoints those events carry (ENDPOINTS view: one each)
  std::atomic<int64_t> synced{0};
  absl::Mutex mu;
  std::vector<double> latencies_ms ABSL_GUARDED_BY(mu);
  std::atomic<bool> measuring{false};
};

class Watcher final : public RawWatch {
 public:
  // `service`: the index of the one service watched (all services when negative).
  Watcher(grpc::GenericStub* stub, const v1::WatchRequest& req, Recorder* rec, int service = -1)
      : rec_(rec), service_(service), endpoints_view_(req.view() == v1::ENDPOINTS) {
    Start(stub, req);
  }
  int service() const { return service_; }
  // The highest revision of any event received.
  int64_t revision() const { return revision_.load(std::memory_order_acquire); }
  // ENDPOINTS view: (revision, arrival) of the events received while measuring, and clears them.
  std::vector<std::pair<int64_t, absl::Time>> TakeArrivals() {
    absl::MutexLock l(&arrivals_mu_);
    return std::exchange(arrivals_, {});
  }

 private:
  void OnEvents(const std::vector<ScannedEvent>& scanned) override {
    const absl::Time now = absl::Now();
    std::vector<double> lat;
    int64_t events = 0, endpoints = 0, max_revision = 0, last_arrival_revision = -1;
    const bool measuring = rec_->measuring.load(std::memory_order_relaxed);
    for (const ScannedEvent& e : scanned) {
      if (e.type == v1::WatchEvent::SYNCED) rec_->synced.fetch_add(1);
      if (e.type != v1::WatchEvent::MODIFIED && e.type != v1::WatchEvent::ADDED &&
          e.type != v1::WatchEvent::DELETED) {
        continue;
      }
      ++events;
      endpoints += e.endpoints;
      max_revision = std::max(max_revision, e.revision);
      if (!measuring) continue;
      if (endpoints_view_) {
        // Joined with the writer's ack times after the phase (TakeArrivals).
        if (e.revision != last_arrival_revision) {
          absl::MutexLock l(&arrivals_mu_);
          arrivals_.push_back({e.revision, now});
        }
        last_arrival_revision = e.revision;
        continue;
      }
      absl::Time t;
      std::string err;
      if (!e.trigger_time.empty() && absl::ParseTime(absl::RFC3339_full, e.trigger_time, &t, &err)) {
        lat.push_back(absl::ToDoubleMilliseconds(now - t));
      }
    }
    rec_->events.fetch_add(events, std::memory_order_relaxed);
    rec_->endpoints.fetch_add(endpoints, std::memory_order_relaxed);
    if (max_revision > revision_.load(std::memory_order_relaxed)) {
      revision_.store(max_revision, std::memory_order_release);
    }
    if (!lat.empty()) {
      absl::MutexLock l(&rec_->mu);
      rec_->latencies_ms.insert(rec_->latencies_ms.end(), lat.begin(), lat.end());
    }
  }

  Recorder* const rec_;
  const int service_;
  const bool endpoints_view_;
  std::atomic<int64_t> revision_{0};
  absl::Mutex arrivals_mu_;
  std::vector<std::pair<int64_t, absl::Time>> arrivals_ ABSL_GUARDED_BY(arrivals_mu_);
};

struct Cluster {
  std::unique_ptr<ServerProcess> server;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::unique_ptr<v1::EndpointRegistry::Stub> registry;
  std::vector<std::unique_ptr<v1::EndpointDiscovery::Stub>> discovery;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;  // for the watchers, per channel
};

Cluster StartCluster(std::vector<std::string> extra_args = {}) {
  std::vector<std::string> args = {"--store=memory", "--log_level=warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto server =
      ServerProcess::Start({.binary = absl::GetFlag(FLAGS_slicekeeper), .args = std::move(args)});
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start server: %s\n", server.status().ToString().c_str());
    std::exit(1);
  }
  Cluster c;
  c.server = std::move(*server);
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("slicekeeper.bench.channel", i);
    args.SetMaxReceiveMessageSize(64 << 20);
    c.channels.push_back(grpc::CreateCustomChannel(c.server->grpc_address(),
                                                   grpc::InsecureChannelCredentials(), args));
    c.discovery.push_back(v1::EndpointDiscovery::NewStub(c.channels.back()));
    c.generic.push_back(std::make_unique<grpc::GenericStub>(c.channels.back()));
  }
  c.registry = v1::EndpointRegistry::NewStub(c.channels[0]);
  return c;
}

void Fill(Cluster& c, int services) {
  Churn churn(services, kEndpoints, 1);
  v1::ChangeBatch batch;
  for (int s = 0; s < services; ++s) {
    for (v1::EndpointChange& ch : churn.Fill(s)) *batch.add_changes() = std::move(ch);
    if (batch.changes_size() >= 5000 || s + 1 == services) {
      grpc::ClientContext ctx;
      v1::ChangeAck ack;
      grpc::Status st = c.registry->ApplyChanges(&ctx, batch, &ack);
      if (!st.ok() || ack.code() != 0) {
        std::fprintf(stderr, "fill failed: %s %s\n", st.error_message().c_str(),
                     ack.message().c_str());
        std::exit(1);
      }
      batch.Clear();
    }
  }
}

std::vector<std::unique_ptr<Watcher>> OpenWatchers(Cluster& c, int n, int services, Recorder* rec,
                                                   v1::WatchView view = v1::SLICES) {
  std::vector<std::unique_ptr<Watcher>> out;
  for (int i = 0; i < n; ++i) {
    v1::WatchRequest req;
    req.set_namespace_("bench");
    req.add_services(absl::StrCat("svc-", i % services));
    req.set_view(view);
    out.push_back(
        std::make_unique<Watcher>(c.generic[i % kChannels].get(), req, rec, i % services));
  }
  // Every stream has its snapshot.
  while (rec->synced.load() < n) absl::SleepFor(absl::Milliseconds(5));
  return out;
}

struct ChurnResult {
  double changes_per_s = 0;  // acked
  absl::Time end;            // when the last ack arrived
  // Per service: the highest revision of an acked batch that changed something (0: none).
  std::vector<int64_t> last_revision;
  // When the writer held the ack of each revision.
  absl::flat_hash_map<int64_t, absl::Time> acked_at;
};

// Streams 100-change batches for `seconds`, at most `rate` changes/s (0: as fast as acks allow),
// batch i to service i % services.
ChurnResult Churn100(Cluster& c, Churn& churn, int services, double seconds, double rate) {
  grpc::ClientContext ctx;
  auto stream = c.registry->StreamChanges(&ctx);
  std::atomic<int64_t> acked{0};
  ChurnResult result;
  result.last_revision.assign(services, 0);
  std::thread reader([&] {
    v1::ChangeAck ack;
    while (stream->Read(&ack)) {
      if (ack.code() != 0) continue;
      const absl::Time now = absl::Now();
      const v1::BatchStats& st = ack.stats();
      if (st.endpoints_added() + st.endpoints_updated() + st.endpoints_removed() > 0) {
        int64_t& last = result.last_revision[ack.batch_id() % services];
        last = std::max(last, ack.revision());
        result.acked_at.emplace(ack.revision(), now);
      }
      acked.fetch_add(100);
    }
  });
  const absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
  int64_t sent = 0;
  for (int i = 0; absl::Now() < end; ++i) {
    if (rate > 0) {
      const absl::Time due = start + absl::Seconds(sent / rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());  // pacing, not synchronization
    } else if (sent - acked.load() > 64 * 100) {
      absl::SleepFor(absl::Microseconds(50));  // bound what is in flight
      continue;
    }
    v1::ChangeBatch b;
    b.set_batch_id(i);
    for (v1::EndpointChange& ch : churn.Batch(i % services, 100, false)) {
      *b.add_changes() = std::move(ch);
    }
    if (!stream->Write(b)) break;
    sent += 100;
  }
  stream->WritesDone();
  reader.join();
  stream->Finish();
  result.end = absl::Now();
  result.changes_per_s = acked.load() / absl::ToDoubleSeconds(result.end - start);
  return result;
}

// Waits until every watcher holds an event at or past its service's last changing revision;
// returns when that was (or, after `timeout`, nullopt).
std::optional<absl::Time> AwaitCaughtUp(const std::vector<std::unique_ptr<Watcher>>& watchers,
                                        const std::vector<int64_t>& last_revision,
                                        absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& w : watchers) {
    while (w->revision() < last_revision[w->service()]) {
      if (absl::Now() > deadline) return std::nullopt;
      absl::SleepFor(absl::Microseconds(200));  // polling the watchers' progress, bounded
    }
  }
  return absl::Now();
}

void ChurnPhases() {
  const int services = absl::GetFlag(FLAGS_services), n = absl::GetFlag(FLAGS_watchers);
  const int hot = std::min(services, absl::GetFlag(FLAGS_hot_services));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const bool endpoints_view = absl::GetFlag(FLAGS_view) == "endpoints";
  if (!endpoints_view && absl::GetFlag(FLAGS_view) != "slices") {
    std::fprintf(stderr, "--view: slices or endpoints\n");
    std::exit(2);
  }
  Cluster c = StartCluster();
  Fill(c, services);
  Recorder rec;
  std::vector<std::unique_ptr<Watcher>> watchers =
      OpenWatchers(c, n, hot, &rec, endpoints_view ? v1::ENDPOINTS : v1::SLICES);
  Churn churn(hot, kEndpoints, 7);
  std::printf("%d watchers, %s view, %d hot services\n", n, endpoints_view ? "ENDPOINTS" : "SLICES",
              hot);
  std::printf("%-6s %10s %12s %14s %10s %9s %9s %9s %9s\n", "phase", "changes/s", "events/s",
              "endpoints/s", "drain ms", "p50 ms", "p99 ms", "p999 ms", "rss MiB");
  double peak = 0;
  // Phases: a fraction of the peak (<= 1; 1 = the peak itself) or a fixed rate (> 1, changes/s).
  std::vector<double> phases = {1.0, 0.1, 0.5};
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_rates), ',', absl::SkipEmpty())) {
    double rate = 0;
    if (!absl::SimpleAtod(r, &rate) || rate <= 1) {
      std::fprintf(stderr, "--rates: changes/s above 1, comma-separated\n");
      std::exit(2);
    }
    phases.push_back(rate);
  }
  for (double fraction : phases) {
    {
      absl::MutexLock l(&rec.mu);
      rec.latencies_ms.clear();
    }
    for (auto& w : watchers) w->TakeArrivals();
    rec.measuring = true;
    const int64_t events0 = rec.events.load(), endpoints0 = rec.endpoints.load();
    const absl::Time t0 = absl::Now();
    const ChurnResult churned =
        Churn100(c, churn, hot, seconds, fraction < 1 ? peak * fraction : fraction > 1 ? fraction : 0);
    const std::optional<absl::Time> caught_up =
        AwaitCaughtUp(watchers, churned.last_revision, absl::Seconds(60));
    rec.measuring = false;
    const double elapsed = absl::ToDoubleSeconds(caught_up.value_or(absl::Now()) - t0);
    const double events_per_s = (rec.events.load() - events0) / elapsed;
    const double endpoints_per_s = (rec.endpoints.load() - endpoints0) / elapsed;
    if (fraction == 1.0) peak = churned.changes_per_s;
    std::vector<double> latencies;
    {
      absl::MutexLock l(&rec.mu);
      latencies.swap(rec.latencies_ms);
    }
    for (auto& w : watchers) {
      for (const auto& [revision, at] : w->TakeArrivals()) {
        auto it = churned.acked_at.find(revision);
        if (it != churned.acked_at.end()) {
          latencies.push_back(absl::ToDoubleMilliseconds(at - it->second));
        }
      }
    }
    std::printf(
        "%-6s %10.0f %12.0f %14.0f %10s %9.2f %9.2f %9.2f %9.1f\n",
        fraction == 1.0  ? "peak"
        : fraction > 1.0 ? absl::StrCat(static_cast<int64_t>(fraction), "/s").c_str()
                         : absl::StrCat(static_cast<int>(fraction * 100), "%").c_str(),
        churned.changes_per_s, events_per_s, endpoints_per_s,
        caught_up
            ? absl::StrFormat("%.0f", absl::ToDoubleMilliseconds(*caught_up - churned.end)).c_str()
            : "timeout",
        Percentile(absl::MakeSpan(latencies), 0.5), Percentile(absl::MakeSpan(latencies), 0.99),
        Percentile(absl::MakeSpan(latencies), 0.999), RssKiB(c.server->pid()) / 1024.0);
    std::fflush(stdout);
  }
  for (auto& w : watchers) w->Stop();
}

void IdlePhase() {
  const int n = absl::GetFlag(FLAGS_idle_watchers);
  Cluster c = StartCluster();
  Fill(c, 1000);
  const int64_t before = RssKiB(c.server->pid());
  Recorder rec;
  std::vector<std::unique_ptr<Watcher>> watchers = OpenWatchers(c, n, 1000, &rec);
  const int64_t after = RssKiB(c.server->pid());
  std::printf("idle: %d watch streams, server RSS %.1f -> %.1f MiB, %.1f KiB per idle watch\n", n,
              before / 1024.0, after / 1024.0, static_cast<double>(after - before) / n);
  for (auto& w : watchers) w->Stop();
}

void SnapshotPhase() {
  const int services = absl::GetFlag(FLAGS_snapshot_services);
  Cluster c = StartCluster();
  Fill(c, services);
  Recorder rec;
  v1::WatchRequest req;
  req.set_namespace_("bench");
  const absl::Time start = absl::Now();
  Watcher w(c.generic[0].get(), req, &rec);
  while (rec.synced.load() < 1) absl::SleepFor(absl::Milliseconds(1));
  std::printf(
      "snapshot: %d endpoints in %lld slices to one new watcher in %.0f ms (server RSS %.1f MiB, "
      "%.0f B/endpoint)\n",
      services * kEndpoints, static_cast<long long>(rec.events.load()),
      absl::ToDoubleMilliseconds(absl::Now() - start), RssKiB(c.server->pid()) / 1024.0,
      RssKiB(c.server->pid()) * 1024.0 / (services * kEndpoints));
  w.Stop();
}

// --- Stalled watchers. ---

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
StalledRun RunStalled(const StalledConfig& config, const std::vector<v1::ChangeBatch>& warmup,
                      const std::vector<v1::ChangeBatch>& batches) {
  Cluster c = StartCluster({absl::StrCat("--history=", absl::GetFlag(FLAGS_stalled_history)),
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

void StalledPhase() {
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
      const StalledRun r = RunStalled(config, warmup, batches);
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

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_slicekeeper).empty()) {
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
  if (wanted("churn")) slicekeeper::bench::ChurnPhases();
  if (wanted("idle")) slicekeeper::bench::IdlePhase();
  if (wanted("snapshot")) slicekeeper::bench::SnapshotPhase();
  if (wanted("stalled")) slicekeeper::bench::StalledPhase();
  return 0;
}
