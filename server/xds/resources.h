// The xDS resources slicekeeper serves, built from one version of one service: what a stock Envoy
// or proxyless gRPC client needs to reach the service's endpoints (docs/xds.md).
//
//   LDS Listener `name`: an ApiListener holding an HttpConnectionManager with an inline route
//       configuration (one virtual host, domains "*", every path to cluster <canonical>) and the
//       router filter: what gRPC's `xds:///name` resolver asks for.
//   RDS RouteConfiguration `name`: the same route configuration, for clients that ask for it.
//   CDS Cluster `name`: type EDS over ADS, EDS service name <canonical>, round robin.
//   EDS ClusterLoadAssignment `name`: the service's endpoints (query::MergedView, kube-proxy's
//       merge) that serve the selected port, in the service's primary family (its first address
//       type, else IPv4 when it has IPv4 endpoints), one LocalityLbEndpoints per zone (region
//       from the nodes' topology.kubernetes.io/region label when known), each locality weighted
//       by its ready endpoints (at least 1: gRPC ignores a locality without a weight) and each
//       endpoint weighted 1. Health: ready -> HEALTHY; serving and terminating -> DRAINING;
//       anything else -> UNHEALTHY. Topology hints (K8S-REFERENCE §5.2): for a client whose
//       Node.locality.zone is known, when every ready endpoint carries a zone hint and at least
//       one is hinted for that zone, only the endpoints hinted for that zone; otherwise all.
//       Dual stack: a client that asks (ClientInfo::dual_stack) gets, on each endpoint, the
//       address of the other family's endpoint of the same targetRef as additional_addresses.
//       LEDS: for a client that asks (ClientInfo::leds, delta streams only) each locality carries,
//       instead of its endpoints, `leds_cluster_locality_config` naming the LEDS collection of
//       (canonical name, zone) over ADS, and is weighted by its endpoints whatever their
//       condition (Envoy scales a locality's weight by its healthy share itself), so that an
//       endpoint's condition changing changes its LbEndpoint, not the ClusterLoadAssignment.
//   LEDS collection: the LbEndpoints of the same endpoints (the same hints and dual stack),
//       those of the collection's zone, one resource per endpoint address (names.h).
//
// Existence: a resource exists while its service does, except that a name without a port
// exists only while the service's endpoints have at most one port (name, protocol); with two
// or more the port is required. A name with a port exists while the service does, even when no
// endpoint has that port (its EDS resource is then empty).
//
// Thread-safety: stateless functions of immutable inputs.
#ifndef SLICEKEEPER_SERVER_XDS_RESOURCES_H_
#define SLICEKEEPER_SERVER_XDS_RESOURCES_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/xds/names.h"

namespace envoy::config::core::v3 {
class Node;
}

namespace slicekeeper::xds {

// What a client's Node says that shapes what it receives.
struct ClientInfo {
  // Node.locality.zone: the zone whose topology hints apply.
  std::string zone;
  // Node metadata "slicekeeper.io/dual-stack": true. Asks for additional_addresses.
  bool dual_stack = false;
  // Node metadata "slicekeeper.io/leds": true, on a delta stream (the session clears it on a
  // state-of-the-world one). Asks for ClusterLoadAssignments that point at LEDS collections.
  bool leds = false;
};
ClientInfo ClientInfoFromNode(const envoy::config::core::v3::Node& node);

// Zone -> region, from the nodes' labels.
using RegionMap = absl::flat_hash_map<std::string, std::string>;
RegionMap RegionsFromNodes(const std::vector<v1::Node>& nodes);

// One resource to build: `name` (as the client asked for it) of `type`, parsed as `parsed`, from
// `snapshot` (null: the service does not exist) and its merged view.
struct BuildInput {
  ResourceType type = ResourceType::kEndpoint;
  absl::string_view name;
  const ServiceName* parsed = nullptr;
  const store::ServiceSnapshot* snapshot = nullptr;
  const query::MergedView* view = nullptr;
  ClientInfo client;
  const RegionMap* regions = nullptr;
};

// The serialized resource (a Listener, RouteConfiguration, Cluster or ClusterLoadAssignment), or
// nullopt when it does not exist (see the banner).
std::optional<std::string> BuildResource(const BuildInput& in);

// The members of LEDS collection `collection` (parsed) from `snapshot` (null: the service does
// not exist, nullopt) as `client` sees them: (endpoint name, serialized LbEndpoint) sorted by
// name; nullopt when the collection's service or port does not exist.
std::optional<std::vector<std::pair<std::string, std::string>>> BuildLedsCollection(
    const LedsCollection& collection, const store::ServiceSnapshot* snapshot,
    const query::MergedView& view, const ClientInfo& client);

// The canonical names a wildcard subscription to CDS or LDS lists for a service: "<svc>.<ns>"
// when its endpoints have at most one port, else "<svc>.<ns>:<port name>" per port (the number
// for an unnamed one). Empty for a null snapshot.
std::vector<std::string> WildcardNames(const store::ServiceSnapshot* snapshot,
                                       const query::MergedView& view);

}  // namespace slicekeeper::xds

#endif  // SLICEKEEPER_SERVER_XDS_RESOURCES_H_
