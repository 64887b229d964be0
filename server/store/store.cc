#include "server/store/store.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_util.h"
#include "common/validation.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/reconcile/topology.h"
#include "server/store/internal/core.h"
#include "server/store/internal/memory.h"
#include "server/store/internal/recovery.h"
#include "server/store/internal/replica.h"
#include "server/store/internal/rewind.h"
#include "server/store/internal/txn.h"

namespace slicekeeper::store {
namespace {

using internal::ServiceKey;
using internal::ServiceOutcome;
using internal::Txn;

absl::StatusOr<WriteResult> ToWriteResult(absl::StatusOr<Txn::Result> committed) {
  if (!committed.ok()) return committed.status();
  Txn::Result& r = *committed;
  WriteResult out;
  out.revision = r.revision;
  out.stats.set_endpoints_added(r.stats.endpoints_added);
  out.stats.set_endpoints_updated(r.stats.endpoints_updated);
  out.stats.set_endpoints_removed(r.stats.endpoints_removed);
  out.stats.set_slices_created(r.stats.slices_created);
  out.stats.set_slices_updated(r.stats.slices_updated);
  out.stats.set_slices_deleted(r.stats.slices_deleted);
  out.syncs = std::move(r.syncs);
  return out;
}

absl::Status CheckServiceName(absl::string_view ns, absl::string_view name) {
  std::vector<std::string> errors;
  if (!validation::IsDns1123Label(ns)) errors.push_back("namespace: must be a DNS-1123 label");
  if (!validation::IsDns1123Label(name)) errors.push_back("service: must be a DNS-1123 label");
  if (errors.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
}

// Identity of an endpoint inside a service: address type plus Kubernetes' identity.
std::string EndpointKey(absl::string_view address_type, const EndpointRecord& e) {
  return absl::StrCat(address_type, "|", reconcile::EndpointIdentity(e));
}

// Equal as a client wrote them: ignores the server-set fields.
bool SameRecord(const v1::ServiceRecord& a, const v1::ServiceRecord& b) {
  v1::ServiceRecord x = a, y = b;
  x.clear_resource_version();
  y.clear_resource_version();
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}

bool SameSliceContent(const Slice& a, const Slice& b) {
  v1::EndpointSlice x = a.ToProto(), y = b.ToProto();
  for (v1::EndpointSlice* s : {&x, &y}) {
    s->mutable_metadata()->clear_uid();
    s->mutable_metadata()->clear_generation();
    s->mutable_metadata()->clear_resource_version();
    s->mutable_metadata()->clear_creation_timestamp();
  }
  return google::protobuf::util::MessageDifferencer::Equals(x, y);
}

// Managed deletes of every slice of `o` (DeleteService).
void DeleteManaged(ServiceOutcome& o) {
  for (const SlicePtr& s : o.entry->state.Slices()) {
    o.writes.push_back({s->name, nullptr, true});
    ++o.stats.slices_deleted;
  }
  o.stats.endpoints_removed = o.entry->state.endpoint_count();
  o.delete_record = true;
  o.changed = true;
}

absl::Status CheckForeignSlice(const v1::EndpointSlice& slice) {
  SK_RETURN_IF_ERROR(validation::ValidateEndpointSlice(slice, ""));
  const auto& labels = slice.metadata().labels();
  auto service = labels.find(kLabelServiceName);
  if (service == labels.end() || service->second.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.labels[", kLabelServiceName, "]: required"));
  }
  if (!validation::IsDns1123Label(service->second)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata.labels[", kLabelServiceName, "]: must be a DNS-1123 label"));
  }
  if (slice.metadata().name().empty() && slice.metadata().generate_name().empty()) {
    return absl::InvalidArgumentError("metadata.name: name or generateName is required");
  }
  auto manager = labels.find(kLabelManagedBy);
  if (manager != labels.end() && manager->second == kManagerName) {
    return absl::FailedPreconditionError(absl::StrCat("metadata.labels[", kLabelManagedBy,
                                                      "]: ", kManagerName,
                                                      " is reserved for slices slicekeeper "
                                                      "distributes"));
  }
  return absl::OkStatus();
}

// Checks `conditions` against `existing`, the foreign slice `ns/name` of the service (null when
// the service has none of that name).
absl::Status CheckConditions(const SlicePtr& existing, const SliceConditions& conditions,
                             absl::string_view ns, absl::string_view name) {
  using Existence = SliceConditions::Existence;
  if (existing != nullptr && conditions.existence == Existence::kMustNotExist) {
    return absl::AlreadyExistsError(
        absl::StrCat("endpointslice ", ns, "/", name, " already exists"));
  }
  if (existing == nullptr && (conditions.existence == Existence::kMustExist ||
                              conditions.resource_version != 0 || !conditions.uid.empty())) {
    return absl::NotFoundError(absl::StrCat("endpointslice ", ns, "/", name, " not found"));
  }
  if (existing == nullptr) return absl::OkStatus();
  if (!conditions.uid.empty() && conditions.uid != existing->uid) {
    return absl::AbortedError(absl::StrCat("endpointslice ", ns, "/", name, ": uid is ",
                                           existing->uid, ", not ", conditions.uid));
  }
  if (conditions.resource_version != 0 &&
      conditions.resource_version != existing->resource_version) {
    return absl::AbortedError(
        absl::StrCat("endpointslice ", ns, "/", name, " has been modified: resourceVersion is ",
                     existing->resource_version, ", not ", conditions.resource_version));
  }
  return absl::OkStatus();
}

// Replicated stores: runs `write` again when another replica changed what it read (the log
// refused the proposal), once this replica has applied that change. Other stores run it once.
template <typename Write>
auto WithRetries(internal::Core& core, Write write) -> decltype(write()) {
  constexpr int kAttempts = 50;
  for (int attempt = 1;; ++attempt) {
    auto result = write();
    const int64_t conflict = result.ok() ? 0 : internal::ConflictRevision(result.status());
    if (conflict == 0 || attempt == kAttempts) return result;
    // The conflict revision may be one that touched nothing of ours (a deleted key's revision is
    // not known exactly): wait a bounded time and retry either way.
    core.sequencer.AwaitPublishedUntil(conflict, absl::Now() + absl::Milliseconds(200));
  }
}

int64_t RevisionOf(const WriteResult& r) { return r.revision; }
int64_t RevisionOf(const std::pair<v1::ServiceRecord, WriteResult>& r) { return r.second.revision; }
int64_t RevisionOf(const std::pair<SlicePtr, int64_t>& r) { return r.second; }
int64_t RevisionOf(int64_t revision) { return revision; }

// Runs `write` (with retries) and returns once what it wrote is visible (and durable): with group
// commit a write's Txn returns before its log sync.
template <typename Write>
auto RunWrite(internal::Core& core, Write write) -> decltype(write()) {
  auto result = WithRetries(core, write);
  if (result.ok()) SK_RETURN_IF_ERROR(core.AwaitCommitted(RevisionOf(*result)));
  return result;
}

// A validated batch grouped by service, services in first-seen order.
struct ServiceBatches {
  std::vector<std::string> keys;
  absl::flat_hash_map<std::string, std::vector<EndpointDelta>> by_service;
};

ServiceBatches GroupByService(std::vector<EndpointDelta> deltas) {
  ServiceBatches out;
  std::vector<EndpointDelta>* last = nullptr;  // consecutive changes nearly always share it
  for (EndpointDelta& delta : deltas) {
    if (last == nullptr || last->front().service != delta.service ||
        last->front().namespace_ != delta.namespace_) {
      auto [it, inserted] = out.by_service.try_emplace(ServiceKey(delta.namespace_, delta.service));
      if (inserted) out.keys.push_back(it->first);
      last = &it->second;
    }
    last->push_back(std::move(delta));
  }
  return out;
}

// Validates everything before anything is locked or applied: nothing of a bad batch is applied.
// Validation runs once; a replicated store's retries reuse the deltas.
absl::StatusOr<ServiceBatches> Validate(absl::Span<const v1::EndpointChange> changes) {
  SK_ASSIGN_OR_RETURN(std::vector<EndpointDelta> deltas,
                      validation::NormalizeChanges(changes, "changes"));
  return GroupByService(std::move(deltas));
}
// Validate for a batch the caller gives up (`Changes` is a vector or a repeated field pointer).
template <typename Changes>
absl::StatusOr<ServiceBatches> ValidateTaking(Changes changes) {
  SK_ASSIGN_OR_RETURN(std::vector<EndpointDelta> deltas,
                      validation::TakeNormalizedChanges(changes, "changes"));
  return GroupByService(std::move(deltas));
}

// ApplyChanges up to its commit: with group commit, not yet visible or durable.
absl::StatusOr<WriteResult> ApplyChangesOnce(internal::Core& core, const ServiceBatches& batch) {
  const absl::Time now = core.clock->Now();
  Txn txn(core, batch.keys, now);
  for (const std::string& key : batch.keys) {
    const std::vector<EndpointDelta>& deltas = batch.by_service.at(key);
    ServiceOutcome& o = txn.Service(deltas[0].namespace_, deltas[0].service);
    const v1::ServiceRecord& record = txn.EnsureRecord(o);
    SK_RETURN_IF_ERROR(txn.Reconcile(o, record, deltas, /*full_resync=*/false));
  }
  return ToWriteResult(txn.Commit());
}

using SharedCallback = std::shared_ptr<Store::WriteCallback>;

// A pipelined proposal's answer from the log (internal/proposals.h). Called on any thread,
// possibly with shard locks held: everything that may block or call out runs later.
void Decide(internal::Core& core, std::shared_ptr<const ServiceBatches> batch, SharedCallback done,
            absl::StatusOr<storage::ReplicatedStorage::Proposal> proposal, Txn::Proposed p) {
  if (proposal.ok() && proposal->committed) {
    absl::StatusOr<WriteResult> result = ToWriteResult(std::move(p.result));
    result->revision = proposal->revision;
    core.proposals->WhenApplied(std::move(p.keys), proposal->revision,
                                [done, result = std::move(result)](absl::Status s) mutable {
                                  if (s.ok()) {
                                    (*done)(std::move(result));
                                  } else {
                                    (*done)(std::move(s));
                                  }
                                });
    return;
  }
  // Nothing was committed: the names reserved for the new slices are free again.
  for (const auto& [ns, name] : p.names) core.names.Release(ns, name);
  absl::Status error =
      proposal.ok() ? internal::ConflictError(proposal->revision) : proposal.status();
  core.proposals->Retry(std::move(p.keys), [&core, batch = std::move(batch), done,
                                            error = std::move(error)](absl::Status s) {
    const int64_t conflict = internal::ConflictRevision(error);
    if (!s.ok() || conflict == 0) {
      (*done)(s.ok() ? error : s);  // stopping, or the log failed: not retried
      return;
    }
    // Another replica wrote one of the services: write again, synchronously, once this replica
    // applied that (as WithRetries does).
    core.sequencer.AwaitPublishedUntil(conflict, absl::Now() + absl::Milliseconds(200));
    (*done)(RunWrite(core, [&] { return ApplyChangesOnce(core, *batch); }));
  });
}

// ApplyChangesAsync over a replicated storage: returns once the proposal is queued, without
// waiting for the log; `done` runs once this replica applied the write (internal/proposals.h).
void ProposeValidatedAsync(internal::Core& core, std::shared_ptr<const ServiceBatches> batch,
                           Store::WriteCallback done) {
  // The services' previous pipelined writes must be applied here first, or this one would
  // reconcile from stale state and conflict.
  core.proposals->AwaitIdle(batch->keys);
  auto shared_done = std::make_shared<Store::WriteCallback>(std::move(done));
  absl::StatusOr<std::optional<Txn::Result>> now;
  {
    Txn txn(core, batch->keys, core.clock->Now());
    absl::Status reconciled;
    for (const std::string& key : batch->keys) {
      const std::vector<EndpointDelta>& deltas = batch->by_service.at(key);
      ServiceOutcome& o = txn.Service(deltas[0].namespace_, deltas[0].service);
      const v1::ServiceRecord& record = txn.EnsureRecord(o);
      reconciled = txn.Reconcile(o, record, deltas, /*full_resync=*/false);
      if (!reconciled.ok()) break;
    }
    if (reconciled.ok()) {
      now = txn.ProposeAsync([&core, batch, shared_done](
                                 absl::StatusOr<storage::ReplicatedStorage::Proposal> proposal,
                                 Txn::Proposed p) mutable {
        Decide(core, std::move(batch), std::move(shared_done), std::move(proposal), std::move(p));
      });
    } else {
      now = reconciled;
    }
  }  // the shard locks are released before `done` runs
  if (!now.ok()) {
    (*shared_done)(now.status());
  } else if (now->has_value()) {
    (*shared_done)(ToWriteResult(std::move(**now)));  // nothing changed, nothing proposed
  }
}

// ApplyChangesAsync after validation.
void ApplyValidatedAsync(internal::Core& core, absl::StatusOr<ServiceBatches> batch,
                         Store::WriteCallback done) {
  if (!batch.ok()) {
    done(batch.status());
    return;
  }
  if (core.proposals != nullptr) {
    ProposeValidatedAsync(core, std::make_shared<const ServiceBatches>(std::move(*batch)),
                          std::move(done));
    return;
  }
  absl::StatusOr<WriteResult> result =
      WithRetries(core, [&] { return ApplyChangesOnce(core, *batch); });
  if (!result.ok()) {
    done(std::move(result));
    return;
  }
  const int64_t revision = result->revision;
  core.WhenCommitted(
      revision, [done = std::move(done), result = std::move(*result)](absl::Status status) mutable {
        if (status.ok()) {
          done(std::move(result));
        } else {
          done(std::move(status));
        }
      });
}

}  // namespace

struct Store::Rep : internal::Core {
  using Core::Core;
  ~Rep() {
    if (replicated != nullptr) replicated->StopFollowing();
  }

