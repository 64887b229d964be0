// Topology hints, following Kubernetes' topologycache (Auto) and trafficdist (trafficDistribution)
// packages. Iteration over zones uses std::map order where Kubernetes iterates a Go map: ties in
// the giving/receiving choice go to the alphabetically first zone, so results are deterministic.
#include "server/reconcile/topology.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::reconcile {
namespace {

// One threshold for both the allocation and the overload check (the code, not the KEP's 30%).
constexpr double kOverloadThreshold = 0.2;

constexpr char kAnnotationTopologyAwareHints[] = "service.kubernetes.io/topology-aware-hints";
constexpr char kAnnotationTopologyMode[] = "service.kubernetes.io/topology-mode";
constexpr char kLabelControlPlane[] = "node-role.kubernetes.io/control-plane";
constexpr char kLabelMaster[] = "node-role.kubernetes.io/master";

constexpr char kReasonDisabled[] = "TopologyAwareHintsDisabled";
constexpr char kInsufficientNodeInfo[] =
    "Insufficient Node information: allocatable CPU or zone not specified on one or more nodes";
constexpr char kNodesReadyInOneZoneOnly[] = "Nodes only ready in one zone";
constexpr char kInsufficientNumberOfEndpoints[] = "Insufficient number of endpoints";
constexpr char kMinAllocationExceedsOverloadThreshold[] =
    "Unable to allocate minimum required endpoints to each zone without exceeding overload "
    "threshold";
constexpr char kNoZoneSpecified[] = "One or more endpoints do not have a zone specified";
constexpr char kNoAllocatedHintsForZones[] = "No hints allocated for zones";

// Allocation plus the (float) target the redistribution aims at.
struct ZoneAllocation {
  int min = 0;
  int max = 0;
  double desired = 0;
};
using Allocations = std::map<std::string, ZoneAllocation>;

// slicekeeper reads a nil ready condition as true (docs/kubernetes-behaviour.md §1); Kubernetes'
// controller never writes nil, so this agrees with it on everything Kubernetes produces.
bool Ready(const EndpointRecord& e) {
  return !e.conditions().has_ready() || e.conditions().ready();
}
bool HasZone(const EndpointRecord& e) { return e.has_zone() && !e.zone().empty(); }
bool HasNode(const EndpointRecord& e) { return e.has_node_name() && !e.node_name().empty(); }

// True when `e`'s hints are exactly forZones=[zone] / forNodes=[node] (each absent when null), or
// absent altogether when both are null.
bool HintsEqual(const EndpointRecord& e, const absl::string_view* zone,
                const absl::string_view* node) {
  if (zone == nullptr && node == nullptr) return !e.has_hints();
  if (!e.has_hints()) return false;
  const v1::EndpointHints& h = e.hints();
  if (h.for_zones_size() != (zone ? 1 : 0) || h.for_nodes_size() != (node ? 1 : 0)) return false;
  if (zone && h.for_zones(0).name() != *zone) return false;
  return node == nullptr || h.for_nodes(0).name() == *node;
}

// A copy of `ep` with exactly the given hints (no hints at all when both are null), or null when
// `ep` already has them. Null rather than `ep` itself: the passes below visit every endpoint of
// every written slice, and copying a pointer per endpoint (an atomic count each) was a tenth of a
// reconcile.
EndpointPtr WithHintsOrNull(const EndpointRecord& ep, const absl::string_view* zone,
                            const absl::string_view* node) {
  if (HintsEqual(ep, zone, node)) return nullptr;
  if (zone == nullptr && node == nullptr) return ep.WithHints(nullptr);
  v1::EndpointHints hints;
  if (zone != nullptr) hints.add_for_zones()->set_name(std::string(*zone));
  if (node != nullptr) hints.add_for_nodes()->set_name(std::string(*node));
  return ep.WithHints(&hints);
}

// `ep` with exactly the given hints; `ep` itself when nothing changes, so it stays shared.
EndpointPtr WithHints(const EndpointPtr& ep, const absl::string_view* zone,
                      const absl::string_view* node) {
  EndpointPtr copy = WithHintsOrNull(*ep, zone, node);
  return copy != nullptr ? copy : ep;
}

// Replaces every endpoint of `list` for which fn(endpoint) is not null; returns whether any did.
template <typename Fn>
bool Rewrite(std::vector<EndpointPtr>& list, Fn fn) {
  bool changed = false;
  for (EndpointPtr& ep : list) {
    EndpointPtr next = fn(*ep);
    if (next != nullptr) {
      ep = std::move(next);
      changed = true;
    }
  }
  return changed;
}

// Rewrite on a copy of `list`, made only once fn changes an endpoint; nullopt when none changes
// (the common case for unchanged slices, which are then not copied at all).
template <typename Fn>
std::optional<std::vector<EndpointPtr>> RewriteCopy(const EndpointList& list, Fn fn) {
  size_t i = 0;
  for (auto it = list.begin(); it != list.end(); ++it, ++i) {
    EndpointPtr next = fn(**it);
    if (next == nullptr) continue;
    std::vector<EndpointPtr> copy = list.ToVector();
    copy[i] = std::move(next);
    for (size_t j = i + 1; j < copy.size(); ++j) {
      if (EndpointPtr n = fn(*copy[j]); n != nullptr) copy[j] = std::move(n);
    }
    return copy;
  }
  return std::nullopt;
}

// Rewrite's function for "no hints at all".
EndpointPtr StrippedOrNull(const EndpointRecord& ep) {
  return ep.has_hints() ? WithHintsOrNull(ep, nullptr, nullptr) : nullptr;
}
EndpointPtr Stripped(const EndpointPtr& ep) { return WithHints(ep, nullptr, nullptr); }

// RemoveHintsFromSlices: strips create/update lists and already-moved unchanged slices; any other
// unchanged slice that carries a hint becomes an update. `moved[i]` marks unchanged slices already
// in result.unchanged_to_update.
void StripAll(SliceInfo& slices, const std::vector<bool>& moved, HintsResult& result) {
  for (auto* list : slices.to_create) Rewrite(*list, StrippedOrNull);
  for (auto* list : slices.to_update) Rewrite(*list, StrippedOrNull);
  for (auto& [index, list] : result.unchanged_to_update) Rewrite(list, StrippedOrNull);
  for (size_t i = 0; i < slices.unchanged.size(); ++i) {
    if (moved[i]) continue;
    if (auto copy = RewriteCopy(*slices.unchanged[i], StrippedOrNull)) {
      result.unchanged_to_update.emplace_back(i, *std::move(copy));
    }
  }
  std::sort(result.unchanged_to_update.begin(), result.unchanged_to_update.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  result.hints_by_zone.clear();
}

HintsResult Disable(SliceInfo& slices, const std::vector<bool>& moved, HintsResult result,
                    absl::string_view message) {
  StripAll(slices, moved, result);
  result.events.push_back(absl::StrCat(kReasonDisabled, ": ", message));
  return result;
}

template <typename List>
int CountReady(const List& list) {
  return static_cast<int>(
      std::count_if(list.begin(), list.end(), [](const EndpointPtr& ep) { return Ready(*ep); }));
}

int TotalReady(const SliceInfo& slices) {
  int n = 0;
  for (const auto* list : slices.to_create) n += CountReady(*list);
  for (const auto* list : slices.to_update) n += CountReady(*list);
  for (const auto* list : slices.unchanged) n += CountReady(*list);
  return n;
}

absl::Status Insufficient(absl::string_view message) {
  return absl::FailedPreconditionError(message);
}

absl::StatusOr<Allocations> ComputeAllocations(const NodeInfo& info, int n) {
  const auto& ratios = info.zone_ratios;
  if (ratios.empty()) {
    return Insufficient(info.insufficient_reason.empty() ? kInsufficientNodeInfo
                                                         : info.insufficient_reason);
  }
  if (ratios.size() < 2) return Insufficient(kNodesReadyInOneZoneOnly);
  const auto counts = absl::StrCat(" (", n, " endpoints, ", ratios.size(), " zones)");
  if (static_cast<int>(ratios.size()) > n) {
    return Insufficient(absl::StrCat(kInsufficientNumberOfEndpoints, counts));
  }
  // Kubernetes multiplies by the reciprocal; keep the same float64 expression.
  const double factor = 1.0 / (1.0 + kOverloadThreshold);
  Allocations out;
  int min_total = 0;
  for (const auto& [zone, ratio] : ratios) {
    const double desired = ratio * static_cast<double>(n);
    const int min = static_cast<int>(std::ceil(desired * factor));
    out[zone] = ZoneAllocation{min, 0, std::max(desired, static_cast<double>(min))};
    min_total += min;
    if (min_total > n) {
      return Insufficient(absl::StrCat(kMinAllocationExceedsOverloadThreshold, counts));
    }
  }
  for (auto& [zone, a] : out) a.max = a.min + n - min_total;
  return out;
}

// getHintsByZone: the per-zone hint counts of an unchanged slice whose hints may be kept, or false
// if the slice must be rewritten (a ready endpoint without zone hints, a hint for a zone without
// an allocation, or a count that would push a zone over its maximum).
bool KeptHintsByZone(const EndpointList& list, const Allocations& allocations,
                     const std::map<std::string, int>& allocated, std::map<std::string, int>& out) {
  out.clear();
  for (const EndpointPtr& ep : list) {
    if (!Ready(*ep)) continue;
    if (!ep->has_hints() || ep->hints().for_zones_size() == 0) return false;
    for (const v1::ForZone& z : ep->hints().for_zones()) {
      if (allocations.count(z.name()) == 0) return false;
      ++out[z.name()];
    }
  }
  for (const auto& [zone, count] : out) {
    auto it = allocated.find(zone);
    const int already = it == allocated.end() ? 0 : it->second;
    if (count + already > allocations.at(zone).max) return false;
  }
  return true;
}

// getMost: the zone with the largest strictly positive amount, or "" if none.
std::pair<std::string, double> Most(const std::map<std::string, double>& zones) {
  std::pair<std::string, double> best{"", 0.0};
  for (const auto& [zone, amount] : zones) {
    if (amount > best.second) best = {zone, amount};
  }
  return best;
}

// getGivingAndReceivingZones: whole endpoints each zone gives away / receives.
std::pair<std::map<std::string, int>, std::map<std::string, int>> GivingAndReceiving(
    const Allocations& allocations, const std::map<std::string, int>& allocated) {
  std::map<std::string, double> give_desired, receive_desired;
  for (const auto& [zone, a] : allocations) {
    auto it = allocated.find(zone);
    const double have = it == allocated.end() ? 0.0 : static_cast<double>(it->second);
    if (have > a.desired) give_desired[zone] = have - a.desired;
    if (have < a.desired) receive_desired[zone] = a.desired - have;
  }
  std::map<std::string, int> giving, receiving;
  for (;;) {
    auto [give_zone, to_give] = Most(give_desired);
    auto [receive_zone, to_receive] = Most(receive_desired);
    if (give_zone.empty() || receive_zone.empty() || (to_give < 1.0 && to_receive < 1.0) ||
        to_give < 0.5 || to_receive < 0.5) {
      break;
    }
    ++giving[give_zone];
    give_desired[give_zone] -= 1.0;
    ++receiving[receive_zone];
    receive_desired[receive_zone] -= 1.0;
  }
  return {std::move(giving), std::move(receiving)};
}

// redistributeHints: walks the ready endpoints in order and re-hints endpoints of giving zones to
// the first receiving zone that still needs some. Adds the moves to `allocated`.
void Redistribute(const std::vector<std::vector<EndpointPtr>*>& lists,
                  std::map<std::string, int> giving, std::map<std::string, int> receiving,
                  std::map<std::string, int>& allocated) {
  for (auto* list : lists) {
    for (EndpointPtr& ep : *list) {
      if (!Ready(*ep)) continue;
      if (giving.empty() || receiving.empty()) return;
      if (!HasZone(*ep)) continue;
      const std::string from(ep->zone());
      auto give = giving.find(from);
      if (give == giving.end() || give->second <= 0) continue;
      auto receive = receiving.begin();  // every entry left still needs >= 1
      const std::string to = receive->first;
      ++allocated[to];
      --allocated[from];
      if (--give->second == 0) giving.erase(give);
      if (--receive->second == 0) receiving.erase(receive);
      const absl::string_view to_view = to;
      ep = WithHints(ep, &to_view, nullptr);
    }
  }
}

// Step 3: ready endpoints of the slices being written get forZones=[own zone], unready ones lose
// their hints (Kubernetes' intent; its loop clears a copy). False if a ready endpoint has no zone.
bool HintOwnZones(const std::vector<std::vector<EndpointPtr>*>& lists,
                  std::map<std::string, int>& allocated) {
  for (auto* list : lists) {
    for (EndpointPtr& ep : *list) {
      if (!Ready(*ep)) {
        ep = Stripped(ep);
        continue;
      }
      if (!HasZone(*ep)) return false;
      const absl::string_view zone = ep->zone();
      ++allocated[std::string(zone)];
      ep = WithHints(ep, &zone, nullptr);
    }
  }
  return true;
}

}  // namespace

HintMode HintModeFor(const v1::ServiceRecord& service) {
  const auto& annotations = service.annotations();
  const std::string* mode = nullptr;
  if (auto it = annotations.find(kAnnotationTopologyAwareHints); it != annotations.end()) {
    mode = &it->second;
  } else if (auto it2 = annotations.find(kAnnotationTopologyMode); it2 != annotations.end()) {
    mode = &it2->second;
  } else if (!service.topology_mode().empty()) {
    mode = &service.topology_mode();
  }
  if (mode != nullptr && (*mode == "Auto" || *mode == "auto")) return HintMode::kAuto;
  const std::string& td = service.traffic_distribution();
  if (td == "PreferClose" || td == "PreferSameZone") return HintMode::kPreferSameZone;
  if (td == "PreferSameNode") return HintMode::kPreferSameNode;
  return HintMode::kNone;
}

const char* TopologyLabel(HintMode mode) { return mode == HintMode::kAuto ? "Auto" : "Disabled"; }

NodeInfo ComputeNodeInfo(absl::Span<const v1::Node> nodes) {
  std::map<std::string, int64_t> cpu_by_zone;
  int64_t total = 0;
  for (const v1::Node& node : nodes) {
    if (node.labels().count(kLabelControlPlane) > 0 || node.labels().count(kLabelMaster) > 0) {
      continue;
    }
    if (!node.ready()) continue;
    // One node without a zone or CPU makes the whole cluster's information insufficient.
    if (node.zone().empty() || node.cpu_millis() <= 0) return NodeInfo{{}, kInsufficientNodeInfo};
    total += node.cpu_millis();
    cpu_by_zone[node.zone()] += node.cpu_millis();
  }
  if (total == 0) return NodeInfo{{}, kInsufficientNodeInfo};
  if (cpu_by_zone.size() < 2) return NodeInfo{{}, kNodesReadyInOneZoneOnly};
  NodeInfo info;
  for (const auto& [zone, cpu] : cpu_by_zone) {
    info.zone_ratios[zone] = static_cast<double>(cpu) / static_cast<double>(total);
  }
  return info;
}

absl::StatusOr<std::map<std::string, Allocation>> GetAllocations(const NodeInfo& info,
                                                                 int ready_endpoints) {
  absl::StatusOr<Allocations> full = ComputeAllocations(info, ready_endpoints);
  if (!full.ok()) return full.status();
  std::map<std::string, Allocation> out;
  for (const auto& [zone, a] : *full) out[zone] = Allocation{a.min, a.max};
  return out;
}

HintsResult AddAutoHints(const NodeInfo& info, SliceInfo& slices) {
  HintsResult result;
  std::vector<bool> moved(slices.unchanged.size(), false);
  absl::StatusOr<Allocations> allocations = ComputeAllocations(info, TotalReady(slices));
  if (!allocations.ok()) {
    return Disable(slices, moved, std::move(result), allocations.status().message());
  }
  // Step 2: unchanged slices keep valid hints (counted as allocated), the others become updates.
  std::map<std::string, int> allocated, kept;
  for (size_t i = 0; i < slices.unchanged.size(); ++i) {
    if (KeptHintsByZone(*slices.unchanged[i], *allocations, allocated, kept)) {
      for (const auto& [zone, count] : kept) allocated[zone] += count;
    } else {
      moved[i] = true;
      result.unchanged_to_update.emplace_back(i, slices.unchanged[i]->ToVector());
    }
  }
  std::vector<std::vector<EndpointPtr>*> writable = slices.to_create;
  writable.insert(writable.end(), slices.to_update.begin(), slices.to_update.end());
  for (auto& entry : result.unchanged_to_update) writable.push_back(&entry.second);
  // Steps 3-5.
  if (!HintOwnZones(writable, allocated)) {
    return Disable(slices, moved, std::move(result), kNoZoneSpecified);
  }
  auto [giving, receiving] = GivingAndReceiving(*allocations, allocated);
  Redistribute(writable, std::move(giving), std::move(receiving), allocated);
  // Step 6.
  if (allocated.empty())
    return Disable(slices, moved, std::move(result), kNoAllocatedHintsForZones);
  result.hints_by_zone = std::move(allocated);
  return result;
}

HintsResult AddTrafficDistributionHints(HintMode mode, SliceInfo& slices) {
  const bool same_node = mode == HintMode::kPreferSameNode;
  auto hint = [same_node](const EndpointRecord& ep) -> EndpointPtr {
    if (!Ready(ep)) return nullptr;
    const absl::string_view zone_name = ep.zone(), node_name = ep.node_name();
    const absl::string_view* zone = HasZone(ep) ? &zone_name : nullptr;
    const absl::string_view* node = same_node && HasNode(ep) ? &node_name : nullptr;
    return WithHintsOrNull(ep, zone, node);
  };
  HintsResult result;
  for (auto* list : slices.to_create) Rewrite(*list, hint);
  for (auto* list : slices.to_update) Rewrite(*list, hint);
  for (size_t i = 0; i < slices.unchanged.size(); ++i) {
    if (auto copy = RewriteCopy(*slices.unchanged[i], hint)) {
      result.unchanged_to_update.emplace_back(i, *std::move(copy));
    }
  }
  return result;
}

HintsResult RemoveHints(SliceInfo& slices) {
  HintsResult result;
  StripAll(slices, std::vector<bool>(slices.unchanged.size(), false), result);
  return result;
}

}  // namespace slicekeeper::reconcile
