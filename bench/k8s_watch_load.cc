// k8s_watch_load: the Kubernetes API's HTTP watch fan-out beside the gRPC Watch fan-out, on the
// same churn of the real `slicekeeper` binary (memory store). Each watcher follows one service
// (--watchers over --services services): gRPC streams read off the wire (bench/raw_watch.h), HTTP
// streams `GET .../namespaces/bench/endpointslices?watch=1&labelSelector=kubernetes.io/
// service-name=svc-<i>` read line by line (bench/http_watchers.h). Phases, each with only its own
// watchers open:
//   grpc, http: --watchers streams of that path while one StreamChanges writer churns
//         --rate changes/s (one change per commit, services in turn) for --seconds; then the
//         harness waits until every watcher holds its service's last revision. Reported: events/s
//         delivered, propagation lag p50/p99 (the slice's last-change-trigger-time annotation to
//         the watcher holding the event), and the server's CPU (/proc utime+stime over the
//         phase) per event delivered — the figure the HTTP path must keep within 2x of gRPC's;
//   both: both sets at once on the same churn (lag per path, CPU per event over both);
//   idle: server RSS and threads with no watcher, --watchers idle HTTP watches, and as many idle
//         gRPC watches; and a default server's (64 HTTP threads) for the cost of the threads.
//
//   build-x/bench/k8s_watch_load --slicekeeper=build-x/server/slicekeeper [--phases=grpc,http]
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/percentile.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "bench/http_watchers.h"
#include "bench/raw_watch.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/integration/server_process.h"

ABSL_FLAG(std::string, slicekeeper, "", "Path of the slicekeeper binary");
ABSL_FLAG(int, services, 100, "Services (x 100 endpoints), watched and churned");
ABSL_FLAG(int, watchers, 1000, "Watch streams per path (one service each)");
ABSL_FLAG(double, seconds, 10, "Duration of the churn of each phase");
ABSL_FLAG(double, rate, 2000, "Churn: changes/s, one change per commit");
ABSL_FLAG(std::string, phases, "idle,grpc,http,both", "Phases: idle, grpc, http, both");

namespace slicekeeper::bench {
namespace {

using integration::ServerProcess;

constexpr int kChannels = 8;

// Events and lag samples of one path during a phase.
struct PathRecorder {
  std::atomic<int64_t> events{0};
  absl::Mutex mu;
  std::vector<double> lag_ms ABSL_GUARDED_BY(mu);

  void Lag(absl::string_view trigger_time, absl::Time now) {
    absl::Time t;
    std::string err;
    if (trigger_time.empty() || !absl::ParseTime(absl::RFC3339_full, trigger_time, &t, &err)) {
      return;
    }
    absl::MutexLock l(&mu);
    lag_ms.push_back(absl::ToDoubleMilliseconds(now - t));
  }
  // p50 and p99 of the samples so far.
  std::pair<double, double> Percentiles() {
    absl::MutexLock l(&mu);
    return {Percentile(absl::MakeSpan(lag_ms), 0.5), Percentile(absl::MakeSpan(lag_ms), 0.99)};
  }
};

bool IsObjectEvent(int type) {
  return type == v1::WatchEvent::ADDED || type == v1::WatchEvent::MODIFIED ||
         type == v1::WatchEvent::DELETED;
}

class GrpcWatcher final : public RawWatch {
 public:
  GrpcWatcher(grpc::GenericStub* stub, int service, PathRecorder* rec)
      : service_(service), rec_(rec) {
    v1::WatchRequest req;
    req.set_namespace_("bench");
    req.add_services(absl::StrCat("svc-", service));
    Start(stub, req);
  }
  int service() const { return service_; }
  int64_t revision() const { return revision_.load(std::memory_order_acquire); }
  bool synced() const { return synced_.load(std::memory_order_acquire); }

