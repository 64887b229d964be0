#include "server/storage/internal/history_column.h"

#include <algorithm>
#include <memory>

#include <rocksdb/convenience.h>
#include <rocksdb/db.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::storage::internal {
namespace {

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view ToView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

absl::Status FromRocks(const rocksdb::Status& s, const std::string& path, absl::string_view what) {
  const std::string msg = absl::StrCat("storage ", path, ": ", what, ": ", s.ToString());
  return s.IsCorruption() ? absl::DataLossError(msg) : absl::UnavailableError(msg);
}

// A snapshot released on scope exit.
class Snapshot {
 public:
  explicit Snapshot(rocksdb::DB* db) : db_(db), snapshot_(db->GetSnapshot()) {}
  ~Snapshot() { db_->ReleaseSnapshot(snapshot_); }
  const rocksdb::Snapshot* get() const { return snapshot_; }

 private:
  rocksdb::DB* const db_;
  const rocksdb::Snapshot* const snapshot_;
};

// The floor as stored (decimal); 0 when absent.
absl::StatusOr<int64_t> ReadFloor(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                  const std::string& path) {
  std::string value;
  rocksdb::Status s = db->Get(ro, db->DefaultColumnFamily(), kHistoryFloorKey, &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return FromRocks(s, path, "cannot read the history floor");
  int64_t floor = 0;
  if (!absl::SimpleAtoi(value, &floor) || floor < 0) {
    return absl::DataLossError(absl::StrCat("storage ", path, ": corrupt ", kHistoryFloorKey));
  }
  return floor;
}

}  // namespace

std::string HistoryKey(int64_t revision) {
  std::string key;
  const uint64_t r = static_cast<uint64_t>(revision);
  for (int shift = 56; shift >= 0; shift -= 8)
    key.push_back(static_cast<char>((r >> shift) & 0xFF));
  return key;
}

absl::StatusOr<int64_t> ParseHistoryKey(absl::string_view key) {
  uint64_t r = 0;
  for (char c : key) r = (r << 8) | static_cast<uint8_t>(c);
  if (key.size() != 8 || r == 0 || r > static_cast<uint64_t>(INT64_MAX)) {
    return absl::DataLossError("storage: malformed history key");
  }
  return static_cast<int64_t>(r);
}

HistoryColumn::HistoryColumn(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, Options options)
    : db_(db), cf_(cf), options_(std::move(options)) {}

HistoryColumn::~HistoryColumn() { Stop(); }

absl::Status HistoryColumn::Recover() {
  absl::StatusOr<int64_t> floor = ReadFloor(db_, rocksdb::ReadOptions(), options_.path);
  if (!floor.ok()) return floor.status();
  int64_t last = *floor;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf_));
  it->SeekToLast();
  if (it->Valid()) {
    absl::StatusOr<int64_t> r = ParseHistoryKey(ToView(it->key()));
    if (!r.ok()) return r.status();
    last = std::max(last, *r);
  }
  if (!it->status().ok()) return FromRocks(it->status(), options_.path, "cannot read the history");
  floor_.store(*floor, std::memory_order_release);
  last_.store(last, std::memory_order_release);
  return absl::OkStatus();
}

void HistoryColumn::Start() {
  absl::MutexLock l(&mu_);
  wake_ = true;  // a smaller budget than the last run's takes effect at once
  thread_ = std::thread([this] { Run(); });
}

void HistoryColumn::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void HistoryColumn::Note(int64_t revision, int64_t bytes) {
  int64_t last = last_.load(std::memory_order_relaxed);
  while (revision > last && !last_.compare_exchange_weak(last, revision)) {
  }
  const int64_t written = written_since_trim_.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  const int64_t slack = std::max<int64_t>(options_.max_records / 16, 1);
  if (written < std::max<int64_t>(options_.max_bytes / 16, 1) &&
      this->last() - floor() <= options_.max_records + slack) {
    return;
  }
  absl::MutexLock l(&mu_);
  wake_ = true;
}

void HistoryColumn::Run() {
  absl::MutexLock l(&mu_);
  while (true) {
    mu_.Await(absl::Condition(
        +[](HistoryColumn* h)
             ABSL_EXCLUSIVE_LOCKS_REQUIRED(h->mu_) { return h->wake_ || h->stopping_; },
        this));
    if (stopping_) return;
    wake_ = false;
    mu_.Unlock();
    // A failed trim (I/O) is retried when the next 1/16 of the budget is written.
    TrimOnce().IgnoreError();
    mu_.Lock();
  }
}

