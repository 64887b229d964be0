#include "server/xds/internal/leds_state.h"

#include <algorithm>
#include <utility>

namespace slicekeeper::xds::internal {

LedsState::CollectionState& LedsState::Track(const std::string& name) {
  auto [it, inserted] = collections_.try_emplace(name);
  if (inserted) {
    absl::StatusOr<LedsCollection> parsed = ParseLedsCollection(name);
    if (parsed.ok()) {
      by_key_[parsed->service.Key()].insert(name);
      it->second.parsed = std::move(*parsed);
    }
  }
  return it->second;
}

void LedsState::Untrack(const std::string& name) {
  auto it = collections_.find(name);
  if (it == collections_.end()) return;
  if (it->second.parsed.has_value()) {
    auto k = by_key_.find(it->second.parsed->service.Key());
    if (k != by_key_.end()) {
      k->second.erase(name);
      if (k->second.empty()) by_key_.erase(k);
    }
  }
  collections_.erase(it);
  dirty_.erase(name);
}

bool LedsState::Subscribe(const std::string& name) {
  CollectionState& cs = Track(name);
  if (cs.subscribed) return false;
  cs.subscribed = true;
  dirty_.insert(name);
  return true;
}

bool LedsState::Unsubscribe(const std::string& name) {
  auto it = collections_.find(name);
  if (it == collections_.end() || !it->second.subscribed) return false;
  Untrack(name);
  return true;
}

void LedsState::SetHeld(const std::string& name, std::string version) {
  const std::string collection = LedsCollectionOf(name).value_or(name);
  Track(collection).initial[name] = std::move(version);
  dirty_.insert(collection);
}

bool LedsState::Active() const {
  return std::any_of(collections_.begin(), collections_.end(),
                     [](const auto& kv) { return kv.second.subscribed; });
}

std::vector<std::string> LedsState::SubscribedNames() const {
  std::vector<std::string> out;
  for (const auto& [name, cs] : collections_) {
    if (cs.subscribed) out.push_back(name);
  }
  return out;
}

void LedsState::MarkKey(const std::string& key) {
  if (by_key_.contains(key)) dirty_keys_.insert(key);
}

void LedsState::AddKeys(absl::flat_hash_set<std::string>* keys) const {
  for (const auto& [key, names] : by_key_) keys->insert(key);
}

void LedsState::Evaluate(const absl::flat_hash_map<std::string, watch::ServiceVersion>& services,
                         ResourceCache* cache, const ClientInfo& client, Changes* out) {
  for (const std::string& key : std::exchange(dirty_keys_, {})) {
    auto it = by_key_.find(key);
    if (it != by_key_.end()) dirty_.insert(it->second.begin(), it->second.end());
  }
  for (const std::string& name : std::exchange(dirty_, {})) {
    auto it = collections_.find(name);
    if (it == collections_.end()) continue;
    CollectionState& cs = it->second;
    CollectionPtr current;
    if (cs.subscribed && cs.parsed.has_value()) {
      auto sv = services.find(cs.parsed->service.Key());
      if (sv != services.end())
        current = cache->GetCollection(name, *cs.parsed, client, sv->second);
    }
    EvaluateCollection(name, cs, current, out);
    if (!cs.subscribed) Untrack(name);  // held only (a reconnect): everything it held is removed
  }
}

void LedsState::EvaluateCollection(const std::string& name, CollectionState& cs,
                                   const CollectionPtr& current, Changes* out) {
  static const auto* const kNone = new std::vector<std::pair<std::string, ResourcePtr>>();
  const auto& now = current != nullptr ? current->members : *kNone;
  const auto& sent = cs.sent != nullptr ? cs.sent->members : *kNone;
  // Both sorted by name: one merge pass, no hashing. A member is sent unless the client holds
  // its Resource (the cache keeps it while its bytes hold) or, after a reconnect, its version.
  auto held = [&](const std::string& member, const ResourcePtr& resource) {
    auto it = cs.initial.find(member);
    return it != cs.initial.end() && it->second == resource->version;
  };
  auto s = sent.begin();
  for (const auto& [member, resource] : now) {
    while (s != sent.end() && s->first < member) out->removed.push_back((s++)->first);
    const bool was_sent = s != sent.end() && s->first == member;
    if (was_sent ? s->second != resource && s->second->version != resource->version
                 : !held(member, resource)) {
      out->updated.emplace_back(member, resource);
    }
    if (was_sent) ++s;
  }
  while (s != sent.end()) out->removed.push_back((s++)->first);
  // What a reconnected client said it holds and no longer exists.
  for (const auto& [member, version] : cs.initial) {
    if (!std::binary_search(now.begin(), now.end(), std::make_pair(member, ResourcePtr()),
                            [](const auto& a, const auto& b) { return a.first < b.first; })) {
      out->removed.push_back(member);
    }
  }
  cs.initial.clear();
  cs.sent = current != nullptr && !current->members.empty() ? current : nullptr;
  if (!now.empty() || !cs.subscribed) {
    cs.told_absent = false;
  } else if (!cs.told_absent) {
    out->removed.push_back(name);
    cs.told_absent = true;
  }
}

}  // namespace slicekeeper::xds::internal
