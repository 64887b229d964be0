// The EndpointSlice distribution algorithm (Kubernetes' reconciler), incremental.
//
// `ServiceState` holds the managed slices of one service plus the indexes that make a batch of k
// endpoint changes cost O(k log n) instead of O(size of the service). `Reconcile` is a pure
// function of (state, service record, nodes, changes): it returns a `Plan` — slice creates,
// updates and deletes with their full new contents — that is exactly what Kubernetes' full
// algorithm (docs/kubernetes-behaviour.md §3.6, hints §4) produces on the same inputs: the same
// create / update / delete counts and slice sizes (which endpoint lands in which slice is free, as
// in Kubernetes). `Apply` then moves the state to the plan's result. The algorithm is specified in
// docs/distribution.md; tests/reconcile/ holds a straightforward full implementation as the oracle.
// That is the default distribution; under `Distribution::kPacked` (per service by annotation) the
// plan is Kubernetes' followed by a repack toward fuller slices within a budget of extra writes
// (docs/distribution.md §5), with the same invariants.
//
// The reconciler never logs, never reads a clock and never does I/O: time and names come in
// through `Input`.
//
// Thread-safety: `ServiceState` is not synchronized. `Reconcile` is const and may run concurrently
// with other const calls; `Apply` needs exclusive access. The store calls both under the service's
// shard lock.
//
// Example:
//   ServiceState state;                       // a new service: no slices
//   Input in{.service = &record, .changes = deltas, .trigger_time = "...", .generate_name = gen};
//   absl::StatusOr<Plan> plan = Reconcile(state, in, options);
//   ... stamp plan->ops[i].slice->resource_version, persist ...
//   state.Apply(*plan);
#ifndef SLICEKEEPER_SERVER_RECONCILE_RECONCILER_H_
#define SLICEKEEPER_SERVER_RECONCILE_RECONCILER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/slice.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::reconcile {

// How a service's endpoints are spread over its slices (docs/distribution.md §5).
enum class Distribution {
  // Kubernetes' algorithm, exactly: the fewest writes per batch, never a repack.
  kKubernetes,
  // Kubernetes' steps, then a repack toward ceil(endpoints / max) slices per group, within a
  // budget of extra slice writes (PackingOptions).
  kPacked,
};

// Per service, the record's annotations override Options::distribution and
// PackingOptions::same_zone: kAnnotationDistribution ("kubernetes" or "packed") and
// kAnnotationPackedSameZone ("true" or "false"), common/slice.h; validation rejects other values.

struct PackingOptions {
  // A group is repacked with paid writes only while its fill, endpoints / (slices * max), is
  // below this; repacking that costs no extra write happens whenever slices exceed the minimum.
  double fill_threshold = 0.9;
  // Extra slice writes earned per endpoint change (added, updated or removed).
  double writes_per_change = 0.01;
  // Unspent earnings carry over to later batches up to this many writes: the most extra writes
  // one batch may make.
  double max_writes_per_batch = 4;
  // Keep each zone's endpoints together where that costs no extra slice or write.
  bool same_zone = false;
};

struct Options {
  // Kubernetes' --max-endpoints-per-slice: 1..1000.
  int max_endpoints_per_slice = 100;
  // For services without the kAnnotationDistribution annotation.
  Distribution distribution = Distribution::kKubernetes;
  PackingOptions packing;
};

// One normalized endpoint change (common/slice.h).
using EndpointDelta = ::slicekeeper::EndpointDelta;

// What Kubernetes' controller reports per sync (docs/kubernetes-behaviour.md §7), per address type.
struct SyncReport {
  std::string address_type;
  int64_t endpoints_added = 0;
  int64_t endpoints_removed = 0;
  int64_t slices_changed = 0;  // C + U + D after recycling
  std::string topology;        // "Auto" or "Disabled"
  std::string traffic_distribution;
  // Kubernetes event texts of the hint pass, in order (topology.h HintsResult::events).
  std::vector<std::string> events;
};

// Per endpoint identity of the service (v1.BatchStats): an endpoint that moves to another port
// set stays in the service and counts as updated, not as added plus removed (the SyncReport keeps
// Kubernetes' per-group view: an add in the new group).
struct Stats {
  int64_t endpoints_added = 0;    // identities new to the service
  int64_t endpoints_updated = 0;  // identities kept whose content or port set changed (or hints)
  int64_t endpoints_removed = 0;  // identities no longer in the service
  int64_t slices_created = 0;
  int64_t slices_updated = 0;
  int64_t slices_deleted = 0;

  // Adds every counter of `other` (a batch's stats are the sum of its services' and types').
  Stats& operator+=(const Stats& other) {
    endpoints_added += other.endpoints_added;
    endpoints_updated += other.endpoints_updated;
    endpoints_removed += other.endpoints_removed;
    slices_created += other.slices_created;
    slices_updated += other.slices_updated;
    slices_deleted += other.slices_deleted;
    return *this;
  }
};

struct SliceOp {
  enum class Kind { kCreate, kUpdate, kDelete };
  Kind kind = Kind::kCreate;
  // kCreate / kUpdate: the complete new version; generation is set (1 on create, old + 1 on
  // update), resource_version is left 0 for the store to stamp. kDelete: the current version.
  std::shared_ptr<Slice> slice;
};

