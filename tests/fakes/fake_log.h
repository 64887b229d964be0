// A fake of etcd for replicated stores: one in-memory log (`FakeLog`) shared by several
// `FakeReplicaStorage`s, each the storage of one store replica. It keeps etcd's semantics that the
// store relies on: a proposal commits only if the guards it carries still hold (every service's
// mod revision, absent slices, the node registry's revision); revisions are global and strictly
// increasing, with gaps (`gap` skips revisions, as other keys in etcd would); every replica is fed
// every revision in order on a follower thread of its own; objects are serialized on the way in
// and out, so replicas never share objects with the proposer.
//
// Thread-safety: everything is safe to call concurrently.
#ifndef SLICEKEEPER_TESTS_FAKES_FAKE_LOG_H_
#define SLICEKEEPER_TESTS_FAKES_FAKE_LOG_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/slice.h"
#include "server/storage/storage.h"

namespace slicekeeper::testing {

class FakeLog {
 public:
  explicit FakeLog(int64_t gap = 0) : gap_(gap) {}

  absl::StatusOr<storage::ReplicatedStorage::Proposal> Propose(const storage::CommitRecord& c,
                                                               int64_t nodes_revision) {
    absl::MutexLock l(&mu_);
    int64_t newest = 0;
    bool ok = nodes_revision == nodes_revision_;
    newest = std::max(newest, nodes_revision_);
    for (const storage::ServiceWrite& w : c.services) {
      auto it = services_.find(Key(w.namespace_, w.name));
      const int64_t mod = it == services_.end() ? 0 : it->second.mod_revision;
      newest = std::max(newest, mod);
      if (mod != w.undo.prev_mod_revision) ok = false;
      for (const storage::ServiceUndo::SliceUndo& u : w.undo.slices) {
        if (u.prev != nullptr) continue;
        auto s = slices_.find(Key(w.namespace_, u.name));
        if (s != slices_.end()) {
          ok = false;
          newest = std::max(newest, s->second->resource_version);
        }
      }
    }
    if (!ok) {
      ++conflicts_;
      return storage::ReplicatedStorage::Proposal{false, newest};
    }
    revision_ += 1 + gap_;
    auto out = std::make_shared<storage::ReplicatedCommit>();
    out->revision = revision_;
    for (const storage::ServiceWrite& w : c.services) {
      const std::string key = Key(w.namespace_, w.name);
      storage::ReplicatedCommit::ServiceChange sc;
      sc.namespace_ = w.namespace_;
      sc.name = w.name;
      sc.exists = w.exists;
      sc.mod_revision = revision_;
      if (w.exists) {
        if (w.record != nullptr) {
          auto r = std::make_shared<v1::ServiceRecord>(*w.record);
          r->set_resource_version(absl::StrCat(revision_));
          sc.record = r;
        }
        services_[key] = {w.namespace_, w.name, sc.record, revision_, {}};
      } else {
        services_.erase(key);
      }
      out->services.push_back(sc);
      for (const storage::ServiceWrite::SliceWrite& sw : w.slices) {
        storage::ReplicatedCommit::SliceChange ch;
        ch.namespace_ = w.namespace_;
        ch.name = sw.name;
        if (sw.slice != nullptr) {
          std::shared_ptr<Slice> copy = SliceFromProto(sw.slice->ToProto());
          copy->resource_version = revision_;
          ch.slice = copy;
          slices_[Key(w.namespace_, sw.name)] = copy;
        } else {
          slices_.erase(Key(w.namespace_, sw.name));
        }
        out->slices.push_back(std::move(ch));
      }
    }
    if (c.nodes != nullptr) {
      nodes_ = c.nodes;
      nodes_revision_ = revision_;
      out->nodes = c.nodes;
      out->nodes_revision = revision_;
    }
    log_.push_back(std::move(out));
    return storage::ReplicatedStorage::Proposal{true, revision_};
  }

  storage::LoadedState Load() {
    absl::MutexLock l(&mu_);
    storage::LoadedState state;
    state.revision = revision_;
    state.nodes = nodes_ != nullptr ? *nodes_ : std::vector<v1::Node>{};
    state.nodes_revision = nodes_revision_;
    std::map<std::string, storage::StoredService> services;
    for (const auto& [key, s] : services_) services[key] = s;
    for (const auto& [key, slice] : slices_) {
      auto it = services.find(Key(slice->namespace_, slice->ServiceName()));
      if (it != services.end()) it->second.slices.push_back(slice);
    }
    for (auto& [key, s] : services) state.services.push_back(std::move(s));
    return state;
  }