  // Feeds a replicated storage's log into this store.
  struct Follower : storage::ReplicationSink {
    explicit Follower(Core& c) : core(c) {}
    absl::Status Apply(const storage::ReplicatedCommit& commit) override {
      SK_RETURN_IF_ERROR(internal::ApplyReplicated(core, commit));
      core.proposals->Published(commit.revision);
      return absl::OkStatus();
    }
    Core& core;
  };
  Follower follower{*this};
};

Store::Store(Options options) : rep_(std::make_unique<Rep>(std::move(options))) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(Options options) {
  storage::Storage* storage = options.storage;
  auto store = std::make_unique<Store>(std::move(options));
  if (storage != nullptr) {
    SK_ASSIGN_OR_RETURN(storage::LoadedState state, storage->Load());
    const int64_t revision = state.revision;
    SK_RETURN_IF_ERROR(internal::Recover(*store->rep_, std::move(state)));
    if (store->rep_->replicated != nullptr) {
      SK_RETURN_IF_ERROR(store->rep_->replicated->Follow(revision, &store->rep_->follower));
    }
  }
  return store;
}

absl::StatusOr<WriteResult> Store::ApplyChanges(absl::Span<const v1::EndpointChange> changes) {
  SK_ASSIGN_OR_RETURN(const ServiceBatches batch, Validate(changes));
  return RunWrite(*rep_, [&] { return ApplyChangesOnce(*rep_, batch); });
}

void Store::ApplyChangesAsync(std::vector<v1::EndpointChange> changes, WriteCallback done) {
  ApplyValidatedAsync(*rep_, ValidateTaking(absl::MakeSpan(changes)), std::move(done));
}

void Store::ApplyChangesAsync(google::protobuf::RepeatedPtrField<v1::EndpointChange>* changes,
                              WriteCallback done) {
  ApplyValidatedAsync(*rep_, ValidateTaking(changes), std::move(done));
}

absl::StatusOr<WriteResult> Store::ReplaceEndpoints(
    absl::string_view ns, absl::string_view service,
    absl::Span<const v1::DesiredEndpoint> endpoints) {
  return RunWrite(*rep_, [&]() -> absl::StatusOr<WriteResult> {
    const absl::Time now = rep_->clock->Now();
    SK_RETURN_IF_ERROR(CheckServiceName(ns, service));
    std::vector<EndpointDelta> desired;
    absl::flat_hash_set<std::string> wanted;
    desired.reserve(endpoints.size());
    for (size_t i = 0; i < endpoints.size(); ++i) {
      SK_ASSIGN_OR_RETURN(EndpointDelta delta,
                          validation::NormalizeDesired(ns, service, endpoints[i],
                                                       absl::StrCat("endpoints[", i, "]")));
      wanted.insert(EndpointKey(delta.address_type, *delta.endpoint));
      desired.push_back(std::move(delta));
    }
    const std::string key = ServiceKey(ns, service);
    Txn txn(*rep_, {&key, 1}, now);
    ServiceOutcome& o = txn.Service(ns, service);
    // Removes first: an identity both removed and desired cannot occur (it is kept).
    std::vector<EndpointDelta> changes;
    for (const SlicePtr& slice : o.entry->state.Slices()) {
      for (const EndpointPtr& e : slice->endpoints) {
        if (wanted.contains(EndpointKey(slice->address_type, *e))) continue;
        EndpointDelta remove;
        remove.op = EndpointDelta::Op::kRemove;
        remove.namespace_ = std::string(ns);
        remove.service = std::string(service);
        remove.address_type = slice->address_type;
        remove.endpoint = e;
        changes.push_back(std::move(remove));
      }
    }
    changes.insert(changes.end(), std::make_move_iterator(desired.begin()),
                   std::make_move_iterator(desired.end()));
    const v1::ServiceRecord& record = txn.EnsureRecord(o);
    SK_RETURN_IF_ERROR(txn.Reconcile(o, record, changes, /*full_resync=*/false));
    return ToWriteResult(txn.Commit());
  });
}

absl::StatusOr<std::pair<v1::ServiceRecord, WriteResult>> Store::UpsertService(
    const v1::ServiceRecord& record) {
  return RunWrite(*rep_, [&]() -> absl::StatusOr<std::pair<v1::ServiceRecord, WriteResult>> {
    const absl::Time now = rep_->clock->Now();
    SK_RETURN_IF_ERROR(validation::ValidateServiceRecord(record, ""));
    const std::string key = ServiceKey(record.namespace_(), record.name());
    Txn txn(*rep_, {&key, 1}, now);
    ServiceOutcome& o = txn.Service(record.namespace_(), record.name());
    auto next = std::make_shared<v1::ServiceRecord>(record);
    next->clear_resource_version();
    std::shared_ptr<const v1::ServiceRecord> current = o.entry->record;
    if (current != nullptr) {
      next->set_uid(current->uid());
      next->set_creation_timestamp(current->creation_timestamp());
    } else {
      next->set_uid(rep_->names.NewUid());
      next->set_creation_timestamp(txn.creation_timestamp());
    }
    const bool record_changed = current == nullptr || !SameRecord(*current, *next);
    SK_RETURN_IF_ERROR(txn.Reconcile(o, *next, {}, /*full_resync=*/true));
    if (record_changed) {
      o.new_record = next;
      o.changed = true;
    }
    SK_ASSIGN_OR_RETURN(WriteResult result, ToWriteResult(txn.Commit()));
    // After Commit the stored record carries its resource_version.
    return std::make_pair(record_changed ? *next : *current, std::move(result));
  });
}

absl::StatusOr<WriteResult> Store::DeleteService(absl::string_view ns, absl::string_view name) {
  return RunWrite(*rep_, [&]() -> absl::StatusOr<WriteResult> {
    const absl::Time now = rep_->clock->Now();
    const std::string key = ServiceKey(ns, name);
    Txn txn(*rep_, {&key, 1}, now);
    ServiceOutcome& o = txn.Service(ns, name);
    if (o.entry->record == nullptr) {
      return absl::NotFoundError(absl::StrCat("service ", ns, "/", name, " not found"));
    }
    DeleteManaged(o);
    return ToWriteResult(txn.Commit());
  });
}

absl::StatusOr<std::pair<SlicePtr, int64_t>> Store::PutSlice(const v1::EndpointSlice& slice,
                                                             const SliceConditions& conditions) {
  return RunWrite(*rep_, [&]() -> absl::StatusOr<std::pair<SlicePtr, int64_t>> {
    const absl::Time now = rep_->clock->Now();
    SK_RETURN_IF_ERROR(CheckForeignSlice(slice));
    const std::string& ns = slice.metadata().namespace_();
    const std::string& service = slice.metadata().labels().at(kLabelServiceName);
    const std::string key = ServiceKey(ns, service);
    Txn txn(*rep_, {&key, 1}, now);
    ServiceOutcome& o = txn.Service(ns, service);
    std::string name = slice.metadata().name();
    SlicePtr existing;
    if (name.empty()) {
      name = rep_->names.Reserve(ns, slice.metadata().generate_name(), service, /*managed=*/false);
      txn.NoteClaimed(ns, name);
    } else if (auto it = o.entry->foreign.find(name); it != o.entry->foreign.end()) {
      existing = it->second;
    } else {
      absl::StatusOr<bool> claimed = rep_->names.ClaimForeign(ns, name, service);
      if (!claimed.ok() && conditions.existence == SliceConditions::Existence::kMustNotExist) {
        return absl::AlreadyExistsError(
            absl::StrCat("endpointslice ", ns, "/", name, " already exists"));
      }
      if (!claimed.ok()) return claimed.status();
      if (*claimed) txn.NoteClaimed(ns, name);
    }
    SK_RETURN_IF_ERROR(CheckConditions(existing, conditions, ns, name));
    if (existing != nullptr && existing->address_type != slice.address_type()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "addressType: Invalid value: \"", slice.address_type(), "\": field is immutable"));
    }
    std::shared_ptr<Slice> next = SliceFromProto(slice);
    next->name = name;
    next->uid = existing != nullptr ? existing->uid : rep_->names.NewUid();
    next->generation = existing != nullptr ? existing->generation + 1 : 1;
    next->creation_timestamp =
        existing != nullptr ? existing->creation_timestamp : txn.creation_timestamp();
    next->resource_version = 0;
    if (existing != nullptr && SameSliceContent(*existing, *next)) {
      SK_ASSIGN_OR_RETURN(Txn::Result unchanged, txn.Commit());
      return std::make_pair(existing, unchanged.revision);
    }
    o.writes.push_back({name, next, /*managed=*/false});
    o.changed = true;
    SK_ASSIGN_OR_RETURN(Txn::Result committed, txn.Commit());
    return std::make_pair(SlicePtr(std::move(next)), committed.revision);
  });
}

