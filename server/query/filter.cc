// QueryEndpoints' filters over the merged view. Selections are index lists into the merged vector
// so the filters copy nothing until the result is built.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/query/filter.h"
#include "server/query/merge.h"

namespace slicekeeper::query {
namespace {

using Endpoints = std::vector<v1::ServiceEndpoint>;
using Selection = std::vector<size_t>;

template <typename Pred>
Selection Where(const Endpoints& eps, const Selection& from, Pred pred) {
  Selection out;
  for (size_t i : from) {
    if (pred(eps[i])) out.push_back(i);
  }
  return out;
}

bool IsReady(const v1::ServiceEndpoint& e) { return e.conditions().ready(); }
bool IsServing(const v1::ServiceEndpoint& e) { return e.conditions().serving(); }
bool IsServingTerminating(const v1::ServiceEndpoint& e) {
  return e.conditions().serving() && e.conditions().terminating();
}
bool IsAny(const v1::ServiceEndpoint&) { return true; }

using Tier = bool (*)(const v1::ServiceEndpoint&);

// Conditions in order of preference: the first tier with any endpoint wins.
std::vector<Tier> Tiers(v1::EndpointCondition condition) {
  switch (condition) {
    case v1::READY:
      return {&IsReady};
    case v1::SERVING:
      return {&IsServing};
    case v1::ANY:
      return {&IsAny};
    default:  // ROUTABLE, UNSPECIFIED
      return {&IsReady, &IsServingTerminating};
  }
}

// The non-hint path: node and zone filter the endpoints' own location.
Selection SelectByLocation(const Endpoints& eps, Selection base,
                           const v1::QueryEndpointsRequest& req) {
  if (!req.node().empty()) {
    base = Where(eps, base, [&](const auto& e) { return e.node_name() == req.node(); });
  }
  auto in_zone = [&](const v1::ServiceEndpoint& e) { return e.zone() == req.zone(); };
  if (!req.zone().empty() && !req.prefer_zone()) base = Where(eps, base, in_zone);
  for (Tier tier : Tiers(req.condition())) {
    Selection candidates = Where(eps, base, tier);
    if (candidates.empty()) continue;
    if (req.prefer_zone()) {
      Selection local = Where(eps, candidates, in_zone);
      if (!local.empty()) return local;
    }
    return candidates;
  }
  return {};
}

bool HintedForNode(const v1::ServiceEndpoint& e, const std::string& node) {
  const auto& h = e.hints().for_nodes();
  return std::any_of(h.begin(), h.end(), [&](const v1::ForNode& n) { return n.name() == node; });
}

bool HintedForZone(const v1::ServiceEndpoint& e, const std::string& zone) {
  const auto& h = e.hints().for_zones();
  return std::any_of(h.begin(), h.end(), [&](const v1::ForZone& z) { return z.name() == zone; });
}

// kube-proxy's CategorizeEndpoints for cluster traffic (docs/kubernetes-behaviour.md §5.2): hints
// count only when every ready endpoint carries one, so a partial rollout never strands traffic.
Selection SelectByHints(const Endpoints& eps, const Selection& base,
                        const v1::QueryEndpointsRequest& req) {
  bool all_node_hints = true, any_for_node = false;
  bool all_zone_hints = true, any_for_zone = false;
  for (size_t i : base) {
    const v1::ServiceEndpoint& e = eps[i];
    if (!IsReady(e)) continue;
    if (e.hints().for_nodes().empty()) {
      all_node_hints = false;
    } else if (HintedForNode(e, req.node())) {
      any_for_node = true;
    }
    if (e.hints().for_zones().empty()) {
      all_zone_hints = false;
    } else if (HintedForZone(e, req.zone())) {
      any_for_zone = true;
    }
  }
  Selection ready = Where(eps, base, &IsReady);
  Selection out;
  if (!req.node().empty() && all_node_hints && any_for_node) {
    out = Where(eps, ready, [&](const auto& e) { return HintedForNode(e, req.node()); });
  } else if (!req.zone().empty() && all_zone_hints && any_for_zone) {
    out = Where(eps, ready, [&](const auto& e) { return HintedForZone(e, req.zone()); });
  } else {
    out = std::move(ready);
  }
  if (out.empty()) out = Where(eps, base, &IsServingTerminating);
  return out;
}

bool HasPortNamed(const v1::ServiceEndpoint& e, const std::string& name) {
  return std::any_of(e.ports().begin(), e.ports().end(),
                     [&](const v1::ServicePort& p) { return p.name() == name; });
}

// Keeps only the ports named `name`.
void KeepPortNamed(v1::ServiceEndpoint* e, const std::string& name) {
  auto* ports = e->mutable_ports();
  ports->erase(std::remove_if(ports->begin(), ports->end(),
                              [&](const v1::ServicePort& p) { return p.name() != name; }),
               ports->end());
}

}  // namespace

absl::Status ValidateQuery(const v1::QueryEndpointsRequest& req) {
  if (req.limit() < 0) {
    return absl::InvalidArgumentError(absl::StrCat("limit: must be >= 0, got ", req.limit()));
  }
  if (!v1::EndpointCondition_IsValid(req.condition())) {
    return absl::InvalidArgumentError(absl::StrCat("condition: unknown value ", req.condition()));
  }
  const std::string& at = req.address_type();
  if (!at.empty() && at != kAddressTypeIPv4 && at != kAddressTypeIPv6) {
    return absl::InvalidArgumentError(
        absl::StrCat("address_type: must be \"\", \"IPv4\" or \"IPv6\", got \"", at, "\""));
  }
  if (req.prefer_zone() && req.zone().empty()) {
    return absl::InvalidArgumentError("prefer_zone: requires zone");
  }
  if (req.prefer_zone() && req.use_hints()) {
    return absl::InvalidArgumentError("prefer_zone: cannot be combined with use_hints");
  }
  if (req.use_hints() && req.zone().empty() && req.node().empty()) {
    return absl::InvalidArgumentError("use_hints: requires zone or node (the client's location)");
  }
  if (req.use_hints() && req.condition() != v1::ENDPOINT_CONDITION_UNSPECIFIED &&
      req.condition() != v1::ROUTABLE) {
    return absl::InvalidArgumentError(
        "use_hints: applies kube-proxy's routable rule; condition must be ROUTABLE or unset");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::ServiceEndpoint>> FilterEndpoints(
    const std::vector<v1::ServiceEndpoint>& merged, const v1::QueryEndpointsRequest& req) {
  SK_RETURN_IF_ERROR(ValidateQuery(req));
  // Address type and port name narrow the set first: kube-proxy evaluates hints and fallbacks
  // per IP family and per service port.
  Selection base;
  base.reserve(merged.size());
  for (size_t i = 0; i < merged.size(); ++i) {
    const v1::ServiceEndpoint& e = merged[i];
    if (!req.address_type().empty() && e.address_type() != req.address_type()) continue;
    if (req.has_port_name() && !HasPortNamed(e, req.port_name())) continue;
    base.push_back(i);
  }
  Selection chosen = req.use_hints() ? SelectByHints(merged, base, req)
                                     : SelectByLocation(merged, std::move(base), req);
  if (req.limit() > 0 && chosen.size() > static_cast<size_t>(req.limit())) {
    chosen.resize(req.limit());
  }
  // Only what is returned is copied: the merged view is shared by every query of the snapshot.
  std::vector<v1::ServiceEndpoint> out;
  out.reserve(chosen.size());
  for (size_t i : chosen) {
    out.push_back(merged[i]);
    if (req.has_port_name()) KeepPortNamed(&out.back(), req.port_name());
  }
  return out;
}

absl::StatusOr<std::vector<v1::ServiceEndpoint>> QueryEndpoints(
    const store::ServiceSnapshot& snapshot, const v1::QueryEndpointsRequest& req) {
  SK_RETURN_IF_ERROR(ValidateQuery(req));
  return FilterEndpoints(MergeEndpoints(snapshot), req);
}

}  // namespace slicekeeper::query
