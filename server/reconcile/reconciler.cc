#include "server/reconcile/reconciler.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/validation.h"
#include "server/reconcile/internal/meta.h"
#include "server/reconcile/internal/planner.h"
#include "server/reconcile/internal/state.h"

namespace slicekeeper::reconcile {

struct ServiceState::Rep : internal::Rep {};

namespace {

const internal::Rep& EmptyRep() {
  static const internal::Rep* const kEmpty = new internal::Rep();
  return *kEmpty;
}

}  // namespace

ServiceState::ServiceState() : rep_(std::make_unique<Rep>()) {}
ServiceState::~ServiceState() = default;
ServiceState::ServiceState(ServiceState&&) noexcept = default;
ServiceState& ServiceState::operator=(ServiceState&&) noexcept = default;

ServiceState ServiceState::FromSlices(absl::Span<const SlicePtr> slices) {
  ServiceState state;
  internal::Rep& rep = *state.rep_;
  std::vector<internal::Group*> groups;
  for (const SlicePtr& slice : slices) {
    internal::TypeState& t = rep.GetType(slice->address_type);
    const std::string key = PortSetKey(*slice->ports);
    auto [it, inserted] = t.groups.try_emplace(key);
    internal::Group& g = it->second;
    if (inserted) {
      g.type = &t;
      g.key = key;
      g.ports = slice->ports;
      groups.push_back(&g);
    }
    const uint32_t slot = rep.AddSlot(slice, &g);
    auto [sig, unused] = rep.sig_counts.try_emplace(internal::MetaSignature(*slice->meta), 0);
    ++sig->second;
    rep.slots[slot].sig = &sig->first;
    for (const EndpointPtr& e : slice->endpoints) {
      if (t.index.insert(internal::IndexEntry{e.get(), slot}).second) {
        ++g.endpoints;
        ++t.endpoints;
        ++rep.endpoints;
      } else {
        rep.dirty.insert(slot);  // a second copy: the next Reconcile drops it
      }
    }
  }
  for (internal::Group* g : groups) rep.Settle(g);
  return state;
}

std::vector<SlicePtr> ServiceState::Slices() const {
  std::vector<SlicePtr> out;
  if (rep_ == nullptr) return out;
  out.reserve(static_cast<size_t>(rep_->num_slices));
  for (const internal::SlotRec& r : rep_->slots) {
    if (r.slice != nullptr) out.push_back(r.slice);
  }
  return out;
}

int64_t ServiceState::IndexBytes() const {
  if (rep_ == nullptr) return 0;
  const internal::Rep& r = *rep_;
  // Swiss tables: one control byte per slot beside the slot; node maps: a node per entry and a
  // pointer per slot; btree sets: about 1.5x their entries.
  auto swiss = [](size_t capacity, size_t slot) {
    return static_cast<int64_t>(capacity * (slot + 1));
  };
  int64_t total = static_cast<int64_t>(sizeof(internal::Rep)) +
                  static_cast<int64_t>(r.slots.capacity() * sizeof(internal::SlotRec) +
                                       r.free_slots.capacity() * sizeof(uint32_t)) +
                  swiss(r.dirty.capacity(), sizeof(uint32_t)) +
                  swiss(r.sig_counts.capacity(), sizeof(void*));
  for (const auto& [sig, count] : r.sig_counts) {
    total +=
        static_cast<int64_t>(sizeof(std::pair<const std::string, int64_t>)) + StringHeapBytes(sig);
  }
  for (const auto& [name, t] : r.types) {
    total += 64 + static_cast<int64_t>(sizeof(internal::TypeState)) +
             swiss(t->index.capacity(), sizeof(internal::IndexEntry)) +
             swiss(t->groups.capacity(), sizeof(void*)) +
             swiss(t->empty_groups.capacity(), sizeof(void*));
    for (const auto& [key, g] : t->groups) {
      total +=
          static_cast<int64_t>(sizeof(std::pair<const std::string, internal::Group>)) +
          2 * StringHeapBytes(key) +
          static_cast<int64_t>(g.by_size.size() * 3 / 2 * sizeof(std::pair<int32_t, uint32_t>));
    }
  }
  return total;
}

int64_t ServiceState::endpoint_count() const { return rep_ == nullptr ? 0 : rep_->endpoints; }

int64_t ServiceState::slice_count() const { return rep_ == nullptr ? 0 : rep_->num_slices; }

bool ServiceState::ApplyWrites(absl::Span<const SliceWrite> writes) {
  if (rep_ == nullptr || !rep_->dirty.empty()) return false;
  internal::Rep& rep = *rep_;
  absl::flat_hash_map<absl::string_view, uint32_t> by_name;
  by_name.reserve(static_cast<size_t>(rep.num_slices));
  for (uint32_t slot = 0; slot < rep.slots.size(); ++slot) {
    if (rep.slots[slot].slice != nullptr) by_name.emplace(rep.slots[slot].slice->name, slot);
  }
  absl::flat_hash_set<internal::Group*> touched;
  std::vector<SlicePtr> old_versions;  // alive while `by_name` views their names
  auto release_sig = [&rep](const std::string* sig) {
    auto it = rep.sig_counts.find(*sig);
    if (--it->second == 0) rep.sig_counts.erase(it);
  };
  // The old versions leave first, so an endpoint that moved between two written slices is free
  // when its new home is added.
  for (const SliceWrite& w : writes) {
    auto found = by_name.find(w.name);
    if (found == by_name.end()) continue;  // a new slice, or one that was not managed
    const uint32_t slot = found->second;
    internal::SlotRec& r = rep.slots[slot];
    internal::Group* g = r.group;
    internal::TypeState* t = g->type;
    for (const EndpointPtr& e : r.slice->endpoints) {
      auto it = t->index.find(e.get());
      // Without dirty slots every endpoint a slot holds is the indexed copy of its identity.
      if (it == t->index.end() || it->ep != e.get()) return false;
      t->index.erase(it);
      --g->endpoints;
      --t->endpoints;
      --rep.endpoints;
    }
    g->by_size.erase({static_cast<int32_t>(r.slice->endpoints.size()), slot});
    --t->slices;
    --rep.num_slices;
    release_sig(r.sig);
    touched.insert(g);
    old_versions.push_back(std::move(r.slice));
    r = internal::SlotRec();
    rep.free_slots.push_back(slot);
  }
  for (const SliceWrite& w : writes) {
    if (w.slice == nullptr) continue;
    internal::TypeState& t = rep.GetType(w.slice->address_type);
    std::string key = PortSetKey(*w.slice->ports);
    auto [it, inserted] = t.groups.try_emplace(key);
    internal::Group& g = it->second;
    if (inserted) {
      g.type = &t;
      g.key = std::move(key);
      g.ports = w.slice->ports;
    }
    const uint32_t slot = rep.AddSlot(w.slice, &g);
    auto [sig, unused] = rep.sig_counts.try_emplace(internal::MetaSignature(*w.slice->meta), 0);
    ++sig->second;
    rep.slots[slot].sig = &sig->first;
    touched.insert(&g);
    for (const EndpointPtr& e : w.slice->endpoints) {
      if (!t.index.insert(internal::IndexEntry{e.get(), slot}).second) return false;
      ++g.endpoints;
      ++t.endpoints;
      ++rep.endpoints;
    }
  }
  for (internal::Group* g : touched) rep.Settle(g);
  // As FromSlices leaves them: recomputed or restarted by the next Reconcile.
  rep.ceil_sum = 0;
  rep.ceil_max = 0;
  rep.pack_credit = 0;
  ++rep.version;
  return true;
}

EndpointPtr ServiceState::Find(absl::string_view address_type, const EndpointRecord& e) const {
  if (rep_ == nullptr) return nullptr;
  const internal::TypeState* t = rep_->FindType(std::string(address_type));
  if (t == nullptr) return nullptr;
  auto it = t->index.find(&e);
  if (it == t->index.end()) return nullptr;
  for (const EndpointPtr& stored : rep_->slots[it->slot].slice->endpoints) {
    if (stored.get() == it->ep) return stored;
  }
  return nullptr;
}

void ServiceState::Apply(const Plan& plan) {
  const auto* delta = static_cast<const internal::PlanDelta*>(plan.internal.get());
  // Applying a plan computed against another state (or a stale one) would corrupt the indexes:
  // a caller bug, not bad input.
  if (delta == nullptr || rep_ == nullptr || delta->rep != rep_.get() ||
      delta->version != rep_->version) {
    // The pure core has no logger: say which invariant broke on stderr, then stop.
    std::fprintf(stderr,
                 "reconcile: ServiceState::Apply: the plan was not computed against this state at "
                 "its current version (plan %s, state %s; plan version %lld, state version %lld)\n",
                 delta == nullptr ? "without delta" : "for another state",
                 rep_ == nullptr ? "empty" : "live",
                 delta == nullptr ? -1LL : static_cast<long long>(delta->version),
                 rep_ == nullptr ? -1LL : static_cast<long long>(rep_->version));
    std::abort();
  }
  rep_->Apply(*delta);
}

absl::StatusOr<Plan> Reconcile(const ServiceState& state, const Input& input,
                               const Options& options) {
  if (input.service == nullptr) return absl::InvalidArgumentError("service record is required");
  const int max_allowed = static_cast<int>(validation::kMaxEndpointsPerSlice);
  if (options.max_endpoints_per_slice < 1 || options.max_endpoints_per_slice > max_allowed) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_endpoints_per_slice must be in [1, ", max_allowed, "]"));
  }
  const internal::Rep& rep = state.rep_ != nullptr ? *state.rep_ : EmptyRep();
  return internal::Planner(rep, input, options).Run();
}

}  // namespace slicekeeper::reconcile
