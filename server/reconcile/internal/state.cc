#include "server/reconcile/internal/state.h"

#include "absl/container/flat_hash_map.h"
#include "server/reconcile/internal/meta.h"

namespace slicekeeper::reconcile::internal {
namespace {

// Erases the identity of `ep` unless the index already holds another copy of it (a duplicate, or
// the new home of an endpoint that moved within the same plan).
void EraseIfCurrent(IdentityIndex& index, const EndpointRecord* ep) {
  auto it = index.find(ep);
  if (it != index.end() && it->ep == ep) index.erase(it);
}

// Signatures of the metadata a plan writes: almost always one shared MetaPtr.
class SigCache {
 public:
  explicit SigCache(absl::node_hash_map<std::string, int64_t>& counts) : counts_(counts) {}
  const std::string* Acquire(const v1::ObjectMeta* meta) {
    auto it = cache_.find(meta);
    if (it == cache_.end()) {
      auto [c, unused] = counts_.try_emplace(MetaSignature(*meta), 0);
      it = cache_.emplace(meta, &c->first).first;
    }
    ++counts_[*it->second];
    return it->second;
  }
  // Release(old) then Acquire(meta), with no count touched when the signature stays the same.
  const std::string* Replace(const std::string* old, const v1::ObjectMeta* meta) {
    auto it = cache_.find(meta);
    if (it != cache_.end() && it->second == old) return old;
    Release(old);
    return Acquire(meta);
  }
  void Release(const std::string* sig) {
    auto it = counts_.find(*sig);
    if (--it->second == 0) counts_.erase(it);
  }

 private:
  absl::node_hash_map<std::string, int64_t>& counts_;
  absl::flat_hash_map<const v1::ObjectMeta*, const std::string*> cache_;
};

}  // namespace

const TypeState* Rep::FindType(const std::string& address_type) const {
  auto it = types.find(address_type);
  return it == types.end() ? nullptr : it->second.get();
}

TypeState& Rep::GetType(const std::string& address_type) {
  std::unique_ptr<TypeState>& t = types[address_type];
  if (t == nullptr) {
    t = std::make_unique<TypeState>();
    t->address_type = address_type;
  }
  return *t;
}

uint32_t Rep::AddSlot(SlicePtr slice, Group* group) {
  uint32_t slot;
  if (free_slots.empty()) {
    slot = static_cast<uint32_t>(slots.size());
    slots.emplace_back();
  } else {
    slot = free_slots.back();
    free_slots.pop_back();
  }
  group->by_size.emplace(static_cast<int32_t>(slice->endpoints.size()), slot);
  ++group->type->slices;
  ++num_slices;
  slots[slot].slice = std::move(slice);
  slots[slot].group = group;
  return slot;
}

int64_t Rep::CeilSum(int max) const {
  int64_t sum = 0;
  for (const auto& [name, t] : types) {
    for (const auto& [key, g] : t->groups) sum += CeilDiv(g.endpoints, max);
  }
  return sum;
}

void Rep::Settle(Group* g) {
  TypeState* t = g->type;
  if (g->endpoints == 0 && g->by_size.empty()) {
    t->empty_groups.erase(g);
    std::string key = g->key;
    t->groups.erase(key);  // `g` dies here
  } else if (g->endpoints == 0) {
    t->empty_groups.insert(g);
  } else {
    t->empty_groups.erase(g);
  }
}

void Rep::Apply(const PlanDelta& d) {
  // Old slice versions stay alive until the index no longer points into them.
  std::vector<SlicePtr> keep_alive;
  keep_alive.reserve(d.deletes.size() + d.updates.size());
  for (const TypeDelta& td : d.types) {
    auto it = types.find(td.address_type);
    if (it == types.end()) continue;
    for (const EndpointRecord* ep : td.erases) EraseIfCurrent(it->second->index, ep);
  }
  auto erase_all = [](const SlotRec& r) {
    for (const EndpointPtr& e : r.slice->endpoints) EraseIfCurrent(r.group->type->index, e.get());
  };
  for (uint32_t slot : d.deletes) erase_all(slots[slot]);
  for (const SliceWrite& w : d.updates) {
    if (w.recycled) erase_all(slots[w.slot]);
  }

  std::vector<Group*> new_groups;
  new_groups.reserve(d.new_groups.size());
  for (const NewGroup& ng : d.new_groups) {
    TypeState& t = GetType(ng.address_type);
    auto [it, inserted] = t.groups.try_emplace(ng.key);
    if (inserted) {
      it->second.type = &t;
      it->second.key = ng.key;
      it->second.ports = ng.ports;
    }
    new_groups.push_back(&it->second);
  }
  auto resolve = [&](GroupRef r) { return r.existing ? r.existing : new_groups[r.new_index]; };

  SigCache sigs(sig_counts);
  absl::flat_hash_set<Group*> touched;
  for (uint32_t slot : d.deletes) {
    SlotRec& r = slots[slot];
    r.group->by_size.erase({static_cast<int32_t>(r.slice->endpoints.size()), slot});
    --r.group->type->slices;
    --num_slices;
    sigs.Release(r.sig);
    touched.insert(r.group);
    keep_alive.push_back(std::move(r.slice));
    r = SlotRec();
    free_slots.push_back(slot);
    dirty.erase(slot);
  }
  for (const SliceWrite& w : d.updates) {
    SlotRec& r = slots[w.slot];
    Group* g = resolve(w.group);
    const auto size = static_cast<int32_t>(w.slice->endpoints.size());
    const auto old_size = static_cast<int32_t>(r.slice->endpoints.size());
    // Most updates keep their group and size (a flip, a replacement): nothing to move.
    if (g != r.group || size != old_size) {
      r.group->by_size.erase({old_size, w.slot});
      --r.group->type->slices;
      touched.insert(r.group);
      g->by_size.emplace(size, w.slot);
      ++g->type->slices;
    }
    touched.insert(g);
    r.sig = sigs.Replace(r.sig, w.slice->meta.get());
    keep_alive.push_back(std::move(r.slice));
    r.slice = w.slice;
    r.group = g;
    dirty.erase(w.slot);
  }
  std::vector<uint32_t> created;
  created.reserve(d.creates.size());
  for (const SliceWrite& w : d.creates) {
    Group* g = resolve(w.group);
    uint32_t slot = AddSlot(w.slice, g);
    slots[slot].sig = sigs.Acquire(w.slice->meta.get());
    created.push_back(slot);
    touched.insert(g);
  }

  for (const TypeDelta& td : d.types) {
    TypeState& t = GetType(td.address_type);
    for (const IndexSet& s : td.sets) {
      uint32_t slot = s.slot_ref >= 0 ? static_cast<uint32_t>(s.slot_ref)
                                      : created[static_cast<size_t>(-1 - s.slot_ref)];
      auto [it, inserted] = t.index.insert(IndexEntry{s.ep, slot});
      if (!inserted) {
        it->ep = s.ep;
        it->slot = slot;
      }
    }
    endpoints += td.endpoints - t.endpoints;
    t.endpoints = td.endpoints;
  }
  for (const auto& [ref, count] : d.group_counts) {
    Group* g = resolve(ref);
    g->endpoints = count;
    touched.insert(g);
  }
  for (Group* g : touched) Settle(g);
  ceil_sum = d.ceil_sum;
  ceil_max = d.ceil_max;
  pack_credit = d.pack_credit;
  ++version;
}

}  // namespace slicekeeper::reconcile::internal
