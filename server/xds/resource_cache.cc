#include "server/xds/resource_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::xds {
namespace {

// Only endpoint resources depend on who asks (and only EDS on whether it asked for LEDS).
std::string CacheKey(ResourceType type, const std::string& name, const ClientInfo& client) {
  switch (type) {
    case ResourceType::kEndpoint:
      return absl::StrCat(static_cast<int>(type), "|", name, "|", client.zone, "|",
                          client.dual_stack ? "d" : "", client.leds ? "l" : "");
    case ResourceType::kLbEndpoint:
      return absl::StrCat(static_cast<int>(type), "|", name, "|", client.zone, "|",
                          client.dual_stack ? "d" : "");
    default:
      return absl::StrCat(static_cast<int>(type), "|", name);
  }
}

}  // namespace

ResourceCache::ResourceCache(const store::Store* store, query::MergedViews* views, Options options)
    : store_(store),
      views_(views),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()) {}

template <typename Ptr>
std::optional<Ptr> ResourceCache::Lookup(const std::string& key,
                                         const store::ServiceSnapshotPtr& snapshot,
                                         Ptr Entry::*field, Ptr* previous) {
  absl::MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.snapshot == snapshot) return it->second.*field;
  *previous = it->second.*field;
  return std::nullopt;
}

template <typename Ptr>
Ptr ResourceCache::Store(const std::string& key, const watch::ServiceVersion& version,
                         Ptr Entry::*field, Ptr built) {
  absl::MutexLock l(&mu_);
  if (entries_.size() >= options_.max_entries && !entries_.contains(key)) entries_.clear();
  Entry& e = entries_[key];
  if (e.snapshot == version.snapshot && e.snapshot != nullptr) return e.*field;  // raced
  // Only move forward: a lagging stream's older version is returned, not kept.
  const int64_t newest = e.snapshot != nullptr ? e.snapshot->mod_revision : 0;
  if (version.snapshot == nullptr || version.snapshot->mod_revision >= newest) {
    e.snapshot = version.snapshot;
    e.*field = built;
  }
  return built;
}

ResourcePtr ResourceCache::Get(ResourceType type, const std::string& name,
                               const ServiceName& parsed, const ClientInfo& client,
                               const watch::ServiceVersion& version) {
  const std::string key = CacheKey(type, name, client);
  ResourcePtr previous;
  if (std::optional<ResourcePtr> hit = Lookup(key, version.snapshot, &Entry::resource, &previous)) {
    return *hit;
  }
  return Store(key, version, &Entry::resource,
               Build(type, name, parsed, client, version.snapshot, previous));
}

CollectionPtr ResourceCache::GetCollection(const std::string& name, const LedsCollection& parsed,
                                           const ClientInfo& client,
                                           const watch::ServiceVersion& version) {
  const std::string key = CacheKey(ResourceType::kLbEndpoint, name, client);
  CollectionPtr previous;
  if (std::optional<CollectionPtr> hit =
          Lookup(key, version.snapshot, &Entry::collection, &previous)) {
    return *hit;
  }
  return Store(key, version, &Entry::collection,
               BuildCollection(parsed, client, version.snapshot, previous));
}

CollectionPtr ResourceCache::BuildCollection(const LedsCollection& parsed, const ClientInfo& client,
                                             const store::ServiceSnapshotPtr& snapshot,
                                             const CollectionPtr& previous) {
  if (snapshot == nullptr) return nullptr;
  query::MergedViews::Ptr view = views_->Get(snapshot);
  std::optional<std::vector<std::pair<std::string, std::string>>> members =
      BuildLedsCollection(parsed, snapshot.get(), *view, client);
  builds_.fetch_add(1, std::memory_order_relaxed);
  if (!members.has_value()) return nullptr;
  auto out = std::make_shared<Collection>();
  out->members.reserve(members->size());
  const std::string version = absl::StrCat(snapshot->mod_revision);
  // Both sorted by name: one merge pass keeps the Resource of every member whose bytes held.
  static const auto* const kNone = new std::vector<std::pair<std::string, ResourcePtr>>();
  const auto& before = previous != nullptr ? previous->members : *kNone;
  auto old = before.begin();
  const auto old_end = before.end();
  for (auto& [member, bytes] : *members) {
    while (old != old_end && old->first < member) ++old;
    if (old != old_end && old->first == member && old->second->bytes == bytes) {
      out->members.emplace_back(std::move(member), old->second);
    } else {
      out->members.emplace_back(
          std::move(member), std::make_shared<const Resource>(Resource{version, std::move(bytes)}));
    }
  }
  return out;
}

ResourcePtr ResourceCache::Build(ResourceType type, const std::string& name,
                                 const ServiceName& parsed, const ClientInfo& client,
                                 const store::ServiceSnapshotPtr& snapshot,
                                 const ResourcePtr& previous) {
  if (snapshot == nullptr) return nullptr;
  static const RegionMap* const kNoRegions = new RegionMap();
  query::MergedViews::Ptr view = views_->Get(snapshot);
  std::shared_ptr<const RegionMap> regions;
  if (type == ResourceType::kEndpoint) regions = Regions();
  BuildInput in{type,
                name,
                &parsed,
                snapshot.get(),
                view.get(),
                client,
                regions != nullptr ? regions.get() : kNoRegions};
  std::optional<std::string> bytes = BuildResource(in);
  builds_.fetch_add(1, std::memory_order_relaxed);
  if (!bytes.has_value()) return nullptr;
  if (previous != nullptr && previous->bytes == *bytes) return previous;
  return std::make_shared<const Resource>(
      Resource{absl::StrCat(snapshot->mod_revision), std::move(*bytes)});
}

std::vector<std::string> ResourceCache::WildcardNames(const store::ServiceSnapshotPtr& snapshot) {
  if (snapshot == nullptr) return {};
  return xds::WildcardNames(snapshot.get(), *views_->Get(snapshot));
}

std::shared_ptr<const RegionMap> ResourceCache::Regions() {
  absl::MutexLock l(&regions_mu_);
  const absl::Time now = clock_->Now();
  if (regions_ == nullptr || now - regions_read_ >= options_.regions_refresh) {
    regions_ = std::make_shared<const RegionMap>(RegionsFromNodes(store_->Nodes()));
    regions_read_ = now;
  }
  return regions_;
}

}  // namespace slicekeeper::xds
