#include "server/storage/memory_storage.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace slicekeeper::storage {

MemoryStorage::MemoryStorage(Options options) : options_(options) {}

absl::StatusOr<LoadedState> MemoryStorage::Load() {
  absl::MutexLock l(&mu_);
  TrimLocked();
  LoadedState out;
  out.revision = revision_;
  for (const auto& [key, service] : services_) {
    StoredService s;
    s.namespace_ = key.first;
    s.name = key.second;
    s.record = service.record;
    s.mod_revision = service.mod_revision;
    for (const auto& [name, slice] : service.slices) s.slices.push_back(slice);
    out.services.push_back(std::move(s));
  }
  out.nodes = nodes_;
  out.history_floor = floor_;
  return out;
}

absl::Status MemoryStorage::Commit(const CommitRecord& commit) {
  absl::MutexLock l(&mu_);
  for (const ServiceWrite& w : commit.services) {
    auto key = std::make_pair(w.namespace_, w.name);
    if (!w.exists) {
      services_.erase(key);
      continue;
    }
    Service& s = services_[key];
    s.record = w.record;
    s.mod_revision = w.mod_revision;
    for (const ServiceWrite::SliceWrite& sw : w.slices) {
      if (sw.slice == nullptr) {
        s.slices.erase(sw.name);
      } else {
        s.slices[sw.name] = sw.slice;
      }
    }
  }
  if (commit.nodes != nullptr) nodes_ = *commit.nodes;
  revision_ = std::max(revision_, commit.revision);
  if (commit.history != nullptr) history_[commit.revision] = commit.history;
  TrimLocked();
  return absl::OkStatus();
}

int64_t MemoryStorage::history_entries() const {
  absl::MutexLock l(&mu_);
  return static_cast<int64_t>(history_.size());
}

void MemoryStorage::TrimLocked() {
  // Keeps revisions (revision_ - history_size, revision_], as RocksDbStorage does.
  const int64_t floor = revision_ - std::max<int64_t>(options_.history_size, 1);
  if (floor <= floor_) return;
  floor_ = floor;
  history_.erase(history_.begin(), history_.upper_bound(floor));
}

absl::Status MemoryStorage::ScanHistory(int64_t after, int64_t upto, const HistoryFn& fn) const {
  std::vector<std::pair<int64_t, std::shared_ptr<const std::string>>> records;
  {
    absl::MutexLock l(&mu_);
    if (after < floor_) {
      return absl::OutOfRangeError(absl::StrCat("storage: history starts after revision ", floor_));
    }
    for (auto it = history_.upper_bound(after); it != history_.end() && it->first <= upto; ++it) {
      records.emplace_back(it->first, it->second);
    }
    records_read_ += static_cast<int64_t>(records.size());
  }
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    if (absl::Status s = fn(it->first, *it->second); !s.ok()) return s;
  }
  return absl::OkStatus();
}

StorageStats MemoryStorage::Stats() const {
  absl::MutexLock l(&mu_);
  StorageStats out;
  out.history_floor = floor_;
  out.history_last = revision_;
  out.history_records_read = records_read_;
  return out;
}

}  // namespace slicekeeper::storage
