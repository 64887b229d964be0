// The packed distribution's regroup (docs/distribution.md §5): the slices a batch writes anyway
// are rewritten with their endpoints sorted, so that endpoints likely to change together share
// slices and later batches touch fewer of them, and packed into as few slices as the group's
// minimum allows. It adds no write: a slice it empties was an update (it becomes a delete) or a
// create (it is dropped).
//
// Sort order: by zone when packing by zone, then ready before not ready before terminating (a
// rollout flips the not-ready ones to ready, and removes the terminating ones, together), then
// endpoints this batch left as they were before those it added or changed.
#include <algorithm>
#include <iterator>
#include <string>
#include <tuple>
#include <utility>

#include "server/reconcile/internal/planner.h"

namespace slicekeeper::reconcile::internal {
namespace {

int ConditionClass(const v1::Endpoint& e) {
  const v1::EndpointConditions& c = e.conditions();
  if (c.has_terminating() && c.terminating()) return 2;
  if (c.has_ready() && !c.ready()) return 1;
  return 0;
}

// Pads w's kept arrays to its endpoints, kept_from included.
void Align(Write& w) {
  const size_t n = w.endpoints.size();
  if (w.kept_from.size() < w.kept.size()) {
    const size_t have = w.kept_from.size();
    w.kept_from.resize(w.kept.size());
    for (size_t i = have; i < w.kept.size(); ++i) w.kept_from[i] = w.kept[i] ? w.slot : -1;
  }
  w.kept.resize(n, nullptr);
  w.kept_changed.resize(n, false);
  w.kept_from.resize(n, -1);
}

}  // namespace

std::vector<Placed> TakeFrom(Write& w, size_t n) {
  Align(w);
  const size_t first = w.endpoints.size() - n;
  std::vector<Placed> out;
  out.reserve(n);
  for (size_t i = first; i < w.endpoints.size(); ++i) {
    out.push_back(Placed{std::move(w.endpoints[i]), w.kept[i], w.kept_changed[i], w.kept_from[i]});
  }
  w.endpoints.resize(first);
  w.kept.resize(first);
  w.kept_changed.resize(first);
  w.kept_from.resize(first);
  return out;
}

void PutInto(Write& w, Placed p) {
  Align(w);
  w.endpoints.push_back(std::move(p.e));
  w.kept.push_back(p.origin);
  w.kept_changed.push_back(p.changed);
  w.kept_from.push_back(p.from);
}

// Sizes of the `keep` slices that hold `endpoints`: full slices and
// the last two halves of the rest (so no slice is left nearly empty, to be deleted and created
// again as the size wobbles), or even sizes when the group's minimum keeps more slices.
std::vector<size_t> Planner::ChunkSizes(size_t endpoints, size_t keep) const {
  const size_t max = static_cast<size_t>(max_);
  std::vector<size_t> sizes(keep, max);
  if (keep > (endpoints + max - 1) / max) {
    for (size_t i = 0; i < keep; ++i) sizes[i] = endpoints / keep + (i < endpoints % keep);
    return sizes;
  }
  const size_t rest = endpoints - (keep - std::min<size_t>(keep, 2)) * max;
  if (keep >= 2) {
    sizes[keep - 2] = rest - rest / 2;
    sizes[keep - 1] = rest / 2;
  } else {
    sizes[0] = rest;
  }
  return sizes;
}

void Planner::Drop(TypeWork& tw, Write& w) {
  w.gone = true;
  if (w.slot < 0) return;  // a create: never written
  SlotFor(tw, static_cast<uint32_t>(w.slot)).cls = SlotClass::kDelete;
  tw.deletes.push_back(DeleteItem{static_cast<uint32_t>(w.slot), true});
}

void Planner::Regroup(TypeWork& tw, int g) {
  // Updates first, fullest before (a dropped one's DELETED event carries its last state), then
  // creates, which are dropped first.
  std::vector<Write*> writes;
  for (Write& w : tw.updates) {
    if (w.group == g && !w.gone) writes.push_back(&w);
  }
  std::stable_sort(writes.begin(), writes.end(), [](const Write* a, const Write* b) {
    return a->old->endpoints.size() > b->old->endpoints.size();
  });
  for (Write& w : tw.creates) {
    if (w.group == g && !w.gone) writes.push_back(&w);
  }
  if (writes.size() < 2) return;
  std::vector<Placed> all;
  for (Write* w : writes) {
    std::vector<Placed> taken = TakeFrom(*w, w->endpoints.size());
    std::move(taken.begin(), taken.end(), std::back_inserter(all));
  }
  auto key = [this](const Placed& p) {
    const bool fresh = p.origin == nullptr || p.origin != p.e.get();
    return std::make_tuple(same_zone_ ? p.e->zone() : std::string(), ConditionClass(*p.e), fresh);
  };
  std::stable_sort(all.begin(), all.end(),
                   [&](const Placed& a, const Placed& b) { return key(a) < key(b); });
  // As few slices as the endpoints need, but none below the group's minimum.
  const int64_t spare =
      std::max<int64_t>(0, LiveSlices(tw, g) - CeilDiv(tw.groups[g].new_count, max_));
  const size_t keep = std::max<size_t>((all.size() + max_ - 1) / max_,
                                       writes.size() - std::min<size_t>(writes.size(), spare));
  const std::vector<size_t> sizes = ChunkSizes(all.size(), keep);
  size_t next = 0;
  for (size_t i = 0; i < writes.size(); ++i) {
    if (i >= keep) {
      Drop(tw, *writes[i]);
      continue;
    }
    for (size_t j = 0; j < sizes[i]; ++j) PutInto(*writes[i], std::move(all[next++]));
  }
}

}  // namespace slicekeeper::reconcile::internal
