#include "bench/distribution_sim.h"

#include <time.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/percentile.h"
#include "common/validation.h"

namespace slicekeeper::bench {
namespace {

// RFC 3339 with nanoseconds, as the store writes trigger times and creation timestamps.
constexpr char kTime[] = "2026-11-24T12:00:00.000000000Z";

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 128) {
    v >>= 7;
    ++n;
  }
  return n;
}

struct Service {
  v1::ServiceRecord record;
  reconcile::ServiceState state;
  int64_t endpoints = 0;
  int64_t slices = 0;
  int64_t min_slices = 0;
  double zone_reads = 0;  // summed over the service's zones
  double zone_min = 0;
  int zones = 0;
};

class Replayer {
 public:
  explicit Replayer(const reconcile::Options& options) : options_(options) {}

  absl::Status Batch(const NormalizedBatch& batch);
  SimResult Finish();

 private:
  Service& Get(const std::string& ns, const std::string& name);
  absl::Status ReconcileOne(Service& s, const std::vector<EndpointDelta>& changes, bool measure);
  void MeasureZones(Service& s) const;
  void Sample();

  const reconcile::Options options_;
  std::map<std::pair<std::string, std::string>, std::unique_ptr<Service>> services_;
  int64_t revision_ = 0;
  int64_t names_ = 0;
  SimResult r_;
  std::vector<double> fills_;
  double ratio_sum_ = 0, zone_reads_sum_ = 0, zone_min_sum_ = 0;
  int64_t samples_ = 0;
};

Service& Replayer::Get(const std::string& ns, const std::string& name) {
  std::unique_ptr<Service>& s = services_[{ns, name}];
  if (s == nullptr) {
    s = std::make_unique<Service>();
    s->record.set_namespace_(ns);
    s->record.set_name(name);
    s->record.set_uid(absl::StrFormat("%08x-0000-4000-8000-%012x", services_.size(), names_++));
    s->record.set_creation_timestamp(kTime);
  }
  return *s;
}

absl::Status Replayer::ReconcileOne(Service& s, const std::vector<EndpointDelta>& changes,
                                    bool measure) {
  auto gen = [this](absl::string_view prefix) {
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string name(prefix);
    for (int64_t n = names_++, i = 0; i < 5; ++i, n /= 36) name.push_back(kChars[n % 36]);
    return name;
  };
  auto uid = [this]() { return absl::StrFormat("%08x-0000-4000-8000-%012x", 0, names_++); };
  reconcile::Input in{.service = &s.record,
                      .changes = changes,
                      .trigger_time = kTime,
                      .creation_timestamp = kTime,
                      .generate_name = gen,
                      .generate_uid = uid};
  const int64_t start = ThreadCpuNs();
  absl::StatusOr<reconcile::Plan> plan = reconcile::Reconcile(s.state, in, options_);
  if (!plan.ok()) return plan.status();
  // One commit, one revision, as the store stamps it.
  const int64_t revision = plan->ops.empty() ? revision_ : ++revision_;
  for (reconcile::SliceOp& op : plan->ops) {
    if (op.kind != reconcile::SliceOp::Kind::kDelete) op.slice->resource_version = revision;
  }
  s.state.Apply(*plan);
  const int64_t cpu = ThreadCpuNs() - start;
  s.endpoints = plan->endpoints_desired;
  s.slices = plan->num_slices;
  s.min_slices = plan->desired_slices;
  if (!measure) return absl::OkStatus();
  r_.cpu_ns += static_cast<double>(cpu);
  for (const reconcile::SliceOp& op : plan->ops) {
    r_.creates += op.kind == reconcile::SliceOp::Kind::kCreate;
    r_.updates += op.kind == reconcile::SliceOp::Kind::kUpdate;
    r_.deletes += op.kind == reconcile::SliceOp::Kind::kDelete;
    r_.watch_bytes += WatchEventBytes(op.slice->SerializedProto()->size(), revision);
  }
  r_.moved += plan->packing.moved;
  r_.extra_writes += plan->packing.extra_writes;
  r_.max_batch_extra = std::max(r_.max_batch_extra, plan->packing.extra_writes);
  return absl::OkStatus();
}

// Slices holding an endpoint of each zone, against ceil(zone endpoints / max).
void Replayer::MeasureZones(Service& s) const {
  std::map<std::string, std::pair<int64_t, int64_t>> zones;  // zone -> (slices, endpoints)
  for (const SlicePtr& slice : s.state.Slices()) {
    std::set<std::string> seen;
    for (const EndpointPtr& e : slice->endpoints) {
      const std::string zone(e->zone());
      ++zones[zone].second;
      if (seen.insert(zone).second) ++zones[zone].first;
    }
  }
  s.zone_reads = s.zone_min = 0;
  s.zones = static_cast<int>(zones.size());
  const int64_t max = options_.max_endpoints_per_slice;
  for (const auto& [zone, counts] : zones) {
    s.zone_reads += static_cast<double>(counts.first);
    s.zone_min += static_cast<double>((counts.second + max - 1) / max);
  }
}

