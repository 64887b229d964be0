#include "server/store/internal/recovery.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace slicekeeper::store::internal {
namespace {

using OwnerMap = absl::flat_hash_map<std::string, std::string>;
using SnapshotMap = absl::flat_hash_map<std::string, ServiceSnapshotPtr>;

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

// The service as it was before the commit `u` undoes, given its state `after` it.
ServiceSnapshotPtr Undo(const ServiceSnapshotPtr& after, const storage::ServiceUndo& u) {
  if (!u.existed) return nullptr;
  auto s = std::make_shared<ServiceSnapshot>();
  s->namespace_ = u.namespace_;
  s->name = u.name;
  s->record = u.record_changed ? u.prev_record : after != nullptr ? after->record : nullptr;
  s->mod_revision = u.prev_mod_revision;
  absl::flat_hash_set<absl::string_view> touched;
  for (const storage::ServiceUndo::SliceUndo& su : u.slices) touched.insert(su.name);
  if (after != nullptr) {
    for (const SlicePtr& slice : after->slices) {
      if (!touched.contains(slice->name)) s->slices.push_back(slice);
    }
  }
  for (const storage::ServiceUndo::SliceUndo& su : u.slices) {
    if (su.prev != nullptr) s->slices.push_back(su.prev);
  }
  SortByName(s->slices);
  return s;
}

CommitPtr UndoCommit(const storage::HistoryEntry& entry, SnapshotMap& current) {
  auto commit = std::make_shared<Commit>();
  commit->revision = entry.revision;
  commit->time = entry.time;
  for (const storage::ServiceUndo& u : entry.services) {
    const std::string key = ServiceKey(u.namespace_, u.name);
    auto it = current.find(key);
    ServiceSnapshotPtr after = it != current.end() ? it->second : nullptr;
    ServiceSnapshotPtr before = Undo(after, u);
    commit->services.push_back({before, after});
    current[key] = std::move(before);
  }
  return commit;
}

// The last `size` commits up to `state.revision`, walking back from the current state.
std::deque<CommitPtr> BuildHistory(const storage::LoadedState& state, SnapshotMap current,
                                   int64_t size) {
  std::deque<CommitPtr> out;
  auto it = state.history.rbegin();
  for (int64_t next = state.revision; next > 0 && static_cast<int64_t>(out.size()) < size; --next) {
    if (it == state.history.rend()) break;
    if (it->revision == next) {
      out.push_front(UndoCommit(*it, current));
      ++it;
      continue;
    }
    // No undo record: the commit never became durable (nothing of it is in the state).
    auto empty = std::make_shared<Commit>();
    empty->revision = next;
    empty->time = it->time;
    out.push_front(std::move(empty));
  }
  return out;
}

}  // namespace

absl::Status Recover(Core& core, storage::LoadedState state) {
  Totals totals;
  OwnerMap owners;
  SnapshotMap current;
  for (storage::StoredService& s : state.services) {
    SK_ASSIGN_OR_RETURN(std::unique_ptr<ServiceEntry> entry, BuildEntry(core, s, owners));
    if (entry == nullptr) continue;
    const std::string key = ServiceKey(entry->namespace_, entry->name);
    ServiceSnapshotPtr latest = entry->latest;
    totals.services += 1;
    totals.slices += static_cast<int64_t>(latest->slices.size());
    totals.endpoints += entry->endpoint_count();
    totals.desired_slices += entry->desired_slices;
    current[key] = latest;
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
  std::deque<CommitPtr> history =
      BuildHistory(state, std::move(current), std::max<int64_t>(core.options.history_size, 0));
  core.sequencer.Restore(state.revision, std::move(history), std::move(owners), totals);
  core.recovered.store(true, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace slicekeeper::store::internal
