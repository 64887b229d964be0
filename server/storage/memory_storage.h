// MemoryStorage: a Storage that keeps everything in process memory. Nothing survives the process;
// it is the backend of `--store=memory`, of tests (a store "restarted" over the same
// MemoryStorage recovers like one over RocksDB) and of benchmarks.
//
// Thread-safety: every method is safe to call concurrently (one mutex).
//
// Example:
//   MemoryStorage storage(MemoryStorage::Options{.history_size = 1000});
//   store::Store::Options options;
//   options.storage = &storage;
#ifndef SLICEKEEPER_SERVER_STORAGE_MEMORY_STORAGE_H_
#define SLICEKEEPER_SERVER_STORAGE_MEMORY_STORAGE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/storage.h"

namespace slicekeeper::storage {

class MemoryStorage : public Storage {
 public:
  struct Options {
    // History records kept (>= 1).
    int64_t history_size = 100'000;
  };

  // Does no work.
  explicit MemoryStorage(Options options);

  // Never fails.
  absl::StatusOr<LoadedState> Load() override ABSL_LOCKS_EXCLUDED(mu_);
  // Never fails.
  absl::Status Commit(const CommitRecord& commit) override ABSL_LOCKS_EXCLUDED(mu_);
  // Errors: OUT_OF_RANGE when `after` is below the window.
  absl::Status ScanHistory(int64_t after, int64_t upto, const HistoryFn& fn) const override
      ABSL_LOCKS_EXCLUDED(mu_);
  StorageStats Stats() const override ABSL_LOCKS_EXCLUDED(mu_);

  // Number of history records held (tests).
  int64_t history_entries() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Service {
    RecordPtr record;
    int64_t mod_revision = 0;
    std::map<std::string, SlicePtr> slices;
  };

  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const Options options_;

  mutable absl::Mutex mu_;
  // Keyed by (namespace, name).
  std::map<std::pair<std::string, std::string>, Service> services_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::Node> nodes_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, std::shared_ptr<const std::string>> history_ ABSL_GUARDED_BY(mu_);
  // Every revision above it has its record in history_ (or was never committed here).
  int64_t floor_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int64_t records_read_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slicekeeper::storage

#endif  // SLICEKEEPER_SERVER_STORAGE_MEMORY_STORAGE_H_
