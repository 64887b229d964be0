// The EndpointSlice distribution algorithm (Kubernetes' reconciler), incremental.
//
// `ServiceState` holds the managed slices of one service plus the indexes that make a batch of k
// endpoint changes cost O(k log n) instead of O(size of the service). `Reconcile` is a pure
// function of (state, service record, nodes, changes): it returns a `Plan` — slice creates,
// updates and deletes with their full new contents — that is exactly what Kubernetes' full
// algorithm (K8S-REFERENCE §3.6, hints §4) produces on the same inputs: the same create / update /
// delete counts and slice sizes (which endpoint lands in which slice is free, as in Kubernetes).
// `Apply` then moves the state to the plan's result. The algorithm is specified in
// docs/distribution.md; tests/reconcile/ holds a straightforward full implementation as the oracle.
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

struct Options {
  // Kubernetes' --max-endpoints-per-slice: 1..1000.
  int max_endpoints_per_slice = 100;
};

// One normalized endpoint change (common/slice.h).
using EndpointDelta = ::slicekeeper::EndpointDelta;

// What Kubernetes' controller reports per sync (K8S-REFERENCE §7), per address type.
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
  // Gauges after the plan is applied (K8S-REFERENCE §7): desired endpoints, slices that will
  // exist, and the ideal slice count sum(ceil(endpoints / max)) per group, at least 1.
  int64_t endpoints_desired = 0;
  int64_t num_slices = 0;
  int64_t desired_slices = 0;

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
  // Node registry, for Auto hints (K8S-REFERENCE §4.3). Empty: Auto hints cannot be computed.
  absl::Span<const v1::Node> nodes;
  // Re-evaluate every slice (labels, ownership, address types served, hints), not only the ones
  // the changes touch. Set when the service record or the node registry changed.
  bool full_resync = false;
  // Value of the endpoints.kubernetes.io/last-change-trigger-time annotation on written slices.
  std::string trigger_time;
  // Creation timestamp for slices created by this plan.
  std::string creation_timestamp;
  // Returns a fresh slice name (`<service>-<5 random [a-z0-9]>`), unique in the namespace, for
  // `generate_name` (K8S-REFERENCE §3.7), and a fresh uid for a new slice.
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

  // The current managed slices (after the last Apply), in no particular order. O(slices).
  std::vector<SlicePtr> Slices() const;
  // Number of endpoints held in the managed slices. O(1).
  int64_t endpoint_count() const;
  // The stored endpoint with the same identity and address type as `e`, or null. O(1).
  EndpointPtr Find(absl::string_view address_type, const v1::Endpoint& e) const;

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

// Identity of an endpoint inside a service and address type (K8S-REFERENCE §3.5): sorted
// addresses, hostname, targetRef namespace and name.
std::string EndpointIdentity(const v1::Endpoint& e);

// Canonical key of a port set: nil and empty are equal; order does not matter.
std::string PortSetKey(const PortList& ports);

// True when `a` and `b` (same identity) differ in what Kubernetes compares (§3.5): nodeName,
// zone, ready / serving / terminating (nil vs value), targetRef ignoring resourceVersion.
// Hints are not compared.
bool EndpointChanged(const v1::Endpoint& a, const v1::Endpoint& b);

}  // namespace slicekeeper::reconcile

#endif  // SLICEKEEPER_SERVER_RECONCILE_RECONCILER_H_
