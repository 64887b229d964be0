// The incremental reconcile of one service: Kubernetes' reconcileByAddressType
// (docs/kubernetes-behaviour.md §3.6) restricted to the slices a batch of changes touches, with the
// same result as the full algorithm on the whole desired set (docs/distribution.md explains why).
//
// Work is split in four passes, one file each, and the packed distribution's repack:
//   planner.cc   intake: dedup changes, turn them into per-slot edits and per-group leftovers;
//   steps.cc     steps 1-3, whole-group deletes and the placeholder rule;
//   regroup.cc   packed only, after steps 1-3: the slices the plan writes, sorted and refilled;
//   pack.cc      packed only, then: endpoints moved out of the emptiest slices, within a budget;
//   finalize.cc  the hint pass and recycling;
//   emit.cc      slice objects, ops, stats, gauges and the PlanDelta for ServiceState::Apply.
//
// A slot a batch edits is written in the sparse form (Write::sparse) unless a later pass must see
// its whole list: the edits' positions and the endpoints new to it. Finding a position scans the
// slot's pointers; beyond that a rewrite touches the runs its edits break and one count per run
// it shares, never copying, reading or releasing the endpoints it keeps.
//
// Thread-safety: a Planner is used by one thread; it only reads the Rep.
#ifndef SLICEKEEPER_SERVER_RECONCILE_INTERNAL_PLANNER_H_
#define SLICEKEEPER_SERVER_RECONCILE_INTERNAL_PLANNER_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "server/reconcile/internal/meta.h"
#include "server/reconcile/internal/state.h"
#include "server/reconcile/reconciler.h"
#include "server/reconcile/topology.h"

