// ApiMetrics: what the gRPC layer exports to Prometheus.
//
//   slicekeeper_grpc_requests_total{method,code}            counter, one per finished RPC
//   slicekeeper_grpc_request_duration_seconds{method}       histogram, RPC latency
//   slicekeeper_change_batches_total{result}                counter, batches (unary and stream)
//   slicekeeper_services / _endpoint_slices / _endpoints    gauges, Store::totals() at scrape time
//   slicekeeper_revision                                    gauge, the published revision
//   slicekeeper_endpoint_slice_controller_*                 Kubernetes' controller metrics
//                                                           (docs/kubernetes-behaviour.md §7), fed
//                                                           from writes
//   slicekeeper_watch_streams{view}                         gauge, open watch streams
//   slicekeeper_watch_events_sent / _coalesced / _resets    gauges (monotonic), hub totals
//   slicekeeper_watch_max_lag_seconds                       gauge, oldest unsent change's age
//   slicekeeper_watch_send_lag_seconds                      histogram, per watch message: from
//                                                           its oldest change marked to the write
//
// Controller metrics mapping: one "sync" is one reconcile of one service and address type (a
// `reconcile::SyncReport`); `changes{operation}` counts slice creates / updates / deletes of every
// successful write; `syncs{result="error"}` counts rejected writes. The gauges
// (`endpoints_desired`, `num_endpoint_slices`, `desired_endpoint_slices`,
// `services_count_by_traffic_distribution`) are computed from the store at scrape time.
//
// Thread-safety: every method is safe to call concurrently; hot-path methods touch only cached
// metric pointers (atomics) plus one family lookup per (method, code) pair seen for the first time.
//
// Example:
//   ApiMetrics metrics(&registry, &store);
//   metrics.RecordRpc("ApplyChanges", grpc::StatusCode::OK, absl::Microseconds(80));
//   metrics.RecordWrite(write_result);
#ifndef SLICEKEEPER_SERVER_API_API_METRICS_H_
#define SLICEKEEPER_SERVER_API_API_METRICS_H_

#include <cstdint>
#include <string>

#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/metrics/metrics.h"
#include "server/store/store.h"
#include "server/watch/hub.h"

namespace slicekeeper::api {

class ApiMetrics {
 public:
  // Registers every metric in `registry`. Both must outlive this object; the store is read only
  // at scrape time.
  ApiMetrics(metrics::Registry* registry, const store::Store* store);
  ApiMetrics(const ApiMetrics&) = delete;
  ApiMetrics& operator=(const ApiMetrics&) = delete;

  // One finished RPC. `method` is the bare RPC name ("ApplyChanges").
  void RecordRpc(absl::string_view method, grpc::StatusCode code, absl::Duration latency)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A write the store accepted.
  void RecordWrite(const store::WriteResult& result);
  // A write the store (or a limit) rejected.
  void RecordRejectedWrite();
  // Exports the hub's gauges. `hub` must outlive the registry's scrapes. Call at most once.
  void AddWatchMetrics(metrics::Registry* registry, const watch::Hub* hub);
  // Null until AddWatchMetrics.
  metrics::Histogram* watch_lag() const { return watch_lag_; }

 private:
  struct RpcMetrics {
    metrics::Histogram* latency = nullptr;
    metrics::Counter* by_code[17] = {};
  };
  void AddStoreGauges(metrics::Registry* registry);
  // Data directory and history on disk (Store::storage_stats).
  void AddStorageGauges(metrics::Registry* registry);
  // slicekeeper_store_memory_bytes{part}: Store::memory_usage.
  void AddMemoryGauges(metrics::Registry* registry);
  void AddControllerMetrics(metrics::Registry* registry);
  // Services per traffic_distribution value, recomputed when the revision moved.
  double CountByTrafficDistribution(absl::string_view value) ABSL_LOCKS_EXCLUDED(counts_mu_);
  // Store::memory_usage for the part gauge `part_bit` (one bit per part). The six part gauges of
  // one scrape share one walk of the store, even under constant writes: the store is measured
  // again only when a part already served from the last measurement is read again (the next
  // scrape) and the revision moved or a second passed, so a scrape after a write never shows
  // the state before it.
  store::MemoryUsage MemoryUsage(uint32_t part_bit) ABSL_LOCKS_EXCLUDED(memory_mu_);
  // Store::storage_stats for the storage gauge `gauge_bit`, shared the same way by the gauges of
  // one scrape (each call walks the data directory and reads RocksDB's properties): measured
  // again when a gauge already served is read again.
  storage::StorageStats StorageStats(uint32_t gauge_bit) ABSL_LOCKS_EXCLUDED(storage_mu_);

  // Immutable after construction.
  const store::Store* const store_;
  metrics::Family<metrics::Counter>* requests_ = nullptr;
  metrics::Family<metrics::Histogram>* latency_ = nullptr;
  metrics::Counter* batches_ok_ = nullptr;
  metrics::Counter* batches_rejected_ = nullptr;
  metrics::Histogram* added_per_sync_ = nullptr;
  metrics::Histogram* removed_per_sync_ = nullptr;
  metrics::Family<metrics::Histogram>* changed_per_sync_ = nullptr;
  metrics::Counter* creates_ = nullptr;
  metrics::Counter* updates_ = nullptr;
  metrics::Counter* deletes_ = nullptr;
  metrics::Counter* syncs_success_ = nullptr;
  metrics::Counter* syncs_error_ = nullptr;
  metrics::Histogram* watch_lag_ = nullptr;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, RpcMetrics> methods_ ABSL_GUARDED_BY(mu_);

  absl::Mutex memory_mu_;
  absl::Time memory_measured_ ABSL_GUARDED_BY(memory_mu_) = absl::InfinitePast();
  int64_t memory_revision_ ABSL_GUARDED_BY(memory_mu_) = -1;
  // The part gauges served from `memory_` since it was measured.
  uint32_t memory_served_ ABSL_GUARDED_BY(memory_mu_) = 0;
  store::MemoryUsage memory_ ABSL_GUARDED_BY(memory_mu_);
  absl::Mutex storage_mu_;
  uint32_t storage_served_ ABSL_GUARDED_BY(storage_mu_) = ~uint32_t{0};
  storage::StorageStats storage_ ABSL_GUARDED_BY(storage_mu_);
  absl::Mutex counts_mu_;
  int64_t counts_revision_ ABSL_GUARDED_BY(counts_mu_) = -1;
  absl::flat_hash_map<std::string, int64_t> counts_ ABSL_GUARDED_BY(counts_mu_);
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_API_METRICS_H_
