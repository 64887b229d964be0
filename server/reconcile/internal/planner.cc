#include "server/reconcile/internal/planner.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::reconcile::internal {

Planner::Planner(const Rep& rep, const Input& input, const Options& options)
    : rep_(rep),
      in_(input),
      options_(options),
      svc_(*input.service),
      max_(options.max_endpoints_per_slice),
      meta_(*input.service, input.trigger_time) {}

absl::Status Planner::Collect() {
  using Dedup = absl::flat_hash_map<HashedEndpoint, size_t, HashedIdentityHash, HashedIdentityEq>;
  std::map<std::string, Dedup> seen;
  // Batches are almost always of one address type: the two map lookups are skipped while the
  // type stays the same (std::map nodes do not move).
  const std::string* last_type = nullptr;
  TypeWork* tw = nullptr;
  Dedup* type_seen = nullptr;
  for (size_t i = 0; i < in_.changes.size(); ++i) {
    const EndpointDelta& d = in_.changes[i];
    if (d.endpoint == nullptr || d.address_type.empty() ||
        (d.op == EndpointDelta::Op::kUpsert && d.ports == nullptr)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "changes[", i, "]: endpoint, address type and (for upserts) ports are required"));
    }
    if (last_type == nullptr || *last_type != d.address_type) {
      last_type = &d.address_type;
      tw = &types_[d.address_type];
      auto [it, fresh] = seen.try_emplace(d.address_type);
      type_seen = &it->second;
      // Sized once: growing it rehashed every identity seen so far (a tenth of a reconcile).
      if (fresh) type_seen->reserve(in_.changes.size() - i);
    }
    const HashedEndpoint key(d.endpoint.get());
    auto [it, inserted] = type_seen->try_emplace(key, tw->changes.size());
    if (inserted) {
      tw->changes.emplace_back(&d, key.hash);
    } else {
      tw->changes[it->second].first = &d;  // the last change to an identity wins
    }
  }
  for (const auto& [name, t] : rep_.types) {
    if (t->slices > 0 || t->endpoints > 0) types_[name];
  }
  return absl::OkStatus();
}

// The incremental pass assumes every slice already carries the labels and owner the service
// wants; when some do not (the record changed, or FromSlices read foreign state), only a full pass
// reproduces Kubernetes.
bool Planner::NeedsFullPass() const {
  if (in_.full_resync) return true;
  const auto& sigs = rep_.sig_counts;
  return !sigs.empty() && !(sigs.size() == 1 && sigs.begin()->first == meta_.wanted_signature());
}

