// Client-side endpoint views: kube-proxy's merge of a service's EndpointSlices into one endpoint
// list (docs/kubernetes-behaviour.md §5.1), the usual filters, and the routing rule for cluster
// traffic (§5.2).
//
// These mirror what the server's QueryEndpoints computes, so a Subscriber's local cache answers
// the same questions without a round trip. They are pure functions over the v1 messages.
//
// Thread-safety: stateless functions, safe from any thread.
//
// Example:
//   std::vector<const v1::EndpointSlice*> slices = ...;  // every slice of one service
//   EndpointList merged = MergeSlices(slices, /*address_type=*/"");
//   EndpointList routable = RoutableEndpoints(merged, {.zone = "us-west2-a"});
#ifndef SLICEKEEPER_CLIENT_ENDPOINTS_H_
#define SLICEKEEPER_CLIENT_ENDPOINTS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "slicekeeper/v1/discovery.pb.h"
#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper::client {

// One service's merged endpoints, sorted by address; conditions always set (nil-defaulted); each
// endpoint's ports sorted by (name, protocol).
using EndpointList = std::vector<v1::ServiceEndpoint>;

// Merges the slices of one service as kube-proxy does:
//  - slices of another address type (when `address_type` is not empty) and FQDN slices are
//    skipped; so are endpoints without addresses; only addresses[0] is used;
//  - slices are visited in the given order; when an address appears again, the later entry wins
//    unless it is terminating (non-terminating wins), per address and per (address, port);
//  - ports with a nil or 0 number are left out; nil name reads as "", nil protocol as "TCP".
EndpointList MergeSlices(absl::Span<const v1::EndpointSlice* const> slices,
                         const std::string& address_type);

// Which endpoints Endpoints() returns.
struct EndpointFilter {
  enum class Condition { kAny, kReady, kServing, kRoutable };
  Condition condition = Condition::kAny;
  // Empty: every zone. With prefer_zone: that zone's endpoints, or all when the zone has none.
  std::string zone;
  bool prefer_zone = false;
  // Empty: every node.
  std::string node;
  // Only endpoints serving this port name, with only that port listed.
  std::optional<std::string> port_name;
};

// Applies `filter`. kRoutable = the ready endpoints, or if none is ready the serving &&
// terminating ones; zone preference applies within the chosen tier.
EndpointList FilterEndpoints(const EndpointList& merged, const EndpointFilter& filter);

// Where the caller sits, for RoutableEndpoints.
struct Location {
  std::string zone;
  std::string node;
  // kube-proxy's PreferSameNode feature gate: honour forNodes hints.
  bool prefer_same_node = false;
};

// kube-proxy's cluster endpoints (CategorizeEndpoints, docs/kubernetes-behaviour.md §5.2): pick a
// topology mode from the hints of the READY endpoints (PreferSameNode if enabled, every ready
// endpoint has a node hint and one names `node`; else PreferSameZone if every ready endpoint has a
// zone hint and one names `zone`; else none: one unhinted ready endpoint disables hints), keep the
// ready endpoints that pass, and if none remain fall back to the serving && terminating endpoints
// from anywhere, ignoring topology.
EndpointList RoutableEndpoints(const EndpointList& merged, const Location& location);

// "10.0.0.1:80,10.0.0.2:80" (address:port of each endpoint's ports; just the address when it has
// none): a compact form for logs and the sidecar example.
std::string FormatBackends(const EndpointList& endpoints);

}  // namespace slicekeeper::client

#endif  // SLICEKEEPER_CLIENT_ENDPOINTS_H_
