#include "server/store/internal/history_window.h"

#include <algorithm>
#include <utility>

namespace slicekeeper::store::internal {

HistoryWindow::HistoryWindow(int64_t max_commits, int64_t max_bytes)
    : max_commits_(std::max<int64_t>(max_commits, 0)),
      max_bytes_(std::max<int64_t>(max_bytes, 0)) {}

void HistoryWindow::Append(HistoryRecord record) {
  bytes_ += Cost(record);
  records_.push_back(std::move(record));
  Trim();
}

void HistoryWindow::Reset(int64_t floor) {
  records_.clear();
  bytes_ = 0;
  floor_ = floor;
}

void HistoryWindow::Trim() {
  while (!records_.empty() &&
         (static_cast<int64_t>(records_.size()) > max_commits_ ||
          (records_.size() > 1 && bytes_ > max_bytes_))) {
    floor_ = records_.front().revision;
    bytes_ -= Cost(records_.front());
    records_.pop_front();
  }
}

std::vector<HistoryRecord> HistoryWindow::Since(int64_t revision) const {
  auto first = std::upper_bound(
      records_.begin(), records_.end(), revision,
      [](int64_t r, const HistoryRecord& rec) { return r < rec.revision; });
  return std::vector<HistoryRecord>(first, records_.end());
}

}  // namespace slicekeeper::store::internal