namespace slicekeeper::reconcile::internal {

// One edit of a stored endpoint of a slot.
struct Edit {
  const EndpointRecord* old_ep;
  EndpointPtr replacement;  // null: dropped (removed, moved, or a duplicate)
  bool changed;             // a §3.5 change; true for drops
};

enum class SlotClass { kPending, kUnchanged, kUpdate, kDelete };

struct SlotWork {
  uint32_t slot = 0;
  const Slice* slice = nullptr;
  int group = -1;  // index into TypeWork::groups
  std::vector<Edit> edits;
  bool labels_differ = false;
  SlotClass cls = SlotClass::kPending;
};

struct GroupWork {
  const Group* group = nullptr;  // null: a group new to the service
  std::string key;
  PortListPtr ports;
  int64_t old_count = 0;
  int64_t new_count = 0;
  std::vector<uint32_t> slots;  // slots that have a SlotWork
  std::vector<EndpointPtr> remaining;
  int new_index = -1;  // in PlanDelta::new_groups, once emitted
};

// A slice to create or update.
struct Write {
  int64_t slot = -1;           // update: the slot; create: -1
  const Slice* old = nullptr;  // update: the current version
  int group = -1;
  PortListPtr ports;
  // Endpoints a current slice holds may be borrowed (RecordPtr::Borrow): the slices outlive the
  // planner, and the EndpointList Emit builds owns every endpoint it keeps.
  std::vector<EndpointPtr> endpoints;
  // Update: the stored pointers of positions [0, kept.size()), and whether each changed (§3.5).
  // After the packed repack (regroup.cc), kept[i] may be null (an endpoint new to the group) or
  // the stored version of an endpoint that was in another slot, kept_from[i] (-1: none);
  // kept_from is empty when every kept[i] is stored in this slot.
  std::vector<const EndpointRecord*> kept;
  std::vector<bool> kept_changed;
  std::vector<int64_t> kept_from;
  // The sparse form of an update (Planner::sparse_): the new list is the slot's current one with
  // `patch` applied, followed by the rest of `endpoints`; each replacement in `patch` takes the
  // next of `endpoints`, in order. Emit builds it with EndpointList::Patch, so a rewrite for a
  // few edits never copies or reads the endpoints it keeps. kept and kept_changed stay empty.
  struct Patched {
    uint32_t pos;
    bool drop;
    bool changed;                  // a §3.5 change
    const EndpointRecord* before;  // the stored version at `pos`
  };
  bool sparse = false;
  std::vector<Patched> patch;
  size_t size() const {
    return sparse ? old->endpoints.size() - patch.size() + endpoints.size() : endpoints.size();
  }
  bool keep_labels = false;  // an unchanged slice written for its room or its hints
  bool recycled = false;     // a create that took the name of a deleted slice
  bool received = false;     // took endpoints in the repack: never a donor after
  bool gone = false;         // emptied by the repack: dropped before the hint pass
};

// An endpoint on its way between slices in the packed repack, with what Emit needs to know
// about it: its stored version before the plan (null if none), whether that changed (§3.5),
// and the slot it is stored in (-1: none).
struct Placed {
  EndpointPtr e;
  const EndpointRecord* origin = nullptr;
  bool changed = false;
  int64_t from = -1;
};
// Removes the last `n` endpoints of `w` and returns them, in order, with their origins.
std::vector<Placed> TakeFrom(Write& w, size_t n);
// Appends `p` to `w`.
void PutInto(Write& w, Placed p);

struct DeleteItem {
  uint32_t slot;
  bool recyclable;  // owned by the service (Kubernetes' ownedBy)
};

struct TypeWork {
  std::string address_type;
  const TypeState* type = nullptr;
  absl::flat_hash_map<uint32_t, SlotWork> slots;
  std::vector<GroupWork> groups;
  absl::flat_hash_map<const Group*, int> group_of;
  absl::flat_hash_map<std::string, int> new_group_of;
  absl::flat_hash_map<const PortList*, int> target_cache;
  // One per identity, the last one, with its identity hash.
  std::vector<std::pair<const EndpointDelta*, size_t>> changes;
  int64_t new_count = 0;
  std::vector<Write> creates;
  std::vector<Write> updates;
  std::vector<DeleteItem> deletes;
  Stats stats;
  SyncReport report;
};

// The repack (pack.cc). A live slice of a group after steps 1-3: one the plan leaves unchanged
// (`ref` = its slot), or one it updates or creates (`ref` = index in TypeWork::updates / creates).
struct Bin {
  enum class Kind { kUnchanged, kUpdate, kCreate };
  Kind kind = Kind::kUnchanged;
  int64_t ref = 0;
  int64_t size = 0;
  bool touched() const { return kind != Kind::kUnchanged; }
};

// The writes of one address type's plan, as Kubernetes counts them after recycling (a create
// and a recyclable delete become one update).
struct Tally {
  int64_t creates = 0, updates = 0, recyclable_deletes = 0, other_deletes = 0;
  int64_t Writes() const {
    return creates + updates + recyclable_deletes + other_deletes -
           std::min(creates, recyclable_deletes);
  }
};

// Moving endpoints out of `donor` into `receivers` (in order, each filled to max): all of them
// (the donor goes away), or `count` when `partial`; `tally` is the type's writes afterwards.
struct Move {
  Bin donor;
  std::vector<Bin> receivers;
  int64_t count = 0;
  bool partial = false;
  Tally tally;
};

class Planner {
 public:
  Planner(const Rep& rep, const Input& input, const Options& options);
  absl::StatusOr<Plan> Run();

