// The packed distribution's repack (docs/distribution.md §5), run on one address type after
// Kubernetes' steps 1-3 and before the placeholder rule, the hint pass and recycling: first the
// regroup of the slices the plan writes anyway (regroup.cc), then, while a group holds more live
// slices than ceil(endpoints / max), one of them (the donor) gives its endpoints to the others
// (the receivers): slices the plan writes anyway first, then unchanged ones, most room first.
// The donor is the slice whose emptying adds the fewest writes to the plan, the smallest among
// equals. A move that adds no write is always made; one that adds writes only while the group's
// fill is below PackingOptions::fill_threshold and the batch's budget (Planner::budget_) covers
// it. When no donor can be emptied within the budget, the part of the cheapest one the budget
// pays for moves, and the group waits for the next batch.
#include <algorithm>
#include <optional>
#include <utility>

#include "server/reconcile/internal/planner.h"

namespace slicekeeper::reconcile::internal {
namespace {

bool IsUnchanged(const TypeWork& tw, uint32_t slot) {
  auto it = tw.slots.find(slot);
  return it == tw.slots.end() || it->second.cls == SlotClass::kUnchanged;
}

Tally TallyOf(const TypeWork& tw) {
  Tally t;
  for (const Write& w : tw.creates) t.creates += !w.gone;
  for (const Write& w : tw.updates) t.updates += !w.gone;
  for (const DeleteItem& d : tw.deletes) ++(d.recyclable ? t.recyclable_deletes : t.other_deletes);
  return t;
}

// A move beats another: full before partial; then fewer added writes and the smaller donor
// (fewer endpoints resent); partial ones by endpoints moved.
bool Better(const Move& a, const Move& b) {
  if (a.partial != b.partial) return !a.partial;
  const int64_t wa = a.tally.Writes(), wb = b.tally.Writes();
  if (a.partial) return a.count > b.count || (a.count == b.count && wa < wb);
  return wa < wb || (wa == wb && a.donor.size < b.donor.size);
}

Bin BinOf(Bin::Kind kind, size_t index, const Write& w) {
  return Bin{kind, static_cast<int64_t>(index), static_cast<int64_t>(w.endpoints.size())};
}

}  // namespace

void Planner::Pack(TypeWork& tw) {
  if (!packed_ || tw.type == nullptr) return;  // a type new to the service is only creates
  const Tally kubernetes = TallyOf(tw);
  for (int g = 0; g < static_cast<int>(tw.groups.size()); ++g) {
    if (tw.groups[g].new_count > 0) Regroup(tw, g);
  }
  Tally tally = TallyOf(tw);
  spent_ += tally.Writes() - kubernetes.Writes();
  for (int g = 0; g < static_cast<int>(tw.groups.size()); ++g) {
    if (tw.groups[g].new_count > 0) PackGroup(tw, g, tally);
  }
  auto gone = [](const Write& w) { return w.gone; };
  tw.creates.erase(std::remove_if(tw.creates.begin(), tw.creates.end(), gone), tw.creates.end());
  tw.updates.erase(std::remove_if(tw.updates.begin(), tw.updates.end(), gone), tw.updates.end());
}

int64_t Planner::LiveSlices(const TypeWork& tw, int g) const {
  const GroupWork& gw = tw.groups[g];
  int64_t n = gw.group != nullptr ? static_cast<int64_t>(gw.group->by_size.size()) : 0;
  for (const DeleteItem& d : tw.deletes) n -= rep_.slots[d.slot].group == gw.group;
  for (const Write& w : tw.creates) n += w.group == g && !w.gone;
  return n;
}

// Slices the plan writes anyway (most room first), then unchanged ones, most room first, until
// their room exceeds two slices' worth (enough for any donor, the donor itself among them).
std::vector<Bin> Planner::Receivers(TypeWork& tw, int g) const {
  std::vector<Bin> out;
  for (size_t i = 0; i < tw.creates.size(); ++i) {
    const Write& w = tw.creates[i];
    if (w.group == g && !w.gone && static_cast<int>(w.endpoints.size()) < max_) {
      out.push_back(BinOf(Bin::Kind::kCreate, i, w));
    }
  }
  for (size_t i = 0; i < tw.updates.size(); ++i) {
    const Write& w = tw.updates[i];
    if (w.group == g && !w.gone && static_cast<int>(w.endpoints.size()) < max_) {
      out.push_back(BinOf(Bin::Kind::kUpdate, i, w));
    }
  }
  std::sort(out.begin(), out.end(), [](const Bin& a, const Bin& b) { return a.size < b.size; });
  const Group* group = tw.groups[g].group;
  if (group == nullptr) return out;
  int64_t room = 0;
  for (const auto& [size, slot] : group->by_size) {
    if (size >= max_ || room >= 2 * int64_t{max_}) break;
    if (!IsUnchanged(tw, slot)) continue;
    out.push_back(Bin{Bin::Kind::kUnchanged, slot, size});
    room += max_ - size;
  }
  return out;
}

// Every slice the plan writes (not yet a receiver), and the smallest unchanged one.
std::vector<Bin> Planner::Donors(TypeWork& tw, int g) const {
  std::vector<Bin> out;
  for (size_t i = 0; i < tw.creates.size(); ++i) {
    const Write& w = tw.creates[i];
    if (w.group == g && !w.gone && !w.received) out.push_back(BinOf(Bin::Kind::kCreate, i, w));
  }
  for (size_t i = 0; i < tw.updates.size(); ++i) {
    const Write& w = tw.updates[i];
    if (w.group == g && !w.gone && !w.received && !w.endpoints.empty()) {
      out.push_back(BinOf(Bin::Kind::kUpdate, i, w));
    }
  }
  if (const Group* group = tw.groups[g].group; group != nullptr) {
    for (const auto& [size, slot] : group->by_size) {
      if (!IsUnchanged(tw, slot)) continue;
      out.push_back(Bin{Bin::Kind::kUnchanged, slot, size});
      break;
    }
  }
  return out;
}

Move Planner::PlanMove(const TypeWork& tw, const Bin& donor, const std::vector<Bin>& receivers,
                       const Tally& tally, int64_t affordable) const {
  const int64_t base = tally.Writes();
  // Emptied: a create vanishes, an update becomes a delete, an unchanged slice is deleted.
  Move full{donor, {}, 0, false, tally};
  if (donor.kind == Bin::Kind::kCreate) --full.tally.creates;
  if (donor.kind == Bin::Kind::kUpdate) --full.tally.updates;
  if (donor.kind != Bin::Kind::kCreate) ++full.tally.recyclable_deletes;
  // Partly emptied (only when writes may be added): an unchanged donor becomes an update.
  Move part{donor, {}, 0, true, tally};
  if (!donor.touched()) ++part.tally.updates;
  int64_t left = donor.size;
  for (const Bin& r : receivers) {
    if (r.kind == donor.kind && r.ref == donor.ref) continue;
    const int64_t room = std::min<int64_t>(max_ - r.size, donor.size);
    if (room <= 0) continue;
    if (left > 0) {
      full.receivers.push_back(r);
      if (!r.touched()) ++full.tally.updates;
      left -= room;
    }
    if (affordable > 0 && part.count < donor.size &&
        part.tally.Writes() + (r.touched() ? 0 : 1) - base <= affordable) {
      part.receivers.push_back(r);
      if (!r.touched()) ++part.tally.updates;
      part.count = std::min(donor.size, part.count + room);
    }
  }
  if (left <= 0 && full.tally.Writes() - base <= affordable) {
    full.count = donor.size;
    return full;
  }
  // A partial move that would empty the donor is the full one, which was not affordable.
  if (part.count >= donor.size || part.tally.Writes() - base > affordable) part.count = 0;
  return part;
}

void Planner::Execute(TypeWork& tw, const Move& m, Tally& tally) {
  // The donor as a write: an unchanged one becomes an update first (dropped if emptied).
  size_t donor = static_cast<size_t>(m.donor.ref);
  if (!m.donor.touched()) {
    const uint32_t slot = static_cast<uint32_t>(m.donor.ref);
    UpdateOfUnchanged(tw, slot, rep_.slots[slot].slice->endpoints.Borrowed());
    donor = tw.updates.size() - 1;
  }
  // Re-resolved on each use: UpdateOfUnchanged grows tw.updates.
  auto source = [&]() -> Write& {
    return m.donor.kind == Bin::Kind::kCreate ? tw.creates[donor] : tw.updates[donor];
  };
  source().received = true;  // never a donor twice
  int64_t left = m.count;
  for (const Bin& r : m.receivers) {
    Write* w;
    if (r.kind == Bin::Kind::kUnchanged) {
      const uint32_t slot = static_cast<uint32_t>(r.ref);
      w = &UpdateOfUnchanged(tw, slot, rep_.slots[slot].slice->endpoints.Borrowed());
    } else {
      w = r.kind == Bin::Kind::kCreate ? &tw.creates[r.ref] : &tw.updates[r.ref];
    }
    w->received = true;
    const int64_t k = std::min<int64_t>(left, max_ - static_cast<int64_t>(w->endpoints.size()));
    // From the donor's end: the positions Emit compares with the stored ones stay put.
    for (Placed& p : TakeFrom(source(), static_cast<size_t>(k))) PutInto(*w, std::move(p));
    left -= k;
  }
  moved_ += m.count;
  spent_ += m.tally.Writes() - tally.Writes();
  tally = m.tally;
  if (!m.partial) Drop(tw, source());
}

void Planner::PackGroup(TypeWork& tw, int g, Tally& tally) {
  const int64_t n = tw.groups[g].new_count;
  const int64_t target = CeilDiv(n, max_);
  int64_t live = LiveSlices(tw, g);
  while (live > target) {
    const double fill = static_cast<double>(n) / static_cast<double>(live * max_);
    const int64_t affordable =
        fill < options_.packing.fill_threshold ? std::max<int64_t>(0, budget_ - spent_) : 0;
    const std::vector<Bin> receivers = Receivers(tw, g);
    std::optional<Move> best;
    for (const Bin& donor : Donors(tw, g)) {
      Move m = PlanMove(tw, donor, receivers, tally, affordable);
      if (m.count > 0 && (!best.has_value() || Better(m, *best))) best = m;
    }
    if (!best.has_value()) return;
    Execute(tw, *best, tally);
    if (best->partial) return;
    --live;
  }
}

}  // namespace slicekeeper::reconcile::internal
