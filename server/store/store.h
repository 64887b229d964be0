// The store: every service's state in sharded maps, one global revision, a bounded history of
// committed changes, and copy-on-write snapshots for lock-free reading.
//
// Writes (endpoint batches, service records, whole foreign slices, nodes) are validated completely
// first; nothing of an invalid request is applied. A valid write runs the reconciler for each
// service it touches under that service's shard lock (shards locked in ascending order, so a batch
// over several services is atomic and deadlock-free), takes the next revision, and is then
// *published* by a short sequencing step in strict revision order: a commit with revision r becomes
// visible to readers and to listeners only after every commit below r did. A watcher of two
// services therefore never sees r+1 before r, and at every published revision R the readable state
// is exactly the store's state at R.
//
// Durability: with `Options::storage` set, every commit is handed to the storage while the
// commit's shard write locks are still held (so per service, storage order is commit order) and
// *before* it is published; a write returns only after its commit is durable. If the storage
// fails, nothing of the write is applied or published, its revision is published as an empty
// commit (revisions stay gapless), and the write returns UNAVAILABLE. A storage that offers group
// commit (RocksDB `--sync=always`) is only appended to under the locks; a commit thread then syncs
// every commit appended meanwhile at once and publishes them (internal/committer.h), so writers
// never hold a lock across an fsync and pipelined writes share one. A store over storage is
// created with `Store::Open`, which first rebuilds everything persisted (see docs/storage.md).
//
// Readers never wait for a reconcile: they take an immutable `ServiceSnapshot` (a small vector of
// `SlicePtr`, sharing unchanged slices with the previous snapshot) and read it without locks.
//
// Lock order: shard write locks in ascending shard index, then the sequencer lock, then a shard's
// read lock. Listeners are called with the sequencer lock held and must not call back into the
// store's write methods.
//
// Thread-safety: every method is safe to call concurrently.
//
// Example:
//   Store store(Store::Options{});
//   absl::StatusOr<WriteResult> r = store.ApplyChanges(batch.changes());
//   ServiceSnapshotPtr s = store.GetService("default", "web");   // null if unknown
#ifndef SLICEKEEPER_SERVER_STORE_STORE_H_
#define SLICEKEEPER_SERVER_STORE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/clock.h"
#include "common/slice.h"
#include "server/reconcile/reconciler.h"
#include "server/storage/storage.h"
#include "slicekeeper/v1/change.pb.h"
#include "slicekeeper/v1/registry.pb.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::store {

// One version of one service: its record and all its slices (managed and foreign).
struct ServiceSnapshot {
  std::string namespace_;
  std::string name;
  // Null when the service has only foreign slices and no record.
  std::shared_ptr<const v1::ServiceRecord> record;
  // Managed and foreign slices, sorted by name.
  std::vector<SlicePtr> slices;
  // The revision of the service's last change.
  int64_t mod_revision = 0;
};
using ServiceSnapshotPtr = std::shared_ptr<const ServiceSnapshot>;

// What one commit did to one service. `before` / `after` are null when the service did not exist
// before / was deleted.
struct ServiceChange {
  ServiceSnapshotPtr before;
  ServiceSnapshotPtr after;
};

// One committed write: every service it changed, at one revision.
struct Commit {
  int64_t revision = 0;
  absl::Time time;
  std::vector<ServiceChange> services;
};
using CommitPtr = std::shared_ptr<const Commit>;

// A consistent view of many services at one revision.
struct Catalog;
using CatalogPtr = std::shared_ptr<const Catalog>;

// Services at an earlier revision, against their published state (Store::Rewind; watch resume).
struct Rewound {
  // The selected services at the published revision R = now->revision.
  CatalogPtr now;
  // One per selected service that changed after the earlier revision, ordered by (namespace,
  // name).
  struct Service {
    // The service at the earlier revision and at R; null where it did not exist.
    ServiceSnapshotPtr then;
    ServiceSnapshotPtr now;
    // Set when `now` is null: the revision of the service's last deletion.
    int64_t deleted_at = 0;
    // The revision of the last deletion of every slice deleted since the earlier revision (a
    // slice of `then` missing from `now` is among them).
    absl::flat_hash_map<std::string, int64_t> slices_deleted_at;
  };
  std::vector<Service> changed;
};

