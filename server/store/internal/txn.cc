#include "server/store/internal/txn.h"

#include <algorithm>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/status_util.h"
#include "server/store/internal/delta.h"

namespace slicekeeper::store::internal {
namespace {

using SliceWrite = ServiceOutcome::SliceWrite;

// The new sorted slice vector: `base` (sorted by name) with `writes` applied, the last write to a
// name winning. O(|base| + w log w) pointer moves; slice contents are shared, never copied.
std::vector<SlicePtr> MergeSlices(const std::vector<SlicePtr>& base,
                                  const std::vector<SliceWrite>& writes) {
  std::vector<const SliceWrite*> sorted;
  sorted.reserve(writes.size());
  for (const SliceWrite& w : writes) sorted.push_back(&w);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const SliceWrite* a, const SliceWrite* b) { return a->name < b->name; });
  std::vector<SlicePtr> out;
  out.reserve(base.size() + sorted.size());
  size_t i = 0;
  for (size_t j = 0; j < sorted.size(); ++j) {
    if (j + 1 < sorted.size() && sorted[j + 1]->name == sorted[j]->name) continue;
    const SliceWrite& w = *sorted[j];
    while (i < base.size() && base[i]->name < w.name) out.push_back(base[i++]);
    if (i < base.size() && base[i]->name == w.name) ++i;  // replaced or deleted
    if (w.slice != nullptr) out.push_back(w.slice);
  }
  while (i < base.size()) out.push_back(base[i++]);
  return out;
}

const SlicePtr* FindSlice(const ServiceSnapshotPtr& snapshot, absl::string_view name) {
  if (snapshot == nullptr) return nullptr;
  auto it = std::lower_bound(snapshot->slices.begin(), snapshot->slices.end(), name,
                             [](const SlicePtr& s, absl::string_view n) { return s->name < n; });
  return it != snapshot->slices.end() && (*it)->name == name ? &*it : nullptr;
}

// What `o` does to storage, computed from the writer state without changing it (CommitService
// changes it only after the persist succeeded). REQUIRES: the resource versions are stamped.
storage::ServiceWrite ToServiceWrite(const ServiceOutcome& o, int64_t revision) {
  const ServiceEntry& e = *o.entry;
  storage::ServiceWrite w;
  w.namespace_ = e.namespace_;
  w.name = e.name;
  w.mod_revision = revision;
  w.record = o.new_record != nullptr ? o.new_record : o.delete_record ? nullptr : e.record;
  w.undo.namespace_ = e.namespace_;
  w.undo.name = e.name;
  w.undo.existed = e.latest != nullptr;
  w.undo.prev_mod_revision = e.latest != nullptr ? e.latest->mod_revision : 0;
  w.undo.record_changed = o.new_record != nullptr || o.delete_record;
  w.undo.prev_record = e.record;
  // The last write to a name wins, as in MergeSlices.
  absl::flat_hash_map<absl::string_view, const SliceWrite*> last;
  for (const SliceWrite& sw : o.writes) last[sw.name] = &sw;
  int64_t foreign = static_cast<int64_t>(e.foreign.size());
  for (const SliceWrite& sw : o.writes) {
    auto it = last.find(sw.name);
    if (it == last.end() || it->second != &sw) continue;
    const SlicePtr* prev = FindSlice(e.latest, sw.name);
    w.slices.push_back({sw.name, sw.slice});
    w.undo.slices.push_back({sw.name, prev != nullptr ? *prev : nullptr});
    if (!sw.managed) {
      const bool had = e.foreign.contains(sw.name);
      foreign += (sw.slice != nullptr) - had;
    }
  }
  w.exists = w.record != nullptr || foreign > 0;
  return w;
}

constexpr char kConflictPayload[] = "slicekeeper.io/conflict-revision";

}  // namespace

absl::Status ConflictError(int64_t revision) {
  absl::Status s = absl::AbortedError(absl::StrCat(
      "store: another replica changed the service first (revision ", revision, "); retry"));
  s.SetPayload(kConflictPayload, absl::Cord(absl::StrCat(revision)));
  return s;
}

