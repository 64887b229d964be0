// FaultInjectingStorage: a Storage that forwards to another one and fails the commits a test asks
// it to fail (LevelDB's ErrorEnv), to check that a failed persist applies and acknowledges nothing.
//
// Thread-safety: safe from any thread.
#ifndef SLICEKEEPER_TESTS_FAKES_FAULT_INJECTING_STORAGE_H_
#define SLICEKEEPER_TESTS_FAKES_FAULT_INJECTING_STORAGE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/storage.h"

namespace slicekeeper::testing {

class FaultInjectingStorage : public storage::Storage {
 public:
  // `target` must outlive this.
  explicit FaultInjectingStorage(storage::Storage* target) : target_(target) {}

  // The next `n` commits fail with `status` without reaching the target.
  void FailNextCommits(int n, absl::Status status = absl::UnavailableError("injected fault")) {
    absl::MutexLock l(&mu_);
    failures_left_ = n;
    status_ = std::move(status);
  }
  int64_t commits() {
    absl::MutexLock l(&mu_);
    return commits_;
  }

  absl::StatusOr<storage::LoadedState> Load() override { return target_->Load(); }
  absl::Status Commit(const storage::CommitRecord& commit) override {
    {
      absl::MutexLock l(&mu_);
      ++commits_;
      if (failures_left_ > 0) {
        --failures_left_;
        return status_;
      }
    }
    return target_->Commit(commit);
  }

 private:
  storage::Storage* const target_;
  absl::Mutex mu_;
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  int64_t commits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_FAKES_FAULT_INJECTING_STORAGE_H_
