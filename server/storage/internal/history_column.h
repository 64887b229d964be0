// Storage internals: RocksDbStorage's history column family (docs/storage.md, "History"). One key
// per revision (8 bytes big-endian) holding the store's history record of that revision, written
// in the commit's own WriteBatch. The window is (floor, last]: the floor is the key
// `m/history_floor` of the default column family, and no reader goes at or below it (Scan reads it
// in the snapshot it scans), so moving it drops the records under it.
//
// Scan serves at most the newest `max_records` revisions, exactly; on disk, trimming keeps the
// window within `max_records` records and `max_bytes` of them on disk (RocksDB's
// estimate of the range's compressed size). It runs on a thread of its own, woken every 1/16 of
// either budget written, never on a writer's path: the floor is written and synced, then
// DeleteFilesInRange deletes the files wholly under it. No tombstone is written and nothing is
// compacted for a trim (a range tombstone made each compaction rewrite the whole family): records
// under the floor in a file that also holds newer ones stay on disk until a later trim deletes
// that file whole.
//
// Thread-safety: Note and Scan may be called from any thread; Start/Stop from the owner's.
#ifndef SLICEKEEPER_SERVER_STORAGE_INTERNAL_HISTORY_COLUMN_H_
#define SLICEKEEPER_SERVER_STORAGE_INTERNAL_HISTORY_COLUMN_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
}  // namespace rocksdb

namespace slicekeeper::storage::internal {

inline constexpr char kHistoryColumnFamily[] = "history";
inline constexpr char kHistoryFloorKey[] = "m/history_floor";

class HistoryColumn {
 public:
  struct Options {
    int64_t max_records = 100'000;
    int64_t max_bytes = int64_t{1} << 30;
    // For error messages.
    std::string path;
  };
  using Fn = std::function<absl::Status(int64_t revision, absl::string_view record)>;

  // `db` and `cf` must outlive this. Does no work.
  HistoryColumn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, Options options);
  ~HistoryColumn();

  // Reads the floor and the last revision held. Errors: DATA_LOSS (a malformed key or floor),
  // UNAVAILABLE. Call once, before anything else.
  absl::Status Recover();
  // Starts the trimming thread (trimming once first if the window is over budget).
  void Start();
  // Stops it. Idempotent.
  void Stop();

  // Records that the record of `revision` (`bytes` long) is written: may wake the trimmer.
  void Note(int64_t revision, int64_t bytes);
  // One trimming step (what the thread does when woken). Errors: those of RocksDB.
  absl::Status TrimOnce();

  // Storage::ScanHistory. Errors: OUT_OF_RANGE (`after` below the floor), DATA_LOSS, UNAVAILABLE.
  absl::Status Scan(int64_t after, int64_t upto, const Fn& fn) const;

  // The floor as trimmed on disk.
  int64_t floor() const { return floor_.load(std::memory_order_acquire); }
  // The oldest revision Scan serves from: the floor, or `max_records` below the last revision
  // when the trimmer has not caught up yet.
  int64_t readable_floor() const {
    const int64_t l = last(), f = floor();
    return l - options_.max_records > f ? l - options_.max_records : f;
  }
  int64_t last() const { return last_.load(std::memory_order_acquire); }
  int64_t records_read() const { return records_read_.load(std::memory_order_relaxed); }
  // RocksDB's estimate of the window's bytes on disk (memtables included).
  int64_t ApproximateBytes() const { return ApproximateBytes(floor(), last()); }

 private:
  // Estimated bytes of the records in (from, to].
  int64_t ApproximateBytes(int64_t from, int64_t to) const;
  // The highest floor that keeps the window within budget (at least the current one).
  int64_t TargetFloor() const;
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  rocksdb::DB* const db_;
  rocksdb::ColumnFamilyHandle* const cf_;
  const Options options_;

  std::atomic<int64_t> floor_{0};
  std::atomic<int64_t> last_{0};
  std::atomic<int64_t> written_since_trim_{0};
  mutable std::atomic<int64_t> records_read_{0};

  // Serializes TrimOnce (the thread's and a test's).
  absl::Mutex trim_mu_;
  absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// The key of `revision`: 8 bytes big-endian, so keys sort by revision.
std::string HistoryKey(int64_t revision);
// Errors: DATA_LOSS for anything but 8 bytes holding a positive revision.
absl::StatusOr<int64_t> ParseHistoryKey(absl::string_view key);

}  // namespace slicekeeper::storage::internal

#endif  // SLICEKEEPER_SERVER_STORAGE_INTERNAL_HISTORY_COLUMN_H_
