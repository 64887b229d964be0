#include "server/store/internal/committer.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace slicekeeper::store::internal {

Committer::Committer(storage::Storage* storage, Sequencer* sequencer)
    : storage_(storage), sequencer_(sequencer) {
  thread_ = std::thread([this] { Run(); });
}

Committer::~Committer() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void Committer::Submit(Sequencer::Publication publication) {
  absl::MutexLock l(&mu_);
  queue_.push_back(std::move(publication));
}

void Committer::WhenPublished(int64_t revision, Done done) {
  absl::Status status;
  {
    absl::MutexLock l(&mu_);
    const bool published = sequencer_->revision() >= revision;
    // Inline only when no earlier waiter is still to be called: the `done`s of successful writes
    // come in revision order, and Notify may be between taking waiters and calling them.
    const bool earlier_pending =
        dispatching_ || (!waiters_.empty() && waiters_.begin()->first <= revision);
    if (published && earlier_pending) {
      waiters_.emplace(revision, std::move(done));
      return;
    }
    if (!published) {
      if (status_.ok()) {
        waiters_.emplace(revision, std::move(done));
        return;
      }
      status = status_;
    }
  }
  done(std::move(status));
}

absl::Status Committer::AwaitPublished(int64_t revision) {
  absl::Status out;
  absl::Notification decided;
  WhenPublished(revision, [&](absl::Status s) {
    out = std::move(s);
    decided.Notify();
  });
  decided.WaitForNotification();
  return out;
}

absl::Status Committer::status() const {
  absl::MutexLock l(&mu_);
  return status_;
}

void Committer::Run() {
  while (true) {
    std::vector<Sequencer::Publication> round;
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](Committer* c)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) { return c->stopping_ || !c->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping, nothing left
      round.swap(queue_);
      if (!status_.ok()) continue;  // failed for good: nothing is published any more
    }
    // Every commit of the round was appended before it was submitted, so this one Sync covers
    // them all (and possibly later ones, which the next round syncs again: harmless).
    if (absl::Status s = storage_->Sync(); !s.ok()) {
      {
        absl::MutexLock l(&mu_);
        status_ = absl::UnavailableError(absl::StrCat(
            "store: the storage failed to sync its log, so writes since the last sync may be "
            "lost; this server accepts no more writes until it is restarted: ",
            s.message()));
      }
      synced_.clear();
      Notify();
      continue;
    }
    for (Sequencer::Publication& p : round) {
      const int64_t revision = p.commit->revision;
      synced_.emplace(revision, std::move(p));
    }
    // Revisions are handed out without gaps and each is submitted: publish the contiguous run.
    bool published = false;
    while (!synced_.empty() && synced_.begin()->first == sequencer_->revision() + 1) {
      Sequencer::Publication p = std::move(synced_.begin()->second);
      synced_.erase(synced_.begin());
      sequencer_->Publish(std::move(p));
      published = true;
    }
    if (published) Notify();
  }
}

void Committer::Notify() {
  // Loops until no decided waiter is left: WhenPublished queues behind a dispatch in progress
  // rather than overtaking it.
  while (true) {
    std::vector<std::pair<Done, absl::Status>> ready;
    {
      absl::MutexLock l(&mu_);
      const int64_t revision = sequencer_->revision();
      auto end = status_.ok() ? waiters_.upper_bound(revision) : waiters_.end();
      if (end == waiters_.begin()) {
        dispatching_ = false;
        return;
      }
      dispatching_ = true;
      for (auto it = waiters_.begin(); it != end; ++it) {
        // Published before the storage failed: those writes are durable.
        ready.emplace_back(std::move(it->second),
                           it->first <= revision ? absl::OkStatus() : status_);
      }
      waiters_.erase(waiters_.begin(), end);
    }
    for (auto& [done, status] : ready) done(std::move(status));
  }
}

}  // namespace slicekeeper::store::internal
