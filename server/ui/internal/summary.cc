#include "server/ui/internal/summary.h"

#include <algorithm>
#include <functional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "common/slice.h"

namespace slicekeeper::ui::internal {
namespace {

struct Counts {
  int64_t total = 0;
  int64_t ready = 0;
  int64_t serving = 0;
  int64_t terminating = 0;
};

// One endpoint as the summary counts it: nil-defaulted conditions and its zone.
struct Entry {
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  absl::string_view zone;
};

Entry EntryOf(const EndpointPtr& e) {
  const auto& c = e->conditions();
  return Entry{.ready = !c.has_ready() || c.ready(),
               .serving = !c.has_serving() || c.serving(),
               .terminating = c.has_terminating() && c.terminating(),
               .zone = e->zone()};
}

void Add(const Entry& x, int sign, Counts* to) {
  to->total += sign;
  to->ready += sign * x.ready;
  to->serving += sign * x.serving;
  to->terminating += sign * x.terminating;
}

// The slices query::Summarize counts.
bool Counted(const Slice& s) {
  return !s.ServiceName().empty() && s.address_type != kAddressTypeFQDN;
}

// Keys in hash order (ties by object, with std::less: pointers into different objects).
bool KeyLess(const std::pair<uint64_t, const void*>& a, const std::pair<uint64_t, const void*>& b) {
  return a.first != b.first ? a.first < b.first : std::less<const void*>{}(a.second, b.second);
}

uint64_t AddressHash(const EndpointPtr& e) {
  return absl::Hash<absl::string_view>{}(absl::string_view(e->addresses(0)));
}

}  // namespace

// What one slice version adds to its service's summary, each endpoint counted once.
struct SummaryCache::Part {
  SlicePtr slice;  // held: its endpoints are what `keys` points to
  Counts counts;
  std::vector<std::pair<std::string, Counts>> zones;
  // (first address's hash, endpoint object) of each counted endpoint, sorted.
  std::vector<std::pair<uint64_t, const void*>> keys;

  void Count(const Entry& x, int sign) {
    Add(x, sign, &counts);
    auto z = std::find_if(zones.begin(), zones.end(),
                          [&](const auto& zc) { return zc.first == x.zone; });
    if (z == zones.end()) z = zones.insert(zones.end(), {std::string(x.zone), Counts{}});
    Add(x, sign, &z->second);
  }

  // From the slice's endpoints.
  explicit Part(SlicePtr p) : slice(std::move(p)) {
    keys.reserve(slice->endpoints.size());
    for (const EndpointPtr& e : slice->endpoints) {
      if (e == nullptr || e->addresses_size() == 0) continue;
      keys.emplace_back(AddressHash(e), e.get());
      Count(EntryOf(e), +1);
    }
    std::sort(keys.begin(), keys.end(), KeyLess);
  }