struct Catalog {
  int64_t revision = 0;
  // Sorted by (namespace, name).
  std::vector<ServiceSnapshotPtr> services;
};

// Receives every commit, in revision order (the watch hub).
class CommitListener {
 public:
  virtual ~CommitListener() = default;
  // Called on the committing thread with the sequencer lock held: must be cheap and never block
  // (mark dirty, wake a sender) and must not call the store's write methods.
  virtual void OnCommit(const CommitPtr& commit) = 0;
};

struct WriteResult {
  // The revision at which the write became visible; for a write that changed nothing, the
  // store's current revision (no new revision is taken).
  int64_t revision = 0;
  v1::BatchStats stats;
  // Per service and address type, for the controller metrics.
  std::vector<reconcile::SyncReport> syncs;
};

// Conditions a slice write or delete checks atomically with it (Kubernetes' create-only POST,
// update-only PUT, and optimistic concurrency on resourceVersion / uid).
struct SliceConditions {
  enum class Existence { kAny, kMustNotExist, kMustExist };
  Existence existence = Existence::kAny;
  // Non-zero: the stored slice's resource_version must be this one.
  int64_t resource_version = 0;
  // Non-empty: the stored slice's uid must be this one.
  std::string uid;
};

struct Totals {
  int64_t services = 0;
  int64_t slices = 0;
  int64_t endpoints = 0;
  int64_t desired_slices = 0;
};

// What the store's own objects take in memory, by part: estimates from the objects' sizes
// (protobuf's SpaceUsedLong, container capacities), each shared object counted once. Allocator
// rounding and fragmentation are not included: the process RSS less the empty process's, set
// beside total(), shows them.
struct MemoryUsage {
  // The endpoint objects of the live slices: messages, their strings, their shared_ptr blocks.
  int64_t endpoints = 0;
  // The live slice objects (per-version fields, runs of endpoint pointers), their metadata and
  // port lists.
  int64_t slices = 0;
  // The serialized slices cached for readers (Slice::SerializedProto).
  int64_t serialized = 0;
  // Service snapshots and records, and the maps that hold them (published and writer side).
  int64_t services = 0;
  // The reconciler's indexes (identity index, groups, slots).
  int64_t reconciler = 0;
  // The in-memory history window (history_usage().second).
  int64_t history = 0;
  // The endpoints counted in `endpoints`.
  int64_t live_endpoints = 0;

  int64_t total() const {
    return endpoints + slices + serialized + services + reconciler + history;
  }
};

class Store {
 public:
  struct Options {
    int shards = 64;
    reconcile::Options reconcile;
    // The in-memory history window (watch resume, ChangesSince): the history records of at most
    // `history_size` commits, and beyond the newest one at most `history_bytes` of them,
    // whichever bound is hit first. A record holds what its commit changed (internal/delta.h), so
    // the bytes are what the window costs. Older records are read from storage, when it keeps
    // them (RocksDB: its own bounds, docs/storage.md).
    int64_t history_size = 100'000;
    int64_t history_bytes = int64_t{64} << 20;
    // Not owned; must outlive the store. Null: RealClock().
    Clock* clock = nullptr;
    // Not owned; must outlive the store. Null: nothing is persisted. Use Store::Open when set.
    storage::Storage* storage = nullptr;
  };

  // Does no work. With `options.storage` set, writes fail with FAILED_PRECONDITION: use Open.
  explicit Store(Options options);

