#include "client/endpoints.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slicekeeper::client {
namespace {

using PortKey = std::pair<std::string, std::string>;  // (name, protocol)

struct Merged {
  v1::ServiceEndpoint endpoint;  // ports filled at the end
  std::map<PortKey, v1::ServicePort> ports;
};

v1::EndpointConditions Defaulted(const v1::EndpointConditions& c) {
  v1::EndpointConditions out;
  out.set_ready(!c.has_ready() || c.ready());
  out.set_serving(!c.has_serving() || c.serving());
  out.set_terminating(c.has_terminating() && c.terminating());
  return out;
}

void Fill(const v1::Endpoint& e, const std::string& address_type, v1::ServiceEndpoint* out) {
  out->Clear();
  out->set_address(e.addresses(0));
  out->set_address_type(address_type);
  *out->mutable_conditions() = Defaulted(e.conditions());
  out->set_hostname(e.hostname());
  out->set_node_name(e.node_name());
  out->set_zone(e.zone());
  if (e.has_hints()) *out->mutable_hints() = e.hints();
  if (e.has_target_ref()) *out->mutable_target_ref() = e.target_ref();
}

bool HasPort(const v1::ServiceEndpoint& e, const std::string& name) {
  return std::any_of(e.ports().begin(), e.ports().end(),
                     [&](const v1::ServicePort& p) { return p.name() == name; });
}

bool Passes(const v1::ServiceEndpoint& e, EndpointFilter::Condition condition) {
  switch (condition) {
    case EndpointFilter::Condition::kReady:
      return e.conditions().ready();
    case EndpointFilter::Condition::kServing:
      return e.conditions().serving();
    default:
      return true;
  }
}

bool ServingTerminating(const v1::ServiceEndpoint& e) {
  return e.conditions().serving() && e.conditions().terminating();
}

// Keeps the endpoints in `zone`, or all of them when none is (with prefer) or zone is empty.
EndpointList ByZone(EndpointList in, const std::string& zone, bool prefer) {
  if (zone.empty()) return in;
  EndpointList out;
  for (auto& e : in) {
    if (e.zone() == zone) out.push_back(e);
  }
  if (out.empty() && prefer) return in;
  return out;
}

}  // namespace

EndpointList MergeSlices(absl::Span<const v1::EndpointSlice* const> slices,
                         const std::string& address_type) {
  std::map<std::string, Merged> merged;
  for (const v1::EndpointSlice* slice : slices) {
    if (slice->address_type() == "FQDN") continue;
    if (!address_type.empty() && slice->address_type() != address_type) continue;
    std::vector<std::pair<PortKey, v1::ServicePort>> ports;
    for (const v1::EndpointPort& p : slice->ports()) {
      if (!p.has_port() || p.port() == 0) continue;
      v1::ServicePort sp;
      sp.set_name(p.name());
      sp.set_protocol(p.has_protocol() ? p.protocol() : "TCP");
      sp.set_port(p.port());
      sp.set_app_protocol(p.app_protocol());
      ports.emplace_back(PortKey(sp.name(), sp.protocol()), std::move(sp));
    }
    for (const v1::Endpoint& e : slice->endpoints()) {
      if (e.addresses_size() == 0) continue;
      const bool terminating = e.conditions().has_terminating() && e.conditions().terminating();
      auto [it, inserted] = merged.try_emplace(e.addresses(0));
      if (inserted || !terminating) Fill(e, slice->address_type(), &it->second.endpoint);
      for (const auto& [key, port] : ports) {
        auto [pit, pinserted] = it->second.ports.try_emplace(key);
        // A terminating duplicate never replaces what an earlier entry put there.
        if (pinserted || !terminating) pit->second = port;
      }
    }
  }
  EndpointList out;
  out.reserve(merged.size());
  for (auto& [address, m] : merged) {
    for (auto& [key, p] : m.ports) *m.endpoint.add_ports() = std::move(p);
    out.push_back(std::move(m.endpoint));
  }
  return out;
}

EndpointList FilterEndpoints(const EndpointList& merged, const EndpointFilter& filter) {
  EndpointList base;
  for (const v1::ServiceEndpoint& e : merged) {
    if (!filter.node.empty() && e.node_name() != filter.node) continue;
    if (filter.port_name.has_value()) {
      if (!HasPort(e, *filter.port_name)) continue;
      v1::ServiceEndpoint copy = e;
      copy.clear_ports();
      for (const v1::ServicePort& p : e.ports()) {
        if (p.name() == *filter.port_name) *copy.add_ports() = p;
      }
      base.push_back(std::move(copy));
    } else {
      base.push_back(e);
    }
  }
  EndpointList tier;
  if (filter.condition == EndpointFilter::Condition::kRoutable) {
    for (const auto& e : base) {
      if (e.conditions().ready()) tier.push_back(e);
    }
    if (tier.empty()) {
      for (const auto& e : base) {
        if (ServingTerminating(e)) tier.push_back(e);
      }
    }
  } else {
    for (const auto& e : base) {
      if (Passes(e, filter.condition)) tier.push_back(e);
    }
  }
  return ByZone(std::move(tier), filter.zone, filter.prefer_zone);
}

EndpointList RoutableEndpoints(const EndpointList& merged, const Location& location) {
  bool all_node_hints = true, any_for_node = false;
  bool all_zone_hints = true, any_for_zone = false;
  for (const v1::ServiceEndpoint& e : merged) {
    if (!e.conditions().ready()) continue;
    const v1::EndpointHints& h = e.hints();
    if (h.for_nodes_size() == 0) all_node_hints = false;
    if (h.for_zones_size() == 0) all_zone_hints = false;
    for (const auto& n : h.for_nodes()) any_for_node |= n.name() == location.node;
    for (const auto& z : h.for_zones()) any_for_zone |= z.name() == location.zone;
  }
  enum { kNone, kNode, kZone } mode = kNone;
  if (location.prefer_same_node && !location.node.empty() && all_node_hints && any_for_node) {
    mode = kNode;
  } else if (!location.zone.empty() && all_zone_hints && any_for_zone) {
    mode = kZone;
  }
  EndpointList out;
  for (const v1::ServiceEndpoint& e : merged) {
    if (!e.conditions().ready()) continue;
    const v1::EndpointHints& h = e.hints();
    if (mode == kNode && std::none_of(h.for_nodes().begin(), h.for_nodes().end(),
                                      [&](const auto& n) { return n.name() == location.node; })) {
      continue;
    }
    if (mode == kZone && std::none_of(h.for_zones().begin(), h.for_zones().end(),
                                      [&](const auto& z) { return z.name() == location.zone; })) {
      continue;
    }
    out.push_back(e);
  }
  if (!out.empty()) return out;
  for (const v1::ServiceEndpoint& e : merged) {
    if (ServingTerminating(e)) out.push_back(e);
  }
  return out;
}

std::string FormatBackends(const EndpointList& endpoints) {
  std::vector<std::string> parts;
  for (const v1::ServiceEndpoint& e : endpoints) {
    const bool v6 = e.address_type() == "IPv6";
    const std::string host = v6 ? absl::StrCat("[", e.address(), "]") : e.address();
    if (e.ports().empty()) parts.push_back(e.address());
    for (const v1::ServicePort& p : e.ports()) parts.push_back(absl::StrCat(host, ":", p.port()));
  }
  return absl::StrJoin(parts, ",");
}

}  // namespace slicekeeper::client
