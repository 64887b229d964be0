#include "server/xds/internal/leds_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

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
  CollectionState& cs = Track(collection);
  cs.held[IdOf(cs, name)] = std::move(version);
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

absl::string_view LedsState::IdOf(const CollectionState& cs, absl::string_view member) {
  if (!cs.parsed.has_value()) return member;
  // Every member of a parsed collection is <prefix><id><query> (LedsEndpointName,
  // LedsCollectionOf).
  const size_t fixed = cs.parsed->prefix.size() + cs.parsed->query.size();
  return member.substr(cs.parsed->prefix.size(), member.size() - fixed);
}

std::string LedsState::NameOf(const CollectionState& cs, absl::string_view id) {
  if (!cs.parsed.has_value()) return std::string(id);
  return absl::StrCat(cs.parsed->prefix, id, cs.parsed->query);
}

void LedsState::EvaluateCollection(const std::string& name, CollectionState& cs,
                                   const CollectionPtr& current, Changes* out) {
  const size_t members = current != nullptr ? current->members.size() : 0;
  for (size_t i = 0; i < members; ++i) {
    const auto& [member, resource] = current->members[i];
    auto [held, inserted] = cs.held.try_emplace(IdOf(cs, member));
    if (!inserted && held->second == resource->version) continue;
    held->second = resource->version;
    out->updated.emplace_back(member, resource);
  }
  // Every current member is held now: any other held one left.
  if (cs.held.size() > members) {
    absl::flat_hash_set<absl::string_view> ids;
    for (size_t i = 0; i < members; ++i) ids.insert(IdOf(cs, current->members[i].first));
    for (auto it = cs.held.begin(); it != cs.held.end();) {
      if (ids.contains(it->first)) {
        ++it;
        continue;
      }
      out->removed.push_back(NameOf(cs, it->first));
      cs.held.erase(it++);
    }
  }
  if (members > 0 || !cs.subscribed) {
    cs.told_absent = false;
  } else if (!cs.told_absent) {
    out->removed.push_back(name);
    cs.told_absent = true;
  }
}

}  // namespace slicekeeper::xds::internal
