// The packed distribution's regroup (docs/distribution.md §5): the slices a batch writes anyway
// are rewritten with their endpoints sorted, so that endpoints likely to change together share
// slices and later batches touch fewer of them, and packed into as few slices as the group's
// minimum allows. It adds no write: a slice it empties was an update (it becomes a delete) or a
// create (it is dropped).
//
// Sort order: by zone when packing by zone, then ready before not ready before terminating (a
// rollout flips the not-ready ones to ready, and removes the terminating ones, together), then
// endpoints this batch added or changed before those it left as they were (the pods a rollout
// or a drain starts together become ready together). The order only decides which endpoints
// share a slice: each slice keeps the endpoints it holds that its share of the order needs, so
// that few endpoints change slices.
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "server/reconcile/internal/planner.h"

namespace slicekeeper::reconcile::internal {
namespace {

int ConditionClass(const EndpointRecord& e) {
  const RecordConditions c = e.conditions();
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

// The sort key of each endpoint, a small integer: its zone's rank (same-zone packing only), its
// condition class, then 0 if the batch added or changed it, 1 if not; and how many have each.
struct Keys {
  std::vector<uint32_t> of;
  std::vector<size_t> count;
};

// What one slice must hold: (key, how many), in key order.
using Needs = std::vector<std::pair<uint32_t, size_t>>;

size_t* Find(Needs& needs, uint32_t key) {
  for (auto& [k, n] : needs) {
    if (k == key) return &n;
  }
  return nullptr;
}

// Cuts the endpoints, in key order, into consecutive runs of `sizes`.
std::vector<Needs> Ranges(const Keys& keys, const std::vector<size_t>& sizes) {
  std::vector<Needs> out(sizes.size());
  uint32_t k = 0;
  size_t left_of_k = keys.count.empty() ? 0 : keys.count[0];
  for (size_t i = 0; i < sizes.size(); ++i) {
    for (size_t left = sizes[i]; left > 0;) {
      while (left_of_k == 0) left_of_k = keys.count[++k];
      const size_t n = std::min(left, left_of_k);
      out[i].emplace_back(k, n);
      left -= n;
      left_of_k -= n;
    }
  }
  return out;
}

Keys SortKeys(const std::vector<Placed>& all, bool same_zone) {
  std::map<absl::string_view, uint32_t> zones;  // ranked by name
  if (same_zone) {
    for (const Placed& p : all) zones.emplace(p.e->zone(), 0);
    uint32_t rank = 0;
    for (auto& [zone, r] : zones) r = rank++;
  }
  Keys keys;
  keys.count.assign(std::max<size_t>(zones.size(), 1) * 6, 0);
  keys.of.reserve(all.size());
  for (const Placed& p : all) {
    const uint32_t zone = same_zone ? zones.at(p.e->zone()) : 0;
    const bool fresh = p.origin == nullptr || p.origin != p.e.get();
    const uint32_t key = (zone * 3 + static_cast<uint32_t>(ConditionClass(*p.e))) * 2 + !fresh;
    keys.of.push_back(key);
    ++keys.count[key];
  }
  return keys;
}

// What each of the first `keep` slices must hold: the runs of `sizes` cut from the key order,
// handed to the slices in the order of the key most of their endpoints already have, so that
// most endpoints stay where they are.
std::vector<Needs> Needed(const Keys& keys, const std::vector<uint32_t>& owner, size_t keep,
                          const std::vector<size_t>& sizes) {
  const size_t nkeys = keys.count.size();
  std::vector<size_t> held(keep * nkeys, 0);
  for (size_t j = 0; j < owner.size(); ++j) {
    if (owner[j] < keep) ++held[owner[j] * nkeys + keys.of[j]];
  }
  std::vector<uint32_t> dominant(keep);
  for (size_t i = 0; i < keep; ++i) {
    const auto first = held.begin() + static_cast<ptrdiff_t>(i * nkeys);
    dominant[i] = static_cast<uint32_t>(
        std::max_element(first, first + static_cast<ptrdiff_t>(nkeys)) - first);
  }
  std::vector<size_t> order(keep);
  for (size_t i = 0; i < keep; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return dominant[a] < dominant[b]; });
  std::vector<Needs> runs = Ranges(keys, sizes);
  std::vector<Needs> out(keep);
  for (size_t p = 0; p < keep; ++p) out[order[p]] = std::move(runs[p]);
  return out;
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
  std::vector<uint32_t> owner;
  for (uint32_t i = 0; i < writes.size(); ++i) {
    for (Placed& p : TakeFrom(*writes[i], writes[i]->endpoints.size())) {
      all.push_back(std::move(p));
      owner.push_back(i);
    }
  }
  const Keys keys = SortKeys(all, same_zone_);
  // As few slices as the endpoints need, but none below the group's minimum.
  const int64_t spare =
      std::max<int64_t>(0, LiveSlices(tw, g) - CeilDiv(tw.groups[g].new_count, max_));
  const size_t keep = std::max<size_t>((all.size() + max_ - 1) / max_,
                                       writes.size() - std::min<size_t>(writes.size(), spare));
  std::vector<Needs> needs = Needed(keys, owner, keep, ChunkSizes(all.size(), keep));
  // Endpoints stay in their own slice where it needs their key; the rest go where needed.
  std::vector<std::vector<size_t>> pool(keys.count.size());
  for (size_t j = 0; j < all.size(); ++j) {
    const uint32_t k = keys.of[j];
    size_t* n = owner[j] < keep ? Find(needs[owner[j]], k) : nullptr;
    if (n != nullptr && *n > 0) {
      --*n;
      PutInto(*writes[owner[j]], std::move(all[j]));
    } else {
      pool[k].push_back(j);
    }
  }
  std::vector<size_t> taken(pool.size(), 0);
  for (size_t i = 0; i < writes.size(); ++i) {
    if (i >= keep) {
      Drop(tw, *writes[i]);
      continue;
    }
    for (auto& [k, n] : needs[i]) {
      for (; n > 0; --n) PutInto(*writes[i], std::move(all[pool[k][taken[k]++]]));
    }
  }
}

}  // namespace slicekeeper::reconcile::internal
