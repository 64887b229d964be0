#include "server/store/internal/sequencer.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::store::internal {
namespace {

bool SnapshotLess(const ServiceSnapshotPtr& a, const ServiceSnapshotPtr& b) {
  return std::tie(a->namespace_, a->name) < std::tie(b->namespace_, b->name);
}

bool SliceNameLess(const SlicePtr& s, absl::string_view name) { return s->name < name; }

}  // namespace

Sequencer::Sequencer(absl::Span<const std::unique_ptr<Shard>> shards, int64_t history_size,
                     int64_t history_bytes)
    : shards_(shards),
      history_size_(std::max<int64_t>(history_size, 0)),
      history_bytes_(std::max<int64_t>(history_bytes, 0)) {}

int64_t Sequencer::PinnedBytes(const store::Commit& commit) {
  int64_t bytes = static_cast<int64_t>(sizeof(store::Commit));
  for (const ServiceChange& change : commit.services) {
    if (change.before == nullptr) continue;
    const std::vector<SlicePtr>& before = change.before->slices;
    static const std::vector<SlicePtr> kNone;
    const std::vector<SlicePtr>& after = change.after != nullptr ? change.after->slices : kNone;
    bytes += static_cast<int64_t>(sizeof(store::ServiceSnapshot) + before.size() * sizeof(SlicePtr));
    // Both sorted by name; an unchanged slice is the same object in both.
    size_t j = 0;
    for (const SlicePtr& old : before) {
      while (j < after.size() && after[j]->name < old->name) ++j;
      const Slice* next = j < after.size() && after[j]->name == old->name ? after[j].get() : nullptr;
      if (next == old.get()) continue;
      bytes += static_cast<int64_t>(sizeof(Slice) + old->endpoints.size() * sizeof(EndpointPtr));
      absl::flat_hash_set<const v1::Endpoint*> kept;
      if (next != nullptr) {
        kept.reserve(next->endpoints.size());
        for (const EndpointPtr& e : next->endpoints) kept.insert(e.get());
      }
      for (const EndpointPtr& e : old->endpoints) {
        if (!kept.contains(e.get())) bytes += kEndpointBytes;
      }
    }
  }
  return bytes;
}

std::pair<int64_t, int64_t> Sequencer::HistoryUsage() const {
  absl::MutexLock l(&mu_);
  return {static_cast<int64_t>(history_.size()), history_pinned_total_};
}

void Sequencer::TrimHistoryLocked() {
  while (!history_.empty() &&
         (static_cast<int64_t>(history_.size()) > history_size_ ||
          (history_.size() > 1 && history_pinned_total_ > history_bytes_))) {
    history_floor_ = history_.front()->revision;
    history_pinned_total_ -= history_pinned_.front();
    history_.pop_front();
    history_pinned_.pop_front();
  }
}

void Sequencer::Publish(CommitPtr commit, std::vector<Update> updates,
                        std::vector<NameUpdate> names, const Totals& delta) {
  const int64_t revision = commit->revision;
  // A commit waits only for writers that already hold lower revisions; they hold no lock this
  // writer needs, so the wait is bounded by their (short) publish steps.
  const int64_t pinned = PinnedBytes(*commit);  // outside the lock
  const AwaitArg previous{this, revision - 1};
  mu_.LockWhen(absl::Condition(&Sequencer::Reached, &previous));
  PublishLocked(std::move(commit), pinned, std::move(updates), std::move(names), delta);
  mu_.Unlock();
}

void Sequencer::PublishReplicated(CommitPtr commit, std::vector<Update> updates,
                                  std::vector<NameUpdate> names, const Totals& delta) {
  const int64_t pinned = PinnedBytes(*commit);
  absl::MutexLock l(&mu_);
  PublishLocked(std::move(commit), pinned, std::move(updates), std::move(names), delta);
}

void Sequencer::PublishLocked(CommitPtr commit, int64_t pinned_bytes,
                              std::vector<Update> updates, std::vector<NameUpdate> names,
                              const Totals& delta) {
  const int64_t revision = commit->revision;
  for (Update& u : updates) {
    absl::MutexLock l(&u.shard->read_mu);
    if (u.after == nullptr) {
      u.shard->published.erase(u.key);
    } else {
      u.shard->published[u.key] = std::move(u.after);
    }
  }
  for (NameUpdate& n : names) {
    if (n.service_key.empty()) {
      slice_owner_.erase(n.slice_key);
    } else {
      slice_owner_[n.slice_key] = std::move(n.service_key);
    }
  }
  totals_.services += delta.services;
  totals_.slices += delta.slices;
  totals_.endpoints += delta.endpoints;
  totals_.desired_slices += delta.desired_slices;
  history_.push_back(commit);
  history_pinned_.push_back(pinned_bytes);
  history_pinned_total_ += pinned_bytes;
  TrimHistoryLocked();
  for (CommitListener* listener : listeners_) listener->OnCommit(commit);
  published_ = revision;
  // Stored after the snapshots are swapped in: a reader that reads revision() = R and then a
  // snapshot gets one at least as new as R (store.h, "Reading one service").
  published_atomic_.store(revision, std::memory_order_release);
}

