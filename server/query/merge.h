// kube-proxy's merged, de-duplicated view of a service's slices (docs/kubernetes-behaviour.md §5.1)
// and the per-service summary ListServices reports.
//
// Pure functions of an immutable `store::ServiceSnapshot`: no locks, no clock, no I/O, safe to call
// on the same snapshot from any number of threads at once.
//
// Thread-safety: stateless functions.
//
// Example:
//   store::ServiceSnapshotPtr s = store.GetService("default", "web");
//   std::vector<v1::ServiceEndpoint> all = query::MergeEndpoints(*s);
#ifndef SLICEKEEPER_SERVER_QUERY_MERGE_H_
#define SLICEKEEPER_SERVER_QUERY_MERGE_H_

#include <vector>

#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::query {

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

// The summary of one service: namespace, name, mod_revision, the number of slices in the snapshot
// (all of them, managed and foreign), and endpoint counts (total / ready / serving / terminating,
// nil-defaulted) over the merged view, overall and by zone ("" for endpoints without a zone).
v1::ServiceSummary Summarize(const store::ServiceSnapshot& snapshot);

}  // namespace slicekeeper::query

#endif  // SLICEKEEPER_SERVER_QUERY_MERGE_H_
