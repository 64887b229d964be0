// Turning the per-type work into slice objects, ops, stats and the PlanDelta.
#include <algorithm>
#include <memory>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "server/reconcile/internal/planner.h"

namespace slicekeeper::reconcile::internal {
namespace {

SliceOp DeleteOp(const SlicePtr& current) {
  // The op carries the current version, which the state shares; it is never mutated.
  return SliceOp{SliceOp::Kind::kDelete, std::const_pointer_cast<Slice>(current)};
}

}  // namespace

// Endpoints whose content changed only through the hint pass are still updated endpoints.
void Planner::CountHintOnly(TypeWork& tw, const Write& w) {
  const size_t n = std::min(w.kept.size(), w.endpoints.size());
  for (size_t i = 0; i < n; ++i) {
    const EndpointRecord* e = w.endpoints[i].get();
    const EndpointRecord* before = w.kept[i];
    if (before != nullptr && e != before && !w.kept_changed[i] && !HintsEqual(*e, *before)) {
      ++tw.stats.endpoints_updated;
    }
  }
}

GroupRef Planner::RefFor(TypeWork& tw, int g, PlanDelta& delta) {
  GroupWork& gw = tw.groups[g];
  if (gw.group != nullptr) return GroupRef{const_cast<Group*>(gw.group), -1};
  if (gw.new_index < 0) {
    gw.new_index = static_cast<int>(delta.new_groups.size());
    delta.new_groups.push_back(NewGroup{tw.address_type, gw.key, gw.ports});
  }
  return GroupRef{nullptr, gw.new_index};
}

void Planner::EmitCreate(TypeWork& tw, Write& w, Plan& plan, PlanDelta& delta, TypeDelta& td) {
  auto s = std::make_shared<Slice>();
  s->name = in_.generate_name(meta_.prefix());
  s->namespace_ = svc_.namespace_();
  s->uid = in_.generate_uid();
  s->generation = 1;
  s->creation_timestamp = in_.creation_timestamp;
  s->meta = meta_.Shared();
  s->address_type = tw.address_type;
  s->ports = w.ports;
  const int64_t ordinal = static_cast<int64_t>(delta.creates.size());
  for (const EndpointPtr& e : w.endpoints) td.sets.push_back(IndexSet{e.get(), -1 - ordinal});
  CountHintOnly(tw, w);
  s->endpoints = std::move(w.endpoints);
  delta.creates.push_back(SliceWrite{-1, s, RefFor(tw, w.group, delta), false});
  creates_.push_back(SliceOp{SliceOp::Kind::kCreate, std::move(s)});
}

// EmitUpdate for a write that holds its whole list (not Write::sparse).
void Planner::EmitWhole(TypeWork& tw, Write& w, TypeDelta& td, Slice& s) {
  // One pass: the index entries of endpoints new to the slot, and (as CountHintOnly) the kept
  // endpoints that only the hint pass changed.
  const size_t kept = w.recycled ? 0 : std::min(w.kept.size(), w.endpoints.size());
  for (size_t i = 0; i < w.endpoints.size(); ++i) {
    const EndpointRecord* e = w.endpoints[i].get();
    if (i < kept) {
      const EndpointRecord* before = w.kept[i];
      if (e == before) {
        if (i >= w.kept_from.size() || w.kept_from[i] == w.slot) continue;
      } else if (before != nullptr && !w.kept_changed[i] && !HintsEqual(*e, *before)) {
        ++tw.stats.endpoints_updated;
      }
    }
    td.sets.push_back(IndexSet{e, w.slot});
  }
  if (w.recycled && !w.kept_from.empty()) CountHintOnly(tw, w);
  s.endpoints = EndpointList::Rebuild(w.old->endpoints, std::move(w.endpoints));
}

void Planner::EmitUpdate(TypeWork& tw, Write& w, Plan& plan, PlanDelta& delta, TypeDelta& td) {
  auto s = std::make_shared<Slice>();
  s->name = w.old->name;
  s->namespace_ = w.old->namespace_;
  s->uid = w.old->uid;
  s->generation = w.old->generation + 1;
  s->creation_timestamp = w.old->creation_timestamp;
  s->meta = w.recycled ? meta_.Shared() : meta_.ForUpdate(*w.old->meta, w.keep_labels);
  s->address_type = tw.address_type;
  s->ports = w.ports;
  if (w.sparse) {
    // Only the endpoints new to the slot are read: the replacements, then the appended ones.
    absl::InlinedVector<EndpointList::Change, 8> changes;
    changes.reserve(w.patch.size());
    size_t next = 0;
    for (const Write::Patched& p : w.patch) {
      changes.push_back(EndpointList::Change{p.pos, p.drop});
      if (p.drop) continue;
      const EndpointRecord* e = w.endpoints[next++].get();
      if (e == p.before) continue;
      if (!p.changed && !HintsEqual(*e, *p.before)) ++tw.stats.endpoints_updated;
      td.sets.push_back(IndexSet{e, w.slot});
    }
    for (; next < w.endpoints.size(); ++next) {
      td.sets.push_back(IndexSet{w.endpoints[next].get(), w.slot});
    }
    s->endpoints = EndpointList::Patch(w.old->endpoints, changes, std::move(w.endpoints));
  } else {
    EmitWhole(tw, w, td, *s);
  }
  if (!w.recycled) {
    auto work = tw.slots.find(static_cast<uint32_t>(w.slot));
    for (const Edit& edit : work->second.edits) {
      if (edit.replacement == nullptr) td.erases.push_back(edit.old_ep);
    }
  }
  delta.updates.push_back(SliceWrite{w.slot, s, RefFor(tw, w.group, delta), w.recycled});
  updates_.push_back(SliceOp{SliceOp::Kind::kUpdate, std::move(s)});
}

void Planner::Emit(TypeWork& tw, Plan& plan, PlanDelta& delta) {
  TypeDelta td;
  td.address_type = tw.address_type;
  td.endpoints = tw.new_count;
  for (Write& w : tw.creates) EmitCreate(tw, w, plan, delta, td);
  for (Write& w : tw.updates) EmitUpdate(tw, w, plan, delta, td);
  for (const DeleteItem& d : tw.deletes) {
    delta.deletes.push_back(d.slot);
    deletes_.push_back(DeleteOp(rep_.slots[d.slot].slice));
  }
  for (size_t g = 0; g < tw.groups.size(); ++g) {
    const GroupWork& gw = tw.groups[g];
    if (gw.new_count != gw.old_count) {
      delta.group_counts.emplace_back(RefFor(tw, static_cast<int>(g), delta), gw.new_count);
    }
  }
  tw.stats.slices_created = static_cast<int64_t>(tw.creates.size());
  tw.stats.slices_updated = static_cast<int64_t>(tw.updates.size());
  tw.stats.slices_deleted = static_cast<int64_t>(tw.deletes.size());
  plan.stats += tw.stats;
  tw.report.address_type = tw.address_type;
  tw.report.slices_changed =
      tw.stats.slices_created + tw.stats.slices_updated + tw.stats.slices_deleted;
  tw.report.topology = TopologyLabel(mode_);
  tw.report.traffic_distribution = svc_.traffic_distribution();
  plan.syncs.push_back(std::move(tw.report));
  delta.types.push_back(std::move(td));
}

// A type the service no longer serves: its slices are deleted directly, never recycled.
void Planner::EmitUnserved(TypeWork& tw, Plan& plan, PlanDelta& delta) {
  if (tw.type == nullptr) return;
  for (const auto& [key, group] : tw.type->groups) {
    for (const auto& [size, slot] : group.by_size) {
      delta.deletes.push_back(slot);
      deletes_.push_back(DeleteOp(rep_.slots[slot].slice));
      ++plan.stats.slices_deleted;
    }
    if (group.endpoints != 0) {
      delta.group_counts.emplace_back(GroupRef{const_cast<Group*>(&group), -1}, 0);
    }
  }
  plan.stats.endpoints_removed += tw.type->endpoints;
  TypeDelta td;
  td.address_type = tw.address_type;
  delta.types.push_back(std::move(td));
}

void Planner::Gauges(Plan& plan, PlanDelta& delta) const {
  int64_t ceil_sum = rep_.ceil_max == max_ ? rep_.ceil_sum : rep_.CeilSum(max_);
  for (const auto& [name, tw] : types_) {
    const bool served = std::binary_search(served_.begin(), served_.end(), name);
    if (served) {
      plan.endpoints_desired += tw.new_count;
      for (const GroupWork& gw : tw.groups) {
        ceil_sum += CeilDiv(gw.new_count, max_) - CeilDiv(gw.old_count, max_);
      }
    } else if (tw.type != nullptr) {
      for (const auto& [key, group] : tw.type->groups) ceil_sum -= CeilDiv(group.endpoints, max_);
    }
  }
  plan.num_slices = rep_.num_slices + static_cast<int64_t>(creates_.size()) -
                    static_cast<int64_t>(deletes_.size());
  plan.desired_slices = std::max<int64_t>(1, ceil_sum);
  delta.ceil_sum = ceil_sum;
  delta.ceil_max = max_;
}

}  // namespace slicekeeper::reconcile::internal