absl::StatusOr<int64_t> Store::DeleteSlice(absl::string_view ns, absl::string_view name,
                                           const SliceConditions& conditions) {
  return RunWrite(*rep_, [&]() -> absl::StatusOr<int64_t> {
    const absl::Time now = rep_->clock->Now();
    std::optional<internal::NameIndex::Owner> owner = rep_->names.Lookup(ns, name);
    if (owner.has_value() && owner->managed) {
      return absl::FailedPreconditionError(
          absl::StrCat("endpointslice ", ns, "/", name, " is managed by ", kManagerName));
    }
    if (owner.has_value()) {
      const std::string key = ServiceKey(ns, owner->service);
      Txn txn(*rep_, {&key, 1}, now);
      ServiceOutcome& o = txn.Service(ns, owner->service);
      if (auto it = o.entry->foreign.find(name); it != o.entry->foreign.end()) {
        SliceConditions check = conditions;
        check.existence = SliceConditions::Existence::kAny;
        SK_RETURN_IF_ERROR(CheckConditions(it->second, check, ns, name));
        o.writes.push_back({std::string(name), nullptr, /*managed=*/false});
        o.changed = true;
        SK_ASSIGN_OR_RETURN(Txn::Result committed, txn.Commit());
        return committed.revision;
      }
    }
    return absl::NotFoundError(absl::StrCat("endpointslice ", ns, "/", name, " not found"));
  });
}

