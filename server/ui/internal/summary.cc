#include "server/ui/internal/summary.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "common/slice.h"

namespace slicekeeper::ui::internal {
namespace {

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

void Add(const Entry& x, int sign, EndpointCounts* to) {
  to->total += sign;
  to->ready += sign * x.ready;
  to->serving += sign * x.serving;
  to->terminating += sign * x.terminating;
}

// The slices query::Summarize counts.
bool Counted(const Slice& s) {
  return !s.ServiceName().empty() && s.address_type != kAddressTypeFQDN;
}

// 32 bits of the first address's hash: 4 bytes per endpoint kept. Two addresses of one service
// that share it (about 1 % of 10 000-endpoint services have a pair) only cost a read of their
// slices: MergeRepeated compares the addresses themselves.
uint32_t AddressHash(const EndpointPtr& e) { return SummaryCache::AddressKey(e->addresses(0)); }

}  // namespace

// What one slice version adds to its service's summary, each endpoint counted once.
struct SummaryCache::Part {
  SlicePtr slice;  // held: the next version's diff and the repeats' correction read it
  EndpointCounts counts;
  std::vector<std::pair<std::string, EndpointCounts>> zones;
  // The first address's hash (AddressHash) of each counted endpoint, sorted.
  std::vector<uint32_t> keys;

  void Count(const Entry& x, int sign) {
    Add(x, sign, &counts);
    auto z = std::find_if(zones.begin(), zones.end(),
                          [&](const auto& zc) { return zc.first == x.zone; });
    if (z == zones.end()) z = zones.insert(zones.end(), {std::string(x.zone), EndpointCounts{}});
    Add(x, sign, &z->second);
  }

