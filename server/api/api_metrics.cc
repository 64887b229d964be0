#include "server/api/api_metrics.h"

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace slicekeeper::api {
namespace {

constexpr char kController[] = "slicekeeper_endpoint_slice_controller_";
// The four trafficDistribution values a service record may carry ("" = none).
constexpr const char* kTrafficDistributions[] = {"", "PreferClose", "PreferSameZone",
                                                 "PreferSameNode"};

std::string Controller(absl::string_view name) {
  return std::string(kController) + std::string(name);
}

const char* CodeName(int code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

}  // namespace

ApiMetrics::ApiMetrics(metrics::Registry* registry, const store::Store* store) : store_(store) {
  requests_ = registry->AddCounterFamily("slicekeeper_grpc_requests_total",
                                         "gRPC requests finished, by method and status code.",
                                         {"method", "code"});
  latency_ = registry->AddHistogramFamily(
      "slicekeeper_grpc_request_duration_seconds",
      "gRPC request latency (streams: their whole lifetime), by method.", {"method"},
      metrics::ExponentialBuckets(0.0001, 2, 18));
  auto* batches = registry->AddCounterFamily(
      "slicekeeper_change_batches_total", "Change batches by result (ok or rejected).", {"result"});
  batches_ok_ = batches->WithLabels({"ok"});
  batches_rejected_ = batches->WithLabels({"rejected"});
  AddStoreGauges(registry);
  AddControllerMetrics(registry);
}

void ApiMetrics::AddWatchMetrics(metrics::Registry* registry, const watch::Hub* hub) {
  auto* streams = registry->AddGaugeFamily("slicekeeper_watch_streams",
                                           "Open watch streams, by view.", {"view"});
  streams->WithLabels({"SLICES"})->SetCallback([hub] {
    return static_cast<double>(hub->stats().subscribers_slices);
  });
  streams->WithLabels({"ENDPOINTS"})->SetCallback([hub] {
    return static_cast<double>(hub->stats().subscribers_endpoints);
  });
  registry->AddCallbackGauge("slicekeeper_watch_events_sent",
                             "Watch events sent since start (monotonic).",
                             [hub] { return static_cast<double>(hub->stats().events_sent); });
  registry->AddCallbackGauge(
      "slicekeeper_watch_events_coalesced",
      "Changes folded into a pending one before it was sent, since start (monotonic).",
      [hub] { return static_cast<double>(hub->stats().coalesced); });
  registry->AddCallbackGauge("slicekeeper_watch_resets",
                             "Watch RESETs sent since start (monotonic).",
                             [hub] { return static_cast<double>(hub->stats().resets); });
  registry->AddCallbackGauge(
      "slicekeeper_watch_lag_resets",
      "Watchers reset because their oldest unsent change got older than --watch_max_lag, since "
      "start (monotonic); counted when decided, before the watcher reads again.",
      [hub] { return static_cast<double>(hub->stats().lag_resets); });
  registry->AddCallbackGauge(
      "slicekeeper_watch_max_lag_seconds",
      "Age of the oldest change not yet sent to some watcher (0 when all are caught up).",
      [hub] { return absl::ToDoubleSeconds(hub->stats().max_lag); });
  watch_lag_ = registry->AddHistogram(
      "slicekeeper_watch_send_lag_seconds",
      "Per watch message: seconds from its oldest change being marked to the write starting.",
      metrics::ExponentialBuckets(0.00005, 2, 18));
}

void ApiMetrics::AddStoreGauges(metrics::Registry* registry) {
  const store::Store* s = store_;
  registry->AddCallbackGauge("slicekeeper_services", "Services in the store.",
                             [s] { return static_cast<double>(s->totals().services); });
  registry->AddCallbackGauge("slicekeeper_endpoint_slices", "EndpointSlices in the store.",
                             [s] { return static_cast<double>(s->totals().slices); });
  registry->AddCallbackGauge("slicekeeper_endpoints", "Endpoints held in the store's slices.",
                             [s] { return static_cast<double>(s->totals().endpoints); });
  registry->AddCallbackGauge("slicekeeper_revision", "The latest published revision.",
                             [s] { return static_cast<double>(s->revision()); });
  registry->AddCallbackGauge("slicekeeper_history_commits",
                             "Commits in the in-memory history window (--history).",
                             [s] { return static_cast<double>(s->history_usage().first); });
  registry->AddCallbackGauge(
      "slicekeeper_history_bytes",
      "Bytes of the history records in the in-memory window (--history_bytes).",
      [s] { return static_cast<double>(s->history_usage().second); });
  registry->AddCallbackGauge(
      "slicekeeper_history_max_bytes",
      "The bound on slicekeeper_history_bytes (--history_bytes, or the store's default).",
      [s] { return static_cast<double>(s->history_max_bytes()); });
  AddStorageGauges(registry);
  AddMemoryGauges(registry);
}

void ApiMetrics::AddMemoryGauges(metrics::Registry* registry) {
  auto* memory = registry->AddGaugeFamily(
      "slicekeeper_store_memory_bytes",
      "The store's own accounting of the memory its objects take, by part (Store::memory_usage: "
      "object sizes, each shared object once; no allocator overhead).",
      {"part"});
  using Part = int64_t store::MemoryUsage::*;
  int index = 0;
  for (const auto& [name, part] :
       {std::pair<const char*, Part>{"endpoints", &store::MemoryUsage::endpoints},
        {"slices", &store::MemoryUsage::slices},
        {"serialized", &store::MemoryUsage::serialized},
        {"services", &store::MemoryUsage::services},
        {"reconciler", &store::MemoryUsage::reconciler},
        {"history", &store::MemoryUsage::history}}) {
    memory->WithLabels({name})->SetCallback([this, part = part, bit = uint32_t{1} << index++] {
      return static_cast<double>(MemoryUsage(bit).*part);
    });
  }
}

void ApiMetrics::AddStorageGauges(metrics::Registry* registry) {
  const store::Store* s = store_;
  using Field = int64_t storage::StorageStats::*;
  uint32_t bit = 1;
  // A gauge of one field of the shared StorageStats (one bit per gauge, see StorageStats).
  auto stat = [this, &bit](Field field) {
    return [this, field, b = std::exchange(bit, bit << 1)] {
      return static_cast<double>(StorageStats(b).*field);
    };
  };
  registry->AddCallbackGauge(
      "slicekeeper_data_dir_bytes",
      "Bytes of the files in the data directory (rocksdb; -1 for other stores).",
      stat(&storage::StorageStats::disk_bytes));
  // A gauge family of StorageStats fields, one label value a field.
  auto family = [&](absl::string_view name, absl::string_view help, const char* label,
                    std::initializer_list<std::pair<const char*, Field>> fields) {
    auto* gauges = registry->AddGaugeFamily(name, help, {label});
    for (const auto& [value, field] : fields) gauges->WithLabels({value})->SetCallback(stat(field));
  };
  family("slicekeeper_storage_disk_bytes",
         "The data directory's bytes by part (RocksDB: live_tables, history_tables, "
         "write_ahead_log, info_log, other: MANIFEST, OPTIONS, tables not yet deleted; -1 for "
         "other stores).",
         "part",
         {{"live_tables", &storage::StorageStats::disk_live_table_bytes},
          {"history_tables", &storage::StorageStats::disk_history_table_bytes},
          {"write_ahead_log", &storage::StorageStats::disk_wal_bytes},
          {"info_log", &storage::StorageStats::disk_info_log_bytes},
          {"other", &storage::StorageStats::disk_other_bytes}});
  family("slicekeeper_storage_compacted_bytes",
         "Bytes RocksDB's compactions wrote since the start, by column family (live, history; "
         "never decreases; -1 for other stores).",
         "family",
         {{"live", &storage::StorageStats::compacted_live_bytes},
          {"history", &storage::StorageStats::compacted_history_bytes}});
  registry->AddCallbackGauge(
      "slicekeeper_history_disk_bytes",
      "Bytes the history records take on disk, RocksDB's estimate (--history_disk_bytes; -1 for "
      "other stores).",
      stat(&storage::StorageStats::history_bytes));
  family("slicekeeper_storage_memory_bytes",
         "Memory the storage backend holds itself, by part (RocksDB: memtables, block_cache, "
         "table_readers; -1 for other stores).",
         "part",
         {{"memtables", &storage::StorageStats::memtable_bytes},
          {"block_cache", &storage::StorageStats::block_cache_bytes},
          {"table_readers", &storage::StorageStats::table_reader_bytes}});
  registry->AddCallbackGauge(
      "slicekeeper_etcd_txns",
      "etcd Txns this replica sent for its writes since the start (monotonic; -1 for other "
      "stores).",
      stat(&storage::StorageStats::log_txns));
  registry->AddCallbackGauge(
      "slicekeeper_etcd_proposals",
      "Commits those Txns carried, first attempts and re-sends (monotonic; -1 for other "
      "stores): several a Txn when writes queue while one is in flight (group commit).",
      stat(&storage::StorageStats::log_proposals));
  registry->AddCallbackGauge("slicekeeper_history_oldest_revision",
                             "The oldest revision watchers can resume from (older ones get RESET).",
                             [s] { return static_cast<double>(s->history_floor()); });
  registry->AddCallbackGauge(
      "slicekeeper_history_records_read",
      "History records read from storage for watch resumes since start (monotonic).",
      stat(&storage::StorageStats::history_records_read));
}

void ApiMetrics::AddControllerMetrics(metrics::Registry* registry) {
  const std::vector<double> buckets = metrics::ExponentialBuckets(2, 2, 15);
  added_per_sync_ = registry->AddHistogram(Controller("endpoints_added_per_sync"),
                                           "Endpoints added on each sync.", buckets);
  removed_per_sync_ = registry->AddHistogram(Controller("endpoints_removed_per_sync"),
                                             "Endpoints removed on each sync.", buckets);
  changed_per_sync_ = registry->AddHistogramFamily(Controller("endpointslices_changed_per_sync"),
                                                   "EndpointSlices changed on each sync.",
                                                   {"topology", "traffic_distribution"}, buckets);
  auto* changes = registry->AddCounterFamily(Controller("changes"),
                                             "EndpointSlice changes by operation.", {"operation"});
  creates_ = changes->WithLabels({"create"});
  updates_ = changes->WithLabels({"update"});
  deletes_ = changes->WithLabels({"delete"});
  auto* syncs = registry->AddCounterFamily(Controller("syncs"), "Syncs by result.", {"result"});
  syncs_success_ = syncs->WithLabels({"success"});
  syncs_error_ = syncs->WithLabels({"error"});
  syncs->WithLabels({"stale"});  // slicekeeper's writes are never stale; exported as 0
  const store::Store* s = store_;
  registry->AddCallbackGauge(Controller("endpoints_desired"), "Number of endpoints desired.",
                             [s] { return static_cast<double>(s->totals().endpoints); });
  registry->AddCallbackGauge(Controller("num_endpoint_slices"), "Number of EndpointSlices.",
                             [s] { return static_cast<double>(s->totals().slices); });
  registry->AddCallbackGauge(Controller("desired_endpoint_slices"),
                             "Number of EndpointSlices that would exist with perfect allocation.",
                             [s] { return static_cast<double>(s->totals().desired_slices); });
  auto* by_td = registry->AddGaugeFamily(Controller("services_count_by_traffic_distribution"),
                                         "Number of Services using each trafficDistribution.",
                                         {"traffic_distribution"});
  for (const char* td : kTrafficDistributions) {
    std::string value = td;
    by_td->WithLabels({td})->SetCallback(
        [this, value] { return CountByTrafficDistribution(value); });
  }
}

void ApiMetrics::RecordRpc(absl::string_view method, grpc::StatusCode code,
                           absl::Duration latency) {
  const int c =
      static_cast<int>(code) >= 0 && static_cast<int>(code) <= 16 ? static_cast<int>(code) : 2;
  metrics::Histogram* hist = nullptr;
  metrics::Counter* counter = nullptr;
  {
    absl::MutexLock l(&mu_);
    auto [it, inserted] = methods_.try_emplace(method);
    RpcMetrics& m = it->second;
    if (inserted) m.latency = latency_->WithLabels({method});
    if (m.by_code[c] == nullptr) m.by_code[c] = requests_->WithLabels({method, CodeName(c)});
    hist = m.latency;
    counter = m.by_code[c];
  }
  hist->Observe(absl::ToDoubleSeconds(latency));
  counter->Inc();
}

void ApiMetrics::RecordWrite(const store::WriteResult& result) {
  batches_ok_->Inc();
  creates_->Inc(static_cast<double>(result.stats.slices_created()));
  updates_->Inc(static_cast<double>(result.stats.slices_updated()));
  deletes_->Inc(static_cast<double>(result.stats.slices_deleted()));
  for (const reconcile::SyncReport& sync : result.syncs) {
    syncs_success_->Inc();
    added_per_sync_->Observe(static_cast<double>(sync.endpoints_added));
    removed_per_sync_->Observe(static_cast<double>(sync.endpoints_removed));
    changed_per_sync_->WithLabels({sync.topology, sync.traffic_distribution})
        ->Observe(static_cast<double>(sync.slices_changed));
  }
}

void ApiMetrics::RecordRejectedWrite() {
  batches_rejected_->Inc();
  syncs_error_->Inc();
}

store::MemoryUsage ApiMetrics::MemoryUsage(uint32_t part_bit) {
  absl::MutexLock l(&memory_mu_);
  const absl::Time now = absl::Now();
  const int64_t revision = store_->revision();
  // A part read a second time since the measurement starts a new scrape: measure again if the
  // store moved (or the figure is old). The other parts of the same scrape reuse it.
  const bool new_scrape = (memory_served_ & part_bit) != 0;
  if (memory_revision_ < 0 || (new_scrape && (revision != memory_revision_ ||
                                              now - memory_measured_ >= absl::Seconds(1)))) {
    memory_ = store_->memory_usage();
    memory_measured_ = now;
    memory_revision_ = revision;
    memory_served_ = 0;
  }
  memory_served_ |= part_bit;
  return memory_;
}

storage::StorageStats ApiMetrics::StorageStats(uint32_t gauge_bit) {
  absl::MutexLock l(&storage_mu_);
  if ((storage_served_ & gauge_bit) != 0) {
    storage_ = store_->storage_stats();
    storage_served_ = 0;
  }
  storage_served_ |= gauge_bit;
  return storage_;
}

double ApiMetrics::CountByTrafficDistribution(absl::string_view value) {
  absl::MutexLock l(&counts_mu_);
  const int64_t revision = store_->revision();
  if (revision != counts_revision_) {
    counts_.clear();
    store::CatalogPtr catalog = store_->Snapshot();
    for (const store::ServiceSnapshotPtr& s : catalog->services) {
      if (s->record != nullptr) ++counts_[s->record->traffic_distribution()];
    }
    counts_revision_ = catalog->revision;
  }
  auto it = counts_.find(value);
  return it == counts_.end() ? 0 : static_cast<double>(it->second);
}

}  // namespace slicekeeper::api
