// watch_load: the end-to-end fan-out harness. It starts the real `slicekeeper` binary (memory
// store) on loopback, fills it, opens N Watch streams (SLICES view, one service each, like
// sidecars) on the gRPC callback API, and drives churn through StreamChanges:
//   1. peak:  churn as fast as the writer can for --seconds over --hot_services services, each
//             watched by watchers/hot_services streams; delivered events/s, writer rate;
//   2. paced: churn at 10 % and 50 % of the peak writer rate; propagation latency p50/p99/p999;
//   3. idle:  server RSS per idle watch with --idle_watchers streams open;
//   4. snapshot: a 1 M-endpoint store (--snapshot_services x 100) streamed to one new watcher.
// Propagation latency is measured as kube-proxy's network-programming latency: from the
// `endpoints.kubernetes.io/last-change-trigger-time` annotation the server stamps on a slice
// when it receives the batch, to the watcher holding the event. Same machine, same clock.
//
//   build-x/bench/watch_load --slicekeeper=build-x/server/slicekeeper
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/churn.h"
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

namespace slicekeeper::bench {
namespace {

using integration::ServerProcess;

constexpr int kEndpoints = 100;
constexpr int kChannels = 8;

int64_t RssKiB(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6);
  }
  return -1;
}

// Latency samples and event counts shared by every watcher of a phase.
struct Recorder {
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> synced{0};
  absl::Mutex mu;
  std::vector<double> latencies_ms ABSL_GUARDED_BY(mu);
  std::atomic<bool> measuring{false};
};

class Watcher final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  Watcher(v1::EndpointDiscovery::Stub* stub, const v1::WatchRequest& req, Recorder* rec)
      : rec_(rec) {
    stub->async()->Watch(&ctx_, &req, this);
    StartRead(&resp_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    const absl::Time now = absl::Now();
    std::vector<double> lat;
    for (const v1::WatchEvent& e : resp_.events()) {
      if (e.type() == v1::WatchEvent::SYNCED) rec_->synced.fetch_add(1);
      if (e.type() != v1::WatchEvent::MODIFIED && e.type() != v1::WatchEvent::ADDED) continue;
      rec_->events.fetch_add(1, std::memory_order_relaxed);
      if (!rec_->measuring.load(std::memory_order_relaxed)) continue;
      auto it = e.slice().metadata().annotations().find(
          "endpoints.kubernetes.io/last-change-trigger-time");
      absl::Time t;
      std::string err;
      if (it != e.slice().metadata().annotations().end() &&
          absl::ParseTime(absl::RFC3339_full, it->second, &t, &err)) {
        lat.push_back(absl::ToDoubleMilliseconds(now - t));
      }
    }
    if (!lat.empty()) {
      absl::MutexLock l(&rec_->mu);
      rec_->latencies_ms.insert(rec_->latencies_ms.end(), lat.begin(), lat.end());
    }
    StartRead(&resp_);
  }
  void OnDone(const grpc::Status&) override {
    absl::MutexLock l(&mu_);
    done_ = true;
  }
  void Stop() {
    ctx_.TryCancel();
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

 private:
  Recorder* const rec_;
  grpc::ClientContext ctx_;
  v1::WatchResponse resp_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

struct Cluster {
  std::unique_ptr<ServerProcess> server;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::unique_ptr<v1::EndpointRegistry::Stub> registry;
  std::vector<std::unique_ptr<v1::EndpointDiscovery::Stub>> discovery;
};

Cluster StartCluster() {
  auto server = ServerProcess::Start(
      {.binary = absl::GetFlag(FLAGS_slicekeeper), .args = {"--store=memory", "--log_level=warn"}});
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

std::vector<std::unique_ptr<Watcher>> OpenWatchers(Cluster& c, int n, int services, Recorder* rec) {
  std::vector<std::unique_ptr<Watcher>> out;
  for (int i = 0; i < n; ++i) {
    v1::WatchRequest req;
    req.set_namespace_("bench");
    req.add_services(absl::StrCat("svc-", i % services));
    out.push_back(std::make_unique<Watcher>(c.discovery[i % kChannels].get(), req, rec));
  }
  // Every stream has its snapshot.
  while (rec->synced.load() < n) absl::SleepFor(absl::Milliseconds(5));
  return out;
}

// Streams 100-change batches for `seconds`, at most `rate` changes/s (0: as fast as acks allow).
// Returns changes acked per second.
double Churn100(Cluster& c, Churn& churn, int services, double seconds, double rate) {
  grpc::ClientContext ctx;
  auto stream = c.registry->StreamChanges(&ctx);
  std::atomic<int64_t> acked{0};
  std::thread reader([&] {
    v1::ChangeAck ack;
    while (stream->Read(&ack)) acked.fetch_add(ack.code() == 0 ? 100 : 0);
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
  return acked.load() / absl::ToDoubleSeconds(absl::Now() - start);
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

void ChurnPhases() {
  const int services = absl::GetFlag(FLAGS_services), n = absl::GetFlag(FLAGS_watchers);
  const int hot = std::min(services, absl::GetFlag(FLAGS_hot_services));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  Cluster c = StartCluster();
  Fill(c, services);
  Recorder rec;
  std::vector<std::unique_ptr<Watcher>> watchers = OpenWatchers(c, n, hot, &rec);
  Churn churn(hot, kEndpoints, 7);
  std::printf("%-10s %14s %16s %10s %10s %10s %10s\n", "phase", "changes/s", "events/s", "p50 ms",
              "p99 ms", "p999 ms", "rss MiB");
  double peak = 0;
  for (double fraction : {1.0, 0.1, 0.5}) {
    {
      absl::MutexLock l(&rec.mu);
      rec.latencies_ms.clear();
    }
    rec.measuring = true;
    const int64_t events0 = rec.events.load();
    const absl::Time t0 = absl::Now();
    const double rate = Churn100(c, churn, hot, seconds, fraction < 1 ? peak * fraction : 0);
    const double events_per_s =
        (rec.events.load() - events0) / absl::ToDoubleSeconds(absl::Now() - t0);
    rec.measuring = false;
    if (fraction == 1.0) peak = rate;
    absl::MutexLock l(&rec.mu);
    std::printf(
        "%-10s %14.0f %16.0f %10.2f %10.2f %10.2f %10.1f\n",
        fraction == 1.0 ? "peak" : absl::StrCat(static_cast<int>(fraction * 100), "%").c_str(),
        rate, events_per_s, Percentile(rec.latencies_ms, 0.5), Percentile(rec.latencies_ms, 0.99),
        Percentile(rec.latencies_ms, 0.999), RssKiB(c.server->pid()) / 1024.0);
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
  Watcher w(c.discovery[0].get(), req, &rec);
  while (rec.synced.load() < 1) absl::SleepFor(absl::Milliseconds(1));
  std::printf(
      "snapshot: %d endpoints in %lld slices to one new watcher in %.0f ms (server RSS %.1f MiB, "
      "%.0f B/endpoint)\n",
      services * kEndpoints, static_cast<long long>(rec.events.load()),
      absl::ToDoubleMilliseconds(absl::Now() - start), RssKiB(c.server->pid()) / 1024.0,
      RssKiB(c.server->pid()) * 1024.0 / (services * kEndpoints));
  w.Stop();
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
  slicekeeper::bench::ChurnPhases();
  slicekeeper::bench::IdlePhase();
  slicekeeper::bench::SnapshotPhase();
  return 0;
}
