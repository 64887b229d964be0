// GatedStorage: a group-commit Storage whose log sync the test controls. Appended commits stay in
// a volatile log until a Sync moves them to a MemoryStorage (the "disk"), so a store reopened over
// `durable()` sees exactly what was synced, as after a machine crash. Syncs can be held (to let
// commits pile up behind one) and made to fail.
//
// Thread-safety: every method is safe to call concurrently.
#ifndef SLICEKEEPER_TESTS_FAKES_GATED_STORAGE_H_
#define SLICEKEEPER_TESTS_FAKES_GATED_STORAGE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/memory_storage.h"
#include "server/storage/storage.h"

namespace slicekeeper::testing {

class GatedStorage : public storage::Storage {
 public:
  GatedStorage() : durable_(storage::MemoryStorage::Options{}) {}

  // What survived: the synced commits.
  storage::MemoryStorage* durable() { return &durable_; }

  // While held, a Sync waits (after it started) until Release.
  void Hold() {
    absl::MutexLock l(&mu_);
    held_ = true;
  }
  void Release() {
    absl::MutexLock l(&mu_);
    held_ = false;
  }
  // The next Sync fails (and syncs nothing).
  void FailNextSync() {
    absl::MutexLock l(&mu_);
    fail_next_sync_ = true;
  }
  // Waits until `n` Syncs have started.
  void AwaitSyncsStarted(int64_t n) {
    absl::MutexLock l(&mu_);
    auto started = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return syncs_started_ >= n; };
    mu_.Await(absl::Condition(&started));
  }
  int64_t syncs_started() {
    absl::MutexLock l(&mu_);
    return syncs_started_;
  }
  int64_t appended() {
    absl::MutexLock l(&mu_);
    return appended_;
  }

  absl::StatusOr<storage::LoadedState> Load() override { return durable_.Load(); }
  // Without group commit (a nodes-only commit): durable at once.
  absl::Status Commit(const storage::CommitRecord& commit) override {
    absl::MutexLock l(&mu_);
    SyncLocked();
    return durable_.Commit(commit);
  }
  bool group_commit() const override { return true; }
  absl::Status Append(const storage::CommitRecord& commit) override {
    absl::MutexLock l(&mu_);
    log_.push_back(commit);
    ++appended_;
    return absl::OkStatus();
  }
  absl::Status Sync() override {
    absl::MutexLock l(&mu_);
    ++syncs_started_;
    auto released = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !held_; };
    mu_.Await(absl::Condition(&released));
    if (fail_next_sync_) {
      fail_next_sync_ = false;
      log_.clear();  // what was not synced is lost
      return absl::UnavailableError("injected sync failure");
    }
    SyncLocked();
    return absl::OkStatus();
  }

 private:
  void SyncLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const storage::CommitRecord& c : log_) durable_.Commit(c).IgnoreError();
    log_.clear();
  }

  storage::MemoryStorage durable_;
  absl::Mutex mu_;
  std::vector<storage::CommitRecord> log_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_next_sync_ ABSL_GUARDED_BY(mu_) = false;
  int64_t syncs_started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t appended_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_FAKES_GATED_STORAGE_H_
