// Internal to server/xds: the EDS resource (ClusterLoadAssignment) of a service, as resources.h
// describes it.
//
// Thread-safety: stateless functions of immutable inputs.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_ENDPOINTS_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_ENDPOINTS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/xds/internal/ports.h"
#include "server/xds/resources.h"

namespace slicekeeper::xds::internal {

// The address family a service's EDS resources use: its first address type, else IPv4 when it
// has IPv4 endpoints, else IPv6.
std::string PrimaryFamily(const store::ServiceSnapshot& snapshot, const query::MergedView& view);

// kube-proxy's rule (K8S-REFERENCE §5.2): zone hints apply for `zone` when every ready endpoint
// of `endpoints` has at least one zone hint and at least one is hinted for `zone`.
bool ZoneHintsApply(const std::vector<const v1::ServiceEndpoint*>& endpoints,
                    absl::string_view zone);

// The serialized ClusterLoadAssignment named `in.name`. REQUIRES: in.snapshot, in.view,
// in.regions are set.
std::string BuildLoadAssignment(const BuildInput& in, const PortSelector& port);

// The members of LEDS collection `collection`: (endpoint name, serialized LbEndpoint), sorted.
std::vector<std::pair<std::string, std::string>> BuildLedsEndpoints(
    const LedsCollection& collection, const store::ServiceSnapshot& snapshot,
    const query::MergedView& view, const PortSelector& port, const ClientInfo& client);

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_ENDPOINTS_H_
