// Endpoint identity, change detection and port-set keys for the reconciler
// (docs/kubernetes-behaviour.md §3.5, §3.4): the hash and equality functors that let the identity
// index key on the stored endpoint itself (no key strings), and cheap comparisons used on the hot
// path.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef SLICEKEEPER_SERVER_RECONCILE_INTERNAL_IDENTITY_H_
#define SLICEKEEPER_SERVER_RECONCILE_INTERNAL_IDENTITY_H_

#include <cstddef>
#include <cstdint>

#include "common/slice.h"

namespace slicekeeper::reconcile::internal {

// Hash of the identity fields (addresses as a set, hostname, targetRef namespace and name).
size_t IdentityHashOf(const EndpointRecord& e);
// True when `a` and `b` have the same identity.
bool SameIdentity(const EndpointRecord& a, const EndpointRecord& b);

// Transparent functors over `const EndpointRecord*`, for sets and maps keyed by identity.
struct IdentityHash {
  using is_transparent = void;
  size_t operator()(const EndpointRecord* e) const { return IdentityHashOf(*e); }
};
struct IdentityEq {
  using is_transparent = void;
  bool operator()(const EndpointRecord* a, const EndpointRecord* b) const {
    return a == b || SameIdentity(*a, *b);
  }
};

// An endpoint with its IdentityHashOf computed once: a batch hashes each change once for its
// dedup and its index lookup.
struct HashedEndpoint {
  const EndpointRecord* ep;
  size_t hash;
  explicit HashedEndpoint(const EndpointRecord* e) : ep(e), hash(IdentityHashOf(*e)) {}
  HashedEndpoint(const EndpointRecord* e, size_t h) : ep(e), hash(h) {}
};
struct HashedIdentityHash {
  size_t operator()(const HashedEndpoint& e) const { return e.hash; }
};
struct HashedIdentityEq {
  bool operator()(const HashedEndpoint& a, const HashedEndpoint& b) const {
    return a.hash == b.hash && IdentityEq()(a.ep, b.ep);
  }
};

// True when both lists hold the same ports in the same order (field presence included). Equal
// lists have equal PortSetKeys; the converse needs PortSetKey (order does not matter there).
bool PortListsIdentical(const PortList& a, const PortList& b);

// True when the hints of `a` and `b` are equal (absent == empty).
bool HintsEqual(const EndpointRecord& a, const EndpointRecord& b);

}  // namespace slicekeeper::reconcile::internal

#endif  // SLICEKEEPER_SERVER_RECONCILE_INTERNAL_IDENTITY_H_