int64_t ConflictRevision(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAborted) return 0;
  auto payload = status.GetPayload(kConflictPayload);
  int64_t revision = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &revision)) return 0;
  return revision;
}

Txn::Txn(Core& core, absl::Span<const std::string> service_keys, absl::Time now, bool all_shards)
    : core_(core),
      now_(now),
      trigger_time_(FormatRfc3339Nano(now)),
      creation_timestamp_(FormatRfc3339(now)) {
  std::vector<size_t> indexes;
  if (all_shards) {
    for (size_t i = 0; i < core_.shards.size(); ++i) indexes.push_back(i);
  } else {
    for (const std::string& key : service_keys) {
      indexes.push_back(ShardIndex(key, core_.shards.size()));
    }
    std::sort(indexes.begin(), indexes.end());
    indexes.erase(std::unique(indexes.begin(), indexes.end()), indexes.end());
  }
  // Ascending order: two requests over overlapping shard sets cannot deadlock.
  for (size_t i : indexes) {
    Shard* shard = core_.shards[i].get();
    shard->write_mu.Lock();
    locked_.push_back(shard);
  }
}

Txn::~Txn() {
  if (!committed_) {
    for (const auto& [ns, name] : reserved_) core_.names.Release(ns, name);
    for (const auto& [ns, name] : claimed_) core_.names.Release(ns, name);
  }
  UnlockAll();
}

// Opt-out: the shard locks are a run-time set (locked_, taken in the constructor in ascending
// shard order), which the analysis cannot track; AssertHeld() marks each use of a shard's state.
void Txn::UnlockAll() ABSL_NO_THREAD_SAFETY_ANALYSIS {
  for (auto it = locked_.rbegin(); it != locked_.rend(); ++it) (*it)->write_mu.Unlock();
  locked_.clear();
}

ServiceOutcome& Txn::Service(absl::string_view ns, absl::string_view name) {
  std::string key = ServiceKey(ns, name);
  auto [it, inserted] = outcomes_.try_emplace(key);
  if (!inserted) return *it->second;
  auto o = std::make_unique<ServiceOutcome>();
  o->key = key;
  o->shard = core_.ShardFor(key);
  o->shard->write_mu.AssertHeld();
  auto entry = o->shard->services.find(key);
  if (entry != o->shard->services.end()) {
    o->entry = entry->second.get();
  } else {
    o->fresh = std::make_unique<ServiceEntry>();
    o->fresh->namespace_ = std::string(ns);
    o->fresh->name = std::string(name);
    o->entry = o->fresh.get();
  }
  it->second = std::move(o);
  order_.push_back(it->second.get());
  return *it->second;
}

std::vector<std::pair<std::string, std::string>> Txn::AllServices() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (Shard* shard : locked_) {
    shard->write_mu.AssertHeld();
    for (const auto& [key, entry] : shard->services)
      out.emplace_back(entry->namespace_, entry->name);
  }
  return out;
}

const v1::ServiceRecord& Txn::EnsureRecord(ServiceOutcome& o) {
  if (o.new_record != nullptr) return *o.new_record;
  if (o.entry->record != nullptr) return *o.entry->record;
  o.new_record = std::make_shared<v1::ServiceRecord>();
  o.new_record->set_namespace_(o.entry->namespace_);
  o.new_record->set_name(o.entry->name);
  o.new_record->set_uid(core_.names.NewUid());
  o.new_record->set_creation_timestamp(creation_timestamp_);
  o.changed = true;
  return *o.new_record;
}