  // From the slice's endpoints.
  explicit Part(SlicePtr p) : slice(std::move(p)) {
    keys.reserve(slice->endpoints.size());
    for (const EndpointPtr& e : slice->endpoints) {
      if (e == nullptr || e->addresses_size() == 0) continue;
      keys.push_back(AddressHash(e));
      Count(EntryOf(e), +1);
    }
    std::sort(keys.begin(), keys.end());
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
    // What left: in the base version but not (as often) in the new one. Pointers are compared
    // before anything is read; only the departed endpoints are.
    std::vector<uint32_t> departed;
    for (const EndpointPtr& e : base.slice->endpoints) {
      if (e == nullptr) continue;
      auto it = arrived.find(e.get());
      if (it != arrived.end() && it->second.second > 0) {
        --it->second.second;  // stays
      } else if (e->addresses_size() > 0) {
        departed.push_back(AddressHash(e));
        Count(EntryOf(e), -1);
      }
    }
    std::sort(departed.begin(), departed.end());
    // The base's keys less the departed ones (both sorted; each departed key is among them).
    keys.reserve(slice->endpoints.size());
    auto d = departed.begin();
    for (uint32_t key : base.keys) {
      while (d != departed.end() && *d < key) ++d;
      if (d != departed.end() && *d == key) {
        ++d;
      } else {
        keys.push_back(key);
      }
    }
    // What arrived.
    for (const auto& [object, arrival] : arrived) {
      const EndpointPtr& e = *arrival.first;
      if (arrival.second == 0 || e->addresses_size() == 0) continue;
      const uint32_t hash = AddressHash(e);
      const Entry x = EntryOf(e);
      for (int n = 0; n < arrival.second; ++n) {
        keys.push_back(hash);
        Count(x, +1);
      }
    }
    std::sort(keys.begin(), keys.end());
  }
};

namespace {

// Takes the entries of one hash (in snapshot order) out of `total` and `zones` and adds each
// address's merged endpoint back (query::MergeEndpoints' rule, in snapshot order: a later entry
// replaces the earlier one unless it is terminating). Equal hashes need not be equal addresses:
// the entries are merged per address.
void MergeRepeated(const std::vector<const EndpointPtr*>& entries, EndpointCounts* total,
                   absl::flat_hash_map<std::string, EndpointCounts>* zones) {
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

v1::ServiceSummary ToProto(const Summary& s, absl::string_view namespace_, absl::string_view name) {
  v1::ServiceSummary out;
  out.set_namespace_(std::string(namespace_));
  out.set_name(std::string(name));
  out.set_mod_revision(s.mod_revision);
  out.set_slices(s.slices);
  auto set = [](const EndpointCounts& c, v1::ConditionCounts* to) {
    to->set_total(c.total);
    to->set_ready(c.ready);
    to->set_serving(c.serving);
    to->set_terminating(c.terminating);
  };
  set(s.endpoints, out.mutable_endpoints());
  for (const auto& [zone, c] : s.zones) set(c, &(*out.mutable_by_zone())[zone]);
  return out;
}

SummaryCache::SummaryCache(int64_t keep_above) : keep_above_(keep_above) {}
SummaryCache::~SummaryCache() = default;
SummaryCache::SummaryCache(SummaryCache&&) noexcept = default;
SummaryCache& SummaryCache::operator=(SummaryCache&&) noexcept = default;

uint32_t SummaryCache::AddressKey(absl::string_view address) {
  return static_cast<uint32_t>(absl::Hash<absl::string_view>{}(address));
}

int64_t SummaryCache::keys_held() const {
  int64_t n = 0;
  for (const auto& p : parts_) n += static_cast<int64_t>(p->keys.size());
  return n;
}

Summary SummaryCache::Update(const store::ServiceSnapshot& snapshot) {
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
  Summary out;
  out.slices = static_cast<int64_t>(snapshot.slices.size());
  out.mod_revision = snapshot.mod_revision;
  EndpointCounts& total = out.endpoints;
  absl::flat_hash_map<std::string, EndpointCounts> zones;
  for (const auto& p : parts_) {
    total.Add(p->counts, +1);
    for (const auto& [zone, c] : p->zones) zones[zone].Add(c, +1);
  }

  // An address in more than one entry is one merged endpoint (query::MergeEndpoints' rule, in
  // snapshot order: a later entry replaces the earlier one unless it is terminating): take its
  // entries back out and count the winner. Only the slices holding a repeated key are read again.
  std::vector<std::pair<uint32_t, uint32_t>> all;  // (key, part), sorted
  all.reserve(endpoints);
  for (uint32_t p = 0; p < parts_.size(); ++p) {
    for (uint32_t key : parts_[p]->keys) all.emplace_back(key, p);
  }
  std::sort(all.begin(), all.end());
  std::vector<uint32_t> repeated;  // sorted
  std::vector<bool> holds_repeat(parts_.size(), false);
  for (size_t i = 0; i < all.size();) {
    size_t j = i + 1;
    while (j < all.size() && all[j].first == all[i].first) ++j;
    if (j - i > 1) {
      repeated.push_back(all[i].first);
      for (size_t k = i; k < j; ++k) holds_repeat[all[k].second] = true;
    }
    i = j;
  }
  if (!repeated.empty()) {
    repeats_ += static_cast<int64_t>(repeated.size());
    // Each slice holding a repeated key is read once, in snapshot order, so every key's entries
    // come out in snapshot order (slice order, then position in the slice).
    absl::flat_hash_map<uint32_t, std::vector<const EndpointPtr*>> entries;
    for (uint32_t p = 0; p < parts_.size(); ++p) {
      if (!holds_repeat[p]) continue;
      for (const EndpointPtr& e : parts_[p]->slice->endpoints) {
        if (e == nullptr || e->addresses_size() == 0) continue;
        const uint32_t key = AddressHash(e);
        if (std::binary_search(repeated.begin(), repeated.end(), key)) entries[key].push_back(&e);
      }
    }
    for (const auto& [key, list] : entries) MergeRepeated(list, &total, &zones);
  }

  for (auto& [zone, c] : zones) {
    if (c.total > 0) out.zones.emplace_back(zone, c);
  }
  std::sort(out.zones.begin(), out.zones.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // A small service is read whole next time (see summary.h).
  if (static_cast<int64_t>(endpoints) <= keep_above_) parts_.clear();
  return out;
}

}  // namespace slicekeeper::ui::internal