void Replayer::Sample() {
  int64_t endpoints = 0, slices = 0, min_slices = 0, zones = 0;
  double reads = 0, reads_min = 0;
  for (const auto& [key, s] : services_) {
    if (s->endpoints == 0) continue;
    endpoints += s->endpoints;
    slices += s->slices;
    min_slices += s->min_slices;
    reads += s->zone_reads;
    reads_min += s->zone_min;
    zones += s->zones;
  }
  if (slices == 0) return;
  fills_.push_back(static_cast<double>(endpoints) /
                   static_cast<double>(slices * options_.max_endpoints_per_slice));
  ratio_sum_ += static_cast<double>(slices) / static_cast<double>(min_slices);
  if (zones > 0) {
    zone_reads_sum_ += reads / static_cast<double>(zones);
    zone_min_sum_ += reads_min / static_cast<double>(zones);
  }
  ++samples_;
  r_.end_slices = slices;
  r_.end_min_slices = min_slices;
}

absl::Status Replayer::Batch(const NormalizedBatch& batch) {
  // The store reconciles each service of a batch on its own, in order of first appearance.
  std::vector<std::pair<Service*, std::vector<EndpointDelta>>> by_service;
  absl::flat_hash_map<Service*, size_t> index;
  for (const EndpointDelta& d : batch.changes) {
    Service* s = &Get(d.namespace_, d.service);
    auto [it, fresh] = index.try_emplace(s, by_service.size());
    if (fresh) by_service.emplace_back(s, std::vector<EndpointDelta>{});
    by_service[it->second].second.push_back(d);
  }
  for (auto& [s, changes] : by_service) {
    if (absl::Status st = ReconcileOne(*s, changes, !batch.warmup); !st.ok()) return st;
    MeasureZones(*s);
  }
  if (batch.warmup) return absl::OkStatus();
  r_.changes += static_cast<int64_t>(batch.changes.size());
  ++r_.batches;
  Sample();
  return absl::OkStatus();
}

SimResult Replayer::Finish() {
  if (samples_ > 0) {
    const double n = static_cast<double>(samples_);
    double sum = 0;
    for (double f : fills_) sum += f;
    r_.mean_fill = sum / n;
    r_.p10_fill = Percentile(absl::MakeSpan(fills_), 0.1);
    r_.mean_slice_ratio = ratio_sum_ / n;
    r_.zone_reads = zone_reads_sum_ / n;
    r_.zone_min = zone_min_sum_ / n;
  }
  return r_;
}

}  // namespace

// Type (tag and a one-byte enum), revision (tag and varint), slice (tag, length, bytes); the
// event itself is field 1 of WatchResponse (tag, length).
int64_t WatchEventBytes(size_t slice_bytes, int64_t revision) {
  const size_t event = 2 + 1 + VarintSize(static_cast<uint64_t>(revision)) + 1 +
                       VarintSize(slice_bytes) + slice_bytes;
  return static_cast<int64_t>(1 + VarintSize(event) + event);
}

double SimResult::WritesPerChange() const {
  return changes == 0 ? 0 : static_cast<double>(writes()) / static_cast<double>(changes);
}
double SimResult::BytesPerChange() const {
  return changes == 0 ? 0 : static_cast<double>(watch_bytes) / static_cast<double>(changes);
}
double SimResult::CpuNsPerChange() const {
  return changes == 0 ? 0 : cpu_ns / static_cast<double>(changes);
}

absl::StatusOr<NormalizedTrace> Normalize(const workload::Trace& trace) {
  NormalizedTrace out;
  out.name = trace.name;
  out.batches.reserve(trace.batches.size());
  for (size_t i = 0; i < trace.batches.size(); ++i) {
    absl::StatusOr<std::vector<EndpointDelta>> deltas =
        validation::NormalizeChanges(trace.batches[i].changes, "changes");
    if (!deltas.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("batch ", i + 1, ": ", deltas.status().message()));
    }
    out.batches.push_back(NormalizedBatch{std::move(*deltas), trace.batches[i].warmup});
  }
  return out;
}

absl::StatusOr<SimResult> Replay(const NormalizedTrace& trace, const reconcile::Options& options) {
  Replayer replayer(options);
  for (const NormalizedBatch& batch : trace.batches) {
    if (absl::Status s = replayer.Batch(batch); !s.ok()) return s;
  }
  return replayer.Finish();
}

}  // namespace slicekeeper::bench