absl::Status Txn::Reconcile(ServiceOutcome& o, const v1::ServiceRecord& record,
                            absl::Span<const EndpointDelta> changes, bool full_resync,
                            const NodeList* nodes) {
  std::shared_ptr<const NodeList> registry;
  if (nodes == nullptr) {
    int64_t revision = 0;
    std::tie(registry, revision) = core_.nodes_with_revision();
    if (!nodes_revision_.has_value()) nodes_revision_ = revision;
    nodes = registry.get();
  }
  const std::string& ns = o.entry->namespace_;
  const std::string& service = o.entry->name;
  auto generate_name = [&](absl::string_view generate) {
    std::string name = core_.names.Reserve(ns, generate, service);
    reserved_.emplace_back(ns, name);
    return name;
  };
  auto generate_uid = [&] { return core_.names.NewUid(); };
  reconcile::Input input{.service = &record,
                         .changes = changes,
                         .nodes = *nodes,
                         .full_resync = full_resync,
                         .trigger_time = trigger_time_,
                         .creation_timestamp = creation_timestamp_,
                         .generate_name = generate_name,
                         .generate_uid = generate_uid};
  absl::StatusOr<reconcile::Plan> plan =
      reconcile::Reconcile(o.entry->state, input, core_.options.reconcile);
  if (!plan.ok()) return plan.status();
  for (const reconcile::SliceOp& op : plan->ops) {
    bool del = op.kind == reconcile::SliceOp::Kind::kDelete;
    o.writes.push_back({op.slice->name, del ? nullptr : op.slice, true});
  }
  o.stats += plan->stats;
  o.syncs.insert(o.syncs.end(), plan->syncs.begin(), plan->syncs.end());
  if (!plan->empty()) o.changed = true;
  o.plan = std::move(*plan);
  return absl::OkStatus();
}

void Txn::NoteClaimed(absl::string_view ns, absl::string_view name) {
  claimed_.emplace_back(ns, name);
}

std::vector<std::pair<std::string, std::string>> Txn::ReleaseUnusedNames() {
  // The reconciler may generate a name and then recycle an old one instead.
  absl::flat_hash_set<std::string> used;
  for (ServiceOutcome* o : order_) {
    for (const SliceWrite& w : o->writes) {
      if (w.slice != nullptr) used.insert(ServiceKey(o->entry->namespace_, w.name));
    }
  }
  std::vector<std::pair<std::string, std::string>> kept;
  for (auto& [ns, name] : reserved_) {
    if (used.contains(ServiceKey(ns, name))) {
      kept.emplace_back(std::move(ns), std::move(name));
    } else {
      core_.names.Release(ns, name);
    }
  }
  reserved_.clear();
  return kept;
}

Txn::Result Txn::Stats() const {
  Result result;
  for (ServiceOutcome* o : order_) {
    result.stats += o->stats;
    result.syncs.insert(result.syncs.end(), o->syncs.begin(), o->syncs.end());
  }
  return result;
}

absl::StatusOr<Txn::Result> Txn::Commit() {
  if (core_.storage != nullptr && !core_.recovered.load(std::memory_order_acquire)) {
    return absl::FailedPreconditionError(
        "store: created over storage without loading it (use Store::Open)");
  }
  Result result = Stats();
  std::vector<ServiceOutcome*> changed = Changed();
  if (core_.replicated != nullptr) return Propose(changed, std::move(result));
  // After a failed sync the writer state may hold commits that are lost: refuse every write.
  if (core_.committer != nullptr) SK_RETURN_IF_ERROR(core_.committer->status());
  if (changed.empty()) return CommitNothing(std::move(result));
  result.revision = core_.last_assigned.fetch_add(1) + 1;
  // The new objects are not shared yet: stamping them is not visible if the persist fails.
  Stamp(changed, result.revision);
  storage::CommitRecord record = Record(changed, result.revision);
  auto commit = std::make_shared<store::Commit>();
  commit->revision = result.revision;
  commit->time = now_;
  if (core_.storage != nullptr) {
    if (absl::Status s = Persist(record); !s.ok()) {
      // Nothing was applied; the destructor releases the names. The revision is taken, so it is
      // published empty: later revisions wait for it.
      UnlockAll();
      Publish({.commit = std::move(commit)});
      return s;
    }
  }
  ReleaseUnusedNames();
  committed_ = true;
  InstallNodes();
  Sequencer::Publication p{.commit = commit, .delta = std::move(record.history)};
  for (ServiceOutcome* o : changed) CommitService(*o, result.revision, *commit, p);
  UnlockAll();
  Publish(std::move(p));
  return result;
}

