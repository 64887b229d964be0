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
#include "bench/watch_load_cluster.h"

ABSL_FLAG(std::string, slicekeeper, "", "Path of the slicekeeper binary");
ABSL_FLAG(int, services, 100, "Services (x 100 endpoints), watched and churned");
ABSL_FLAG(int, watchers, 1000, "Watch streams per path (one service each)");
ABSL_FLAG(double, seconds, 10, "Duration of the churn of each phase");
ABSL_FLAG(double, rate, 2000, "Churn: changes/s, one change per commit");
ABSL_FLAG(std::string, phases, "idle,grpc,http,both", "Phases: idle, grpc, http, both");

namespace slicekeeper::bench {
namespace {

// The store's current revision.
int64_t Revision(Cluster& c) {
  grpc::ClientContext ctx;
  v1::ListServicesRequest req;
  req.set_namespace_("none");
  v1::ListServicesResponse resp;
  return c.discovery[0]->ListServices(&ctx, req, &resp).ok() ? resp.revision() : 0;
}

// The process's threads (its /proc task directory's entries).
int64_t Threads(pid_t pid) {
  std::error_code ec;
  auto it = std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec);
  return ec ? -1 : std::distance(it, std::filesystem::directory_iterator());
}

// p50 and p99 of a recorder's latencies.
std::pair<double, double> Percentiles(Recorder& rec) {
  absl::MutexLock l(&rec.mu);
  return {Percentile(absl::MakeSpan(rec.latencies_ms), 0.5),
          Percentile(absl::MakeSpan(rec.latencies_ms), 0.99)};
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
  Recorder grpc_rec, http_rec;
  std::vector<std::unique_ptr<Watcher>> grpc;
  std::unique_ptr<HttpWatchers> http;

  void OpenHttp(Cluster& c, int n, int services) {
    std::vector<std::string> targets;
    // From the current revision, as an informer after its list: no snapshot to wait for.
    const int64_t rv = Revision(c);
    for (int i = 0; i < n; ++i) {
      targets.push_back(absl::StrCat(
          "/apis/discovery.k8s.io/v1/namespaces/bench/endpointslices?watch=1&resourceVersion=",
          rv, "&labelSelector=kubernetes.io%2Fservice-name%3Dsvc-", i % services));
    }
    http = std::make_unique<HttpWatchers>(
        c.server->http_port(), std::move(targets), [this](int, const HttpEvent& e) {
          if (e.type != "ADDED" && e.type != "MODIFIED" && e.type != "DELETED") return;
          http_rec.events.fetch_add(1, std::memory_order_relaxed);
          absl::Time t;
          std::string err;
          if (!http_rec.measuring.load(std::memory_order_relaxed) ||
              !absl::ParseTime(absl::RFC3339_full, e.trigger_time, &t, &err)) {
            return;
          }
          absl::MutexLock l(&http_rec.mu);
          http_rec.latencies_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
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
  void StartMeasuring() {
    for (Recorder* r : {&grpc_rec, &http_rec}) {
      r->events = 0;
      absl::MutexLock l(&r->mu);
      r->latencies_ms.clear();
      r->measuring = true;
    }
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
  if (phase != "http") w.grpc = OpenWatchers(c, n, services, &w.grpc_rec);
  if (phase != "grpc") w.OpenHttp(c, n, services);
  w.StartMeasuring();
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
    const auto [p50, p99] = Percentiles(*rec);
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
    Cluster plain = StartCluster(absl::GetFlag(FLAGS_slicekeeper));
    std::printf("idle: default server (64 HTTP threads): RSS %.1f MiB, %ld threads\n",
                RssKiB(plain.server->pid()) / 1024.0, Threads(plain.server->pid()));
  }
  const int64_t rss0 = RssKiB(pid);
  std::printf("idle: this server (%d HTTP threads): RSS %.1f MiB, %ld threads\n", n + 64,
              rss0 / 1024.0, Threads(pid));
  Watchers w;
  w.OpenHttp(c, n, services);
  const int64_t rss_http = RssKiB(pid);
  w.grpc = OpenWatchers(c, n, services, &w.grpc_rec);
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
  Cluster c = StartCluster(absl::GetFlag(FLAGS_slicekeeper),
                           {absl::StrCat("--http_threads=", n + 64),
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
