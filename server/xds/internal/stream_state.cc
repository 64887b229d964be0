#include "server/xds/internal/stream_state.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "envoy/config/core/v3/base.pb.h"

namespace slicekeeper::xds::internal {

void StreamState::SetNode(const envoy::config::core::v3::Node& node, bool delta) {
  if (node_set_) return;
  node_set_ = true;
  node_id_ = node.id();
  client_ = ClientInfoFromNode(node);
  if (client_.leds && !delta) {
    spdlog::warn(
        "xds node={} asks for LEDS (slicekeeper.io/leds) on a state-of-the-world stream: LEDS is "
        "delta xDS only, so it gets inline endpoints (Envoy: ads_config.api_type DELTA_GRPC)",
        node_id_);
    client_.leds = false;
  }
}

void StreamState::Apply(absl::flat_hash_map<std::string, watch::ServiceVersion> marks) {
  for (auto& [key, version] : marks) {
    auto [it, inserted] = services_.try_emplace(key, version);
    if (!inserted) {
      if (version.revision <= it->second.revision) continue;
      const bool same = it->second.snapshot == version.snapshot;
      it->second = std::move(version);
      revision_ = std::max(revision_, it->second.revision);
      if (same) continue;  // a newer revision of the same state: nothing to re-evaluate
    }
    revision_ = std::max(revision_, it->second.revision);
    for (TypeState& ts : types_) {
      if (ts.wildcard || ts.by_key.contains(key)) ts.dirty_keys.insert(key);
    }
    leds_.MarkKey(key);
  }
}

StreamState::NameState& StreamState::Track(TypeState& ts, const std::string& name) {
  auto [it, inserted] = ts.names.try_emplace(name);
  if (inserted) {
    absl::StatusOr<ServiceName> parsed = ParseName(name);
    if (parsed.ok()) {
      ts.by_key[parsed->Key()].insert(name);
      it->second.parsed = std::move(*parsed);
    }
  }
  return it->second;
}

void StreamState::Untrack(TypeState& ts, const std::string& name) {
  auto it = ts.names.find(name);
  if (it == ts.names.end()) return;
  if (it->second.parsed.has_value()) {
    auto k = ts.by_key.find(it->second.parsed->Key());
    if (k != ts.by_key.end()) {
      k->second.erase(name);
      if (k->second.empty()) ts.by_key.erase(k);
    }
  }
  ts.names.erase(it);
  ts.dirty_names.erase(name);
}

bool StreamState::Subscribe(ResourceType type, const std::string& name) {
  if (type == ResourceType::kLbEndpoint) return leds_.Subscribe(name);
  TypeState& ts = types_[Index(type)];
  NameState& st = Track(ts, name);
  if (st.subscribed) return false;
  st.subscribed = true;
  ts.dirty_names.insert(name);
  return true;
}

bool StreamState::Unsubscribe(ResourceType type, const std::string& name) {
  if (type == ResourceType::kLbEndpoint) return leds_.Unsubscribe(name);
  TypeState& ts = types_[Index(type)];
  auto it = ts.names.find(name);
  if (it == ts.names.end() || !it->second.subscribed) return false;
  it->second.subscribed = false;
  if (!it->second.in_wildcard) Untrack(ts, name);
  return true;
}

bool StreamState::SetWildcard(ResourceType type, bool wildcard) {
  if (type == ResourceType::kLbEndpoint) return false;
  TypeState& ts = types_[Index(type)];
  if (ts.wildcard == wildcard) return false;
  ts.wildcard = wildcard;
  if (wildcard) {
    // Services already known are not marked again by the hub: list their names now.
    for (const auto& [key, version] : services_) ts.dirty_keys.insert(key);
    return true;
  }
  std::vector<std::string> dropped;
  for (auto& [name, st] : ts.names) {
    st.in_wildcard = false;
    if (!st.subscribed) dropped.push_back(name);
  }
  for (const std::string& name : dropped) Untrack(ts, name);
  return true;
}

void StreamState::SetHeld(ResourceType type, const std::string& name, std::string version) {
  if (type == ResourceType::kLbEndpoint) return leds_.SetHeld(name, std::move(version));
  TypeState& ts = types_[Index(type)];
  NameState& st = Track(ts, name);
  st.held_version = std::move(version);
  ts.dirty_names.insert(name);
  // A wildcard stream lists the names of this service before the held name is judged.
  if (st.parsed.has_value()) ts.dirty_keys.insert(st.parsed->Key());
}

bool StreamState::Active(ResourceType type) const {
  if (type == ResourceType::kLbEndpoint) return leds_.Active();
  const TypeState& ts = types_[Index(type)];
  return ts.wildcard || std::any_of(ts.names.begin(), ts.names.end(),
                                    [](const auto& kv) { return kv.second.subscribed; });
}

std::vector<std::string> StreamState::SubscribedNames(ResourceType type) const {
  if (type == ResourceType::kLbEndpoint) return leds_.SubscribedNames();
  std::vector<std::string> out;
  for (const auto& [name, st] : types_[Index(type)].names) {
    if (st.subscribed) out.push_back(name);
  }
  return out;
}

Changes StreamState::Evaluate(ResourceType type) {
  Changes out;
  if (type == ResourceType::kLbEndpoint) {
    leds_.Evaluate(services_, cache_, client_, &out);
  } else {
    TypeState& ts = types_[Index(type)];
    for (const std::string& key : std::exchange(ts.dirty_keys, {})) {
      if (ts.wildcard) RefreshWildcard(ts, key);
      auto it = ts.by_key.find(key);
      if (it != ts.by_key.end()) ts.dirty_names.insert(it->second.begin(), it->second.end());
    }
    for (const std::string& name : std::exchange(ts.dirty_names, {})) {
      EvaluateName(type, ts, name, &out);
    }
  }
  std::sort(out.updated.begin(), out.updated.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(out.removed.begin(), out.removed.end());
  return out;
}

void StreamState::RefreshWildcard(TypeState& ts, const std::string& key) {
  auto sv = services_.find(key);
  std::vector<std::string> listed;
  if (sv != services_.end()) listed = cache_->WildcardNames(sv->second.snapshot);
  if (auto it = ts.by_key.find(key); it != ts.by_key.end()) {
    for (const std::string& name : it->second) {
      NameState& st = ts.names[name];
      st.in_wildcard = std::find(listed.begin(), listed.end(), name) != listed.end();
    }
  }
  for (const std::string& name : listed) Track(ts, name).in_wildcard = true;
}

void StreamState::EvaluateName(ResourceType type, TypeState& ts, const std::string& name,
                               Changes* out) {
  auto it = ts.names.find(name);
  if (it == ts.names.end()) return;
  NameState& st = it->second;
  if (!st.subscribed && !st.in_wildcard) {
    if (!st.held_version.empty()) out->removed.push_back(name);
    Untrack(ts, name);
    return;
  }
  st.current = Resolve(type, name, st);
  if (st.current != nullptr) {
    st.told_absent = false;
    if (st.current->version != st.held_version) {
      st.held_version = st.current->version;
      out->updated.emplace_back(name, st.current);
    }
    return;
  }
  if (!st.held_version.empty() || (st.subscribed && !st.told_absent)) out->removed.push_back(name);
  st.held_version.clear();
  st.told_absent = true;
}

ResourcePtr StreamState::Resolve(ResourceType type, const std::string& name,
                                 const NameState& st) const {
  if (!st.parsed.has_value()) return nullptr;
  auto it = services_.find(st.parsed->Key());
  if (it == services_.end()) return nullptr;
  return cache_->Get(type, name, *st.parsed, client_, it->second);
}

void StreamState::ForEachExisting(
    ResourceType type,
    const std::function<void(const std::string&, const ResourcePtr&)>& fn) const {
  const TypeState& ts = types_[Index(type)];
  std::vector<std::pair<std::string, ResourcePtr>> existing;
  for (const auto& [name, st] : ts.names) {
    if ((st.subscribed || st.in_wildcard) && st.current != nullptr) {
      existing.emplace_back(name, st.current);
    }
  }
  std::sort(existing.begin(), existing.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [name, resource] : existing) fn(name, resource);
}

WatchSet StreamState::Wants() {
  WatchSet out;
  for (const TypeState& ts : types_) out.all = out.all || ts.wildcard;
  if (out.all) return out;
  for (const TypeState& ts : types_) {
    for (const auto& [key, names] : ts.by_key) out.keys.insert(key);
  }
  leds_.AddKeys(&out.keys);
  absl::erase_if(services_, [&](const auto& kv) { return !out.keys.contains(kv.first); });
  return out;
}

}  // namespace slicekeeper::xds::internal