absl::StatusOr<Txn::Result> Txn::CommitNothing(Result result) {
  result.revision = core_.last_assigned.load();
  if (nodes_ != nullptr && core_.storage != nullptr) {
    // Nodes alone take no revision; every shard is locked, so none is being assigned.
    storage::CommitRecord record;
    record.revision = result.revision;
    record.time = now_;
    record.nodes = nodes_;
    SK_RETURN_IF_ERROR(core_.storage->Commit(record));
  }
  ReleaseUnusedNames();
  committed_ = true;
  InstallNodes();
  UnlockAll();
  // With group commit the caller waits (Core::WhenCommitted): the revision may be a pending one.
  if (core_.committer == nullptr) core_.sequencer.AwaitPublished(result.revision);
  return result;
}

void Txn::Stamp(absl::Span<ServiceOutcome* const> changed, int64_t revision) {
  for (ServiceOutcome* o : changed) {
    if (o->new_record != nullptr) o->new_record->set_resource_version(absl::StrCat(revision));
    for (SliceWrite& w : o->writes) {
      if (w.slice != nullptr) w.slice->resource_version = revision;
    }
  }
}

storage::CommitRecord Txn::Record(absl::Span<ServiceOutcome* const> changed,
                                  int64_t revision) const {
  storage::CommitRecord record;
  record.revision = revision;
  record.time = now_;
  record.nodes = nodes_;
  for (ServiceOutcome* o : changed) record.services.push_back(ToServiceWrite(*o, revision));
  // One encoding for the window and for storage (internal/delta.h).
  if (!record.services.empty()) {
    record.history = std::make_shared<const std::string>(EncodeDelta(record));
  }
  return record;
}

void Txn::Publish(Sequencer::Publication p) {
  if (core_.committer != nullptr) {
    core_.committer->Submit(std::move(p));
  } else {
    core_.sequencer.Publish(std::move(p));
  }
}

std::vector<ServiceOutcome*> Txn::Changed() const {
  std::vector<ServiceOutcome*> changed;
  for (ServiceOutcome* o : order_) {
    if (o->changed) changed.push_back(o);
  }
  std::sort(changed.begin(), changed.end(), [](const ServiceOutcome* a, const ServiceOutcome* b) {
    return std::tie(a->entry->namespace_, a->entry->name) <
           std::tie(b->entry->namespace_, b->entry->name);
  });
  return changed;
}

absl::StatusOr<Txn::Result> Txn::Propose(absl::Span<ServiceOutcome* const> changed, Result result) {
  if (changed.empty() && nodes_ == nullptr) {
    ReleaseUnusedNames();
    committed_ = true;
    UnlockAll();
    result.revision = core_.sequencer.revision();
    return result;
  }
  storage::CommitRecord record;
  record.time = now_;
  record.nodes = nodes_;
  for (ServiceOutcome* o : changed) record.services.push_back(ToServiceWrite(*o, 0));
  // No history record: the log's own history is etcd's; the follower encodes one when it applies.
  const int64_t nodes_revision = nodes_revision_.value_or(core_.nodes_with_revision().second);
  // The shard locks stay held: this replica's writers of these services queue here instead of
  // conflicting with each other in the log. The follower may wait for them; it never waits for
  // anything that waits for it.
  SK_ASSIGN_OR_RETURN(storage::ReplicatedStorage::Proposal proposal,
                      core_.replicated->Propose(record, nodes_revision));
  if (!proposal.committed) return ConflictError(proposal.revision);
  // The caller's copies (UpsertService and PutSlice return them) carry the log's revision, as the
  // versions the follower installs do.
  for (ServiceOutcome* o : changed) {
    if (o->new_record != nullptr)
      o->new_record->set_resource_version(absl::StrCat(proposal.revision));
    for (SliceWrite& w : o->writes) {
      if (w.slice != nullptr) w.slice->resource_version = proposal.revision;
    }
  }
  // The names of the new slices stay reserved for their service; the follower confirms them.
  ReleaseUnusedNames();
  committed_ = true;
  UnlockAll();
  if (!core_.sequencer.AwaitPublishedUntil(proposal.revision, absl::Now() + kApplyWait)) {
    return absl::UnavailableError(
        absl::StrCat("store: committed at revision ", proposal.revision,
                     " but this replica has not applied it yet (is it following the log?)"));
  }
  result.revision = proposal.revision;
  return result;
}

