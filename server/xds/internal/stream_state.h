// Internal to server/xds: what one ADS stream knows, shared by its state-of-the-world and delta
// protocol logic (sotw_session.h, delta_session.h): the client, the newest version of every
// service it watches, and per resource type the names it tracks and what the client holds.
//
// The reactor feeds it hub marks (`Apply`) and asks `Evaluate(type)` what changed for that type
// since the last call: resources whose version differs from what the client holds, and names
// the client holds (or asked for) that do not exist. Only names whose service changed, or whose
// subscription changed, are looked at: a change to one service costs the streams watching it
// one cache lookup per affected name.
//
// REQUIRES of the caller: every service key `Wants()` names has been marked (Apply) before the
// next Evaluate; a key never marked is read as "does not exist" (a wildcard stream's catalog
// lists every existing service, and a per-service subscriber marks a missing one as null).
//
// Thread-safety: none; the owning reactor serializes every call under its mutex.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_STREAM_STATE_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_STREAM_STATE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/watch/subscriber.h"
#include "server/xds/internal/changes.h"
#include "server/xds/internal/leds_state.h"
#include "server/xds/names.h"
#include "server/xds/resource_cache.h"
#include "server/xds/resources.h"

namespace envoy::config::core::v3 {
class Node;
}

namespace slicekeeper::xds::internal {

// What a stream must watch in the hub: every service, or these service keys.
struct WatchSet {
  bool all = false;
  absl::flat_hash_set<std::string> keys;
};

class StreamState {
 public:
  // `cache` must outlive the state.
  explicit StreamState(ResourceCache* cache) : cache_(cache) {}

  // The first Node a stream sends decides its ClientInfo; later ones are ignored. LEDS
  // (ClientInfo::leds) is honoured only on a `delta` stream; a state-of-the-world stream that
  // asks for it gets inline endpoints (and a warning in the log).
  void SetNode(const envoy::config::core::v3::Node& node, bool delta);
  const std::string& node_id() const { return node_id_; }

  // Records service versions from the hub (older than known ones are ignored) and marks the
  // names that depend on them for evaluation.
  void Apply(absl::flat_hash_map<std::string, watch::ServiceVersion> marks);
  // The newest revision of any version applied: the stream's state is current up to it.
  int64_t revision() const { return revision_; }

  // --- Subscriptions of one type (LbEndpoint: glob collections, leds_state.h). Each returns
  // true when it changed anything. ---
  bool Subscribe(ResourceType type, const std::string& name);
  bool Unsubscribe(ResourceType type, const std::string& name);
  // LbEndpoint has no wildcard: false.
  bool SetWildcard(ResourceType type, bool wildcard);
  bool wildcard(ResourceType type) const { return types_[Index(type)].wildcard; }
  // Delta reconnect: the client already holds `version` of `name`.
  void SetHeld(ResourceType type, const std::string& name, std::string version);
  // True when the type has a subscription (a name or the wildcard).
  bool Active(ResourceType type) const;
  // The names of `type` subscribed to by name.
  std::vector<std::string> SubscribedNames(ResourceType type) const;

  // What changed for `type` since its last Evaluate; the client is then recorded as holding
  // every updated resource and none of the removed names.
  Changes Evaluate(ResourceType type);
  // Calls fn(name, resource) for every tracked name of `type` that exists, by name.
  void ForEachExisting(ResourceType type,
                       const std::function<void(const std::string&, const ResourcePtr&)>& fn) const;

  // The services to watch; drops the versions of services no longer needed.
  WatchSet Wants();

 private:
  struct NameState {
    std::optional<ServiceName> parsed;  // nullopt: malformed, never exists
    bool subscribed = false;            // asked for by name
    bool in_wildcard = false;           // listed by the type's wildcard subscription
    std::string held_version;           // what the client holds; "" nothing
    bool told_absent = false;           // already reported as not existing
    ResourcePtr current;                // as last evaluated (null: does not exist)
  };
  struct TypeState {
    bool wildcard = false;
    absl::flat_hash_map<std::string, NameState> names;
    // Service key -> the names of it tracked.
    absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> by_key;
    absl::flat_hash_set<std::string> dirty_keys;
    absl::flat_hash_set<std::string> dirty_names;
  };
  static size_t Index(ResourceType type) { return static_cast<size_t>(type); }

  NameState& Track(TypeState& ts, const std::string& name);
  void Untrack(TypeState& ts, const std::string& name);
  void RefreshWildcard(TypeState& ts, const std::string& key);
  void EvaluateName(ResourceType type, TypeState& ts, const std::string& name, Changes* out);
  ResourcePtr Resolve(ResourceType type, const std::string& name, const NameState& st) const;

  ResourceCache* const cache_;
  bool node_set_ = false;
  std::string node_id_;
  ClientInfo client_;
  absl::flat_hash_map<std::string, watch::ServiceVersion> services_;
  int64_t revision_ = 0;
  std::array<TypeState, static_cast<size_t>(ResourceType::kCount)> types_;  // LbEndpoint unused
  LedsState leds_;
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_STREAM_STATE_H_
