// xds_load: the xDS fan-out harness, beside the Watch API on the same workload. It starts the
// real `slicekeeper` binary (memory store) on loopback, fills --clusters services of 100
// endpoints (one port), and for each mode and stream count opens N subscribers, each of one
// service (stream i watches svc-<i % clusters>):
//   sotw      ADS StreamAggregatedResources, EDS `svc-<i>.bench`, every response ACKed
//   delta     ADS DeltaAggregatedResources, the same
//   leds      the same, opted in to LEDS (node metadata slicekeeper.io/leds): subscribes to the
//             collections its ClusterLoadAssignment names and gets one LbEndpoint per change
//   slices    EndpointDiscovery.Watch, SLICES view (what kube-proxy-style consumers get)
//   endpoints EndpointDiscovery.Watch, ENDPOINTS view (per-endpoint deltas)
// Phases per (mode, N), on a fresh server each, in this order: open, single, peak, 10%:
//   open:   server RSS before and after the N subscribers have their first state: RSS/stream;
//   peak:   100-change batches (bench/churn.h: ready flips, pod replacements), one service each,
//           as fast as the writer's acks allow, for --seconds: pushes/s, resources/s, bytes/s,
//           and the server's CPU (user + system, /proc) per push (Watch: per message);
//   10%:    the same churn paced at 10 % of that peak: push latency p50/p99, from the writer
//           holding a batch's ack to a subscriber holding a response at (or past) its revision;
//   single: one-endpoint ready flips at --single_rate for --seconds: bytes delivered per change
//           per subscriber (what a single-endpoint change costs on the wire). It runs first, on
//           the filled clusters: after the churn phases' pod replacements a "flip" of a replaced
//           pod would bring it back, an add that grows the cluster.
// After each churn phase the harness waits until every subscriber holds its service's last
// changing revision, so no phase measures the previous one's backlog.
//
//   build/bench/xds_load --slicekeeper=build/server/slicekeeper --streams=1000,10000
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "bench/xds_clients.h"
#include "common/percentile.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/integration/server_process.h"
#include "workload/churn_model.h"

ABSL_FLAG(std::string, slicekeeper, "", "Path of the slicekeeper binary");
ABSL_FLAG(std::string, modes, "sotw,delta,leds,slices,endpoints",
          "Subscriber kinds, comma-separated");
ABSL_FLAG(std::string, streams, "1000,10000", "Subscriber counts, comma-separated");
ABSL_FLAG(int, clusters, 100, "Services (x 100 endpoints), one cluster each");
ABSL_FLAG(double, seconds, 5, "Duration of each churn phase");
ABSL_FLAG(double, single_rate, 200, "Single phase: one-endpoint changes per second");
ABSL_FLAG(int, channels, 16, "Client connections the subscribers share");

namespace slicekeeper::bench {
namespace {

using integration::ServerProcess;

// The server and the client connections of one (mode, N) run.
struct Rig {
  std::unique_ptr<ServerProcess> server;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<xds::testing::AdsStub>> ads;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  std::unique_ptr<v1::EndpointRegistry::Stub> registry;

  explicit Rig(int channels_wanted) {
    auto s = ServerProcess::Start({.binary = absl::GetFlag(FLAGS_slicekeeper),
                                   .args = {"--store=memory", "--log_level=warn"}});
    if (!s.ok()) {
      std::fprintf(stderr, "cannot start server: %s\n", s.status().ToString().c_str());
      std::exit(1);
    }
    server = std::move(*s);
    for (int i = 0; i < channels_wanted; ++i) {
      grpc::ChannelArguments args;
      args.SetInt("slicekeeper.bench.channel", i);
      args.SetMaxReceiveMessageSize(64 << 20);
      channels.push_back(grpc::CreateCustomChannel(server->grpc_address(),
                                                   grpc::InsecureChannelCredentials(), args));
      ads.push_back(
          envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channels.back()));
      generic.push_back(std::make_unique<grpc::GenericStub>(channels.back()));
    }
    registry = v1::EndpointRegistry::NewStub(channels[0]);
  }

