#include "server/xds/resource_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::xds {
namespace {

// Only EDS resources depend on who asks.
std::string CacheKey(ResourceType type, const std::string& name, const ClientInfo& client) {
  if (type != ResourceType::kEndpoint) return absl::StrCat(static_cast<int>(type), "|", name);
  return absl::StrCat(static_cast<int>(type), "|", name, "|", client.zone, "|",
                      client.dual_stack ? "d" : "");
}

}  // namespace

ResourceCache::ResourceCache(const store::Store* store, query::MergedViews* views, Options options)
    : store_(store),
      views_(views),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()) {}

ResourcePtr ResourceCache::Get(ResourceType type, const std::string& name,
                               const ServiceName& parsed, const ClientInfo& client,
                               const watch::ServiceVersion& version) {
  const std::string key = CacheKey(type, name, client);
  ResourcePtr previous;
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (it->second.snapshot == version.snapshot) return it->second.resource;
      previous = it->second.resource;
    }
  }
  ResourcePtr built = Build(type, name, parsed, client, version.snapshot, previous);
  absl::MutexLock l(&mu_);
  if (entries_.size() >= options_.max_entries && !entries_.contains(key)) entries_.clear();
  Entry& e = entries_[key];
  if (e.snapshot == version.snapshot && e.snapshot != nullptr) return e.resource;  // raced
  // Only move forward: a lagging stream's older version is returned, not kept.
  const int64_t newest = e.snapshot != nullptr ? e.snapshot->mod_revision : 0;
  if (version.snapshot == nullptr || version.snapshot->mod_revision >= newest) {
    e.snapshot = version.snapshot;
    e.resource = built;
  }
  return built;
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
  BuildInput in{type,        name,   &parsed,
                snapshot.get(), view.get(), client, regions != nullptr ? regions.get() : kNoRegions};
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
