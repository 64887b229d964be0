// The incremental reconcile of one service: Kubernetes' reconcileByAddressType
// (docs/kubernetes-behaviour.md §3.6) restricted to the slices a batch of changes touches, with the
// same result as the full algorithm on the whole desired set (docs/distribution.md explains why).
//
// Work is split in four passes, one file each:
//   planner.cc   intake: dedup changes, turn them into per-slot edits and per-group leftovers;
//   steps.cc     steps 1-3, whole-group deletes and the placeholder rule;
//   finalize.cc  the hint pass and recycling;
//   emit.cc      slice objects, ops, stats, gauges and the PlanDelta for ServiceState::Apply.
//
// Thread-safety: a Planner is used by one thread; it only reads the Rep.
#ifndef SLICEKEEPER_SERVER_RECONCILE_INTERNAL_PLANNER_H_
#define SLICEKEEPER_SERVER_RECONCILE_INTERNAL_PLANNER_H_

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
  const v1::Endpoint* old_ep;
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
  std::vector<EndpointPtr> endpoints;
  // Update: the stored pointers of positions [0, kept.size()), and whether each changed (§3.5).
  std::vector<const v1::Endpoint*> kept;
  std::vector<bool> kept_changed;
  bool keep_labels = false;  // an unchanged slice written for its room or its hints
  bool recycled = false;     // a create that took the name of a deleted slice
};

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
  std::vector<const EndpointDelta*> changes;  // one per identity, the last one
  int64_t new_count = 0;
  std::vector<Write> creates;
  std::vector<Write> updates;
  std::vector<DeleteItem> deletes;
  Stats stats;
  SyncReport report;
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
  void IntakeOne(TypeWork& tw, const EndpointDelta& d);
  void Drop(TypeWork& tw, const IndexEntry& stored);
  void Scan(TypeWork& tw, uint32_t slot);
  EndpointPtr Desired(const EndpointPtr& e) const;
  bool NeedsForcing(const v1::Endpoint& e) const;
  SlotWork& SlotFor(TypeWork& tw, uint32_t slot);
  int GroupFor(TypeWork& tw, const Group* g);
  int NewGroupFor(TypeWork& tw, const std::string& key, const PortListPtr& ports);
  int TargetGroup(TypeWork& tw, const EndpointDelta& d, const IndexEntry* stored);
  std::vector<std::string> ServedTypes() const;
  // steps.cc
  void ReconcileType(TypeWork& tw);
  void ReconcileGroup(TypeWork& tw, int g);
  void Classify(TypeWork& tw, SlotWork& sw);
  void Place(TypeWork& tw, int g, size_t first_update);
  int64_t BestFit(TypeWork& tw, int g, int64_t limit);
  Write& UpdateOfUnchanged(TypeWork& tw, uint32_t slot, std::vector<EndpointPtr> endpoints);
  void DeleteGroup(TypeWork& tw, int g);
  void Placeholder(TypeWork& tw);
  // finalize.cc
  void Hints(TypeWork& tw);
  void Recycle(TypeWork& tw);
  // emit.cc
  void Emit(TypeWork& tw, Plan& plan, PlanDelta& delta);
  void EmitUnserved(TypeWork& tw, Plan& plan, PlanDelta& delta);
  void EmitCreate(TypeWork& tw, Write& w, Plan& plan, PlanDelta& delta, TypeDelta& td);
  void EmitUpdate(TypeWork& tw, Write& w, Plan& plan, PlanDelta& delta, TypeDelta& td);
  GroupRef RefFor(TypeWork& tw, int g, PlanDelta& delta);
  void Gauges(Plan& plan, PlanDelta& delta) const;

  const Rep& rep_;
  const Input& in_;
  const v1::ServiceRecord& svc_;
  const int max_;
  MetaBuilder meta_;
  HintMode mode_ = HintMode::kNone;
  bool full_ = false;
  std::map<std::string, TypeWork> types_;
  std::vector<std::string> served_;
  // Ops by kind, concatenated at the end (creates, updates, deletes).
  std::vector<SliceOp> creates_, updates_, deletes_;
};

}  // namespace slicekeeper::reconcile::internal

#endif  // SLICEKEEPER_SERVER_RECONCILE_INTERNAL_PLANNER_H_