int64_t HistoryColumn::ApproximateBytes(int64_t from, int64_t to) const {
  if (to <= from) return 0;
  const std::string begin = HistoryKey(from + 1), end = HistoryKey(to + 1);
  rocksdb::Range range(ToSlice(begin), ToSlice(end));
  rocksdb::SizeApproximationOptions o;
  o.include_memtables = true;
  o.include_files = true;
  uint64_t size = 0;
  if (!db_->GetApproximateSizes(o, cf_, &range, 1, &size).ok()) return 0;
  return static_cast<int64_t>(size);
}

int64_t HistoryColumn::TargetFloor() const {
  const int64_t last = this->last();
  // The newest record always stays.
  const int64_t ceiling = std::max(floor(), last - 1);
  const int64_t lo = std::min(std::max(floor(), last - options_.max_records), ceiling);
  if (ApproximateBytes(lo, last) <= options_.max_bytes) return lo;
  // The lowest floor whose window fits 7/8 of the budget, so trims come in chunks.
  const int64_t goal = options_.max_bytes - options_.max_bytes / 8;
  int64_t a = lo, b = ceiling;
  while (a < b) {
    const int64_t mid = a + (b - a) / 2;
    if (ApproximateBytes(mid, last) <= goal) {
      b = mid;
    } else {
      a = mid + 1;
    }
  }
  return a;
}

absl::Status HistoryColumn::TrimOnce() {
  absl::MutexLock l(&trim_mu_);
  written_since_trim_.store(0, std::memory_order_relaxed);
  const int64_t target = TargetFloor();
  if (target <= floor()) return absl::OkStatus();
  // The floor alone trims: no reader goes below it (Scan starts above the floor it reads), so
  // the records under it need no tombstone. A range tombstone from revision 0 made the level-0
  // file holding it span the whole family, together with the newest records flushed beside it,
  // so every compaction of that file rewrote the whole history (2.2 GB a minute at 1 M endpoints
  // and 140 k changes/s). The floor is synced before any file under it is deleted: a crash
  // cannot bring back an old floor over deleted records.
  rocksdb::WriteOptions synced;
  synced.sync = true;
  rocksdb::Status s =
      db_->Put(synced, db_->DefaultColumnFamily(), kHistoryFloorKey, absl::StrCat(target));
  if (!s.ok()) return FromRocks(s, options_.path, "cannot trim the history");
  floor_.store(target, std::memory_order_release);
  // Give the space back a whole file at a time: the files wholly under the floor go now; a file
  // that also holds newer records keeps its stale ones until a later trim finds it wholly under.
  const std::string begin = HistoryKey(0), end = HistoryKey(target + 1);
  const rocksdb::Slice b = ToSlice(begin), e = ToSlice(end);
  s = rocksdb::DeleteFilesInRange(db_, cf_, &b, &e, /*include_end=*/false);
  if (!s.ok()) return FromRocks(s, options_.path, "cannot delete the trimmed history's files");
  return absl::OkStatus();
}

absl::Status HistoryColumn::Scan(int64_t after, int64_t upto, const Fn& fn) const {
  Snapshot snapshot(db_);
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.get();
  ro.fill_cache = false;
  // The floor and the records from one snapshot: a concurrent trim is seen whole or not at all.
  absl::StatusOr<int64_t> floor = ReadFloor(db_, ro, options_.path);
  if (!floor.ok()) return floor.status();
  // The count bound is exact for readers, though the trimmer drops records asynchronously.
  const int64_t oldest = std::max(*floor, last() - options_.max_records);
  if (after < oldest) {
    return absl::OutOfRangeError(
        absl::StrCat("storage ", options_.path, ": history starts after revision ", oldest));
  }
  if (upto <= after) return absl::OkStatus();
  const std::string lower = HistoryKey(after + 1);
  const rocksdb::Slice lower_slice = ToSlice(lower);
  ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_));
  for (it->SeekForPrev(HistoryKey(upto)); it->Valid(); it->Prev()) {
    absl::StatusOr<int64_t> revision = ParseHistoryKey(ToView(it->key()));
    if (!revision.ok()) return revision.status();
    records_read_.fetch_add(1, std::memory_order_relaxed);
    if (absl::Status s = fn(*revision, ToView(it->value())); !s.ok()) return s;
  }
  if (!it->status().ok()) return FromRocks(it->status(), options_.path, "cannot read the history");
  return absl::OkStatus();
}

}  // namespace slicekeeper::storage::internal