  // Blocks until the log has a revision above `after` or `stop` is set; returns the next entry
  // (null when stopped).
  std::shared_ptr<const storage::ReplicatedCommit> Next(int64_t after, const bool* stop) {
    absl::MutexLock l(&mu_);
    auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return *stop || (!log_.empty() && log_.back()->revision > after);
    };
    mu_.Await(absl::Condition(&ready));
    if (*stop) return nullptr;
    for (const auto& c : log_) {
      if (c->revision > after) return c;
    }
    return nullptr;
  }
  // Wakes Next callers (after they set their stop flag under `mu()`).
  absl::Mutex& mu() { return mu_; }

  int64_t conflicts() const {
    absl::MutexLock l(&mu_);
    return conflicts_;
  }
  int64_t revision() const {
    absl::MutexLock l(&mu_);
    return revision_;
  }

 private:
  static std::string Key(absl::string_view ns, absl::string_view name) {
    return absl::StrCat(ns, "/", name);
  }

  const int64_t gap_;
  mutable absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t conflicts_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, storage::StoredService> services_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SlicePtr> slices_ ABSL_GUARDED_BY(mu_);
  storage::NodeListPtr nodes_ ABSL_GUARDED_BY(mu_);
  int64_t nodes_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::shared_ptr<const storage::ReplicatedCommit>> log_ ABSL_GUARDED_BY(mu_);
};

class FakeReplicaStorage : public storage::ReplicatedStorage {
 public:
  explicit FakeReplicaStorage(FakeLog* log) : log_(log) {}
  ~FakeReplicaStorage() override { StopFollowing(); }

  absl::StatusOr<storage::LoadedState> Load() override { return log_->Load(); }

  absl::StatusOr<Proposal> Propose(const storage::CommitRecord& commit,
                                   int64_t nodes_revision) override {
    if (fail_proposals_.load()) return absl::UnavailableError("fake log: unreachable");
    return log_->Propose(commit, nodes_revision);
  }

  // Decides at once, unless held (set_hold_proposals): then queued until ReleaseHeld, as etcd
  // queues what arrives while a Txn is in flight.
  void ProposeAsync(const storage::CommitRecord& commit, int64_t nodes_revision,
                    ProposeDone done) override {
    {
      absl::MutexLock l(&held_mu_);
      if (hold_) {
        held_.push_back({commit, nodes_revision, std::move(done)});
        return;
      }
    }
    done(Propose(commit, nodes_revision));
  }
  void set_hold_proposals(bool hold) {
    absl::MutexLock l(&held_mu_);
    hold_ = hold;
  }
  // Waits until `n` proposals are held.
  void AwaitHeld(size_t n) {
    absl::MutexLock l(&held_mu_);
    auto reached = [&]() ABSL_SHARED_LOCKS_REQUIRED(held_mu_) { return held_.size() >= n; };
    held_mu_.Await(absl::Condition(&reached));
  }
  // Decides the held proposals, in the order they came; returns how many.
  size_t ReleaseHeld() {
    std::vector<Held> held;
    {
      absl::MutexLock l(&held_mu_);
      held.swap(held_);
    }
    for (Held& h : held) h.done(Propose(h.commit, h.nodes_revision));
    return held.size();
  }

  absl::Status Follow(int64_t revision, storage::ReplicationSink* sink) override {
    thread_ = std::thread([this, revision, sink] {
      int64_t after = revision;
      while (auto c = log_->Next(after, &stop_)) {
        if (absl::Status s = sink->Apply(*c); !s.ok()) return;
        after = c->revision;
      }
    });
    return absl::OkStatus();
  }

  void StopFollowing() override {
    {
      absl::MutexLock l(&log_->mu());
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  bool following() const override { return true; }

  void set_fail_proposals(bool fail) { fail_proposals_.store(fail); }

 private:
  struct Held {
    storage::CommitRecord commit;
    int64_t nodes_revision;
    ProposeDone done;
  };
  FakeLog* const log_;
  std::atomic<bool> fail_proposals_{false};
  absl::Mutex held_mu_;
  bool hold_ ABSL_GUARDED_BY(held_mu_) = false;
  std::vector<Held> held_ ABSL_GUARDED_BY(held_mu_);
  bool stop_ = false;  // guarded by log_->mu()
  std::thread thread_;
};

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_FAKES_FAKE_LOG_H_