  // From `base`, a previous version of the same slice: endpoint objects both hold are
  // unchanged (they are immutable), so only the ones that left or arrived are read.
  Part(SlicePtr p, const Part& base) : slice(std::move(p)), counts(base.counts), zones(base.zones) {
    // Objects of the new version and how often each is in it (an object twice in one slice is
    // two entries).
    absl::flat_hash_map<const void*, std::pair<const EndpointPtr*, int>> arrived;
    arrived.reserve(slice->endpoints.size());
    for (const EndpointPtr& e : slice->endpoints) {
      if (e != nullptr) ++arrived.try_emplace(e.get(), &e, 0).first->second.second;
    }
    keys.reserve(slice->endpoints.size());
    absl::flat_hash_map<const void*, int> departed;
    for (const auto& key : base.keys) {
      auto it = arrived.find(key.second);
      if (it != arrived.end() && it->second.second > 0) {
        --it->second.second;
        keys.push_back(key);
      } else {
        ++departed[key.second];
      }
    }
    // What left: the base slice still holds it (one pass, pointers compared before reading).
    if (!departed.empty()) {
      for (const EndpointPtr& e : base.slice->endpoints) {
        auto d = departed.find(e.get());
        if (d == departed.end() || d->second == 0) continue;
        --d->second;
        Count(EntryOf(e), -1);
      }
    }
    for (const auto& [object, arrival] : arrived) {
      const EndpointPtr& e = *arrival.first;
      if (arrival.second == 0 || e->addresses_size() == 0) continue;
      const uint64_t hash = AddressHash(e);
      const Entry x = EntryOf(e);
      for (int n = 0; n < arrival.second; ++n) {
        keys.emplace_back(hash, object);
        Count(x, +1);
      }
    }
    std::sort(keys.begin(), keys.end(), KeyLess);
  }
};

namespace {

// Takes the entries whose first addresses hash to `hash` out of `total` and `zones` and adds
// each address's merged endpoint back (query::MergeEndpoints' rule, in snapshot order: a later
// entry replaces the earlier one unless it is terminating). `Parts`: SummaryCache's parts.
template <typename Parts>
void CorrectRepeated(const Parts& parts, uint64_t hash, Counts* total,
                     absl::flat_hash_map<std::string, Counts>* zones) {
  // The entries with this hash, in snapshot order (slice order, then position in the slice).
  std::vector<const EndpointPtr*> entries;
  for (const auto& p : parts) {
    auto lo = std::lower_bound(p->keys.begin(), p->keys.end(), hash,
                               [](const auto& key, uint64_t h) { return key.first < h; });
    if (lo == p->keys.end() || lo->first != hash) continue;
    absl::flat_hash_set<const void*> objects;
    for (auto k = lo; k != p->keys.end() && k->first == hash; ++k) objects.insert(k->second);
    for (const EndpointPtr& e : p->slice->endpoints) {
      if (e != nullptr && objects.contains(e.get()) && e->addresses_size() > 0) {
        entries.push_back(&e);
      }
    }
  }
  // Equal hashes need not be equal addresses: merge per address.
  std::vector<bool> done(entries.size(), false);
  for (size_t a = 0; a < entries.size(); ++a) {
    if (done[a]) continue;
    const absl::string_view address = (*entries[a])->addresses(0);
    Entry winner = EntryOf(*entries[a]);
    for (size_t b = a; b < entries.size(); ++b) {
      if (done[b] || absl::string_view((*entries[b])->addresses(0)) != address) continue;
      done[b] = true;
      const Entry x = EntryOf(*entries[b]);
      Add(x, -1, total);
      Add(x, -1, &(*zones)[std::string(x.zone)]);
      if (b != a && !x.terminating) winner = x;
    }
    Add(winner, +1, total);
    Add(winner, +1, &(*zones)[std::string(winner.zone)]);
  }
}

}  // namespace

SummaryCache::SummaryCache() = default;
SummaryCache::~SummaryCache() = default;
SummaryCache::SummaryCache(SummaryCache&&) noexcept = default;
SummaryCache& SummaryCache::operator=(SummaryCache&&) noexcept = default;

v1::ServiceSummary SummaryCache::Update(const store::ServiceSnapshot& snapshot) {
  absl::flat_hash_map<const Slice*, std::shared_ptr<const Part>> previous;
  absl::flat_hash_map<absl::string_view, const Part*> by_name;
  previous.reserve(parts_.size());
  for (std::shared_ptr<const Part>& p : parts_) {
    by_name.emplace(p->slice->name, p.get());
    const Slice* key = p->slice.get();
    previous.emplace(key, std::move(p));
  }
  parts_.clear();
  size_t endpoints = 0;
  for (const SlicePtr& s : snapshot.slices) {
    if (s == nullptr || !Counted(*s)) continue;
    auto it = previous.find(s.get());
    if (it != previous.end()) {
      parts_.push_back(std::move(it->second));
    } else {
      auto base = by_name.find(s->name);
      parts_.push_back(base != by_name.end() ? std::make_shared<const Part>(s, *base->second)
                                             : std::make_shared<const Part>(s));
      ++slices_read_;
    }
    endpoints += parts_.back()->keys.size();
  }

  // Every endpoint counted once, by slice.
  Counts total;
  absl::flat_hash_map<std::string, Counts> zones;
  auto add_counts = [](const Counts& c, Counts* to) {
    to->total += c.total;
    to->ready += c.ready;
    to->serving += c.serving;
    to->terminating += c.terminating;
  };
  for (const auto& p : parts_) {
    add_counts(p->counts, &total);
    for (const auto& [zone, c] : p->zones) add_counts(c, &zones[zone]);
  }

  // An address in more than one entry is one merged endpoint (query::MergeEndpoints' rule, in
  // snapshot order: a later entry replaces the earlier one unless it is terminating): take its
  // entries back out and count the winner. Only the entries whose hashes repeat are read.
  std::vector<std::pair<uint64_t, uint32_t>> all;  // (hash, part), sorted
  all.reserve(endpoints);
  for (uint32_t p = 0; p < parts_.size(); ++p) {
    for (const auto& key : parts_[p]->keys) all.emplace_back(key.first, p);
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size();) {
    size_t j = i + 1;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    if (j - i > 1) {
      ++repeats_;
      CorrectRepeated(parts_, all[i].first, &total, &zones);
    }
    i = j;
  }

  v1::ServiceSummary out;
  out.set_namespace_(snapshot.namespace_);
  out.set_name(snapshot.name);
  out.set_mod_revision(snapshot.mod_revision);
  out.set_slices(static_cast<int64_t>(snapshot.slices.size()));
  auto set = [](const Counts& c, v1::ConditionCounts* to) {
    to->set_total(c.total);
    to->set_ready(c.ready);
    to->set_serving(c.serving);
    to->set_terminating(c.terminating);
  };
  set(total, out.mutable_endpoints());
  auto* by_zone = out.mutable_by_zone();
  for (const auto& [zone, c] : zones) {
    if (c.total > 0) set(c, &(*by_zone)[zone]);
  }
  return out;
}

}  // namespace slicekeeper::ui::internal