 private:
  // planner.cc
  absl::Status Collect();
  bool NeedsFullPass() const;
  void Intake(TypeWork& tw);
  void IntakeOne(TypeWork& tw, const EndpointDelta& d, size_t hash);
  void Drop(TypeWork& tw, const IndexEntry& stored);
  void Scan(TypeWork& tw, uint32_t slot);
  EndpointPtr Desired(const EndpointPtr& e) const;
  bool NeedsForcing(const EndpointRecord& e) const;
  SlotWork& SlotFor(TypeWork& tw, uint32_t slot);
  int GroupFor(TypeWork& tw, const Group* g);
  int NewGroupFor(TypeWork& tw, const std::string& key, const PortListPtr& ports);
  int TargetGroup(TypeWork& tw, const EndpointDelta& d, const IndexEntry* stored);
  std::vector<std::string> ServedTypes() const;
  // Resolves the distribution (options, then the service's annotations) and the batch's budget.
  void SetUpPacking();
  // steps.cc
  void ReconcileType(TypeWork& tw);
  void ReconcileGroup(TypeWork& tw, int g);
  void Classify(TypeWork& tw, SlotWork& sw);
  void Place(TypeWork& tw, int g, size_t first_update);
  int64_t BestFit(TypeWork& tw, int g, int64_t limit);
  Write& UpdateOfUnchanged(TypeWork& tw, uint32_t slot, std::vector<EndpointPtr> endpoints);
  void DeleteGroup(TypeWork& tw, int g);
  void Placeholder(TypeWork& tw);
  // pack.cc
  void Pack(TypeWork& tw);
  void PackGroup(TypeWork& tw, int g, Tally& tally);
  Move PlanMove(const TypeWork& tw, const Bin& donor, const std::vector<Bin>& receivers,
                const Tally& tally, int64_t affordable) const;
  std::vector<Bin> Donors(TypeWork& tw, int g) const;
  std::vector<Bin> Receivers(TypeWork& tw, int g) const;
  void Execute(TypeWork& tw, const Move& m, Tally& tally);
  int64_t LiveSlices(const TypeWork& tw, int g) const;
  // regroup.cc
  void Regroup(TypeWork& tw, int g);
  std::vector<size_t> ChunkSizes(size_t endpoints, size_t keep) const;
  void Drop(TypeWork& tw, Write& w);
  // finalize.cc
  void Hints(TypeWork& tw);
  void Recycle(TypeWork& tw);
  // emit.cc
  void Emit(TypeWork& tw, Plan& plan, PlanDelta& delta);
  void EmitUnserved(TypeWork& tw, Plan& plan, PlanDelta& delta);
  void EmitCreate(TypeWork& tw, Write& w, Plan& plan, PlanDelta& delta, TypeDelta& td);
  void EmitUpdate(TypeWork& tw, Write& w, Plan& plan, PlanDelta& delta, TypeDelta& td);
  void EmitWhole(TypeWork& tw, Write& w, TypeDelta& td, Slice& s);
  GroupRef RefFor(TypeWork& tw, int g, PlanDelta& delta);
  // Before the write's endpoints move into its slice.
  void CountHintOnly(TypeWork& tw, const Write& w);
  void Gauges(Plan& plan, PlanDelta& delta) const;

  const Rep& rep_;
  const Input& in_;
  const Options& options_;
  const v1::ServiceRecord& svc_;
  const int max_;
  MetaBuilder meta_;
  HintMode mode_ = HintMode::kNone;
  bool full_ = false;
  // Classify writes updates in the sparse form (Write::sparse): every later pass either looks at
  // the endpoints new to a slice only, or at sizes. Off when one looks at whole lists: a full
  // pass, Auto hints (which see every ready endpoint), and the packed repack.
  bool sparse_ = false;
  // The packed distribution (pack.cc): on for this service, same-zone packing, the credit after
  // this batch's earnings, the extra writes it may add (floor of the credit), those it added,
  // and the endpoints it moved.
  bool packed_ = false;
  bool same_zone_ = false;
  double credit_ = 0;
  int64_t budget_ = 0;
  int64_t spent_ = 0;
  int64_t moved_ = 0;
  std::map<std::string, TypeWork> types_;
  std::vector<std::string> served_;
  // Ops by kind, concatenated at the end (creates, updates, deletes).
  std::vector<SliceOp> creates_, updates_, deletes_;
};

}  // namespace slicekeeper::reconcile::internal

#endif  // SLICEKEEPER_SERVER_RECONCILE_INTERNAL_PLANNER_H_
