#include "server/store/internal/sequencer.h"

#include <algorithm>
#include <tuple>
#include <utility>

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
    : shards_(shards), window_(history_size, history_bytes) {}

std::pair<int64_t, int64_t> Sequencer::HistoryUsage() const {
  absl::MutexLock l(&mu_);
  return {window_.commits(), window_.bytes()};
}

int64_t Sequencer::HistoryFloor() const {
  absl::MutexLock l(&mu_);
  return window_.floor();
}

void Sequencer::Publish(Publication p) {
  // A commit waits only for writers that already hold lower revisions; they hold no lock this
  // writer needs, so the wait is bounded by their (short) publish steps.
  const AwaitArg previous{this, p.commit->revision - 1};
  mu_.LockWhen(absl::Condition(&Sequencer::Reached, &previous));
  PublishLocked(std::move(p));
  mu_.Unlock();
}

void Sequencer::PublishReplicated(Publication p) {
  absl::MutexLock l(&mu_);
  PublishLocked(std::move(p));
}

void Sequencer::PublishLocked(Publication p) {
  const int64_t revision = p.commit->revision;
  for (Update& u : p.updates) {
    absl::MutexLock l(&u.shard->read_mu);
    if (u.after == nullptr) {
      u.shard->published.erase(u.key);
    } else {
      u.shard->published[u.key] = std::move(u.after);
    }
  }
  for (NameUpdate& n : p.names) {
    if (n.service_key.empty()) {
      slice_owner_.erase(n.slice_key);
    } else {
      slice_owner_[n.slice_key] = std::move(n.service_key);
    }
  }
  totals_.services += p.totals.services;
  totals_.slices += p.totals.slices;
  totals_.endpoints += p.totals.endpoints;
  totals_.desired_slices += p.totals.desired_slices;
  window_.Append(HistoryRecord{revision, std::move(p.delta)});
  for (CommitListener* listener : listeners_) listener->OnCommit(p.commit);
  published_ = revision;
  // Stored after the snapshots are swapped in: a reader that reads revision() = R and then a
  // snapshot gets one at least as new as R (store.h, "Reading one service").
  published_atomic_.store(revision, std::memory_order_release);
}

void Sequencer::Restore(int64_t revision,
                        absl::flat_hash_map<std::string, std::string> slice_owner,
                        const Totals& totals) {
  absl::MutexLock l(&mu_);
  published_ = revision;
  window_.Reset(revision);
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

CatalogPtr Sequencer::CollectNamedLocked(absl::string_view ns,
                                         absl::Span<const std::string> names) const {
  auto catalog = std::make_shared<Catalog>();
  catalog->revision = published_;
  for (const std::string& name : names) {
    const std::string key = ServiceKey(ns, name);
    const Shard& shard = *shards_[ShardIndex(key, shards_.size())];
    absl::MutexLock l(&shard.read_mu);
    auto it = shard.published.find(key);
    if (it != shard.published.end()) catalog->services.push_back(it->second);
  }
  std::sort(catalog->services.begin(), catalog->services.end(), SnapshotLess);
  catalog->services.erase(std::unique(catalog->services.begin(), catalog->services.end()),
                          catalog->services.end());
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

absl::StatusOr<Sequencer::HistoryView> Sequencer::HistorySince(
    absl::string_view ns, absl::Span<const std::string> names, int64_t revision) const {
  if (revision < 0) {
    return absl::InvalidArgumentError(absl::StrCat("revision: must be >= 0, got ", revision));
  }
  absl::ReaderMutexLock l(&mu_);
  if (revision > published_) {
    return absl::OutOfRangeError(absl::StrCat("revision ", revision,
                                              " is newer than the store's, ", published_));
  }
  HistoryView view;
  view.now = !ns.empty() && !names.empty() ? CollectNamedLocked(ns, names) : CollectLocked(ns);
  view.records = window_.Since(revision);
  view.floor = window_.floor();
  return view;
}

}  // namespace slicekeeper::store::internal