std::optional<Txn::Result> Txn::ProposeAsync(Decided decided) {
  Proposed proposed{.result = Stats()};
  std::vector<ServiceOutcome*> changed = Changed();
  if (changed.empty() && nodes_ == nullptr) {
    ReleaseUnusedNames();
    committed_ = true;
    UnlockAll();
    proposed.result.revision = core_.sequencer.revision();
    return std::move(proposed.result);
  }
  storage::CommitRecord record;
  record.time = now_;
  record.nodes = nodes_;
  for (ServiceOutcome* o : changed) {
    record.services.push_back(ToServiceWrite(*o, 0));
    proposed.keys.push_back(o->key);
  }
  const int64_t nodes_revision = nodes_revision_.value_or(core_.nodes_with_revision().second);
  // The new slices' names stay reserved for their services: the follower confirms them, or the
  // caller releases them when the log refuses the proposal.
  proposed.names = ReleaseUnusedNames();
  committed_ = true;
  core_.proposals->Begin(proposed.keys);
  // Queued with the shard locks held, so per service the log gets this replica's proposals in
  // the order their reconciles ran.
  core_.replicated->ProposeAsync(
      record, nodes_revision,
      [decided = std::move(decided), proposed = std::move(proposed)](
          absl::StatusOr<storage::ReplicatedStorage::Proposal> r) mutable {
        decided(std::move(r), std::move(proposed));
      });
  UnlockAll();
  return std::nullopt;
}

void Txn::CommitReplicated(int64_t revision, int64_t nodes_revision) {
  committed_ = true;
  auto commit = std::make_shared<store::Commit>();
  commit->revision = revision;
  commit->time = now_;
  if (nodes_ != nullptr) {
    absl::MutexLock l(&core_.nodes_mu);
    core_.nodes = nodes_;
    core_.nodes_revision = nodes_revision;
  }
  std::vector<ServiceOutcome*> changed = Changed();
  // The history record is computed from the writer state before CommitService changes it.
  Sequencer::Publication p{.commit = commit, .delta = Record(changed, revision).history};
  for (ServiceOutcome* o : changed) CommitService(*o, revision, *commit, p);
  core_.last_assigned.store(revision);
  UnlockAll();
  core_.sequencer.PublishReplicated(std::move(p));
}

void Txn::InstallNodes() {
  if (nodes_ == nullptr) return;
  absl::MutexLock l(&core_.nodes_mu);
  core_.nodes = nodes_;
}

absl::Status Txn::Persist(const storage::CommitRecord& record) {
  // With group commit the log is synced later, for many commits at once (Committer).
  absl::Status s =
      core_.committer != nullptr ? core_.storage->Append(record) : core_.storage->Commit(record);
  if (s.ok()) return s;
  if (s.code() == absl::StatusCode::kUnavailable || s.code() == absl::StatusCode::kInternal) {
    return s;
  }
  return absl::UnavailableError(s.ToString());
}

