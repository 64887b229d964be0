// RocksDbStorage: the embedded durable backend (`--store=rocksdb`, the default). One RocksDB
// database per data directory; the key layout and value encoding are specified in
// docs/storage.md.
//
// Every Commit is one WriteBatch, so a commit is on disk entirely or not at all. With
// `SyncMode::kAlways` the batch is written with WriteOptions::sync, and Commit returns only after
// the log is fsynced; concurrent commits from several threads join RocksDB's write group and share
// one fsync (group commit). `kBatch` writes without sync and a background thread syncs the log
// every `batch_sync_interval`: an acknowledged commit can be lost if the machine (not only the
// process) fails within that window. `kNone` never syncs: the OS page cache decides, and a power
// loss can lose any amount of acknowledged commits (a crash of the process alone loses nothing).
//
// Open refuses to start over data it does not understand: an unknown format version is
// FAILED_PRECONDITION, a corrupt database (or data without a format key) DATA_LOSS, and a
// directory locked by another process (RocksDB's LOCK file) FAILED_PRECONDITION. It never wipes
// or reinitializes a directory that holds data.
//
// Thread-safety: Commit may be called concurrently; Load once before any Commit. The destructor
// must not race with other calls.
//
// Example:
//   SK_ASSIGN_OR_RETURN(std::unique_ptr<RocksDbStorage> storage,
//                       RocksDbStorage::Open({.path = "./data"}));
//   SK_ASSIGN_OR_RETURN(std::unique_ptr<store::Store> store, store::Store::Open(options));
#ifndef SLICEKEEPER_SERVER_STORAGE_ROCKSDB_STORAGE_H_
#define SLICEKEEPER_SERVER_STORAGE_ROCKSDB_STORAGE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/storage.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace slicekeeper::storage {

class RocksDbStorage : public Storage {
 public:
  enum class SyncMode { kAlways, kBatch, kNone };

  struct Options {
    // The data directory; created if missing.
    std::string path;
    SyncMode sync = SyncMode::kAlways;
    // kBatch: how often the log is synced.
    absl::Duration batch_sync_interval = absl::Milliseconds(5);
    // Undo records kept (>= 1): the commits a watcher can resume across a restart.
    int64_t history_size = 100'000;
  };

  // Opens (or creates) the database at `options.path` and checks its format version; with kBatch,
  // starts the log-sync thread. Errors: FAILED_PRECONDITION (unknown format version; directory
  // locked by another process; not a directory), DATA_LOSS (corrupt database), UNAVAILABLE
  // (other I/O errors), INVALID_ARGUMENT (empty path).
  static absl::StatusOr<std::unique_ptr<RocksDbStorage>> Open(Options options);

  // Stops the sync thread, syncs the log and closes the database.
  ~RocksDbStorage() override;
  RocksDbStorage(const RocksDbStorage&) = delete;
  RocksDbStorage& operator=(const RocksDbStorage&) = delete;

  // Reads every key once and drops undo records older than the window. Errors: DATA_LOSS naming
  // the first bad key, UNAVAILABLE on I/O errors.
  absl::StatusOr<LoadedState> Load() override;
  // Errors: UNAVAILABLE (the write or its sync failed; RocksDB then refuses later writes too).
  absl::Status Commit(const CommitRecord& commit) override;
  // kAlways only: the store appends without sync and syncs many commits at once.
  bool group_commit() const override { return options_.sync == SyncMode::kAlways; }
  absl::Status Append(const CommitRecord& commit) override;
  absl::Status Sync() override { return SyncOnce(); }

  // Syncs the log now (what the kBatch thread does every interval). Errors: UNAVAILABLE.
  absl::Status SyncOnce();

 private:
  RocksDbStorage(Options options, std::unique_ptr<rocksdb::DB> db);
  absl::Status CheckFormat();
  // One WriteBatch for `commit`, fsynced when `sync`.
  absl::Status Write(const CommitRecord& commit, bool sync);
  void SyncLoop() ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable after Open.
  const Options options_;
  const std::unique_ptr<rocksdb::DB> db_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sync_thread_;
};

}  // namespace slicekeeper::storage

#endif  // SLICEKEEPER_SERVER_STORAGE_ROCKSDB_STORAGE_H_
