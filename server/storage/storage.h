// Storage: where the store's committed state survives a restart. One interface, several backends
// (`MemoryStorage` for tests and benchmarks, `RocksDbStorage`, the embedded default, and
// `EtcdStorage`, a `ReplicatedStorage` that several replicas share). The on-disk format of
// RocksDbStorage is specified in docs/storage.md, the etcd layout in docs/replication.md.
//
// The store hands every committed revision to `Commit` while it still holds the shard write locks
// of the services the commit touched, and acknowledges the write only after `Commit` returned OK;
// so per service, the order of commits in storage is revision order. Commits of disjoint services
// may reach storage concurrently and out of revision order (the backend may group them into one
// sync). On start, `Load` returns the live state (services, slices, nodes) and the revision, from
// which the store rebuilds its shards and the revision counter; nothing of the history is read.
//
// History: each commit also persists its *history record* (`CommitRecord::history`, bytes the
// store encodes: the commit as an undo delta, server/store/internal/delta.h), so that a watcher can
// resume across a restart. The records are opaque to the backend. `Load` does not read them: the
// store reads them lazily (`ScanHistory`) when a watcher resumes from before its in-memory window.
// The backend keeps a bounded window of them (count and bytes) and says where it starts.
//
// Thread-safety: implementations must allow concurrent `Commit` calls. `Load` is called once,
// before any `Commit`.
//
// Example:
//   SK_ASSIGN_OR_RETURN(std::unique_ptr<RocksDbStorage> db, RocksDbStorage::Open(options));
//   SK_ASSIGN_OR_RETURN(LoadedState state, db->Load());
//   SK_RETURN_IF_ERROR(db->Commit(commit));   // durable (per the sync mode) when OK
#ifndef SLICEKEEPER_SERVER_STORAGE_STORAGE_H_
#define SLICEKEEPER_SERVER_STORAGE_STORAGE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/slice.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::storage {

using RecordPtr = std::shared_ptr<const v1::ServiceRecord>;
using NodeListPtr = std::shared_ptr<const std::vector<v1::Node>>;

// How to bring one service back to its state before a commit.
struct ServiceUndo {
  std::string namespace_;
  std::string name;
  // False when the service did not exist before the commit (the undo removes it).
  bool existed = false;
  // The service's mod_revision before the commit (0 if it did not exist).
  int64_t prev_mod_revision = 0;
  // True when the commit replaced or removed the record; `prev_record` is then the record before
  // (null: there was none). When false the record is the same before and after.
  bool record_changed = false;
  RecordPtr prev_record;
  // Every slice the commit wrote or deleted, with its version before the commit (null: the slice
  // did not exist).
  struct SliceUndo {
    std::string name;
    SlicePtr prev;
  };
  std::vector<SliceUndo> slices;
};

// What one commit did to one service.
struct ServiceWrite {
  std::string namespace_;
  std::string name;
  // False when the commit removed the service (no record and no slice left).
  bool exists = true;
  // The record after the commit (null: the service has only foreign slices). Always given, so
  // backends may store it with `mod_revision`.
  RecordPtr record;
  // The service's revision after the commit: the commit's revision.
  int64_t mod_revision = 0;
  // Slices written (with their new resource_version) or deleted (`slice` null). One entry per name.
  struct SliceWrite {
    std::string name;
    SlicePtr slice;
  };
  std::vector<SliceWrite> slices;
  // How to undo it: what the service and each slice of `slices` were before (the guards of a
  // replicated storage read it; the store encodes the history record from it).
  ServiceUndo undo;
};

// One committed revision, as handed to `Commit`.
struct CommitRecord {
  // The commit's revision. A commit that only replaced the node registry carries the current
  // revision and no services; it adds no history entry.
  int64_t revision = 0;
  absl::Time time;
  // Sorted by (namespace, name).
  std::vector<ServiceWrite> services;
  // The new node registry; null when unchanged.
  NodeListPtr nodes;
  // The history record of the commit (set when `services` is not empty): opaque bytes the store
  // reads back through ScanHistory.
  std::shared_ptr<const std::string> history;
};

// One service as persisted.
struct StoredService {
  std::string namespace_;
  std::string name;
  RecordPtr record;  // null: only foreign slices
  int64_t mod_revision = 0;
  // Managed and foreign slices, sorted by name.
  std::vector<SlicePtr> slices;
};

// Everything `Load` returns.
struct LoadedState {
  // The highest revision persisted (0 for empty storage).
  int64_t revision = 0;
  // Sorted by (namespace, name).
  std::vector<StoredService> services;
  std::vector<v1::Node> nodes;
  // The revision of the node registry's last change (replicated storage only; else 0).
  int64_t nodes_revision = 0;
  // ScanHistory has the history record of every durable revision in (history_floor, revision]
  // (a revision without one was never made durable: its write failed, or the process died first).
  // Equal to `revision` when the backend keeps no history.
  int64_t history_floor = 0;
};

