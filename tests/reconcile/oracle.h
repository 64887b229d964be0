// The oracle: a straightforward, full (non-incremental) re-implementation of Kubernetes'
// EndpointSlice reconcile (reconcileByAddressType / reconcileByPortMapping / finalize), written
// directly from docs/kubernetes-behaviour.md §3.3-3.8 and independent of
// server/reconcile/reconciler.cc: it has its own endpoint identity, port-set key, change detection
// and labels, and recomputes everything from (existing slices, full desired set) on every call, O(n
// log n) in the size of the service.
//
// It exists to check the incremental reconciler (tests/reconcile/random_test.cc) and as the
// baseline of bench/reconcile_bench.cc. Which endpoint lands in which slice is free in
// Kubernetes, so callers compare counts and slice-size multisets, never slice contents by name.
//
// Hints: the hint pass calls topology.h's functions (shared with the reconciler); hints are checked
// by topology_test, not independently here.
//
// Thread-safety: stateless functions, safe from any thread.
//
// Example:
//   oracle::Input in{.service = &record, .existing = state.Slices(), .desired = all_endpoints,
//                    .max_endpoints_per_slice = 100};
//   oracle::Result r = oracle::Run(in);
//   // r.creates.size(), r.updates.size(), r.deletes.size(), r.slices
#ifndef SLICEKEEPER_TESTS_RECONCILE_ORACLE_H_
#define SLICEKEEPER_TESTS_RECONCILE_ORACLE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/slice.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::reconcile::oracle {

// One endpoint of the full desired set of a service.
struct DesiredEndpoint {
  std::string address_type;  // "IPv4" or "IPv6"
  EndpointPtr endpoint;      // never null
  PortListPtr ports;         // never null; the endpoint's port set
};

struct Input {
  // Never null.
  const v1::ServiceRecord* service = nullptr;
  // The service's current managed slices (owned or not by the record's uid), in any order.
  std::vector<SlicePtr> existing;
  // The complete desired endpoint set; for a repeated (address type, identity) the last wins.
  std::vector<DesiredEndpoint> desired;
  int max_endpoints_per_slice = 100;
  // Node registry for Auto hints.
  std::vector<v1::Node> nodes;
};

struct Result {
  // After recycling, with their final contents. A recycled create is an update carrying the
  // deleted slice's name and uid. Creates are named "<service>-oracle<N>".
  std::vector<SlicePtr> creates;
  std::vector<SlicePtr> updates;
  std::vector<SlicePtr> deletes;
  // The slices that exist once creates, updates and deletes are applied to `existing`.
  std::vector<SlicePtr> slices;
  // Kubernetes' per-sync counts (§7), summed over address types: desired endpoints not found in
  // an existing slice of their group, and endpoints dropped from slices of groups still desired.
  int64_t endpoints_added = 0;
  int64_t endpoints_removed = 0;
};

// The full reconcile of `input`. REQUIRES: input.service != nullptr, max >= 1.
Result Run(const Input& input);

// Address types the service is served in (§3.3 / record field address_types): the record's list,
// else the types of the desired endpoints, else IPv4. Sorted.
std::vector<std::string> ServedAddressTypes(const v1::ServiceRecord& service,
                                            const std::vector<DesiredEndpoint>& desired);

// Identity (§3.5): sorted addresses, hostname (nil == ""), targetRef namespace and name.
std::string Identity(const EndpointRecord& e);

// Port-set key: order-independent, nil == empty.
std::string PortKey(const PortList& ports);

// §3.5: nodeName, zone, ready, serving, terminating (nil differs from set), targetRef field by
// field except resourceVersion. Hints and addresses are not compared.
bool Differs(const EndpointRecord& a, const EndpointRecord& b);

// The labels of a managed slice of `service` (§3.7).
std::map<std::string, std::string> SliceLabels(const v1::ServiceRecord& service);

// True when `slice` has an ownerReference with apiVersion v1, kind Service and the record's uid.
bool OwnedBy(const Slice& slice, const v1::ServiceRecord& service);

}  // namespace slicekeeper::reconcile::oracle

#endif  // SLICEKEEPER_TESTS_RECONCILE_ORACLE_H_
