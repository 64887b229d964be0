// Steps 1-3 of docs/kubernetes-behaviour.md §3.6 for the groups a batch touches, whole-group
// deletes and the placeholder rule.
#include <algorithm>
#include <limits>
#include <memory>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "server/reconcile/internal/planner.h"

namespace slicekeeper::reconcile::internal {
namespace {

const PortListPtr& EmptyPorts() {
  static const PortListPtr* const kEmpty = new PortListPtr(std::make_shared<const PortList>());
  return *kEmpty;
}

bool ByOld(const Edit& a, const Edit& b) { return a.old_ep < b.old_ep; }

// Classify finds up to this many edits of a slot by scanning its endpoints once per edit.
constexpr size_t kScannedEdits = 32;

// Classify's edit pass over `w`, whose endpoints and kept pointers start as (borrowed) copies of
// sw.slice's: drops close up, edited positions take their replacements, and kept / kept_changed
// say where each position came from. A slot is usually rewritten for a few edits: they are found
// by scanning the slot's pointers once each (contiguous compares), and the runs between them are
// moved down whole.
void ApplyFewEdits(const SlotWork& sw, Write& w) {
  const size_t n = w.kept.size();
  absl::InlinedVector<std::pair<size_t, const Edit*>, kScannedEdits> at;
  for (const Edit& edit : sw.edits) {
    for (size_t i = 0; i < n; ++i) {
      if (w.kept[i] == edit.old_ep) {
        at.emplace_back(i, &edit);
        break;
      }
    }
  }
  std::stable_sort(at.begin(), at.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  w.kept_changed.assign(n, false);
  size_t out = 0;
  size_t next = 0;  // first position not yet placed
  auto move_run = [&](size_t end) {
    for (; next < end; ++next, ++out) {
      if (out == next) continue;
      w.endpoints[out] = std::move(w.endpoints[next]);
      w.kept[out] = w.kept[next];
    }
  };
  for (const auto& [i, edit] : at) {
    if (i < next) continue;  // a second edit of the same endpoint: the first one applies
    move_run(i);
    next = i + 1;
    if (edit->replacement == nullptr) continue;
    // A slice that is rewritten carries the desired version of every endpoint it keeps.
    w.endpoints[out] = edit->replacement;
    w.kept[out] = w.kept[i];
    w.kept_changed[out] = edit->changed;
    ++out;
  }
  move_run(n);
  w.endpoints.resize(out);
  w.kept.resize(out);
  w.kept_changed.resize(out);
}

// The same for many edits (a full pass, or a batch rewriting most of a slot): the edits are
// sorted and searched once per endpoint.
void ApplyManyEdits(SlotWork& sw, Write& w) {
  const size_t n = w.kept.size();
  w.kept_changed.reserve(n);
  std::sort(sw.edits.begin(), sw.edits.end(), ByOld);
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    const EndpointRecord* e = w.kept[i];
    auto edit = std::lower_bound(sw.edits.begin(), sw.edits.end(), Edit{e, nullptr, false}, ByOld);
    const bool has = edit != sw.edits.end() && edit->old_ep == e;
    if (has && edit->replacement == nullptr) continue;
    if (has) {
      w.endpoints[out] = edit->replacement;
    } else if (out != i) {
      w.endpoints[out] = std::move(w.endpoints[i]);
    }
    w.kept[out] = e;
    w.kept_changed.push_back(has && edit->changed);
    ++out;
  }
  w.endpoints.resize(out);
  w.kept.resize(out);
}

// Classify's edits as the sparse form of `w` (Write::sparse): each edit found at its position in
// the slot's list, by one scan of the runs per edit; a second edit of the same endpoint is ignored
// (the first one applies).
void PatchEdits(const SlotWork& sw, Write& w) {
  const EndpointList& old = sw.slice->endpoints;
  absl::InlinedVector<std::pair<size_t, const Edit*>, 8> at;
  for (const Edit& edit : sw.edits) {
    const size_t pos = old.IndexOf(edit.old_ep);
    if (pos < old.size()) at.emplace_back(pos, &edit);
  }
  std::sort(at.begin(), at.end());  // by position, then edit order (the edits are a vector)
  w.sparse = true;
  w.patch.reserve(at.size());
  for (size_t k = 0; k < at.size(); ++k) {
    const auto& [pos, edit] = at[k];
    if (k > 0 && at[k - 1].first == pos) continue;
    const bool drop = edit->replacement == nullptr;
    w.patch.push_back(
        Write::Patched{static_cast<uint32_t>(pos), drop, drop || edit->changed, edit->old_ep});
    // A slice that is rewritten carries the desired version of every endpoint it keeps.
    if (!drop) w.endpoints.push_back(edit->replacement);
  }
}

}  // namespace

void Planner::ReconcileType(TypeWork& tw) {
  if (tw.type != nullptr) {
    // Groups that hold slices but no endpoints are deleted unless this batch fills them.
    for (const Group* g : tw.type->empty_groups) GroupFor(tw, g);
  }
  for (int g = 0; g < static_cast<int>(tw.groups.size()); ++g) {
    if (tw.groups[g].new_count == 0) {
      DeleteGroup(tw, g);
    } else {
      ReconcileGroup(tw, g);
    }
  }
  Pack(tw);
  Placeholder(tw);
}

void Planner::ReconcileGroup(TypeWork& tw, int g) {
  const size_t first_update = tw.updates.size();
  const std::vector<uint32_t> slots = tw.groups[g].slots;
  for (uint32_t slot : slots) Classify(tw, tw.slots.at(slot));
  Place(tw, g, first_update);
}

// Step 1 for one touched slot: apply its edits; a drop or a §3.5 change makes it an update (or a
// delete when nothing is left), a label difference alone a label-only update.
void Planner::Classify(TypeWork& tw, SlotWork& sw) {
  if (sw.cls != SlotClass::kPending) return;
  const bool changed = std::any_of(sw.edits.begin(), sw.edits.end(), [](const Edit& e) {
    return e.replacement == nullptr || e.changed;
  });
  if (!changed && !sw.labels_differ) {
    sw.cls = SlotClass::kUnchanged;
    return;
  }
  const EndpointList& old = sw.slice->endpoints;
  Write w;
  w.slot = sw.slot;
  w.old = sw.slice;
  w.group = sw.group;
  w.ports = sw.slice->ports;
  if (sparse_ && sw.edits.size() <= kScannedEdits) {
    PatchEdits(sw, w);
  } else {
    // Borrowed, then edited in place: the copy reads only the slice's pointers, never the
    // records (a counted copy took a locked increment per record, and was most of a reconcile).
    // Emit makes the new version share the runs of the old one that the edits left whole.
    w.endpoints.reserve(std::max<size_t>(old.size(), static_cast<size_t>(max_)));
    old.AppendBorrowed(w.endpoints, w.kept);
    if (sw.edits.size() <= kScannedEdits) {
      ApplyFewEdits(sw, w);
    } else {
      ApplyManyEdits(sw, w);
    }
  }
  tw.report.endpoints_removed += static_cast<int64_t>(old.size() - w.size());
  if (w.size() == 0) {
    sw.cls = SlotClass::kDelete;
    tw.deletes.push_back(DeleteItem{sw.slot, true});
    return;
  }
  sw.cls = SlotClass::kUpdate;
  tw.updates.push_back(std::move(w));
}

// Steps 2 and 3: fill the group's updated slices largest first, then create full slices while
// `max` or more remain, and put the last partial chunk into the best-fitting unchanged slice if it
// fits whole, else into one more new slice.
void Planner::Place(TypeWork& tw, int g, size_t first_update) {
  std::vector<EndpointPtr> remaining = std::move(tw.groups[g].remaining);
  tw.report.endpoints_added += static_cast<int64_t>(remaining.size());
  size_t next = 0;
  if (remaining.empty()) return;
  std::vector<Write*> updated;
  for (size_t i = first_update; i < tw.updates.size(); ++i) updated.push_back(&tw.updates[i]);
  std::stable_sort(updated.begin(), updated.end(),
                   [](const Write* a, const Write* b) { return a->size() > b->size(); });
  const size_t max = static_cast<size_t>(max_);
  for (Write* w : updated) {
    for (size_t size = w->size(); next < remaining.size() && size < max; ++size) {
      w->endpoints.push_back(std::move(remaining[next++]));
    }
  }
  while (next < remaining.size()) {
    const size_t left = remaining.size() - next;
    Write* target = nullptr;
    if (left < max) {
      const int64_t slot = BestFit(tw, g, static_cast<int64_t>(max - left));
      if (slot >= 0) {
        target = &UpdateOfUnchanged(tw, static_cast<uint32_t>(slot),
                                    rep_.slots[slot].slice->endpoints.Borrowed());
      }
    }
    if (target == nullptr) {
      tw.creates.emplace_back();
      target = &tw.creates.back();
      target->group = g;
      target->ports = tw.groups[g].ports;
      target->endpoints.reserve(std::min(left, max));
    }
    while (next < remaining.size() && target->endpoints.size() < max) {
      target->endpoints.push_back(std::move(remaining[next++]));
    }
  }
}

// The unchanged slice of group `g` with the most endpoints that is still <= `limit`.
int64_t Planner::BestFit(TypeWork& tw, int g, int64_t limit) {
  const Group* group = tw.groups[g].group;
  if (group == nullptr) return -1;
  const auto& by_size = group->by_size;
  auto it =
      by_size.upper_bound({static_cast<int32_t>(limit), std::numeric_limits<uint32_t>::max()});
  while (it != by_size.begin()) {
    --it;
    auto work = tw.slots.find(it->second);
    if (work == tw.slots.end() || work->second.cls == SlotClass::kUnchanged) return it->second;
  }
  return -1;
}

// An unchanged slice becomes an update (Kubernetes deep-copies it: stored endpoints and labels).
Write& Planner::UpdateOfUnchanged(TypeWork& tw, uint32_t slot, std::vector<EndpointPtr> endpoints) {
  SlotWork& sw = SlotFor(tw, slot);
  sw.cls = SlotClass::kUpdate;
  Write w;
  w.slot = slot;
  w.old = sw.slice;
  w.group = sw.group;
  w.ports = sw.slice->ports;
  w.keep_labels = true;
  if (endpoints.size() == sw.slice->endpoints.size()) {
    w.kept = sw.slice->endpoints.Records();
    w.kept_changed.assign(endpoints.size(), false);
  }
  w.endpoints = std::move(endpoints);
  w.endpoints.reserve(static_cast<size_t>(max_));
  tw.updates.push_back(std::move(w));
  return tw.updates.back();
}

// A port set with no desired endpoint left: every slice of it goes.
void Planner::DeleteGroup(TypeWork& tw, int g) {
  const Group* group = tw.groups[g].group;
  if (group == nullptr) return;
  for (const auto& [size, slot] : group->by_size) {
    SlotWork& sw = SlotFor(tw, slot);
    if (sw.cls == SlotClass::kDelete) continue;
    sw.cls = SlotClass::kDelete;
    tw.deletes.push_back(DeleteItem{slot, true});
  }
}

// Exactly one slice per address type when nothing else would exist: keep a lone existing
// placeholder, or create one (recycling then reuses a deleted slice's name).
void Planner::Placeholder(TypeWork& tw) {
  const int64_t existing = tw.type != nullptr ? tw.type->slices : 0;
  if (!tw.creates.empty() || static_cast<int64_t>(tw.deletes.size()) != existing) return;
  if (tw.deletes.size() == 1) {
    const uint32_t slot = tw.deletes[0].slot;
    if (meta_.EqualsPlaceholder(*rep_.slots[slot].slice, tw.address_type)) {
      tw.slots.at(slot).cls = SlotClass::kUnchanged;
      tw.deletes.clear();
      return;
    }
  }
  Write w;
  w.group = NewGroupFor(tw, PortSetKey(PortList()), EmptyPorts());
  w.ports = tw.groups[w.group].ports;
  tw.creates.push_back(std::move(w));
}

}  // namespace slicekeeper::reconcile::internal