// What a backend reports about itself (Store::storage_stats, /metrics). -1: not applicable.
struct StorageStats {
  // Bytes of the files in the data directory, and their split: the live state's and the
  // history's tables, the write-ahead log, RocksDB's info log, and the rest (MANIFEST, OPTIONS,
  // tables not yet deleted). The parts are read one after another and may not sum exactly.
  int64_t disk_bytes = -1;
  int64_t disk_live_table_bytes = -1;
  int64_t disk_history_table_bytes = -1;
  int64_t disk_wal_bytes = -1;
  int64_t disk_info_log_bytes = -1;
  int64_t disk_other_bytes = -1;
  // Bytes RocksDB's compactions wrote since the open, by family (the live state's; the history's,
  // which trims by deleting whole files and should stay 0).
  int64_t compacted_live_bytes = -1;
  int64_t compacted_history_bytes = -1;
  // The history window on disk: ScanHistory serves (floor, last]; its records' bytes on disk
  // (an estimate, compressed); records read by ScanHistory since the start.
  int64_t history_floor = -1;
  int64_t history_last = -1;
  int64_t history_bytes = -1;
  int64_t history_records_read = 0;
  // What Load read: keys, their bytes (keys and values), and history records among them.
  int64_t load_keys = 0;
  int64_t load_bytes = 0;
  int64_t load_history_records = 0;
  // Memory the backend holds itself, beside the store's objects (RocksDB's memtables, its block
  // cache and its open tables' indexes and filters).
  int64_t memtable_bytes = -1;
  int64_t block_cache_bytes = -1;
  int64_t table_reader_bytes = -1;
  // Replicated storage (etcd): Txns sent for the store's commits since the start, and the
  // proposals (commits) they carried, first attempts and re-sends; their ratio is the group
  // commit's batching. -1 for other storages.
  int64_t log_txns = -1;
  int64_t log_proposals = -1;
};

class ReplicatedStorage;

class Storage {
 public:
  virtual ~Storage() = default;

  // Non-null for a storage shared by several replicas that orders commits itself (etcd): the store
  // then proposes commits instead of committing them (see ReplicatedStorage).
  virtual ReplicatedStorage* replicated() { return nullptr; }

  // Returns everything persisted. Errors: DATA_LOSS (corrupt data), FAILED_PRECONDITION
  // (incompatible format), UNAVAILABLE / INTERNAL (I/O). Never returns a partial state as OK.
  // REQUIRES: called before any Commit.
  virtual absl::StatusOr<LoadedState> Load() = 0;

  // Persists `commit` atomically (all of it or nothing) and drops history records beyond the
  // window. Returns once the commit is as durable as the backend's sync mode promises.
  // Errors: UNAVAILABLE or INTERNAL when the write failed. The store then acknowledges nothing of
  // the commit; whether a later Load sees it is unspecified (a write can reach the log and fail to
  // sync), which is why a backend that failed once should keep failing (RocksDB does: it turns
  // read-only after a failed log write). Thread-safe: concurrent calls for disjoint services.
  virtual absl::Status Commit(const CommitRecord& commit) = 0;

  // Group commit. A backend whose Commit waits for an fsync may offer to split it: `Append`
  // writes the commit to its log atomically without waiting for durability, and `Sync` makes every
  // commit appended before it was called durable. The store then appends under its shard locks,
  // releases them, and syncs many commits at once on a thread of its own (see docs/storage.md,
  // "Group commit"). A failed Sync leaves unknown which appended commits survive: the store stops
  // accepting writes (a backend should keep failing, as RocksDB does).
  virtual bool group_commit() const { return false; }
  // REQUIRES: group_commit(). Same contract as Commit, except durability.
  virtual absl::Status Append(const CommitRecord& commit) { return Commit(commit); }
  // REQUIRES: group_commit(). Errors: UNAVAILABLE / INTERNAL.
  virtual absl::Status Sync() { return absl::OkStatus(); }

  // Calls `fn(revision, record)` for the history record of every revision in (after, upto] that
  // has one, newest first, all from one consistent view of the storage; stops at the first error
  // `fn` returns and returns it. Errors: OUT_OF_RANGE when records after `after` have left the
  // window (or the backend keeps no history: the default); UNAVAILABLE / DATA_LOSS on I/O.
  // Thread-safe with Commit; may block on disk reads.
  using HistoryFn = std::function<absl::Status(int64_t revision, absl::string_view record)>;
  virtual absl::Status ScanHistory(int64_t after, int64_t upto, const HistoryFn& fn) const {
    return absl::OutOfRangeError("storage: keeps no history");
  }

