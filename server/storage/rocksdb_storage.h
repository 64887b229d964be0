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
// Two column families: `default` holds the live state (services, slices, nodes, metadata), which
// Load reads whole, and `history` the store's history records, which Load does not read (a watcher
// resuming from before the restart reads them through ScanHistory). So a restart costs the live
// state, whatever the history. The history is kept within `history_size` records and
// `history_bytes` on disk by a thread of its own (internal/history_column.h), which deletes the
// files it drops: the data directory stays within the live state plus the history budget (plus
// one straddling file, RocksDB's write buffers and log).
//
// Open refuses to start over data it does not understand: an unknown format version is
// FAILED_PRECONDITION, a corrupt database (or data without a format key) DATA_LOSS, and a
// directory locked by another process (RocksDB's LOCK file) FAILED_PRECONDITION. A directory of
// format 1 is FAILED_PRECONDITION naming --upgrade_data_dir, unless `Options::upgrade` is set: it
// is then upgraded in place (the live state is kept; the history, whose format changed, is
// dropped, so watchers resuming from before get RESET). It never wipes a directory that holds
// data.
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
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/storage/storage.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace slicekeeper::storage {
namespace internal {
class HistoryColumn;
}  // namespace internal

class RocksDbStorage : public Storage {
 public:
  enum class SyncMode { kAlways, kBatch, kNone };

  struct Options {
    // The data directory; created if missing.
    std::string path;
    SyncMode sync = SyncMode::kAlways;
    // kBatch: how often the log is synced.
    absl::Duration batch_sync_interval = absl::Milliseconds(5);
    // History records kept (>= 1), and their bytes on disk at most (RocksDB's estimate of the
    // compressed size), whichever bound is hit first: the commits a watcher can resume from
    // across a restart.
    int64_t history_size = 100'000;
    int64_t history_bytes = int64_t{1} << 30;
    // Upgrade a data directory of an older format in place (see the banner).
    bool upgrade = false;
    // Called during Load every 16 384 keys, with the keys read and RocksDB's estimate of the
    // total (progress logs while a large store loads). May be null.
    std::function<void(int64_t keys, int64_t estimated_keys)> progress;
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

  // Reads every key of the live state once (not the history), and starts the history trimmer.
  // Errors: DATA_LOSS naming the first bad key, UNAVAILABLE on I/O errors.
  absl::StatusOr<LoadedState> Load() override;
  // Errors: UNAVAILABLE (the write or its sync failed; RocksDB then refuses later writes too).
  absl::Status Commit(const CommitRecord& commit) override;
  // kAlways only: the store appends without sync and syncs many commits at once.
  bool group_commit() const override { return options_.sync == SyncMode::kAlways; }
  absl::Status Append(const CommitRecord& commit) override;
  absl::Status Sync() override { return SyncOnce(); }

  // Errors: OUT_OF_RANGE (`after` below the window), DATA_LOSS, UNAVAILABLE.
  absl::Status ScanHistory(int64_t after, int64_t upto, const HistoryFn& fn) const override;
  // Data directory size (files walked on each call), the history window, Load's counters.
  StorageStats Stats() const override;

  // Syncs the log now (what the kBatch thread does every interval). Errors: UNAVAILABLE.
  absl::Status SyncOnce();
  // Trims the history to its budget now (what the trimmer does when woken; tests).
  absl::Status TrimHistoryNow();

 private:
  class CompactionCounter;

  RocksDbStorage(Options options, std::unique_ptr<rocksdb::DB> db,
                 std::vector<rocksdb::ColumnFamilyHandle*> handles,
                 std::shared_ptr<const CompactionCounter> compactions);
  absl::Status CheckFormat();
  // Format 1 -> 2 (Options::upgrade).
  absl::Status Upgrade();
  absl::Status CreateHistoryColumn();
  // One WriteBatch for `commit`, fsynced when `sync`.
  absl::Status Write(const CommitRecord& commit, bool sync);
  void SyncLoop() ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable after Open (history_cf_ / history_ are set once, by Open).
  const Options options_;
  const std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* history_cf_ = nullptr;
  std::unique_ptr<internal::HistoryColumn> history_;
  // What Load read (Stats).
  StorageStats load_stats_;
  // What RocksDB's compactions wrote, by family (Stats); RocksDB calls it from its own threads.
  const std::shared_ptr<const CompactionCounter> compactions_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sync_thread_;
};

}  // namespace slicekeeper::storage

#endif  // SLICEKEEPER_SERVER_STORAGE_ROCKSDB_STORAGE_H_
