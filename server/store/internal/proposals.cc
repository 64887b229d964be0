#include "server/store/internal/proposals.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::store::internal {

Proposals::Proposals(const Sequencer* sequencer, absl::Duration apply_wait)
    : sequencer_(sequencer), apply_wait_(apply_wait) {
  thread_ = std::thread([this] { Run(); });
}

Proposals::~Proposals() {
  {
    absl::MutexLock l(&mu_);
    // The storage still holds callbacks into this: wait until it called them.
    mu_.Await(absl::Condition(
        +[](Proposals* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) { return p->undecided_ == 0; },
        this));
    stopping_ = true;
  }
  thread_.join();
}

void Proposals::AwaitIdle(absl::Span<const std::string> keys) {
  struct Arg {
    Proposals* self;
    absl::Span<const std::string> keys;
  } arg{this, keys};
  absl::MutexLock l(&mu_);
  if (busy_.empty()) return;
  mu_.Await(absl::Condition(
      +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {  // evaluated with mu_ held
        for (const std::string& k : a->keys) {
          if (a->self->busy_.contains(k)) return false;
        }
        return true;
      },
      &arg));
}

void Proposals::Begin(absl::Span<const std::string> keys) {
  absl::MutexLock l(&mu_);
  for (const std::string& k : keys) ++busy_[k];
  ++undecided_;
  ++in_flight_;
}

void Proposals::ReleaseLocked(absl::Span<const std::string> keys) {
  for (const std::string& k : keys) {
    auto it = busy_.find(k);
    if (it != busy_.end() && --it->second == 0) busy_.erase(it);
  }
  --in_flight_;
}

void Proposals::WhenApplied(std::vector<std::string> keys, int64_t revision, Done done) {
  {
    absl::MutexLock l(&mu_);
    --undecided_;
    // The follower publishes before it calls Published, which takes mu_: either this sees the
    // revision, or Published sees the waiter.
    if (sequencer_->revision() < revision) {
      waiters_.emplace(revision,
                       Waiter{std::move(keys), std::move(done), absl::Now() + apply_wait_});
      return;
    }
    ReleaseLocked(keys);
  }
  done(absl::OkStatus());
}

void Proposals::Retry(std::vector<std::string> keys, Done task) {
  absl::MutexLock l(&mu_);
  --undecided_;
  tasks_.push_back(Task{std::move(keys), std::move(task)});
}

void Proposals::Published(int64_t revision) {
  std::vector<Done> ready;
  {
    absl::MutexLock l(&mu_);
    auto end = waiters_.upper_bound(revision);
    for (auto it = waiters_.begin(); it != end; ++it) {
      ReleaseLocked(it->second.keys);
      ready.push_back(std::move(it->second.done));
    }
    waiters_.erase(waiters_.begin(), end);
  }
  for (Done& done : ready) done(absl::OkStatus());
}

int64_t Proposals::in_flight() const {
  absl::MutexLock l(&mu_);
  return in_flight_;
}

void Proposals::Run() {
  // Wakes for a retry, at stop, and once a second while writes wait for the follower (to fail
  // those past their deadline).
  const absl::Duration kTick = std::min(absl::Seconds(1), apply_wait_);
  while (true) {
    std::vector<std::pair<Done, absl::Status>> calls;
    std::optional<std::vector<std::string>> task_keys;  // set when a task is among `calls`
    bool stop = false;
    {
      absl::MutexLock l(&mu_);
      auto work = [this]()
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || !tasks_.empty(); };
      if (waiters_.empty()) {
        mu_.Await(absl::Condition(&work));
      } else {
        mu_.AwaitWithTimeout(absl::Condition(&work), kTick);
      }
      stop = stopping_;
      const absl::Time now = absl::Now();
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        if (!stop && it->second.deadline > now) {
          ++it;
          continue;
        }
        ReleaseLocked(it->second.keys);
        calls.emplace_back(
            std::move(it->second.done),
            absl::UnavailableError(absl::StrCat(
                "store: committed at revision ", it->first,
                stop ? " but the store stopped before this replica applied it"
                     : " but this replica has not applied it yet (is it following the log?)")));
        it = waiters_.erase(it);
      }
      if (!tasks_.empty()) {
        Task t = std::move(tasks_.front());
        tasks_.pop_front();
        calls.emplace_back(
            std::move(t.task),
            stop ? absl::UnavailableError("store: stopped before the write was retried")
                 : absl::OkStatus());
        task_keys = std::move(t.keys);
      } else if (stop) {
        // Nothing left: waiters were failed above, nothing more is begun.
        for (auto& [done, status] : calls) done(std::move(status));
        return;
      }
    }
    for (auto& [done, status] : calls) done(std::move(status));
    if (task_keys.has_value()) {
      absl::MutexLock l(&mu_);
      ReleaseLocked(*task_keys);
    }
  }
}

}  // namespace slicekeeper::store::internal