  // Sizes and counters (see StorageStats). Thread-safe.
  virtual StorageStats Stats() const { return {}; }
};

// One revision of a replicated storage's log as every replica sees it: what changed, not why.
struct ReplicatedCommit {
  // The log's revision (etcd's). Strictly increasing; gaps where the log changed other things.
  int64_t revision = 0;
  // A full resynchronization (after the log compacted away revisions this replica had not seen):
  // `services` and `slices` hold the whole state at `revision`; what is not in them is gone.
  bool full = false;
  // A service whose record changed, appeared or disappeared. `exists` false: deleted (its slices
  // are deleted in `slices` too). `record` null with `exists`: a service with only foreign slices.
  struct ServiceChange {
    std::string namespace_;
    std::string name;
    bool exists = true;
    RecordPtr record;
    // The revision of the service's last change: `revision`, except in a full resynchronization.
    int64_t mod_revision = 0;
  };
  std::vector<ServiceChange> services;
  // A slice written (`slice` set, resource_version = `revision`) or deleted (`slice` null).
  struct SliceChange {
    std::string namespace_;
    std::string name;
    SlicePtr slice;
  };
  std::vector<SliceChange> slices;
  // The new node registry; null when unchanged. `nodes_revision`: the revision of its last
  // change (`revision`, except in a full resynchronization; 0 when the log has none).
  NodeListPtr nodes;
  int64_t nodes_revision = 0;
};

// Receives a replicated storage's log, one revision at a time, in revision order.
class ReplicationSink {
 public:
  virtual ~ReplicationSink() = default;
  // Called on the storage's follower thread. An error stops the follower (the replica is then
  // stale: the store reports itself not ready).
  virtual absl::Status Apply(const ReplicatedCommit& commit) = 0;
};

// A storage that orders commits itself, shared by several store replicas (etcd). A replica
// proposes each commit with the revisions it was computed from; the storage appends it only if
// nothing it read changed since (optimistic concurrency, like a Kubernetes update with a
// resourceVersion), and every replica — the proposer included — applies the log through its
// ReplicationSink. A write is visible on a replica once its revision was applied there.
//
// Thread-safety: Propose may be called concurrently; Follow once.
class ReplicatedStorage : public Storage {
 public:
  struct Proposal {
    // True when the commit was appended; `revision` is then its revision. False when a guard
    // failed; `revision` is then a revision the proposer must have applied before it retries
    // (the newest revision of anything the guards read).
    bool committed = false;
    int64_t revision = 0;
  };

  ReplicatedStorage* replicated() override { return this; }

  // Storage::Commit is not used: a replicated store proposes.
  absl::Status Commit(const CommitRecord&) override {
    return absl::UnimplementedError("storage: a replicated storage takes proposals");
  }

  // Appends `commit` (its `revision` is ignored) if, for every service in it, the service's mod
  // revision in the log is still `undo.prev_mod_revision`, every slice it creates (`undo` prev
  // null) is still absent, and the node registry's revision is still `nodes_revision`.
  // Errors: UNAVAILABLE (the log could not be reached; the commit may or may not have been
  // appended), INVALID_ARGUMENT / RESOURCE_EXHAUSTED (the log refuses a commit that large).
  virtual absl::StatusOr<Proposal> Propose(const CommitRecord& commit, int64_t nodes_revision) = 0;

  // Propose without waiting: `done` gets what Propose would return, exactly once, inline or later
  // on a thread of the storage's, and must not block (it runs where the storage's next proposals
  // would). Proposals are decided in the order ProposeAsync was called; the storage may append
  // several of them as one revision. `commit` is read before ProposeAsync returns. The default
  // proposes inline.
  using ProposeDone = std::function<void(absl::StatusOr<Proposal>)>;
  virtual void ProposeAsync(const CommitRecord& commit, int64_t nodes_revision, ProposeDone done) {
    done(Propose(commit, nodes_revision));
  }

  // Starts feeding `sink` every revision after `revision` (the revision Load returned) on a
  // thread of the storage's own, until the storage is destroyed. `sink` must outlive it.
  virtual absl::Status Follow(int64_t revision, ReplicationSink* sink) = 0;
  // Stops the follower; after it returns the sink is never called again. Idempotent.
  virtual void StopFollowing() = 0;
  // False once the follower stopped on an error: the replica is stale and should not serve.
  virtual bool following() const = 0;
};

}  // namespace slicekeeper::storage

#endif  // SLICEKEEPER_SERVER_STORAGE_STORAGE_H_
