// Internal to server/xds: what one delta xDS stream knows of its LEDS subscriptions (resource type
// envoy.config.endpoint.v3.LbEndpoint): the glob collections it subscribed to and, per
// collection, the members the client holds at which version. StreamState owns one and hands it
// the LbEndpoint type's calls.
//
//   - A subscription names a glob collection (names.h); a malformed name, or a collection whose
//     service or port does not exist or that has no member, "does not exist": its name is sent
//     once in removed_resources (so a client waiting for the collection's first update gets
//     one), and again each time it empties after having members.
//   - Evaluate sends, per dirty collection, the members whose version differs from what the
//     client holds, and the held members that left it, in removed_resources: a one-endpoint
//     change costs one LbEndpoint on the wire. What the client holds is the collection last
//     sent (a shared pointer into the resource cache), diffed against the new one in one
//     merge pass: no per-stream copy of the endpoints, no hashing per member.
//   - initial_resource_versions (SetHeld) file each member under its collection (the name with
//     its last component replaced by `*`); a held member of a collection the client does not
//     subscribe to is removed.
//   - Unsubscribing drops the collection and what the client held of it (the client drops its
//     members itself).
//
// Thread-safety: none; the owning StreamState's reactor serializes every call.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_LEDS_STATE_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_LEDS_STATE_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "server/watch/subscriber.h"
#include "server/xds/internal/changes.h"
#include "server/xds/names.h"
#include "server/xds/resource_cache.h"
#include "server/xds/resources.h"

namespace slicekeeper::xds::internal {

class LedsState {
 public:
  // Each returns true when it changed anything.
  bool Subscribe(const std::string& name);
  bool Unsubscribe(const std::string& name);
  // Delta reconnect: the client holds `version` of member `name`.
  void SetHeld(const std::string& name, std::string version);
  bool Active() const;
  std::vector<std::string> SubscribedNames() const;

  // A service changed: its collections are evaluated next.
  void MarkKey(const std::string& key);
  // The service keys the collections refer to.
  void AddKeys(absl::flat_hash_set<std::string>* keys) const;

  // What changed since the last call, `services` being the newest version of every watched
  // service (a key missing: the service does not exist).
  void Evaluate(const absl::flat_hash_map<std::string, watch::ServiceVersion>& services,
                ResourceCache* cache, const ClientInfo& client, Changes* out);

 private:
  struct CollectionState {
    std::optional<LedsCollection> parsed;  // nullopt: malformed, never exists
    bool subscribed = false;
    bool told_absent = false;  // its name was sent in removed_resources
    // What the client holds: the collection last sent (shared with the cache and every
    // stream that got it: a stream costs a pointer, not a copy of the endpoints), and until the
    // next evaluation, what a reconnect said it holds (initial_resource_versions: name ->
    // version).
    CollectionPtr sent;
    absl::flat_hash_map<std::string, std::string> initial;
  };

  CollectionState& Track(const std::string& name);
  void Untrack(const std::string& name);
  void EvaluateCollection(const std::string& name, CollectionState& cs,
                          const CollectionPtr& current, Changes* out);

  absl::flat_hash_map<std::string, CollectionState> collections_;
  // Service key -> the collections of it tracked.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> by_key_;
  absl::flat_hash_set<std::string> dirty_keys_;
  absl::flat_hash_set<std::string> dirty_;
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_LEDS_STATE_H_
