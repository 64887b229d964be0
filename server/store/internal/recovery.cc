#include "server/store/internal/recovery.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace slicekeeper::store::internal {
namespace {

using OwnerMap = absl::flat_hash_map<std::string, std::string>;

void SortByName(std::vector<SlicePtr>& slices) {
  std::sort(slices.begin(), slices.end(),
            [](const SlicePtr& a, const SlicePtr& b) { return a->name < b->name; });
}

// The writer state of one stored service; null for a service with nothing in it.
absl::StatusOr<std::unique_ptr<ServiceEntry>> BuildEntry(Core& core, storage::StoredService& s,
                                                         OwnerMap& owners) {
  if (s.record == nullptr && s.slices.empty()) return nullptr;
  auto e = std::make_unique<ServiceEntry>();
  e->namespace_ = s.namespace_;
  e->name = s.name;
  e->record = s.record;
  const std::string key = ServiceKey(s.namespace_, s.name);
  SortByName(s.slices);
  std::vector<SlicePtr> managed;
  for (const SlicePtr& slice : s.slices) {
    const bool is_managed = slice->Managed();
    if (!core.names.Restore(s.namespace_, slice->name, s.name, is_managed)) {
      return absl::DataLossError(absl::StrCat("recovery: slice name ", s.namespace_, "/",
                                              slice->name, " is used by two slices"));
    }
    owners[ServiceKey(s.namespace_, slice->name)] = key;
    if (is_managed) {
      managed.push_back(slice);
    } else {
      e->foreign.emplace(slice->name, slice);
      e->foreign_endpoints += static_cast<int64_t>(slice->endpoints.size());
    }
  }
  if (!managed.empty() && s.record == nullptr) {
    return absl::DataLossError(
        absl::StrCat("recovery: service ", key, " has managed slices but no record"));
  }
  e->state = reconcile::ServiceState::FromSlices(managed);
  // The plan's ideal count is not stored; the actual count is what the last plan left.
  e->desired_slices = s.record != nullptr ? static_cast<int64_t>(managed.size()) : 0;
  auto snapshot = std::make_shared<ServiceSnapshot>();
  snapshot->namespace_ = s.namespace_;
  snapshot->name = s.name;
  snapshot->record = s.record;
  snapshot->slices = std::move(s.slices);
  snapshot->mod_revision = s.mod_revision;
  e->latest = std::move(snapshot);
  return e;
}

}  // namespace

absl::Status Recover(Core& core, storage::LoadedState state) {
  Totals totals;
  OwnerMap owners;
  for (storage::StoredService& s : state.services) {
    SK_ASSIGN_OR_RETURN(std::unique_ptr<ServiceEntry> entry, BuildEntry(core, s, owners));
    if (entry == nullptr) continue;
    const std::string key = ServiceKey(entry->namespace_, entry->name);
    ServiceSnapshotPtr latest = entry->latest;
    totals.services += 1;
    totals.slices += static_cast<int64_t>(latest->slices.size());
    totals.endpoints += entry->endpoint_count();
    totals.desired_slices += entry->desired_slices;
    Shard* shard = core.ShardFor(key);
    {
      absl::MutexLock l(&shard->write_mu);
      shard->services[key] = std::move(entry);
    }
    absl::MutexLock l(&shard->read_mu);
    shard->published[key] = std::move(latest);
  }
  {
    absl::MutexLock l(&core.nodes_mu);
    core.nodes = std::make_shared<const NodeList>(std::move(state.nodes));
    core.nodes_revision = state.nodes_revision;
  }
  core.last_assigned.store(state.revision);
  // The history is not loaded: the window starts empty, and a resume from before it reads the
  // records from storage (internal/rewind.h). So the time to start does not grow with it.
  core.sequencer.Restore(state.revision, std::move(owners), totals);
  core.recovered.store(true, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace slicekeeper::store::internal