void Sequencer::Restore(int64_t revision, std::deque<CommitPtr> history,
                        absl::flat_hash_map<std::string, std::string> slice_owner,
                        const Totals& totals) {
  absl::MutexLock l(&mu_);
  published_ = revision;
  history_ = std::move(history);
  history_pinned_.clear();
  history_pinned_total_ = 0;
  for (const CommitPtr& c : history_) {
    history_pinned_.push_back(PinnedBytes(*c));
    history_pinned_total_ += history_pinned_.back();
  }
  history_floor_ = history_.empty() ? revision : history_.front()->revision - 1;
  TrimHistoryLocked();
  slice_owner_ = std::move(slice_owner);
  totals_ = totals;
  published_atomic_.store(revision, std::memory_order_release);
}

void Sequencer::AwaitPublished(int64_t revision) const {
  if (this->revision() >= revision) return;
  const AwaitArg arg{this, revision};
  mu_.ReaderLockWhen(absl::Condition(&Sequencer::Reached, &arg));
  mu_.ReaderUnlock();
}

bool Sequencer::AwaitPublishedUntil(int64_t revision, absl::Time deadline) const {
  if (this->revision() >= revision) return true;
  const AwaitArg arg{this, revision};
  const bool reached =
      mu_.ReaderLockWhenWithDeadline(absl::Condition(&Sequencer::Reached, &arg), deadline);
  mu_.ReaderUnlock();
  return reached;
}

// Called by absl::Mutex with mu_ held; the analysis cannot see that.
bool Sequencer::Reached(const AwaitArg* arg) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return arg->sequencer->published_ >= arg->revision;
}

Totals Sequencer::totals() const {
  absl::ReaderMutexLock l(&mu_);
  return totals_;
}

absl::StatusOr<std::pair<SlicePtr, int64_t>> Sequencer::GetSlice(absl::string_view ns,
                                                                 absl::string_view name) const {
  absl::ReaderMutexLock l(&mu_);
  auto owner = slice_owner_.find(ServiceKey(ns, name));
  if (owner != slice_owner_.end()) {
    const Shard& shard = *shards_[ShardIndex(owner->second, shards_.size())];
    ServiceSnapshotPtr snapshot;
    {
      absl::MutexLock rl(&shard.read_mu);
      auto it = shard.published.find(owner->second);
      if (it != shard.published.end()) snapshot = it->second;
    }
    if (snapshot != nullptr) {
      auto it = std::lower_bound(snapshot->slices.begin(), snapshot->slices.end(), name,
                                 SliceNameLess);
      if (it != snapshot->slices.end() && (*it)->name == name) {
        return std::make_pair(*it, published_);
      }
    }
  }
  return absl::NotFoundError(absl::StrCat("endpointslice ", ns, "/", name, " not found"));
}

CatalogPtr Sequencer::CollectLocked(absl::string_view ns) const {
  auto catalog = std::make_shared<Catalog>();
  catalog->revision = published_;
  for (const std::unique_ptr<Shard>& shard : shards_) {
    absl::MutexLock l(&shard->read_mu);
    for (const auto& [key, snapshot] : shard->published) {
      if (ns.empty() || snapshot->namespace_ == ns) catalog->services.push_back(snapshot);
    }
  }
  std::sort(catalog->services.begin(), catalog->services.end(), SnapshotLess);
  return catalog;
}

CatalogPtr Sequencer::Snapshot(absl::string_view ns) const {
  absl::ReaderMutexLock l(&mu_);
  return CollectLocked(ns);
}

CatalogPtr Sequencer::SnapshotAndListen(absl::string_view ns, CommitListener* listener) {
  absl::MutexLock l(&mu_);
  listeners_.push_back(listener);
  return CollectLocked(ns);
}

void Sequencer::RemoveListener(CommitListener* listener) {
  absl::MutexLock l(&mu_);
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), listener), listeners_.end());
}

absl::StatusOr<std::vector<CommitPtr>> Sequencer::ChangesSince(int64_t revision,
                                                               size_t limit) const {
  if (revision < 0) {
    return absl::InvalidArgumentError(absl::StrCat("revision: must be >= 0, got ", revision));
  }
  absl::ReaderMutexLock l(&mu_);
  std::vector<CommitPtr> out;
  if (revision >= published_) return out;
  // History holds every commit above history_floor_ (one per revision, except in a replicated
  // store, whose revisions have gaps).
  if (revision < history_floor_) {
    return absl::OutOfRangeError(absl::StrCat(
        "revision ", revision, " has been compacted; the oldest retained change is ",
        history_.empty() ? published_ + 1 : history_.front()->revision));
  }
  auto first = std::upper_bound(
      history_.begin(), history_.end(), revision,
      [](int64_t r, const CommitPtr& c) { return r < c->revision; });
  const size_t available = static_cast<size_t>(history_.end() - first);
  out.assign(first, first + static_cast<std::ptrdiff_t>(std::min(available, limit)));
  return out;
}

}  // namespace slicekeeper::store::internal