struct Plan {
  // Creates, then updates, then deletes (Kubernetes' order of API calls).
  std::vector<SliceOp> ops;
  Stats stats;
  std::vector<SyncReport> syncs;
  // Gauges after the plan is applied (docs/kubernetes-behaviour.md §7): desired endpoints, slices
  // that will exist, and the ideal slice count sum(ceil(endpoints / max)) per group, at least 1.
  int64_t endpoints_desired = 0;
  int64_t num_slices = 0;
  int64_t desired_slices = 0;

  // The packed distribution's repack (all 0 under kKubernetes): endpoints moved between slices,
  // the slice writes it added to Kubernetes' plan for the batch (negative when it saved some),
  // and the most it was allowed to add (PackingOptions).
  struct Packing {
    int64_t moved = 0;
    int64_t extra_writes = 0;
    int64_t budget = 0;
  };
  Packing packing;

  bool empty() const { return ops.empty(); }

  // Index changes for ServiceState::Apply, filled by Reconcile. Opaque to callers.
  std::shared_ptr<const void> internal;
};

// Inputs besides the state. Everything referenced must outlive the Reconcile call.
struct Input {
  // The service record (uid, labels, headless, address_types, publishNotReadyAddresses,
  // trafficDistribution, topology mode). Never null.
  const v1::ServiceRecord* service = nullptr;
  // Endpoint changes in order; for one identity the last one wins.
  absl::Span<const EndpointDelta> changes;
  // Node registry, for Auto hints (docs/kubernetes-behaviour.md §4.3). Empty: Auto hints cannot be
  // computed.
  absl::Span<const v1::Node> nodes;
  // Re-evaluate every slice (labels, ownership, address types served, hints), not only the ones
  // the changes touch. Set when the service record or the node registry changed.
  bool full_resync = false;
  // Value of the endpoints.kubernetes.io/last-change-trigger-time annotation on written slices.
  std::string trigger_time;
  // Creation timestamp for slices created by this plan.
  std::string creation_timestamp;
  // Returns a fresh slice name (`<service>-<5 random [a-z0-9]>`), unique in the namespace, for
  // `generate_name` (docs/kubernetes-behaviour.md §3.7), and a fresh uid for a new slice.
  absl::FunctionRef<std::string(absl::string_view generate_name)> generate_name;
  absl::FunctionRef<std::string()> generate_uid;
};

// The managed slices of one service and the indexes over them.
class ServiceState {
 public:
  ServiceState();
  ~ServiceState();
  ServiceState(ServiceState&&) noexcept;
  ServiceState& operator=(ServiceState&&) noexcept;

  // Rebuilds the state from stored slices (restart, or an etcd watch). Slices not managed by
  // slicekeeper are ignored by the caller, never passed here.
  static ServiceState FromSlices(absl::Span<const SlicePtr> slices);

  // Replicated stores: moves the state to the service's managed slices after a commit of the
  // shared log, which says what it wrote, not the plan: `writes` are (name, new version; null:
  // deleted or no longer managed) with distinct names. O(written slices' endpoints + slices),
  // where FromSlices is O(service): ~25 ns per endpoint leaving or entering against ~45 ns per
  // endpoint of the service (reconcile_bench), so a commit that rewrote most of the service is
  // cheaper rebuilt. Returns false when it cannot tell the result (the state holds a second copy
  // of an identity, or a written slice would): the state is then unusable and the caller rebuilds
  // it with FromSlices. Plans computed before are void either way.
  struct SliceWrite {
    absl::string_view name;
    SlicePtr slice;
  };
  bool ApplyWrites(absl::Span<const SliceWrite> writes);

  // The current managed slices (after the last Apply), in no particular order. O(slices).
  std::vector<SlicePtr> Slices() const;
  // How many there are. O(1).
  int64_t slice_count() const;
  // Number of endpoints held in the managed slices. O(1).
  int64_t endpoint_count() const;
  // The heap bytes of the indexes (identity index, groups, slots, signatures), not of the slices
  // they point into: the store's memory accounting. O(address types + groups + signatures).
  int64_t IndexBytes() const;
  // The stored endpoint with the same identity and address type as `e`, or null. O(1).
  EndpointPtr Find(absl::string_view address_type, const EndpointRecord& e) const;

  // Moves the state to the result of `plan`.
  // REQUIRES: `plan` was returned by Reconcile(*this, ...) and no Apply ran since.
  void Apply(const Plan& plan);

 private:
  friend absl::StatusOr<Plan> Reconcile(const ServiceState&, const Input&, const Options&);
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Computes the plan for `input` against `state`. Cost: O(k log n) for k changes when
// !full_resync (plus O(slices) when Auto hints are active); O(n) for a full resync.
// Errors: INVALID_ARGUMENT if `input.service` is null or an upsert has null ports (the caller
// validates and normalizes everything else first).
absl::StatusOr<Plan> Reconcile(const ServiceState& state, const Input& input,
                               const Options& options);

// Identity of an endpoint inside a service and address type (docs/kubernetes-behaviour.md §3.5):
// sorted addresses, hostname, targetRef namespace and name.
std::string EndpointIdentity(const EndpointRecord& e);

// Canonical key of a port set: nil and empty are equal; order does not matter.
std::string PortSetKey(const PortList& ports);

// True when `a` and `b` (same identity) differ in what Kubernetes compares (§3.5): nodeName,
// zone, ready / serving / terminating (nil vs value), targetRef ignoring resourceVersion.
// Hints are not compared.
bool EndpointChanged(const EndpointRecord& a, const EndpointRecord& b);

}  // namespace slicekeeper::reconcile

#endif  // SLICEKEEPER_SERVER_RECONCILE_RECONCILER_H_
