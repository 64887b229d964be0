// Store internals: one write request in flight.
//
// A Txn locks the write mutexes of the shards it needs, in ascending shard order, on construction.
// The request then decides, service by service, what it changes (`ServiceOutcome`), running the
// reconciler where endpoints or records change. Everything that can fail happens in that phase; on
// an error the Txn is simply destroyed and nothing is applied (reserved names are released).
// `Commit` takes the next revision (none if nothing changed), stamps it on the new objects,
// persists the commit to storage (if any) with the shard locks still held, and only then applies
// the outcomes to the writer state, builds the new snapshots, releases the shard locks and
// publishes through the sequencer in revision order. A failed persist leaves the writer state
// untouched (it was never mutated) and publishes the taken revision as an empty commit.
// With group commit (Core::committer) the persist only appends to the log, and the committer
// publishes once the log is synced: Commit then returns before the write is visible, and the
// caller waits with Core::AwaitCommitted / WhenCommitted.
//
// Thread-safety: a Txn belongs to one thread.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_TXN_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_TXN_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "server/reconcile/reconciler.h"
#include "server/store/internal/core.h"

namespace slicekeeper::store::internal {

// What the request does to one service.
struct ServiceOutcome {
  // A slice version to store (`slice` set) or a slice to delete (`slice` null).
  struct SliceWrite {
    std::string name;
    std::shared_ptr<Slice> slice;
    bool managed = true;
  };

  std::string key;
  Shard* shard = nullptr;
  // The writer state: an existing entry, or `fresh` for a service new to the store.
  ServiceEntry* entry = nullptr;
  std::unique_ptr<ServiceEntry> fresh;

  bool changed = false;
  // Replaces the record at commit (resource_version stamped then).
  std::shared_ptr<v1::ServiceRecord> new_record;
  // Removes the record and resets the managed state (the managed deletes are in `writes`).
  bool delete_record = false;
  // Applied to the managed state at commit.
  std::optional<reconcile::Plan> plan;
  std::vector<SliceWrite> writes;
  // Replicated stores: the managed state is rebuilt from the slices after `writes` (the log says
  // what changed, not the plan), and the snapshot's mod_revision is this when non-zero.
  bool rebuild_state = false;
  int64_t mod_revision = 0;
  reconcile::Stats stats;
  std::vector<reconcile::SyncReport> syncs;
};

// Replicated stores: the error a write fails with when another replica changed what it read, and
// the revision to wait for before retrying it (0 if `status` is not such an error).
absl::Status ConflictError(int64_t revision);
int64_t ConflictRevision(const absl::Status& status);

class Txn {
 public:
  struct Result {
    int64_t revision = 0;
    reconcile::Stats stats;
    std::vector<reconcile::SyncReport> syncs;
  };

  // Locks the shards of `service_keys`, or every shard if `all_shards`.
  Txn(Core& core, absl::Span<const std::string> service_keys, absl::Time now,
      bool all_shards = false);
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // The outcome slot of one service (created on first use).
  // REQUIRES: the service's shard was locked by the constructor.
  ServiceOutcome& Service(absl::string_view ns, absl::string_view name);

  // Keys of every service in the locked shards. REQUIRES: constructed with all_shards.
  std::vector<std::pair<std::string, std::string>> AllServices() const;

  // The record to reconcile with: the stored one, or a default record (fresh uid) that becomes
  // `o.new_record`.
  const v1::ServiceRecord& EnsureRecord(ServiceOutcome& o);

  // Runs the reconciler for `o` with `record` and stores the plan in `o`. `nodes` overrides the
  // registry (PutNodes). Errors: those of reconcile::Reconcile.
  absl::Status Reconcile(ServiceOutcome& o, const v1::ServiceRecord& record,
                         absl::Span<const EndpointDelta> changes, bool full_resync,
                         const NodeList* nodes = nullptr);

  // Records a slice name claimed in the name index, to release if the request is not committed.
  void NoteClaimed(absl::string_view ns, absl::string_view name);

  // Makes Commit persist and install `nodes` as the node registry (PutNodes).
  // REQUIRES: constructed with all_shards.
  void SetNodes(std::shared_ptr<const NodeList> nodes) { nodes_ = std::move(nodes); }

