// Store internals: the in-memory history window — the history records (internal/delta.h) of the
// newest published revisions, bounded by a number of commits and by their bytes, whichever bound
// is hit first. A record's bytes are what the commit changed (not the slices it touched), so the
// byte bound keeps a window of many small commits or of few large ones, and the memory it takes is
// exactly what it counts (plus a fixed overhead per record).
//
// Records older than the window may still be in storage (Storage::ScanHistory); the window only
// says which revisions it holds: every published revision above floor() has a record here (an
// empty record: a revision published empty, e.g. after a failed persist). A replicated store's
// revisions have gaps (etcd revisions of other keys); its window holds the revisions it applied.
//
// Thread-safety: none; the sequencer guards it with its lock.
#ifndef SLICEKEEPER_SERVER_STORE_INTERNAL_HISTORY_WINDOW_H_
#define SLICEKEEPER_SERVER_STORE_INTERNAL_HISTORY_WINDOW_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace slicekeeper::store::internal {

// One published revision's history record; `delta` null for an empty commit.
struct HistoryRecord {
  int64_t revision = 0;
  std::shared_ptr<const std::string> delta;
};

class HistoryWindow {
 public:
  // What a record costs beyond its bytes: the deque slot and the shared string's header.
  static constexpr int64_t kRecordOverhead = 64;

  // At most `max_commits` records and, beyond the newest one, `max_bytes` (both >= 0).
  HistoryWindow(int64_t max_commits, int64_t max_bytes);

  // Appends the record of the newest published revision and drops the oldest records beyond the
  // bounds (the newest always stays). REQUIRES: `record.revision` above every record held.
  void Append(HistoryRecord record);
  // Empties the window: revisions up to `floor` are not held (a store just recovered).
  void Reset(int64_t floor);

  // Every published revision above this one is held.
  int64_t floor() const { return floor_; }
  // The records with a revision above `revision`, ascending.
  std::vector<HistoryRecord> Since(int64_t revision) const;

  int64_t commits() const { return static_cast<int64_t>(records_.size()); }
  // The bytes the records hold, overhead included.
  int64_t bytes() const { return bytes_; }

  static int64_t Cost(const HistoryRecord& r) {
    return kRecordOverhead + (r.delta != nullptr ? static_cast<int64_t>(r.delta->size()) : 0);
  }

 private:
  void Trim();

  const int64_t max_commits_;
  const int64_t max_bytes_;
  std::deque<HistoryRecord> records_;
  int64_t bytes_ = 0;
  int64_t floor_ = 0;
};

}  // namespace slicekeeper::store::internal

#endif  // SLICEKEEPER_SERVER_STORE_INTERNAL_HISTORY_WINDOW_H_