std::vector<std::string> Planner::ServedTypes() const {
  std::vector<std::string> out;
  if (svc_.address_types_size() > 0) {
    out.assign(svc_.address_types().begin(), svc_.address_types().end());
  } else {
    for (const auto& [name, tw] : types_) {
      if (tw.new_count > 0) out.push_back(name);
    }
    if (out.empty()) out.push_back(kAddressTypeIPv4);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void Planner::SetUpPacking() {
  const auto& annotations = svc_.annotations();
  auto mode = annotations.find(kAnnotationDistribution);
  packed_ = mode != annotations.end() ? mode->second == "packed"
                                      : options_.distribution == Distribution::kPacked;
  if (!packed_) return;
  auto zone = annotations.find(kAnnotationPackedSameZone);
  same_zone_ = zone != annotations.end() ? zone->second == "true" : options_.packing.same_zone;
  // Earnings: per endpoint added, updated or removed by this batch, up to the cap.
  int64_t changes = 0;
  for (const auto& [name, tw] : types_) {
    changes += tw.stats.endpoints_added + tw.stats.endpoints_updated + tw.stats.endpoints_removed;
  }
  const PackingOptions& p = options_.packing;
  credit_ = std::min(p.max_writes_per_batch,
                     rep_.pack_credit + p.writes_per_change * static_cast<double>(changes));
  // A batch that changes no endpoint writes nothing Kubernetes would not: no repack is paid for.
  budget_ = changes > 0 ? static_cast<int64_t>(std::floor(credit_)) : 0;
}

bool Planner::NeedsForcing(const EndpointRecord& e) const {
  return svc_.publish_not_ready_addresses() &&
         !(e.conditions().has_ready() && e.conditions().ready());
}

// What Kubernetes would build from the pod: no hints (the hint pass owns them), and ready forced
// by publishNotReadyAddresses. Copies only when something differs.
EndpointPtr Planner::Desired(const EndpointPtr& e) const {
  const bool strip = e->has_hints();
  const bool force = NeedsForcing(*e);
  if (!strip && !force) return e;
  EndpointPtr copy = strip ? e->WithHints(nullptr) : e;
  return force ? copy->WithReady(true) : copy;
}

int Planner::GroupFor(TypeWork& tw, const Group* g) {
  auto [it, inserted] = tw.group_of.try_emplace(g, static_cast<int>(tw.groups.size()));
  if (inserted) {
    GroupWork gw;
    gw.group = g;
    gw.key = g->key;
    gw.ports = g->ports;
    gw.old_count = gw.new_count = g->endpoints;
    tw.groups.push_back(std::move(gw));
  }
  return it->second;
}

int Planner::NewGroupFor(TypeWork& tw, const std::string& key, const PortListPtr& ports) {
  if (tw.type != nullptr) {
    auto existing = tw.type->groups.find(key);
    if (existing != tw.type->groups.end()) return GroupFor(tw, &existing->second);
  }
  auto [it, inserted] = tw.new_group_of.try_emplace(key, static_cast<int>(tw.groups.size()));
  if (inserted) {
    GroupWork gw;
    gw.key = key;
    gw.ports = ports;
    tw.groups.push_back(std::move(gw));
  }
  return it->second;
}

SlotWork& Planner::SlotFor(TypeWork& tw, uint32_t slot) {
  auto [it, inserted] = tw.slots.try_emplace(slot);
  if (inserted) {
    const SlotRec& rec = rep_.slots[slot];
    it->second.slot = slot;
    it->second.slice = rec.slice.get();
    it->second.group = GroupFor(tw, rec.group);
    tw.groups[it->second.group].slots.push_back(slot);
  }
  return it->second;
}

int Planner::TargetGroup(TypeWork& tw, const EndpointDelta& d, const IndexEntry* stored) {
  if (stored != nullptr) {
    int g = GroupFor(tw, rep_.slots[stored->slot].group);
    if (PortListsIdentical(*tw.groups[g].ports, *d.ports)) return g;
  }
  auto cached = tw.target_cache.find(d.ports.get());
  if (cached != tw.target_cache.end()) return cached->second;
  int g = NewGroupFor(tw, PortSetKey(*d.ports), d.ports);
  tw.target_cache.emplace(d.ports.get(), g);
  return g;
}

void Planner::Drop(TypeWork& tw, const IndexEntry& stored) {
  SlotWork& sw = SlotFor(tw, stored.slot);
  sw.edits.push_back(Edit{stored.ep, nullptr, true});
  --tw.groups[sw.group].new_count;
}

void Planner::IntakeOne(TypeWork& tw, const EndpointDelta& d, size_t hash) {
  const IndexEntry* stored = nullptr;
  if (tw.type != nullptr) {
    auto it = tw.type->index.find(HashedEndpoint(d.endpoint.get(), hash));
    if (it != tw.type->index.end()) stored = &*it;
  }
  if (d.op == EndpointDelta::Op::kRemove) {
    if (stored == nullptr) return;  // removing an unknown endpoint changes nothing
    Drop(tw, *stored);
    ++tw.stats.endpoints_removed;
    --tw.new_count;
    return;
  }
  EndpointPtr desired = Desired(d.endpoint);
  const int g = TargetGroup(tw, d, stored);
  if (stored != nullptr) {
    SlotWork& sw = SlotFor(tw, stored->slot);
    if (sw.group == g) {
      const bool changed = EndpointChanged(*stored->ep, *desired);
      if (changed) ++tw.stats.endpoints_updated;
      sw.edits.push_back(Edit{stored->ep, std::move(desired), changed});
      return;
    }
    // Its port set changed: it moves to another group. The identity stays in the service, so the
    // batch counts an update (BatchStats); the sync report counts an add, as Kubernetes does.
    Drop(tw, *stored);
    ++tw.stats.endpoints_updated;
  } else {
    ++tw.new_count;
    ++tw.stats.endpoints_added;
  }
  ++tw.groups[g].new_count;
  tw.groups[g].remaining.push_back(std::move(desired));
}

// A full look at one slot: duplicates of identities held elsewhere are dropped, ready is forced
// for publishNotReadyAddresses, labels and ownership are checked (full pass only). A slot not
// owned by the service is deleted outright and its endpoints are placed again.
void Planner::Scan(TypeWork& tw, uint32_t slot) {
  SlotWork& sw = SlotFor(tw, slot);
  auto by_old = [](const Edit& a, const Edit& b) { return a.old_ep < b.old_ep; };
  std::sort(sw.edits.begin(), sw.edits.end(), by_old);
  std::vector<Edit> added;
  for (const EndpointPtr& e : sw.slice->endpoints) {
    Edit probe{e.get(), nullptr, false};
    if (std::binary_search(sw.edits.begin(), sw.edits.end(), probe, by_old)) continue;
    auto it = tw.type->index.find(e.get());
    if (it == tw.type->index.end() || it->ep != e.get()) {
      added.push_back(Edit{e.get(), nullptr, true});
    } else if (NeedsForcing(*e)) {
      ++tw.stats.endpoints_updated;
      added.push_back(Edit{e.get(), Desired(e), true});
    }
  }
  sw.edits.insert(sw.edits.end(), added.begin(), added.end());
  if (!full_) return;
  sw.labels_differ = meta_.LabelsDiffer(*sw.slice->meta);
  if (meta_.Owned(*sw.slice->meta)) return;
  std::sort(sw.edits.begin(), sw.edits.end(), by_old);
  for (const EndpointPtr& e : sw.slice->endpoints) {
    auto edit =
        std::lower_bound(sw.edits.begin(), sw.edits.end(), Edit{e.get(), nullptr, false}, by_old);
    const bool has = edit != sw.edits.end() && edit->old_ep == e.get();
    if (has && edit->replacement == nullptr) continue;
    tw.groups[sw.group].remaining.push_back(has ? edit->replacement : e);
  }
  sw.cls = SlotClass::kDelete;
  tw.deletes.push_back(DeleteItem{slot, false});
}

void Planner::Intake(TypeWork& tw) {
  tw.type = rep_.FindType(tw.address_type);
  tw.new_count = tw.type != nullptr ? tw.type->endpoints : 0;
  for (const auto& [d, hash] : tw.changes) IntakeOne(tw, *d, hash);
  if (tw.type == nullptr) return;
  if (full_) {
    for (const auto& [key, group] : tw.type->groups) {
      for (const auto& [size, slot] : group.by_size) Scan(tw, slot);
    }
    return;
  }
  for (uint32_t slot : rep_.dirty) {
    if (rep_.slots[slot].group->type == tw.type) Scan(tw, slot);
  }
}

}  // namespace slicekeeper::reconcile::internal

namespace slicekeeper::reconcile::internal {

absl::StatusOr<Plan> Planner::Run() {
  absl::Status collected = Collect();
  if (!collected.ok()) return collected;
  mode_ = HintModeFor(svc_);
  full_ = NeedsFullPass();
  for (auto& [name, tw] : types_) {
    tw.address_type = name;
    Intake(tw);
  }
  SetUpPacking();
  sparse_ = !full_ && !packed_ && mode_ != HintMode::kAuto;
  served_ = ServedTypes();
  for (const std::string& name : served_) {
    auto [it, inserted] = types_.try_emplace(name);
    if (inserted) {
      it->second.address_type = name;
      Intake(it->second);
    }
  }
  Plan plan;
  auto delta = std::make_shared<PlanDelta>();
  delta->rep = &rep_;
  delta->version = rep_.version;
  for (auto& [name, tw] : types_) {
    if (!std::binary_search(served_.begin(), served_.end(), name)) {
      EmitUnserved(tw, plan, *delta);
      continue;
    }
    ReconcileType(tw);
    Hints(tw);
    Recycle(tw);
    Emit(tw, plan, *delta);
  }
  Gauges(plan, *delta);
  if (packed_) {
    delta->pack_credit = credit_ - static_cast<double>(std::max<int64_t>(spent_, 0));
    plan.packing = Plan::Packing{moved_, spent_, budget_};
  }
  plan.ops.reserve(creates_.size() + updates_.size() + deletes_.size());
  for (auto* ops : {&creates_, &updates_, &deletes_}) {
    for (SliceOp& op : *ops) plan.ops.push_back(std::move(op));
  }
  plan.internal = std::move(delta);
  return plan;
}

}  // namespace slicekeeper::reconcile::internal
