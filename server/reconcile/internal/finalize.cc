// The hint pass (docs/kubernetes-behaviour.md §4) and recycling (§3.6 finalize step 1).
#include <algorithm>
#include <utility>

#include "server/reconcile/internal/planner.h"

namespace slicekeeper::reconcile::internal {

// Untouched slices already carry the hints the current mode wants (every slice a plan writes goes
// through this pass), so in incremental mode only touched-but-unchanged slices are candidates.
// The Auto allocator depends on every ready endpoint of the service, so it sees all of them.
// For the same reason a sparse write (Write::sparse, never under Auto) hands over only the
// endpoints new to its slot: the ones it keeps already carry the mode's hints.
void Planner::Hints(TypeWork& tw) {
  SliceInfo info;
  info.to_create.reserve(tw.creates.size());
  info.to_update.reserve(tw.updates.size());
  for (Write& w : tw.creates) info.to_create.push_back(&w.endpoints);
  for (Write& w : tw.updates) info.to_update.push_back(&w.endpoints);
  std::vector<uint32_t> unchanged;
  if (tw.type != nullptr && (mode_ == HintMode::kAuto || full_)) {
    for (const auto& [key, group] : tw.type->groups) {
      for (const auto& [size, slot] : group.by_size) {
        auto work = tw.slots.find(slot);
        if (work == tw.slots.end() || work->second.cls == SlotClass::kUnchanged) {
          unchanged.push_back(slot);
        }
      }
    }
  } else {
    for (const auto& [slot, work] : tw.slots) {
      if (work.cls == SlotClass::kUnchanged) unchanged.push_back(slot);
    }
  }
  std::sort(unchanged.begin(), unchanged.end());
  info.unchanged.reserve(unchanged.size());
  for (uint32_t slot : unchanged) info.unchanged.push_back(&rep_.slots[slot].slice->endpoints);

  HintsResult result;
  switch (mode_) {
    case HintMode::kAuto:
      result = AddAutoHints(ComputeNodeInfo(in_.nodes), info);
      break;
    case HintMode::kPreferSameZone:
    case HintMode::kPreferSameNode:
      result = AddTrafficDistributionHints(mode_, info);
      break;
    case HintMode::kNone:
      result = RemoveHints(info);
      break;
  }
  for (auto& [index, endpoints] : result.unchanged_to_update) {
    UpdateOfUnchanged(tw, unchanged[index], std::move(endpoints));
  }
  tw.report.events = std::move(result.events);
}

// While creates and deletes both remain, the last create takes the name of a deleted slice owned
// by the service (same address type by construction), becoming a full-replacement update.
void Planner::Recycle(TypeWork& tw) {
  std::vector<DeleteItem> deletes;
  deletes.reserve(tw.deletes.size());
  for (const DeleteItem& d : tw.deletes) {
    if (tw.creates.empty() || !d.recyclable) {
      deletes.push_back(d);
      continue;
    }
    Write w = std::move(tw.creates.back());
    tw.creates.pop_back();
    w.slot = d.slot;
    w.old = rep_.slots[d.slot].slice.get();
    w.recycled = true;
    tw.updates.push_back(std::move(w));
  }
  tw.deletes = std::move(deletes);
}

}  // namespace slicekeeper::reconcile::internal