  // Applies one batch; its ack's revision when it changed something, else 0.
  int64_t Apply(std::vector<v1::EndpointChange> changes) {
    v1::ChangeBatch batch;
    for (auto& c : changes) *batch.add_changes() = std::move(c);
    grpc::ClientContext ctx;
    v1::ChangeAck ack;
    grpc::Status st = registry->ApplyChanges(&ctx, batch, &ack);
    if (!st.ok() || ack.code() != 0) {
      std::fprintf(stderr, "write failed: %s %s\n", st.error_message().c_str(),
                   ack.message().c_str());
      std::exit(1);
    }
    const v1::BatchStats& s = ack.stats();
    return s.endpoints_added() + s.endpoints_updated() + s.endpoints_removed() > 0 ? ack.revision()
                                                                                   : 0;
  }
};

std::unique_ptr<Subscriber> Open(Rig& rig, const std::string& mode, int i, Recorder* rec) {
  const int service = i % absl::GetFlag(FLAGS_clusters);
  const size_t ch = static_cast<size_t>(i) % rig.channels.size();
  if (mode == "sotw") return std::make_unique<SotwSubscriber>(rig.ads[ch].get(), service, rec);
  if (mode == "delta") return std::make_unique<DeltaSubscriber>(rig.ads[ch].get(), service, rec);
  if (mode == "leds") return std::make_unique<LedsSubscriber>(rig.ads[ch].get(), service, rec);
  return std::make_unique<WatchSubscriber>(rig.generic[ch].get(), service,
                                           mode == "slices" ? v1::SLICES : v1::ENDPOINTS, rec);
}

// What one churn phase did: acked changes/s, each service's last changing revision, and when
// the writer held each revision's ack.
struct Written {
  double changes_per_s = 0;
  std::vector<int64_t> last;
  absl::flat_hash_map<int64_t, absl::Time> acked_at;
};

// Pipelined writes (`writers` threads, one batch in flight each) of batches from `next` for
// `seconds`, at most `rate` batches/s in total (0: as fast as acks come back). `next` is called
// under a lock: the churn model behind it is for one thread.
template <typename Next>
Written Write(Rig& rig, double seconds, double rate, int writers, Next next) {
  Written out;
  out.last.assign(absl::GetFlag(FLAGS_clusters), 0);
  absl::Mutex mu, next_mu;
  std::atomic<int64_t> changes{0};
  const absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
  std::atomic<int64_t> issued{0};
  auto loop = [&] {
    while (absl::Now() < end) {
      const int64_t n = issued.fetch_add(1);
      // Pacing the writer (not synchronizing anything): batch n is due at start + n / rate.
      if (rate > 0) absl::SleepFor(start + absl::Seconds(n / rate) - absl::Now());
      std::pair<int, std::vector<v1::EndpointChange>> item;
      {
        absl::MutexLock l(&next_mu);
        item = next(n);
      }
      auto& [service, batch] = item;
      const int64_t size = static_cast<int64_t>(batch.size());
      const int64_t revision = rig.Apply(std::move(batch));
      changes.fetch_add(size);
      if (revision == 0) continue;
      absl::MutexLock l(&mu);
      out.last[service] = std::max(out.last[service], revision);
      out.acked_at.emplace(revision, absl::Now());
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < writers; ++i) threads.emplace_back(loop);
  for (auto& t : threads) t.join();
  out.changes_per_s = changes.load() / absl::ToDoubleSeconds(absl::Now() - start);
  return out;
}

// Waits (bounded, polling the subscribers' progress) until every subscriber holds its service's
// last changing revision; the time it took, or nullopt after a minute.
std::optional<absl::Duration> Drain(const std::vector<std::unique_ptr<Subscriber>>& subs,
                                    const std::vector<int64_t>& last) {
  const absl::Time start = absl::Now(), deadline = start + absl::Minutes(1);
  for (const auto& s : subs) {
    while (s->revision() < last[s->service()]) {
      if (absl::Now() > deadline) return std::nullopt;
      absl::SleepFor(absl::Microseconds(500));
    }
  }
  return absl::Now() - start;
}

// Latencies (ms) of the arrivals recorded while measuring, joined with the acks.
std::vector<double> Latencies(Recorder& rec, const Written& w) {
  std::vector<double> out;
  absl::MutexLock l(&rec.mu);
  for (const auto& [revision, at] : rec.arrivals) {
    auto it = w.acked_at.find(revision);
    if (it != w.acked_at.end()) out.push_back(absl::ToDoubleMilliseconds(at - it->second));
  }
  rec.arrivals.clear();
  return out;
}

struct Totals {
  int64_t responses, resources, bytes;
  static Totals Of(const Recorder& r) {
    return {r.responses.load(), r.resources.load(), r.bytes.load()};
  }
};

void Run(const std::string& mode, int n) {
  const int clusters = absl::GetFlag(FLAGS_clusters);
  const double seconds = absl::GetFlag(FLAGS_seconds);
  Rig rig(absl::GetFlag(FLAGS_channels));
  Churn churn(clusters, 100, 11);
  for (int s = 0; s < clusters; s += 50) {
    std::vector<v1::EndpointChange> fill;
    for (int t = s; t < std::min(clusters, s + 50); ++t) {
      for (auto& c : churn.Fill(t)) fill.push_back(std::move(c));
    }
    rig.Apply(std::move(fill));
  }
  Recorder rec;
  const int64_t rss0 = RssKiB(rig.server->pid());
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < n; ++i) subs.push_back(Open(rig, mode, i, &rec));
  const absl::Time opened = absl::Now();
  while (rec.first.load() < n) {
    if (absl::Now() - opened > absl::Minutes(2)) {
      std::printf("%-9s %6d  only %lld of the streams got their first state in 2 min\n",
                  mode.c_str(), n, static_cast<long long>(rec.first.load()));
      return;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  const double open_s = absl::ToDoubleSeconds(absl::Now() - opened);
  const double kib_per_stream = static_cast<double>(RssKiB(rig.server->pid()) - rss0) / n;

  // single: one-endpoint ready flips.
  Totals t2 = Totals::Of(rec);
  // Every write flips one endpoint's ready condition (a model of only ready flips, taking the
  // fill as its state, which it is: this phase runs first, so every cluster has its 100
  // endpoints and every change is a flip of one of them).
  workload::ChurnModel flips(workload::ChurnOptions{
      .namespace_ = "bench",
      .prefix = "svc",
      .services = clusters,
      .endpoints = 100,
      .zones = 3,
      .seed = 12,
      .mix = {.add = 0, .remove = 0, .ready = 1, .terminate = 0, .replace = 0}});
  flips.AssumeFilled();
  Written single = Write(rig, seconds, absl::GetFlag(FLAGS_single_rate), 1, [&](int64_t i) {
    const int s = static_cast<int>(i % clusters);
    return std::make_pair(s, flips.Batch(s, 1, false));
  });
  Drain(subs, single.last);
  Totals t3 = Totals::Of(rec);
  const double per_stream_change = static_cast<double>(t3.bytes - t2.bytes) /
                                   std::max<int64_t>(1, single.acked_at.size()) /
                                   (static_cast<double>(n) / clusters);

  // peak: 100-change batches, one service each, two writers.
  Totals t0 = Totals::Of(rec);
  const ProcStats cpu0 = ReadProcStats(rig.server->pid());
  Written peak = Write(rig, seconds, 0, 2, [&](int64_t i) {
    const int s = static_cast<int>(i % clusters);
    return std::make_pair(s, churn.Batch(s, 100, false));
  });
  std::optional<absl::Duration> drained = Drain(subs, peak.last);
  const double peak_s = seconds + absl::ToDoubleSeconds(drained.value_or(absl::Minutes(1)));
  Totals t1 = Totals::Of(rec);
  const double us_per_push = (ReadProcStats(rig.server->pid()).cpu_seconds() - cpu0.cpu_seconds()) *
                             1e6 / std::max<int64_t>(1, t1.responses - t0.responses);

  // 10 %: the same churn, paced; latency measured.
  rec.measuring = true;
  Written paced = Write(rig, seconds, peak.changes_per_s / 100 * 0.1, 1, [&](int64_t i) {
    const int s = static_cast<int>(i % clusters);
    return std::make_pair(s, churn.Batch(s, 100, false));
  });
  std::optional<absl::Duration> paced_drain = Drain(subs, paced.last);
  rec.measuring = false;
  std::vector<double> lat = Latencies(rec, paced);

  std::printf(
      "%-9s %6d %7.1f %8.1f | %9.0f %10.0f %11.0f %10.1f %7.0f %8s | %8.0f %7.2f %7.2f %8s | "
      "%8.0f\n",
      mode.c_str(), n, open_s, kib_per_stream, peak.changes_per_s,
      (t1.responses - t0.responses) / peak_s, (t1.resources - t0.resources) / peak_s,
      (t1.bytes - t0.bytes) / peak_s / (1 << 20), us_per_push,
      drained ? absl::StrCat(absl::ToInt64Milliseconds(*drained)).c_str() : "timeout",
      paced.changes_per_s, Percentile(absl::MakeSpan(lat), 0.5),
      Percentile(absl::MakeSpan(lat), 0.99), paced_drain ? "" : "timeout", per_stream_change);
  std::fflush(stdout);
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_slicekeeper).empty()) {
    std::fprintf(stderr, "--slicekeeper: the server binary is required\n");
    return 2;
  }
  std::printf("%d clusters x 100 endpoints; %.0f s per churn phase; %d connections\n",
              absl::GetFlag(FLAGS_clusters), absl::GetFlag(FLAGS_seconds),
              absl::GetFlag(FLAGS_channels));
  std::printf("%-9s %6s %7s %8s | %9s %10s %11s %10s %7s %8s | %8s %7s %7s %8s | %8s\n", "mode",
              "N", "open s", "KiB/str", "peak ch/s", "pushes/s", "resources/s", "MiB/s", "us/push",
              "drain ms", "10% ch/s", "p50 ms", "p99 ms", "", "B/change");
  for (absl::string_view n : absl::StrSplit(absl::GetFlag(FLAGS_streams), ',')) {
    for (absl::string_view mode : absl::StrSplit(absl::GetFlag(FLAGS_modes), ',')) {
      int count = 0;
      if (!absl::SimpleAtoi(n, &count) || count <= 0) return 2;
      slicekeeper::bench::Run(std::string(mode), count);
    }
  }
  return 0;
}