absl::StatusOr<int64_t> Store::PutNodes(absl::Span<const v1::Node> nodes) {
  return RunWrite(*rep_, [&]() -> absl::StatusOr<int64_t> {
    const absl::Time now = rep_->clock->Now();
    for (size_t i = 0; i < nodes.size(); ++i) {
      SK_RETURN_IF_ERROR(validation::ValidateNode(nodes[i], absl::StrCat("nodes[", i, "]")));
    }
    auto registry = std::make_shared<const internal::NodeList>(nodes.begin(), nodes.end());
    Txn txn(*rep_, {}, now, /*all_shards=*/true);
    for (const auto& [ns, name] : txn.AllServices()) {
      ServiceOutcome& o = txn.Service(ns, name);
      if (o.entry->record == nullptr) continue;
      if (reconcile::HintModeFor(*o.entry->record) != reconcile::HintMode::kAuto) continue;
      SK_RETURN_IF_ERROR(
          txn.Reconcile(o, *o.entry->record, {}, /*full_resync=*/true, registry.get()));
    }
    txn.SetNodes(registry);
    SK_ASSIGN_OR_RETURN(Txn::Result committed, txn.Commit());
    return committed.revision;
  });
}

int64_t Store::revision() const { return rep_->sequencer.revision(); }

bool Store::serving() const { return health().ok(); }

