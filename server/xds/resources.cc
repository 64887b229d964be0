#include "server/xds/resources.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "server/xds/internal/endpoints.h"
#include "server/xds/internal/ports.h"

namespace slicekeeper::xds {
namespace {

namespace cluster = envoy::config::cluster::v3;
namespace core = envoy::config::core::v3;
namespace hcm = envoy::extensions::filters::network::http_connection_manager::v3;
namespace listener = envoy::config::listener::v3;
namespace route = envoy::config::route::v3;

constexpr char kDualStackKey[] = "slicekeeper.io/dual-stack";
constexpr char kLedsKey[] = "slicekeeper.io/leds";
constexpr char kRegionLabel[] = "topology.kubernetes.io/region";
constexpr char kRouterFilter[] = "envoy.filters.http.router";

// One virtual host matching every authority, routing every request to `cluster`.
void FillRouteConfiguration(absl::string_view name, absl::string_view cluster,
                            route::RouteConfiguration* out) {
  out->set_name(std::string(name));
  route::VirtualHost* host = out->add_virtual_hosts();
  host->set_name(std::string(cluster));
  // A std::string, not the literal: GCC 12 -O2 reports a false -Wrestrict on assign(const char*).
  host->add_domains(std::string("*"));
  route::Route* r = host->add_routes();
  r->mutable_match()->set_prefix("");
  r->mutable_route()->set_cluster(std::string(cluster));
}

std::string BuildListener(absl::string_view name, const ServiceName& parsed) {
  const std::string canonical = parsed.Canonical();
  hcm::HttpConnectionManager manager;
  manager.set_stat_prefix(canonical);
  FillRouteConfiguration(canonical, canonical, manager.mutable_route_config());
  hcm::HttpFilter* router = manager.add_http_filters();
  router->set_name(kRouterFilter);
  router->mutable_typed_config()->PackFrom(envoy::extensions::filters::http::router::v3::Router());
  listener::Listener out;
  out.set_name(std::string(name));
  out.mutable_api_listener()->mutable_api_listener()->PackFrom(manager);
  return out.SerializeAsString();
}

std::string BuildRoute(absl::string_view name, const ServiceName& parsed) {
  route::RouteConfiguration out;
  FillRouteConfiguration(name, parsed.Canonical(), &out);
  return out.SerializeAsString();
}

std::string BuildCluster(absl::string_view name, const ServiceName& parsed) {
  cluster::Cluster out;
  out.set_name(std::string(name));
  out.set_type(cluster::Cluster::EDS);
  cluster::Cluster::EdsClusterConfig* eds = out.mutable_eds_cluster_config();
  eds->set_service_name(parsed.Canonical());
  eds->mutable_eds_config()->mutable_ads();
  eds->mutable_eds_config()->set_resource_api_version(core::V3);
  out.set_lb_policy(cluster::Cluster::ROUND_ROBIN);
  return out.SerializeAsString();
}

}  // namespace

ClientInfo ClientInfoFromNode(const core::Node& node) {
  ClientInfo out;
  out.zone = node.locality().zone();
  const auto& fields = node.metadata().fields();
  auto it = fields.find(kDualStackKey);
  out.dual_stack = it != fields.end() && it->second.bool_value();
  auto leds = fields.find(kLedsKey);
  out.leds = leds != fields.end() && leds->second.bool_value();
  return out;
}

RegionMap RegionsFromNodes(const std::vector<v1::Node>& nodes) {
  RegionMap out;
  for (const v1::Node& n : nodes) {
    auto it = n.labels().find(kRegionLabel);
    if (!n.zone().empty() && it != n.labels().end()) out.try_emplace(n.zone(), it->second);
  }
  return out;
}

std::optional<std::string> BuildResource(const BuildInput& in) {
  if (in.snapshot == nullptr) return std::nullopt;
  std::optional<internal::PortSelector> port = internal::SelectPort(*in.view, in.parsed->port);
  if (!port.has_value()) return std::nullopt;
  switch (in.type) {
    case ResourceType::kListener:
      return BuildListener(in.name, *in.parsed);
    case ResourceType::kRoute:
      return BuildRoute(in.name, *in.parsed);
    case ResourceType::kCluster:
      return BuildCluster(in.name, *in.parsed);
    case ResourceType::kEndpoint:
      return internal::BuildLoadAssignment(in, *port);
    default:
      return std::nullopt;  // LbEndpoints come in collections: BuildLedsCollection
  }
}

std::optional<std::vector<std::pair<std::string, std::string>>> BuildLedsCollection(
    const LedsCollection& collection, const store::ServiceSnapshot* snapshot,
    const query::MergedView& view, const ClientInfo& client) {
  if (snapshot == nullptr) return std::nullopt;
  std::optional<internal::PortSelector> port = internal::SelectPort(view, collection.service.port);
  if (!port.has_value()) return std::nullopt;
  return internal::BuildLedsEndpoints(collection, *snapshot, view, *port, client);
}

std::vector<std::string> WildcardNames(const store::ServiceSnapshot* snapshot,
                                       const query::MergedView& view) {
  if (snapshot == nullptr) return {};
  ServiceName base{snapshot->namespace_, snapshot->name, ""};
  auto ports = internal::DistinctPorts(view);
  if (ports.size() <= 1) return {base.Canonical()};
  std::vector<std::string> out;
  for (const auto& [key, number] : ports) {
    base.port = key.first.empty() ? absl::StrCat(number) : key.first;
    out.push_back(base.Canonical());
  }
  // A name used with two protocols (dns/TCP, dns/UDP) is one resource name.
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace slicekeeper::xds
