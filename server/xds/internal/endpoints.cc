#include "server/xds/internal/endpoints.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/slice.h"
#include "envoy/config/core/v3/address.pb.h"
#include "envoy/config/core/v3/health_check.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"

namespace slicekeeper::xds::internal {
namespace {

namespace core = envoy::config::core::v3;
namespace endpoint = envoy::config::endpoint::v3;

// An endpoint and the port of it a resource name selected.
struct Chosen {
  const v1::ServiceEndpoint* endpoint;
  const v1::ServicePort* port;
};

// The endpoints of `family` that have the selected port. SCTP has no xDS socket protocol: such a
// port is not served.
std::vector<Chosen> Candidates(const query::MergedView& view, absl::string_view family,
                               const PortSelector& selector) {
  std::vector<Chosen> out;
  for (const v1::ServiceEndpoint& e : view.endpoints()) {
    if (e.address_type() != family) continue;
    const v1::ServicePort* port = selector.Find(e);
    if (port == nullptr || port->protocol() == "SCTP") continue;
    out.push_back({&e, port});
  }
  return out;
}

bool HintedFor(const v1::ServiceEndpoint& e, absl::string_view zone) {
  const auto& hints = e.hints().for_zones();
  return std::any_of(hints.begin(), hints.end(),
                     [&](const v1::ForZone& z) { return z.name() == zone; });
}

std::vector<Chosen> ApplyHints(std::vector<Chosen> chosen, absl::string_view zone) {
  if (zone.empty()) return chosen;
  std::vector<const v1::ServiceEndpoint*> endpoints;
  for (const Chosen& c : chosen) endpoints.push_back(c.endpoint);
  if (!ZoneHintsApply(endpoints, zone)) return chosen;
  chosen.erase(std::remove_if(chosen.begin(), chosen.end(),
                              [&](const Chosen& c) { return !HintedFor(*c.endpoint, zone); }),
               chosen.end());
  return chosen;
}

// "<kind>/<namespace>/<name>" of a targetRef, "" without one.
std::string TargetKey(const v1::ServiceEndpoint& e) {
  if (!e.has_target_ref() || e.target_ref().name().empty()) return "";
  const v1::ObjectReference& r = e.target_ref();
  return absl::StrCat(r.kind(), "/", r.namespace_(), "/", r.name());
}

core::HealthStatus Health(const v1::EndpointConditions& c) {
  if (c.ready()) return core::HEALTHY;
  if (c.serving() && c.terminating()) return core::DRAINING;
  return core::UNHEALTHY;
}

void FillSocketAddress(const Chosen& c, core::SocketAddress* out) {
  out->set_address(c.endpoint->address());
  out->set_port_value(static_cast<uint32_t>(c.port->port()));
  if (c.port->protocol() == "UDP") out->set_protocol(core::SocketAddress::UDP);
}

void FillLbEndpoint(const Chosen& c, const Chosen* other, endpoint::LbEndpoint* out) {
  endpoint::Endpoint* e = out->mutable_endpoint();
  FillSocketAddress(c, e->mutable_address()->mutable_socket_address());
  if (other != nullptr) {
    FillSocketAddress(*other, e->add_additional_addresses()->mutable_address()->mutable_socket_address());
  }
  if (!c.endpoint->hostname().empty()) e->set_hostname(c.endpoint->hostname());
  out->set_health_status(Health(c.endpoint->conditions()));
  out->mutable_load_balancing_weight()->set_value(1);
}

}  // namespace

std::string PrimaryFamily(const store::ServiceSnapshot& snapshot, const query::MergedView& view) {
  if (snapshot.record != nullptr && snapshot.record->address_types_size() > 0) {
    return snapshot.record->address_types(0);
  }
  for (const v1::ServiceEndpoint& e : view.endpoints()) {
    if (e.address_type() == kAddressTypeIPv4) return kAddressTypeIPv4;
  }
  return view.empty() ? kAddressTypeIPv4 : kAddressTypeIPv6;
}

bool ZoneHintsApply(const std::vector<const v1::ServiceEndpoint*>& endpoints,
                    absl::string_view zone) {
  bool any_for_zone = false;
  for (const v1::ServiceEndpoint* e : endpoints) {
    if (!e->conditions().ready()) continue;
    if (e->hints().for_zones().empty()) return false;
    any_for_zone = any_for_zone || HintedFor(*e, zone);
  }
  return any_for_zone;
}

std::string BuildLoadAssignment(const BuildInput& in, const PortSelector& port) {
  const std::string family = PrimaryFamily(*in.snapshot, *in.view);
  std::vector<Chosen> chosen = ApplyHints(Candidates(*in.view, family, port), in.client.zone);
  // Dual stack: the other family's endpoint of the same pod (targetRef).
  absl::flat_hash_map<std::string, Chosen> others;
  if (in.client.dual_stack) {
    const char* other = family == kAddressTypeIPv4 ? kAddressTypeIPv6 : kAddressTypeIPv4;
    for (const Chosen& c : Candidates(*in.view, other, port)) {
      if (std::string key = TargetKey(*c.endpoint); !key.empty()) others.try_emplace(key, c);
    }
  }
  std::map<std::string, std::vector<Chosen>> by_zone;
  for (const Chosen& c : chosen) by_zone[c.endpoint->zone()].push_back(c);
  endpoint::ClusterLoadAssignment out;
  out.set_cluster_name(std::string(in.name));
  for (const auto& [zone, list] : by_zone) {
    endpoint::LocalityLbEndpoints* locality = out.add_endpoints();
    locality->mutable_locality()->set_zone(zone);
    if (auto it = in.regions->find(zone); it != in.regions->end()) {
      locality->mutable_locality()->set_region(it->second);
    }
    uint32_t ready = 0;
    for (const Chosen& c : list) {
      auto other = others.find(TargetKey(*c.endpoint));
      FillLbEndpoint(c, other == others.end() ? nullptr : &other->second,
                     locality->add_lb_endpoints());
      if (c.endpoint->conditions().ready()) ++ready;
    }
    locality->mutable_load_balancing_weight()->set_value(std::max<uint32_t>(ready, 1));
  }
  return out.SerializeAsString();
}

}  // namespace slicekeeper::xds::internal