absl::Status Store::health() const {
  if (rep_->committer != nullptr) SK_RETURN_IF_ERROR(rep_->committer->status());
  if (rep_->replicated != nullptr && !rep_->replicated->following()) {
    return absl::UnavailableError(
        "store: this replica stopped following the shared log; its reads may be stale");
  }
  return absl::OkStatus();
}

ServiceSnapshotPtr Store::GetService(absl::string_view ns, absl::string_view name) const {
  const std::string key = ServiceKey(ns, name);
  const internal::Shard& shard = *rep_->ShardFor(key);
  absl::MutexLock l(&shard.read_mu);
  auto it = shard.published.find(key);
  return it == shard.published.end() ? nullptr : it->second;
}

absl::StatusOr<std::pair<SlicePtr, int64_t>> Store::GetSlice(absl::string_view ns,
                                                             absl::string_view name) const {
  return rep_->sequencer.GetSlice(ns, name);
}

CatalogPtr Store::Snapshot(absl::string_view ns) const { return rep_->sequencer.Snapshot(ns); }

absl::StatusOr<CatalogPtr> Store::SnapshotAt(absl::string_view ns, int64_t revision) const {
  // The catalog first: every commit it reflects is then in ChangesSince's answer.
  CatalogPtr current = Snapshot(ns);
  if (revision == current->revision) return current;
  if (revision > current->revision) {
    return absl::InvalidArgumentError(
        absl::StrCat("revision ", revision, " is newer than the store's ", current->revision));
  }
  SK_ASSIGN_OR_RETURN(std::vector<CommitPtr> commits, ChangesSince(revision));
  // A service changed since `revision` was, at `revision`, what its first later commit replaced.
  absl::flat_hash_map<std::string, ServiceSnapshotPtr> then;
  for (const CommitPtr& commit : commits) {
    for (const ServiceChange& change : commit->services) {
      const ServiceSnapshot& any = change.after != nullptr ? *change.after : *change.before;
      if (!ns.empty() && any.namespace_ != ns) continue;
      then.try_emplace(ServiceKey(any.namespace_, any.name), change.before);
    }
  }
  auto out = std::make_shared<Catalog>();
  out->revision = revision;
  for (const ServiceSnapshotPtr& service : current->services) {
    auto it = then.find(ServiceKey(service->namespace_, service->name));
    if (it == then.end()) {
      out->services.push_back(service);
      continue;
    }
    if (it->second != nullptr) out->services.push_back(it->second);
    then.erase(it);
  }
  // Services deleted since `revision`.
  for (auto& [key, before] : then) {
    if (before != nullptr) out->services.push_back(before);
  }
  std::sort(out->services.begin(), out->services.end(),
            [](const ServiceSnapshotPtr& a, const ServiceSnapshotPtr& b) {
              return std::tie(a->namespace_, a->name) < std::tie(b->namespace_, b->name);
            });
  return CatalogPtr(std::move(out));
}