void Txn::CommitService(ServiceOutcome& o, int64_t revision, store::Commit& commit,
                        Sequencer::Publication& p) {
  std::vector<Sequencer::NameUpdate>& names = p.names;
  Totals& delta = p.totals;
  o.shard->write_mu.AssertHeld();
  ServiceEntry& e = *o.entry;
  const ServiceSnapshotPtr before = e.latest;
  const int64_t endpoints_before = e.endpoint_count();
  const int64_t desired_before = e.desired_slices;

  // A replicated commit's objects carry the log's versions already.
  if (o.new_record != nullptr) {
    if (!o.rebuild_state) o.new_record->set_resource_version(absl::StrCat(revision));
    e.record = o.new_record;
  }
  for (SliceWrite& w : o.writes) {
    if (w.slice != nullptr && !o.rebuild_state) w.slice->resource_version = revision;
  }
  if (o.delete_record) {
    e.record = nullptr;
    e.state = reconcile::ServiceState();
    e.desired_slices = 0;
  }
  if (o.plan.has_value()) {
    e.state.Apply(*o.plan);
    e.desired_slices = o.plan->desired_slices;
  }
  for (SliceWrite& w : o.writes) {
    std::string slice_key = ServiceKey(e.namespace_, w.name);
    names.push_back({slice_key, w.slice != nullptr ? o.key : ""});
    if (w.slice == nullptr) core_.names.Release(e.namespace_, w.name);
    if (w.managed) continue;
    auto old = e.foreign.find(w.name);
    if (old != e.foreign.end()) {
      e.foreign_endpoints -= static_cast<int64_t>(old->second->endpoints.size());
      e.foreign.erase(old);
    }
    if (w.slice != nullptr) {
      e.foreign_endpoints += static_cast<int64_t>(w.slice->endpoints.size());
      e.foreign.emplace(w.name, w.slice);
    }
  }

  ServiceSnapshotPtr after;
  if (!e.empty()) {
    auto s = std::make_shared<ServiceSnapshot>();
    s->namespace_ = e.namespace_;
    s->name = e.name;
    s->record = e.record;
    s->slices = MergeSlices(before != nullptr ? before->slices : std::vector<SlicePtr>{}, o.writes);
    s->mod_revision = o.mod_revision != 0 ? o.mod_revision : revision;
    after = std::move(s);
  }
  if (o.rebuild_state) {
    int64_t managed = 0;
    if (after != nullptr) {
      for (const SlicePtr& slice : after->slices) managed += slice->Managed();
    }
    // The log says which slices it wrote: the state follows them in O(their endpoints), unless
    // they are most of the service (then a rebuild costs less) or it cannot be done; a rebuild
    // reads every managed slice (O(service)).
    std::vector<reconcile::ServiceState::SliceWrite> writes;
    writes.reserve(o.writes.size());
    int64_t moved = 0;  // endpoints leaving and entering the state
    for (const SliceWrite& w : o.writes) {
      writes.push_back({w.name, w.managed ? w.slice : nullptr});
      if (w.managed && w.slice != nullptr) moved += static_cast<int64_t>(w.slice->endpoints.size());
      if (before != nullptr) {
        auto old = std::lower_bound(
            before->slices.begin(), before->slices.end(), w.name,
            [](const SlicePtr& s, const std::string& name) { return s->name < name; });
        if (old != before->slices.end() && (*old)->name == w.name && (*old)->Managed()) {
          moved += static_cast<int64_t>((*old)->endpoints.size());
        }
      }
    }
    const int64_t size = e.state.endpoint_count();
    if (moved > size + size / 2 || !e.state.ApplyWrites(writes) ||
        e.state.slice_count() != managed) {
      std::vector<SlicePtr> slices;
      slices.reserve(static_cast<size_t>(managed));
      if (after != nullptr) {
        for (const SlicePtr& slice : after->slices) {
          if (slice->Managed()) slices.push_back(slice);
        }
      }
      e.state = reconcile::ServiceState::FromSlices(slices);
    }
    // As in recovery: the ideal count is not in the log; the actual count is what the plan left.
    e.desired_slices = e.record != nullptr ? managed : 0;
  }
  e.latest = after;

  delta.services += (after != nullptr) - (before != nullptr);
  delta.slices += static_cast<int64_t>(after != nullptr ? after->slices.size() : 0) -
                  static_cast<int64_t>(before != nullptr ? before->slices.size() : 0);
  delta.endpoints += e.endpoint_count() - endpoints_before;
  delta.desired_slices += e.desired_slices - desired_before;
  p.updates.push_back({o.shard, o.key, after});
  commit.services.push_back({before, after});

  // Last: erasing the entry invalidates `e`.
  if (o.fresh != nullptr && !e.empty()) {
    o.shard->services.emplace(o.key, std::move(o.fresh));
  } else if (o.fresh == nullptr && e.empty()) {
    o.shard->services.erase(o.key);
  }
  o.entry = nullptr;
}

}  // namespace slicekeeper::store::internal
