// watch_load's shared pieces: the real server with its channels (Cluster), the store fill, and
// the watchers that read Watch streams off the wire and record events and latencies. Each phase
// lives in its own file (watch_load_churn.cc, watch_load_memory.cc, watch_load_stalled.cc); the
// banner of watch_load.cc describes them.
//
// Thread-safety: a Recorder is shared by every watcher of a phase (atomics and its mutex); a
// Cluster and the Watcher objects belong to the phase's thread.
#ifndef SLICEKEEPER_BENCH_WATCH_LOAD_CLUSTER_H_
#define SLICEKEEPER_BENCH_WATCH_LOAD_CLUSTER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/raw_watch.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/integration/server_process.h"

namespace slicekeeper::bench {

inline constexpr int kEndpoints = 100;  // per filled service
inline constexpr int kChannels = 8;

// Latency samples and event counts shared by every watcher of a phase.
struct Recorder {
  std::atomic<int64_t> events{0};     // ADDED / MODIFIED / DELETED
  std::atomic<int64_t> endpoints{0};  // endpoints those events carry (ENDPOINTS view: one each)
  std::atomic<int64_t> synced{0};
  absl::Mutex mu;
  std::vector<double> latencies_ms ABSL_GUARDED_BY(mu);
  std::atomic<bool> measuring{false};
};

// One Watch stream read off the wire; counts its events into a Recorder and, while the recorder
// is measuring, records each event's propagation latency.
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
      if (!e.trigger_time.empty() &&
          absl::ParseTime(absl::RFC3339_full, e.trigger_time, &t, &err)) {
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

// The real binary (memory store) and kChannels channels to it.
struct Cluster {
  std::unique_ptr<integration::ServerProcess> server;
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  std::unique_ptr<v1::EndpointRegistry::Stub> registry;
  std::vector<std::unique_ptr<v1::EndpointDiscovery::Stub>> discovery;
  std::vector<std::unique_ptr<grpc::GenericStub>> generic;  // for the watchers, per channel
};

// How the harness talks to the server: its extra flags and the clients' channel credentials.
struct Security {
  std::string name = "plain";
  std::vector<std::string> server_args;
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // null: plaintext
};

// Starts `binary` with --store=memory and `extra_args` (and `security`'s flags, its channels
// with its credentials); exits the process if it cannot.
Cluster StartCluster(const std::string& binary, std::vector<std::string> extra_args = {},
                     const Security& security = Security{});

// `services` services of kEndpoints endpoints each in namespace "bench" (svc-0, svc-1, ...).
void Fill(Cluster& c, int services);

// `n` watchers, watcher i on service i % services; returns once every one has its snapshot.
std::vector<std::unique_ptr<Watcher>> OpenWatchers(Cluster& c, int n, int services, Recorder* rec,
                                                   v1::WatchView view = v1::SLICES);

// The phases, each on its own server (flags of their own in their files).
void ChurnPhases(const std::string& binary);
void IdlePhase(const std::string& binary);
void SnapshotPhase(const std::string& binary);
void StalledPhase(const std::string& binary);

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_WATCH_LOAD_CLUSTER_H_