std::vector<v1::Node> Store::Nodes() const { return *rep_->nodes_snapshot(); }

Totals Store::totals() const { return rep_->sequencer.totals(); }

std::pair<int64_t, int64_t> Store::history_usage() const { return rep_->sequencer.HistoryUsage(); }

int64_t Store::history_max_bytes() const { return rep_->options.history_bytes; }

MemoryUsage Store::memory_usage() const { return internal::MeasureMemory(*rep_); }

int64_t Store::history_floor() const {
  const int64_t memory = rep_->sequencer.HistoryFloor();
  if (rep_->storage == nullptr || rep_->replicated != nullptr) return memory;
  const int64_t disk = rep_->storage->Stats().history_floor;
  return disk >= 0 ? std::min(memory, disk) : memory;
}

storage::StorageStats Store::storage_stats() const {
  return rep_->storage != nullptr ? rep_->storage->Stats() : storage::StorageStats{};
}

absl::StatusOr<std::vector<CommitPtr>> Store::ChangesSince(int64_t revision, size_t limit) const {
  return internal::ChangesSince(*rep_, revision, limit);
}

absl::StatusOr<Rewound> Store::Rewind(absl::string_view ns, absl::Span<const std::string> services,
                                      int64_t revision) const {
  return internal::Rewind(*rep_, ns, services, revision);
}

bool Store::AwaitRevision(int64_t revision, absl::Time deadline) const {
  return rep_->sequencer.AwaitPublishedUntil(revision, deadline);
}

CatalogPtr Store::SnapshotAndListen(absl::string_view ns, CommitListener* listener) {
  return rep_->sequencer.SnapshotAndListen(ns, listener);
}

void Store::RemoveListener(CommitListener* listener) { rep_->sequencer.RemoveListener(listener); }

}  // namespace slicekeeper::store
