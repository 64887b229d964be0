// ResourceCache: the xDS resources of recent service versions, built once and shared by every
// stream that asks for the same resource: a change to a service watched by N streams builds each
// affected resource once per (name, client zone, dual stack), not N times.
//
// Versions: a resource's version is the store revision at which its *content* last changed. The
// cache keeps, per resource, the last bytes it built; when a new service version yields the same
// bytes (a change elsewhere in the service, in another zone's hints, in another port), the
// version stays, so clients (delta xDS, `initial_resource_versions`) are not sent what they
// have. A resource first built by this process gets its service's mod_revision: never older
// than its content, so a client holding an older version is resent it, never skipped.
//
// LEDS collections are cached the same way, one entry per (collection, client zone, dual stack)
// holding every member: a member whose bytes did not change keeps its Resource (and version), so
// a change to one endpoint gives one member a new version and the others none.
//
// The cache is bounded by `max_entries` (it starts over beyond; versions then restart at
// mod_revision, which costs resends, never misses). It pins the last bytes of each entry.
//
// Thread-safety: every method may be called from any thread. Building happens outside the lock,
// so two streams asking for the same new resource at once may both build it (the first stored
// wins; both results are equal).
#ifndef SLICEKEEPER_SERVER_XDS_RESOURCE_CACHE_H_
#define SLICEKEEPER_SERVER_XDS_RESOURCE_CACHE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/watch/subscriber.h"
#include "server/xds/names.h"
#include "server/xds/resources.h"

namespace slicekeeper::xds {

// One built resource.
struct Resource {
  // The store revision at which its content last changed, in decimal.
  std::string version;
  // The serialized Listener / RouteConfiguration / Cluster / ClusterLoadAssignment.
  std::string bytes;
};
using ResourcePtr = std::shared_ptr<const Resource>;

// The members of one LEDS collection: (endpoint name, LbEndpoint), sorted by name.
struct Collection {
  std::vector<std::pair<std::string, ResourcePtr>> members;
};
using CollectionPtr = std::shared_ptr<const Collection>;

class ResourceCache {
 public:
  struct Options {
    size_t max_entries = 1 << 16;
    // Zone -> region comes from the store's nodes, re-read at most this often.
    absl::Duration regions_refresh = absl::Seconds(1);
    // Not owned. Null: RealClock().
    Clock* clock = nullptr;
  };

  // `store` and `views` must outlive the cache. Does no work.
  ResourceCache(const store::Store* store, query::MergedViews* views, Options options);

  // The resource `name` of `type`, as `client` sees it, in `version` of its service; null when it
  // does not exist. REQUIRES: `parsed` is ParseName(name); `version` is a published version of
  // parsed's service (a null snapshot: the service does not exist).
  ResourcePtr Get(ResourceType type, const std::string& name, const ServiceName& parsed,
                  const ClientInfo& client, const watch::ServiceVersion& version)
      ABSL_LOCKS_EXCLUDED(mu_, regions_mu_);

  // LEDS collection `name` (parsed as `parsed`) as `client` sees it in `version` of its service;
  // null when the collection's service or port does not exist. REQUIRES: as Get.
  CollectionPtr GetCollection(const std::string& name, const LedsCollection& parsed,
                              const ClientInfo& client, const watch::ServiceVersion& version)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The names a wildcard CDS / LDS subscription lists for `snapshot` (resources.h).
  std::vector<std::string> WildcardNames(const store::ServiceSnapshotPtr& snapshot);

  // The store's published revision.
  int64_t store_revision() const { return store_->revision(); }

  // Resources built (cache misses), for metrics and tests.
  int64_t builds() const { return builds_.load(std::memory_order_relaxed); }

 private:
  struct Entry {
    store::ServiceSnapshotPtr snapshot;
    // Null: did not exist in `snapshot`. One of the two, by the entry's type.
    ResourcePtr resource;
    CollectionPtr collection;
  };

  // Looks `key` up: its entry's value when it was built from `snapshot`, else nullopt and the
  // value it holds (the previous version) in `*previous`.
  template <typename Ptr>
  std::optional<Ptr> Lookup(const std::string& key, const store::ServiceSnapshotPtr& snapshot,
                            Ptr Entry::*field, Ptr* previous) ABSL_LOCKS_EXCLUDED(mu_);
  // Stores `built` for `key` unless a newer version is there; what the caller returns.
  template <typename Ptr>
  Ptr Store(const std::string& key, const watch::ServiceVersion& version, Ptr Entry::*field,
            Ptr built) ABSL_LOCKS_EXCLUDED(mu_);
  CollectionPtr BuildCollection(const LedsCollection& parsed, const ClientInfo& client,
                                const store::ServiceSnapshotPtr& snapshot,
                                const CollectionPtr& previous);

  std::shared_ptr<const RegionMap> Regions() ABSL_LOCKS_EXCLUDED(regions_mu_);
  ResourcePtr Build(ResourceType type, const std::string& name, const ServiceName& parsed,
                    const ClientInfo& client, const store::ServiceSnapshotPtr& snapshot,
                    const ResourcePtr& previous) ABSL_LOCKS_EXCLUDED(regions_mu_);

  // Immutable after construction.
  const store::Store* const store_;
  query::MergedViews* const views_;
  const Options options_;
  Clock* const clock_;

  std::atomic<int64_t> builds_{0};

  absl::Mutex mu_;
  // Key: type, name, and for EDS the client's zone and dual-stack flag.
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);

  absl::Mutex regions_mu_;
  std::shared_ptr<const RegionMap> regions_ ABSL_GUARDED_BY(regions_mu_);
  absl::Time regions_read_ ABSL_GUARDED_BY(regions_mu_) = absl::InfinitePast();
};

}  // namespace slicekeeper::xds

#endif  // SLICEKEEPER_SERVER_XDS_RESOURCE_CACHE_H_
