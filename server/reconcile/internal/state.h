// The representation behind reconcile::ServiceState: the managed slices of one service in slots,
// grouped by (address type, port set), with the indexes the incremental reconciler needs
// (docs/distribution.md, "Indexes"):
//   - per address type, identity -> (stored endpoint, slot): the endpoint pointer is the key, so
//     the index stores no strings; it points into a slice the state holds;
//   - per group, an ordered set of (slice size, slot) for best-fit lookups and enumeration;
//   - per group, the number of endpoints (identities) it holds;
//   - per distinct "signature" (non-reserved labels + owning service uids) the number of slices
//     carrying it, so Reconcile can tell in O(1) whether every slice already has the labels and
//     owner it wants (otherwise it falls back to a full pass).
// `PlanDelta` is what Reconcile hands to Apply: the slot and index changes of one plan.
//
// Thread-safety: none; see reconciler.h.
#ifndef SLICEKEEPER_SERVER_RECONCILE_INTERNAL_STATE_H_
#define SLICEKEEPER_SERVER_RECONCILE_INTERNAL_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "common/slice.h"
#include "server/reconcile/internal/identity.h"

namespace slicekeeper::reconcile::internal {

// One identity in the index. Only `ep`'s identity fields are hashed, and a replacement always has
// the same identity, so the mutable members can be rewritten in place. Packed: the index holds
// one per endpoint in a Swiss table slot, 12 bytes instead of 16 (issue 20's memory target).
struct ABSL_ATTRIBUTE_PACKED IndexEntry {
  mutable const EndpointRecord* ep;
  mutable uint32_t slot;
};
static_assert(sizeof(IndexEntry) == 12);
struct EntryHash {
  using is_transparent = void;
  size_t operator()(const IndexEntry& e) const { return IdentityHashOf(*e.ep); }
  size_t operator()(const EndpointRecord* e) const { return IdentityHashOf(*e); }
  size_t operator()(const HashedEndpoint& e) const { return e.hash; }
};
struct EntryEq {
  using is_transparent = void;
  static const EndpointRecord* P(const IndexEntry& e) { return e.ep; }
  static const EndpointRecord* P(const EndpointRecord* e) { return e; }
  static const EndpointRecord* P(const HashedEndpoint& e) { return e.ep; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return P(a) == P(b) || SameIdentity(*P(a), *P(b));
  }
};
using IdentityIndex = absl::flat_hash_set<IndexEntry, EntryHash, EntryEq>;

struct TypeState;

// The slices of one address type that share one port set.
struct Group {
  TypeState* type = nullptr;
  std::string key;  // PortSetKey
  PortListPtr ports;
  int64_t endpoints = 0;
  absl::btree_set<std::pair<int32_t, uint32_t>> by_size;  // (endpoint count, slot)
};

struct TypeState {
  std::string address_type;
  IdentityIndex index;
  absl::node_hash_map<std::string, Group> groups;  // by key; node map: Group* stay valid
  absl::flat_hash_set<Group*> empty_groups;        // groups with slices but no endpoints
  int64_t slices = 0;
  int64_t endpoints = 0;
};

struct SlotRec {
  SlicePtr slice;  // null: free slot
  Group* group = nullptr;
  const std::string* sig = nullptr;  // key in Rep::sig_counts
};

// Where a plan puts a slice: an existing group, or one of PlanDelta::new_groups.
struct GroupRef {
  Group* existing = nullptr;
  int new_index = -1;
};

struct NewGroup {
  std::string address_type;
  std::string key;
  PortListPtr ports;
};

struct SliceWrite {
  int64_t slot = -1;  // update: the slot rewritten (also for recycled names); create: -1
  SlicePtr slice;
  GroupRef group;
  // A recycled name: the slot's old endpoints all leave the index (unless re-set).
  bool recycled = false;
};

// An index assignment: the identity of `ep` now lives at `ep` in slot `slot_ref` (>= 0), or in the
// create with ordinal -1 - slot_ref.
struct IndexSet {
  const EndpointRecord* ep;
  int64_t slot_ref;
};

struct TypeDelta {
  std::string address_type;
  // Identities dropped from updated slices (erased unless the index already points elsewhere).
  std::vector<const EndpointRecord*> erases;
  std::vector<IndexSet> sets;
  int64_t endpoints = 0;  // the type's endpoint count after the plan
};

struct PlanDelta {
  const void* rep = nullptr;
  uint64_t version = 0;
  std::vector<NewGroup> new_groups;
  std::vector<uint32_t> deletes;  // slots deleted (their endpoints are erased from the index)
  std::vector<SliceWrite> updates;
  std::vector<SliceWrite> creates;
  std::vector<TypeDelta> types;
  std::vector<std::pair<GroupRef, int64_t>> group_counts;  // groups whose endpoint count changed
  int64_t ceil_sum = 0;  // sum over groups of ceil(endpoints / max) after the plan
  int ceil_max = 0;
  double pack_credit = 0;  // Rep::pack_credit after the plan
};

struct Rep {
  std::map<std::string, std::unique_ptr<TypeState>> types;
  std::vector<SlotRec> slots;
  std::vector<uint32_t> free_slots;
  int64_t num_slices = 0;
  int64_t endpoints = 0;
  // Slots holding a second copy of an identity (FromSlices); Reconcile scans them in full.
  absl::flat_hash_set<uint32_t> dirty;
  absl::node_hash_map<std::string, int64_t> sig_counts;
  int64_t ceil_sum = 0;
  int ceil_max = 0;
  // The packed distribution's unspent extra-write earnings (reconciler.h PackingOptions).
  double pack_credit = 0;
  uint64_t version = 0;

  const TypeState* FindType(const std::string& address_type) const;
  TypeState& GetType(const std::string& address_type);
  // Adds `slice` to `group` in a new slot and returns the slot.
  uint32_t AddSlot(SlicePtr slice, Group* group);
  // Sum over groups of ceil(endpoints / max).
  int64_t CeilSum(int max) const;
  // Moves `g` in or out of its type's empty set, or erases it when it holds nothing.
  void Settle(Group* g);
  void Apply(const PlanDelta& d);
};

// ceil(n / max).
inline int64_t CeilDiv(int64_t n, int max) { return (n + max - 1) / max; }

}  // namespace slicekeeper::reconcile::internal

#endif  // SLICEKEEPER_SERVER_RECONCILE_INTERNAL_STATE_H_
