// ApplyPool: threads that run blocking store writes off gRPC's callback threads.
//
// gRPC's callback API runs reactions on a handful of threads (about one per core); a write to a
// replicated store blocks its thread for the etcd round trip. Run inline, two such writes would
// occupy the whole server and concurrent streams could never share a round trip. The pool gives
// each in-flight write a thread of its own, so up to `threads` writes of different streams wait
// together and etcd's batching serves them at once. (RocksDB writes no longer block: the store's
// committer syncs them as a group, see server/store/internal/committer.h.)
//
// Thread-safety: Schedule may be called from any thread. The destructor runs every task already
// scheduled, then joins.
#ifndef SLICEKEEPER_SERVER_API_INTERNAL_APPLY_POOL_H_
#define SLICEKEEPER_SERVER_API_INTERNAL_APPLY_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace slicekeeper::api::internal {

class ApplyPool {
 public:
  explicit ApplyPool(int threads) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
  }
  ~ApplyPool() {
    {
      absl::MutexLock l(&mu_);
      stopping_ = true;
    }
    for (std::thread& t : threads_) t.join();
  }
  ApplyPool(const ApplyPool&) = delete;
  ApplyPool& operator=(const ApplyPool&) = delete;

  void Schedule(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    tasks_.push_back(std::move(task));
  }

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      std::function<void()> task;
      {
        absl::MutexLock l(&mu_);
        mu_.Await(absl::Condition(
            +[](ApplyPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
              return p->stopping_ || !p->tasks_.empty();
            },
            this));
        if (tasks_.empty()) return;  // stopping, nothing left
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace slicekeeper::api::internal

#endif  // SLICEKEEPER_SERVER_API_INTERNAL_APPLY_POOL_H_