 private:
  void OnEvents(const std::vector<ScannedEvent>& events) override {
    const absl::Time now = absl::Now();
    for (const ScannedEvent& e : events) {
      if (e.type == v1::WatchEvent::SYNCED) synced_.store(true, std::memory_order_release);
      if (!IsObjectEvent(e.type)) continue;
      rec_->events.fetch_add(1, std::memory_order_relaxed);
      rec_->Lag(e.trigger_time, now);
      if (e.revision > revision_.load(std::memory_order_relaxed)) {
        revision_.store(e.revision, std::memory_order_release);
      }
    }
  }

  const int service_;
  PathRecorder* const rec_;
  std::atomic<int64_t> revision_{0};
  std::atomic<bool> synced_{false};
};

struct Cluster {
  std::unique_ptr<ServerProcess> server;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;
  std::unique_ptr<v1::EndpointRegistry::Stub> registry;
  std::unique_ptr<v1::EndpointDiscovery::Stub> discovery;

  // The store's current revision.
  int64_t Revision() {
    grpc::ClientContext ctx;
    v1::ListServicesRequest req;
    req.set_namespace_("none");
    v1::ListServicesResponse resp;
    return discovery->ListServices(&ctx, req, &resp).ok() ? resp.revision() : 0;
  }
};

Cluster StartCluster(std::vector<std::string> args) {
  args.insert(args.begin(), {"--store=memory", "--log_level=warn"});
  auto server =
      ServerProcess::Start({.binary = absl::GetFlag(FLAGS_slicekeeper), .args = std::move(args)});
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start server: %s\n", server.status().ToString().c_str());
    std::exit(1);
  }
  Cluster c;
  c.server = std::move(*server);
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments a;
    a.SetInt("slicekeeper.bench.channel", i);
    a.SetMaxReceiveMessageSize(64 << 20);
    c.channels.push_back(grpc::CreateCustomChannel(c.server->grpc_address(),
                                                   grpc::InsecureChannelCredentials(), a));
    c.generic.push_back(std::make_unique<grpc::GenericStub>(c.channels.back()));
  }
  c.registry = v1::EndpointRegistry::NewStub(c.channels[0]);
  c.discovery = v1::EndpointDiscovery::NewStub(c.channels[0]);
  return c;
}

// The process's threads (its /proc task directory's entries).
int64_t Threads(pid_t pid) {
  std::error_code ec;
  auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec);
  return ec ? -1 : std::distance(it, std::filesystem::directory_iterator());
}

void Fill(Cluster& c, int services) {
  Churn churn(services, 100, 1);
  for (int s = 0; s < services; ++s) {
    v1::ChangeBatch batch;
    for (v1::EndpointChange& ch : churn.Fill(s)) *batch.add_changes() = std::move(ch);
    grpc::ClientContext ctx;
    v1::ChangeAck ack;
    if (!c.registry->ApplyChanges(&ctx, batch, &ack).ok() || ack.code() != 0) {
      std::fprintf(stderr, "fill failed: %s\n", ack.message().c_str());
      std::exit(1);
    }
  }
}

// The last revision a change to each service got, from the writer's acks.
struct Churned {
  double changes_per_s = 0;
  std::vector<int64_t> last_revision;
};

// Streams one-change batches (services in turn) at --rate for --seconds.
Churned ChurnPaced(Cluster& c, Churn& churn, int services) {
  const double rate = absl::GetFlag(FLAGS_rate);
  grpc::ClientContext ctx;
  auto stream = c.registry->StreamChanges(&ctx);
  Churned out;
  out.last_revision.assign(services, 0);
  std::atomic<int64_t> acked{0};
  std::thread reader([&] {
    v1::ChangeAck ack;
    while (stream->Read(&ack)) {
      const v1::BatchStats& st = ack.stats();
      if (ack.code() == 0 && st.endpoints_added() + st.endpoints_updated() + st.endpoints_removed()) {
        int64_t& last = out.last_revision[ack.batch_id() % services];
        last = std::max(last, ack.revision());
      }
      acked.fetch_add(1);
    }
  });
  const absl::Time start = absl::Now(), end = start + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  for (int64_t i = 0; absl::Now() < end; ++i) {
    const absl::Time due = start + absl::Seconds(i / rate);
    if (due > absl::Now()) absl::SleepFor(due - absl::Now());  // pacing, not synchronization
    v1::ChangeBatch b;
    b.set_batch_id(i);
    for (v1::EndpointChange& ch : churn.Batch(i % services, 1, false)) *b.add_changes() = ch;
    if (!stream->Write(b)) break;
  }
  stream->WritesDone();
  reader.join();
  stream->Finish();
  out.changes_per_s = acked.load() / absl::ToDoubleSeconds(absl::Now() - start);
  return out;
}