  // Creates a store and, with `options.storage` set, rebuilds it from `storage->Load()`: every
  // service (managed slices through reconcile::ServiceState::FromSlices, foreign slices, records),
  // the slice-name index, the nodes and the revision (later writes continue above it). The
  // history is not read: ChangesSince and Rewind read storage's records when asked for
  // revisions before the restart, so opening costs the live state, whatever the history.
  // Errors: those of Storage::Load; DATA_LOSS when the loaded state is inconsistent (e.g. a slice
  // name used twice in a namespace, managed slices without a service record).
  static absl::StatusOr<std::unique_ptr<Store>> Open(Options options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- Writes. Each is atomic and returns the revision at which it became visible. ---
  // Every write may also fail with UNAVAILABLE when the storage could not persist it (nothing
  // applied), or FAILED_PRECONDITION for a store with storage that was not created by Open.

  // Applies endpoint changes, possibly across several services, atomically at one revision.
  // Services named for the first time are created with a default record.
  // Errors: INVALID_ARGUMENT naming `changes[i].<field>` and the rule (every violation, at most
  // 20 listed); nothing applied.
  absl::StatusOr<WriteResult> ApplyChanges(absl::Span<const v1::EndpointChange> changes);

  // ApplyChanges for pipelining writers (a StreamChanges stream): returns once the write is
  // validated, reconciled and (over durable storage) appended to the log, and calls `done` with
  // the result once it is visible and durable — inline, or later on the store's commit thread
  // when the storage syncs many writes at once. A later write of the same caller already builds on
  // this one; the `done`s of successful writes come in revision order. `done` must not block.
  // Over a replicated storage (etcd) it returns once the proposal is queued, and `done` runs once
  // this replica applied the write (on the follower's thread); a write first waits for this
  // replica's earlier pipelined writes of the same services to be applied, and a write another
  // replica's write made conflict is redone later, so only then may its revision be above a later
  // write's (internal/proposals.h).
  // Takes the batch: its endpoints are moved into the store, not copied.
  using WriteCallback = std::function<void(absl::StatusOr<WriteResult>)>;
  void ApplyChangesAsync(std::vector<v1::EndpointChange> changes, WriteCallback done);
  // The same for a parsed request's field, possibly on an arena (moving arena messages into a
  // vector would copy them): the changes are read in place (endpoints canonicalized, names moved
  // out, as validation::TakeNormalizedChanges) and not needed once this returns.
  void ApplyChangesAsync(google::protobuf::RepeatedPtrField<v1::EndpointChange>* changes,
                         WriteCallback done);

  // Replaces the full desired endpoint set of one service (endpoints not listed are removed).
  // Errors: INVALID_ARGUMENT naming `endpoints[i].<field>`.
  absl::StatusOr<WriteResult> ReplaceEndpoints(absl::string_view ns, absl::string_view service,
                                               absl::Span<const v1::DesiredEndpoint> endpoints);

  // Creates or replaces a service record (server fields uid, creation_timestamp and
  // resource_version are kept or assigned) and re-runs the distribution over every slice.
  // Returns the stored record. Errors: INVALID_ARGUMENT.
  absl::StatusOr<std::pair<v1::ServiceRecord, WriteResult>> UpsertService(
      const v1::ServiceRecord& record);

  // Deletes a service record and all its slices. Errors: NOT_FOUND.
  absl::StatusOr<WriteResult> DeleteService(absl::string_view ns, absl::string_view name);

  // Stores a slice written by another manager, as given (server fields assigned), if
  // `conditions` hold for the slice stored under its name.
  // Errors: INVALID_ARGUMENT (also "addressType: field is immutable" when an update changes
  // it); FAILED_PRECONDITION if it claims our managed-by value or its name is taken by a managed
  // slice or a slice of another service; for `conditions`: ALREADY_EXISTS (kMustNotExist and the
  // name is taken), NOT_FOUND (kMustExist, or a resource_version / uid condition, and no foreign
  // slice of the service has the name), ABORTED (resource_version or uid differ).
  absl::StatusOr<std::pair<SlicePtr, int64_t>> PutSlice(const v1::EndpointSlice& slice,
                                                        const SliceConditions& conditions = {});

  // Deletes a foreign slice if its resource_version / uid match `conditions` (existence is
  // ignored). Errors: NOT_FOUND; FAILED_PRECONDITION for a managed slice; ABORTED when a
  // condition does not hold.
  absl::StatusOr<int64_t> DeleteSlice(absl::string_view ns, absl::string_view name,
                                      const SliceConditions& conditions = {});

  // Replaces the node registry and re-runs the distribution of services using Auto hints.
  // Errors: INVALID_ARGUMENT.
  absl::StatusOr<int64_t> PutNodes(absl::Span<const v1::Node> nodes);

  // --- Reads: published state only; never wait for a reconcile. ---

  // The latest published revision.
  int64_t revision() const;
  // False when the store cannot be trusted to be current or to take writes: a replicated store
  // whose follower stopped (see storage::ReplicatedStorage), or a store whose storage failed to
  // sync its log (it then refuses writes until restarted). True otherwise.
  bool serving() const;
  // OK when serving(); else UNAVAILABLE saying why.
  absl::Status health() const;
  // Null if unknown. Reading one service: the snapshot is the service's state at
  // max(R, snapshot->mod_revision), where R is revision() read *before* the call (snapshots are
  // swapped in before revision() advances, so a snapshot may briefly be newer than revision()).
  ServiceSnapshotPtr GetService(absl::string_view ns, absl::string_view name) const;
  // The slice and the revision the read reflects. Errors: NOT_FOUND.
  absl::StatusOr<std::pair<SlicePtr, int64_t>> GetSlice(absl::string_view ns,
                                                        absl::string_view name) const;
  // Every service of `ns` ("" = all namespaces) at one revision.
  CatalogPtr Snapshot(absl::string_view ns = "") const;
  // Every service of `ns` as it was at `revision` (etcd's range read at a revision): the current
  // state with each service changed since `revision` replaced by its state before that change.
  // Costs O(services + commits since `revision`). Errors: OUT_OF_RANGE when commits after
  // `revision` left the retained history; INVALID_ARGUMENT when `revision` is newer than
  // revision().
  absl::StatusOr<CatalogPtr> SnapshotAt(absl::string_view ns, int64_t revision) const;
  std::vector<v1::Node> Nodes() const;
  Totals totals() const;
  // The in-memory history window: commits, and the bytes of their records.
  std::pair<int64_t, int64_t> history_usage() const;
  // The bound on history_usage().second (Options::history_bytes).
  int64_t history_max_bytes() const;
  // The memory the store's objects take, by part, at the published revision. Costs O(services
  // + slices) plus O(endpoints) of slice versions not measured before (each version is measured
  // once); takes each shard's write lock briefly (per shard, O(its services)).
  MemoryUsage memory_usage() const;
  // A watcher can resume from any revision at or above this one (the in-memory window's floor,
  // or the storage's when it keeps older history records).
  int64_t history_floor() const;
  // The storage's sizes and counters (StorageStats; all -1 / 0 without storage).
  storage::StorageStats storage_stats() const;

  // --- History and listeners. ---

  // The first `limit` commits with revision > `revision`, in order, rebuilt from the history
  // records (a revision published empty is a commit without services). Costs O(records after
  // `revision`) time whatever `limit`, and may read storage for revisions before the in-memory
  // window; keeps O(limit) commits in memory. Errors: OUT_OF_RANGE when records after `revision`
  // were dropped (from memory and storage); DATA_LOSS for a record that does not decode;
  // UNAVAILABLE when storage could not be read; INVALID_ARGUMENT for a negative revision.
  absl::StatusOr<std::vector<CommitPtr>> ChangesSince(int64_t revision,
                                                      size_t limit = SIZE_MAX) const;

  // The services of `ns` ("" = all; only `services` when both are given) as they were at
  // `revision`, beside their published state (see Rewound): what a watcher resuming from
  // `revision` must be told. Costs as ChangesSince, but keeps one version of each changed
  // service. Errors: as ChangesSince, and OUT_OF_RANGE for a revision newer than revision().
  absl::StatusOr<Rewound> Rewind(absl::string_view ns, absl::Span<const std::string> services,
                                 int64_t revision) const;

  // Waits until revision() >= `revision` or `deadline` passes; returns whether it is (a replica
  // that a client reached before the commit it already saw elsewhere catches up).
  bool AwaitRevision(int64_t revision, absl::Time deadline) const;

  // Atomically registers `listener` and returns the catalog at the revision from which the
  // listener will see every later commit. `listener` must outlive its registration.
  CatalogPtr SnapshotAndListen(absl::string_view ns, CommitListener* listener);
  // After this returns, `listener` is never called again.
  void RemoveListener(CommitListener* listener);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace slicekeeper::store

#endif  // SLICEKEEPER_SERVER_STORE_STORE_H_
