// Topology hints (docs/kubernetes-behaviour.md §4): which hint mode a service uses, the
// trafficDistribution heuristics (§4.2) and the CPU-proportional allocator of topology mode Auto
// (§4.3).
//
// Part of the pure reconcile core: no clock, no logging, no I/O. Endpoints are immutable
// (`EndpointPtr`); a function that changes hints replaces the pointer in the list it was given with
// a new endpoint, so untouched endpoints stay shared.
//
// The reconciler calls exactly one of AddAutoHints / AddTrafficDistributionHints / RemoveHints per
// address type, after steps 1-3 and the placeholder rule, with the slices it is about to create,
// the slices it is about to update and the slices it leaves unchanged (Kubernetes' SliceInfo).
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef SLICEKEEPER_SERVER_RECONCILE_TOPOLOGY_H_
#define SLICEKEEPER_SERVER_RECONCILE_TOPOLOGY_H_

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/slice.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::reconcile {

enum class HintMode {
  kNone,            // strip every hint
  kAuto,            // CPU-proportional allocator (annotation / topology_mode Auto)
  kPreferSameZone,  // trafficDistribution PreferClose or PreferSameZone
  kPreferSameNode,  // trafficDistribution PreferSameNode (zone hints too)
};

// The mode for a service (§4.1): the topology-aware-hints annotation (deprecated key wins), then
// the topology-mode annotation, then the record's topology_mode field, with exactly "Auto"/"auto"
// enabling kAuto; otherwise trafficDistribution; otherwise kNone.
HintMode HintModeFor(const v1::ServiceRecord& service);
// "Auto" or "Disabled", for the endpointslices_changed_per_sync metric label.
const char* TopologyLabel(HintMode mode);

// Per-zone share of allocatable CPU among ready, zoned, non-control-plane nodes (§4.3).
struct NodeInfo {
  // zone -> ratio; sums to 1. Empty when the node information is insufficient.
  std::map<std::string, double> zone_ratios;
  // Why the information is insufficient ("" when it is sufficient).
  std::string insufficient_reason;
};
NodeInfo ComputeNodeInfo(absl::Span<const v1::Node> nodes);

struct Allocation {
  int min = 0;
  int max = 0;
};
// The allocation for `ready_endpoints` ready endpoints (§4.3 step 1, overload threshold 0.2).
// Errors: FAILED_PRECONDITION with the Kubernetes event text ("Insufficient number of endpoints
// (n endpoints, z zones)", "Unable to allocate minimum required endpoints to each zone without
// exceeding overload threshold", ...).
absl::StatusOr<std::map<std::string, Allocation>> GetAllocations(const NodeInfo& info,
                                                                 int ready_endpoints);

// The slices of one address type as the reconciler is about to write them.
struct SliceInfo {
  // Endpoint lists of slices to create / update; hint passes rewrite them in place.
  std::vector<std::vector<EndpointPtr>*> to_create;
  std::vector<std::vector<EndpointPtr>*> to_update;
  // Endpoint lists of slices left unchanged so far.
  std::vector<const EndpointList*> unchanged;
};

struct HintsResult {
  // Unchanged slices (index into SliceInfo::unchanged) that must now be updated, with their new
  // endpoint lists.
  std::vector<std::pair<size_t, std::vector<EndpointPtr>>> unchanged_to_update;
  // Kubernetes event texts, in order (e.g. "TopologyAwareHintsDisabled: Insufficient number of
  // endpoints (2 endpoints, 3 zones)").
  std::vector<std::string> events;
  // Auto only: per-zone count of hinted endpoints after the pass (empty if hints were removed).
  std::map<std::string, int> hints_by_zone;
};

// §4.3 steps 1-6: allocate, keep valid hints of unchanged slices, hint new/updated ready
// endpoints for their own zone, redistribute from giving to receiving zones. On any failure all
// hints are removed (as RemoveHints) and the event says why.
HintsResult AddAutoHints(const NodeInfo& info, SliceInfo& slices);

// §4.2: every ready endpoint gets forZones=[own zone] (and forNodes=[own node] for
// kPreferSameNode); unready endpoints are left untouched. An unchanged slice becomes an update
// only if some ready endpoint's hints are missing, wrong or extra.
HintsResult AddTrafficDistributionHints(HintMode mode, SliceInfo& slices);

// Strips every hint; unchanged slices that carry hints become updates.
HintsResult RemoveHints(SliceInfo& slices);

}  // namespace slicekeeper::reconcile

#endif  // SLICEKEEPER_SERVER_RECONCILE_TOPOLOGY_H_