// Both kinds of watchers of a phase; either may be empty.
struct Watchers {
  PathRecorder grpc_rec, http_rec;
  std::vector<std::unique_ptr<GrpcWatcher>> grpc;
  std::unique_ptr<HttpWatchers> http;

  void OpenGrpc(Cluster& c, int n, int services) {
    for (int i = 0; i < n; ++i) {
      grpc.push_back(std::make_unique<GrpcWatcher>(c.generic[i % kChannels].get(), i % services,
                                                   &grpc_rec));
    }
    for (const auto& w : grpc) {
      while (!w->synced()) absl::SleepFor(absl::Milliseconds(2));  // bounded: snapshots arrive
    }
  }
  void OpenHttp(Cluster& c, int n, int services) {
    std::vector<std::string> targets;
    // From the current revision, as an informer after its list: no snapshot to wait for.
    const int64_t rv = c.Revision();
    for (int i = 0; i < n; ++i) {
      targets.push_back(absl::StrCat(
          "/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices?watch=1&resourceVersion=",
          rv, "&labelSelector=kubernetes.io%2Fservice-name%3Dsvc-", i % services));
    }
    http = std::make_unique<HttpWatchers>(
        c.server->http_port(), std::move(targets), [this](int, const HttpEvent& e) {
          if (e.type != "ADDED" && e.type != "MODIFIED" && e.type != "DELETED") return;
          http_rec.events.fetch_add(1, std::memory_order_relaxed);
          http_rec.Lag(e.trigger_time, absl::Now());
        });
    if (absl::Status s = http->Start(); !s.ok()) {
      std::fprintf(stderr, "http watchers: %s\n", s.ToString().c_str());
      std::exit(1);
    }
    while (http->streaming() + http->ended() < n) absl::SleepFor(absl::Milliseconds(2));
    if (http->ended() > 0) {
      std::fprintf(stderr, "%d HTTP watches refused (raise --http_max_streams)\n", http->ended());
      std::exit(1);
    }
  }
  // Waits until every watcher holds its service's last revision; false after a minute.
  bool AwaitCaughtUp(const std::vector<int64_t>& last, int services) {
    const absl::Time deadline = absl::Now() + absl::Minutes(1);
    auto wait = [&](auto revision, int service) {
      while (revision() < last[service]) {
        if (absl::Now() > deadline) return false;
        absl::SleepFor(absl::Microseconds(500));  // polling progress, bounded by the deadline
      }
      return true;
    };
    for (const auto& w : grpc) {
      if (!wait([&] { return w->revision(); }, w->service())) return false;
    }
    for (int i = 0; http != nullptr && i < http->streaming(); ++i) {
      if (!wait([&] { return http->revision(i); }, i % services)) return false;
    }
    return true;
  }
  void Close() {
    for (auto& w : grpc) w->Stop();
    grpc.clear();
    if (http != nullptr) http->Stop();
    http.reset();
  }
};

