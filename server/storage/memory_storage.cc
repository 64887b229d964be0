#include "server/storage/memory_storage.h"

#include <algorithm>

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
  for (const auto& [revision, entry] : history_) out.history.push_back(entry);
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
  if (!commit.services.empty()) {
    HistoryEntry entry;
    entry.revision = commit.revision;
    entry.time = commit.time;
    for (const ServiceWrite& w : commit.services) entry.services.push_back(w.undo);
    history_[commit.revision] = std::move(entry);
  }
  TrimLocked();
  return absl::OkStatus();
}

int64_t MemoryStorage::history_entries() const {
  absl::MutexLock l(&mu_);
  return static_cast<int64_t>(history_.size());
}

void MemoryStorage::TrimLocked() {
  // Keeps revisions (revision_ - history_size, revision_], as RocksDbStorage does.
  const int64_t keep_from = revision_ - std::max<int64_t>(options_.history_size, 1) + 1;
  history_.erase(history_.begin(), history_.lower_bound(keep_from));
}

}  // namespace slicekeeper::storage
