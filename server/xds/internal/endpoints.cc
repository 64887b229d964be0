#include "server/xds/internal/endpoints.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/slice.h"
#include "envoy/config/core/v3/address.pb.h"
#include "envoy/config/core/v3/config_source.pb.h"
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
    FillSocketAddress(*other,
                      e->add_additional_addresses()->mutable_address()->mutable_socket_address());
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

namespace {

// What a client receives of a service's port: the endpoints after hints, and each one's
// other-family twin (dual stack).
struct Selected {
  std::vector<Chosen> chosen;
  absl::flat_hash_map<std::string, Chosen> others;

  const Chosen* OtherOf(const Chosen& c) const {
    if (others.empty()) return nullptr;
    auto it = others.find(TargetKey(*c.endpoint));
    return it == others.end() ? nullptr : &it->second;
  }
};

Selected Select(const store::ServiceSnapshot& snapshot, const query::MergedView& view,
                const PortSelector& port, const ClientInfo& client) {
  Selected out;
  const std::string family = PrimaryFamily(snapshot, view);
  out.chosen = ApplyHints(Candidates(view, family, port), client.zone);
  // Dual stack: the other family's endpoint of the same pod (targetRef).
  if (client.dual_stack) {
    const char* other = family == kAddressTypeIPv4 ? kAddressTypeIPv6 : kAddressTypeIPv4;
    for (const Chosen& c : Candidates(view, other, port)) {
      if (std::string key = TargetKey(*c.endpoint); !key.empty()) out.others.try_emplace(key, c);
    }
  }
  return out;
}

// `locality` points at the LEDS collection of (`canonical`, `zone`) over ADS.
void FillLedsLocality(const ServiceName& canonical, const std::string& zone,
                      endpoint::LocalityLbEndpoints* locality) {
  endpoint::LedsClusterLocalityConfig* leds = locality->mutable_leds_cluster_locality_config();
  leds->mutable_leds_config()->mutable_ads();
  leds->mutable_leds_config()->set_resource_api_version(core::V3);
  leds->set_leds_collection_name(LedsCollectionName(canonical, zone));
}

}  // namespace

std::string BuildLoadAssignment(const BuildInput& in, const PortSelector& port) {
  const Selected selected = Select(*in.snapshot, *in.view, port, in.client);
  std::map<std::string, std::vector<Chosen>> by_zone;
  for (const Chosen& c : selected.chosen) by_zone[c.endpoint->zone()].push_back(c);
  endpoint::ClusterLoadAssignment out;
  out.set_cluster_name(std::string(in.name));
  for (const auto& [zone, list] : by_zone) {
    endpoint::LocalityLbEndpoints* locality = out.add_endpoints();
    locality->mutable_locality()->set_zone(zone);
    if (auto it = in.regions->find(zone); it != in.regions->end()) {
      locality->mutable_locality()->set_region(it->second);
    }
    if (in.client.leds) {
      FillLedsLocality(*in.parsed, zone, locality);
      locality->mutable_load_balancing_weight()->set_value(static_cast<uint32_t>(list.size()));
      continue;
    }
    uint32_t ready = 0;
    for (const Chosen& c : list) {
      FillLbEndpoint(c, selected.OtherOf(c), locality->add_lb_endpoints());
      if (c.endpoint->conditions().ready()) ++ready;
    }
    locality->mutable_load_balancing_weight()->set_value(std::max<uint32_t>(ready, 1));
  }
  return out.SerializeAsString();
}

std::vector<std::pair<std::string, std::string>> BuildLedsEndpoints(
    const LedsCollection& collection, const store::ServiceSnapshot& snapshot,
    const query::MergedView& view, const PortSelector& port, const ClientInfo& client) {
  const Selected selected = Select(snapshot, view, port, client);
  std::vector<std::pair<std::string, std::string>> out;
  for (const Chosen& c : selected.chosen) {
    if (c.endpoint->zone() != collection.zone) continue;
    endpoint::LbEndpoint lb;
    FillLbEndpoint(c, selected.OtherOf(c), &lb);
    out.emplace_back(LedsEndpointName(collection, c.endpoint->address()), lb.SerializeAsString());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace slicekeeper::xds::internal