void ChurnPhase(Cluster& c, Churn& churn, const std::string& phase) {
  const int n = absl::GetFlag(FLAGS_watchers), services = absl::GetFlag(FLAGS_services);
  Watchers w;
  if (phase != "http") w.OpenGrpc(c, n, services);
  if (phase != "grpc") w.OpenHttp(c, n, services);
  w.grpc_rec.events = 0;
  w.http_rec.events = 0;
  { absl::MutexLock a(&w.grpc_rec.mu), b(&w.http_rec.mu); w.grpc_rec.lag_ms.clear(); w.http_rec.lag_ms.clear(); }
  const pid_t pid = c.server->pid();
  const double cpu0 = ReadProcStats(pid).cpu_seconds();
  const absl::Time t0 = absl::Now();
  const Churned churned = ChurnPaced(c, churn, services);
  const bool caught_up = w.AwaitCaughtUp(churned.last_revision, services);
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = ReadProcStats(pid).cpu_seconds() - cpu0;
  const int64_t events = w.grpc_rec.events.load() + w.http_rec.events.load();
  for (auto [name, rec] : {std::pair("grpc", &w.grpc_rec), std::pair("http", &w.http_rec)}) {
    if (rec->events.load() == 0) continue;
    const auto [p50, p99] = rec->Percentiles();
    std::printf("%-5s %-5s %6d %9.0f %10.0f %8.2f %8.2f %8.2f %9.1f %s\n", phase.c_str(), name, n,
                churned.changes_per_s, rec->events.load() / elapsed, p50, p99, cpu,
                1e6 * cpu / events, caught_up ? "" : "(not caught up)");
  }
  std::fflush(stdout);
  w.Close();
}

void IdlePhase(Cluster& c, Churn& churn) {
  const int n = absl::GetFlag(FLAGS_watchers), services = absl::GetFlag(FLAGS_services);
  const pid_t pid = c.server->pid();
  {
    Cluster plain = StartCluster({});
    std::printf("idle: default server (64 HTTP threads): RSS %.1f MiB, %ld threads\n",
                RssKiB(plain.server->pid()) / 1024.0, Threads(plain.server->pid()));
  }
  const int64_t rss0 = RssKiB(pid);
  std::printf("idle: this server (%d HTTP threads): RSS %.1f MiB, %ld threads\n", n + 64,
              rss0 / 1024.0, Threads(pid));
  Watchers w;
  w.OpenHttp(c, n, services);
  const int64_t rss_http = RssKiB(pid);
  w.OpenGrpc(c, n, services);
  const int64_t rss_both = RssKiB(pid);
  std::printf("idle: %d HTTP watches %.1f KiB each; %d gRPC watches %.1f KiB each\n", n,
              static_cast<double>(rss_http - rss0) / n, n,
              static_cast<double>(rss_both - rss_http) / n);
  w.Close();
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  using namespace slicekeeper::bench;  // NOLINT
  absl::ParseCommandLine(argc, argv);
  if (absl::GetFlag(FLAGS_slicekeeper).empty()) {
    std::fprintf(stderr, "--slicekeeper is required\n");
    return 2;
  }
  const int n = absl::GetFlag(FLAGS_watchers), services = absl::GetFlag(FLAGS_services);
  // Every HTTP watch holds a thread: room for all of them, and short requests besides.
  Cluster c = StartCluster({absl::StrCat("--http_threads=", n + 64),
                            absl::StrCat("--http_max_streams=", n + 32)});
  Fill(c, services);
  Churn churn(services, 100, 7);
  std::printf("%d services x 100 endpoints, %d watchers per path, one service each\n", services, n);
  std::printf("%-5s %-5s %6s %9s %10s %8s %8s %8s %9s\n", "phase", "path", "watch", "changes/s",
              "events/s", "p50 ms", "p99 ms", "cpu s", "us/event");
  for (absl::string_view phase : absl::StrSplit(absl::GetFlag(FLAGS_phases), ',')) {
    if (phase == "idle") {
      IdlePhase(c, churn);
    } else if (phase == "grpc" || phase == "http" || phase == "both") {
      ChurnPhase(c, churn, std::string(phase));
    } else {
      std::fprintf(stderr, "unknown phase %s\n", std::string(phase).c_str());
      return 2;
    }
  }
  return 0;
}
