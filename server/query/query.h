// Read-side views over immutable service snapshots: kube-proxy's merged endpoint view
// (K8S-REFERENCE §5.1), QueryEndpoints' filters and hint rule (§5.2), ListServices' summaries, and
// kubectl's label selector syntax for ListEndpointSlices.
//
// Everything here is a pure function of its arguments (or an immutable value type): no locks, no
// clock, no I/O. A `store::ServiceSnapshot` is immutable once published, so any function may be
// called on the same snapshot from any number of threads at once.
//
// Thread-safety: stateless functions; a `LabelSelector` is immutable after Parse and may be shared
// between threads.
//
// Example:
//   store::ServiceSnapshotPtr s = store.GetService("default", "web");
//   std::vector<v1::ServiceEndpoint> all = query::MergeEndpoints(*s);
//   v1::QueryEndpointsRequest req;
//   req.set_zone("zone-a");
//   req.set_prefer_zone(true);
//   absl::StatusOr<std::vector<v1::ServiceEndpoint>> eps = query::QueryEndpoints(*s, req);
//
//   SK_ASSIGN_OR_RETURN(query::LabelSelector sel, query::LabelSelector::Parse("app in (a,b),!x"));
//   if (sel.Matches(slice.meta->labels())) { ... }
#ifndef SLICEKEEPER_SERVER_QUERY_QUERY_H_
#define SLICEKEEPER_SERVER_QUERY_QUERY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::query {

// --- The merged view -------------------------------------------------------------------------

// kube-proxy's merged, de-duplicated view of one service, one `ServiceEndpoint` per address:
//  - slices without the kubernetes.io/service-name label and FQDN slices are skipped;
//  - of each slice endpoint only addresses[0] is used; endpoints without addresses are skipped;
//  - slices are visited in snapshot order (by name); when the same address appears again, the
//    later entry replaces the earlier one unless the later one is terminating (non-terminating
//    wins). The rule is applied per (address, port name, protocol) for the port list and per
//    address for the endpoint's fields (conditions, hostname, node, zone, hints, target_ref);
//  - ports with a nil or 0 number are left out of the port list, but the endpoint itself is still
//    listed (a headless service without ports still has endpoints); a nil port name reads as "",
//    a nil protocol as "TCP" (the apiserver's defaults);
//  - conditions are nil-defaulted (ready, serving: true; terminating: false) and always all set.
// Returns endpoints sorted by address, each one's ports sorted by (name, protocol).
std::vector<v1::ServiceEndpoint> MergeEndpoints(const store::ServiceSnapshot& snapshot);

// --- QueryEndpoints --------------------------------------------------------------------------

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
//  - with use_hints (kube-proxy's CategorizeEndpoints for cluster traffic, K8S-REFERENCE §5.2;
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

// --- ListServices ----------------------------------------------------------------------------

// The summary of one service: namespace, name, mod_revision, the number of slices in the snapshot
// (all of them, managed and foreign), and endpoint counts (total / ready / serving / terminating,
// nil-defaulted) over the merged view, overall and by zone ("" for endpoints without a zone).
v1::ServiceSummary Summarize(const store::ServiceSnapshot& snapshot);

// --- Label selectors -------------------------------------------------------------------------

// A parsed kubectl `-l` selector: comma-separated requirements, all of which must hold.
//   a=b   a==b   a!=b   a in (x,y)   a notin (x)   a   !a
// Whitespace around tokens is ignored. `!=` and `notin` match objects without the key (as in
// Kubernetes). The empty selector matches everything.
class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    // One value for kEquals / kNotEquals; >= 1 for kIn / kNotIn; none otherwise. Sorted, unique.
    std::vector<std::string> values;
  };

  // The empty selector (matches everything).
  LabelSelector() = default;

  // Parses `text`. Errors: INVALID_ARGUMENT with the 0-based byte position and what was expected,
  // e.g. "label selector: position 4: expected a value", for syntax errors, empty value sets,
  // and keys or values that are not valid label keys (qualified names) / label values.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);

  // True when every requirement holds for `labels`.
  bool Matches(const google::protobuf::Map<std::string, std::string>& labels) const;

  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace slicekeeper::query

#endif  // SLICEKEEPER_SERVER_QUERY_QUERY_H_