  // Persists, applies and publishes everything. A request that changed nothing (and set no
  // nodes) takes no revision and returns the last one handed out, once it is published (with
  // group commit: returns at once, the caller waits for the revision as for any other).
  // Errors: UNAVAILABLE / INTERNAL from the storage (nothing applied), or because an earlier
  // group sync failed; FAILED_PRECONDITION for a store with storage that was not recovered.
  absl::StatusOr<Result> Commit();

  // Replicated stores, pipelined writes (internal/proposals.h): marks the changed services busy in
  // Core::proposals, queues the commit's proposal (ReplicatedStorage::ProposeAsync) and releases
  // the shard locks without waiting for the log. `decided` is then called exactly once, from any
  // thread, possibly before this returns and possibly with shard locks held (it must not block),
  // with the log's answer and what the proposal holds. A request that changed nothing proposes
  // nothing and returns its result (at the published revision) instead.
  struct Proposed {
    Result result;
    // The changed services (busy until the caller ends them in Core::proposals).
    std::vector<std::string> keys;
    // The new slices' names, reserved for their services: release them if nothing was committed.
    std::vector<std::pair<std::string, std::string>> names;
  };
  using Decided =
      std::function<void(absl::StatusOr<storage::ReplicatedStorage::Proposal>, Proposed)>;
  std::optional<Result> ProposeAsync(Decided decided);

  // Replicated stores: applies what the shared log committed at `revision` (the outcomes carry
  // `writes`, records and rebuild_state, no plans) and publishes it. Never fails.
  // `nodes_revision`: the log's revision of the node registry set with SetNodes, if any.
  void CommitReplicated(int64_t revision, int64_t nodes_revision);

  Core& core() { return core_; }
  absl::Time now() const { return now_; }
  const std::string& creation_timestamp() const { return creation_timestamp_; }

 private:
  // The outcomes that change something, sorted by (namespace, name).
  std::vector<ServiceOutcome*> Changed() const;
  void UnlockAll();
  // Releases the reserved names no write uses; returns the others (they stay reserved).
  std::vector<std::pair<std::string, std::string>> ReleaseUnusedNames();
  // The stats of every outcome.
  Result Stats() const;
  // Commit of a request that changed nothing: no revision (nodes alone are persisted).
  absl::StatusOr<Result> CommitNothing(Result result);
  // Stamps `revision` on the new record and slice versions of `changed`.
  void Stamp(absl::Span<ServiceOutcome* const> changed, int64_t revision);
  // What `changed` (sorted) does at `revision`, for storage, with its history record encoded.
  // Reads the writer state: call before CommitService.
  storage::CommitRecord Record(absl::Span<ServiceOutcome* const> changed, int64_t revision) const;
  // Persists `record`. REQUIRES: core_.storage != null.
  absl::Status Persist(const storage::CommitRecord& record);
  // Proposes the commit of `changed` (sorted) to the replicated storage and waits until this
  // replica applied it. Errors: ABORTED with a conflict revision (ConflictRevision) when a guard
  // failed; UNAVAILABLE.
  absl::StatusOr<Result> Propose(absl::Span<ServiceOutcome* const> changed, Result result);
  void InstallNodes();
  // Publishes through the committer (group commit) or directly.
  void Publish(Sequencer::Publication p);
  // Applies `o` to the writer state and adds its snapshot, names and totals to `p`.
  void CommitService(ServiceOutcome& o, int64_t revision, store::Commit& commit,
                     Sequencer::Publication& p);

  Core& core_;
  const absl::Time now_;
  const std::string trigger_time_;
  const std::string creation_timestamp_;
  std::vector<Shard*> locked_;  // ascending
  std::shared_ptr<const NodeList> nodes_;
  // Replicated stores: the revision of the node registry the reconciles read (the guard).
  std::optional<int64_t> nodes_revision_;
  bool committed_ = false;
  // Outcomes by service key, in order of first use.
  absl::flat_hash_map<std::string, std::unique_ptr<ServiceOutcome>> outcomes_;
  std::vector<ServiceOutcome*> order_;
  // Names generated for the reconciler, and names claimed for foreign slices: (ns, name).
  std::vector<std::pair<std::string, std::string>> reserved_;
  std::vector<std::pair<std::string, std::string>> claimed_;
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_TXN_H_
