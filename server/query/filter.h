// QueryEndpoints' filters over kube-proxy's merged view: zone, node, port name, condition tiers
// and kube-proxy's hint rule (docs/kubernetes-behaviour.md §5.2).
//
// Pure functions of their arguments: no locks, no clock, no I/O.
//
// Thread-safety: stateless functions.
//
// Example:
//   v1::QueryEndpointsRequest req;
//   req.set_zone("zone-a");
//   req.set_prefer_zone(true);
//   absl::StatusOr<std::vector<v1::ServiceEndpoint>> eps = query::QueryEndpoints(*snapshot, req);
#ifndef SLICEKEEPER_SERVER_QUERY_FILTER_H_
#define SLICEKEEPER_SERVER_QUERY_FILTER_H_

#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::query {

// Checks a request's filter fields (namespace and service are not looked at).
// Errors: INVALID_ARGUMENT naming the field: `limit` (negative), `prefer_zone` (without zone or
// with use_hints), `use_hints` (without zone and node, or with a condition other than
// UNSPECIFIED / ROUTABLE), `address_type` (not "", "IPv4" or "IPv6"), `condition` (unknown value).
absl::Status ValidateQuery(const v1::QueryEndpointsRequest& request);

// Applies a request's filters to a merged view (MergeEndpoints' output); see QueryEndpoints.
// Errors: as ValidateQuery.
absl::StatusOr<std::vector<v1::ServiceEndpoint>> FilterEndpoints(
    const std::vector<v1::ServiceEndpoint>& merged, const v1::QueryEndpointsRequest& request);

// The merged view of `snapshot`, filtered by `request`:
//  - address_type: only that family;
//  - port_name: only endpoints that serve that port name, with only the port(s) of that name;
//  - without use_hints:
//    - node: only endpoints whose node_name equals it;
//    - zone: only endpoints in that zone; with prefer_zone, that zone's endpoints, or every
//      zone's when the zone has none that pass the condition filter;
//    - condition READY / SERVING / ANY; ROUTABLE (and UNSPECIFIED): the ready ones, or when none
//      is ready the serving && terminating ones. With prefer_zone the zone preference is applied
//      within the chosen tier (ready endpoints anywhere beat terminating ones in the zone);
//  - with use_hints (kube-proxy's CategorizeEndpoints for cluster traffic,
//  docs/kubernetes-behaviour.md §5.2;
//    zone and node name the *client's* location rather than filtering on the endpoint's):
//    PreferSameNode when node is set, EVERY ready endpoint has >=1 node hint and >=1 is hinted
//    for the node; else PreferSameZone when zone is set, every ready endpoint has >=1 zone hint
//    and >=1 is hinted for the zone; else no topology filtering. Result: the ready endpoints that
//    pass, or if none, the serving && terminating endpoints from anywhere;
//  - limit: at most that many (0 = all), the first by address.
// Returns endpoints sorted by address (possibly empty).
// Errors: INVALID_ARGUMENT as ValidateQuery.
absl::StatusOr<std::vector<v1::ServiceEndpoint>> QueryEndpoints(
    const store::ServiceSnapshot& snapshot, const v1::QueryEndpointsRequest& request);

}  // namespace slicekeeper::query

#endif  // SLICEKEEPER_SERVER_QUERY_FILTER_H_
