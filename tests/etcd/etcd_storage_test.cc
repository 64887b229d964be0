// EtcdStorage's group commit against a real etcd: concurrent proposers on disjoint and shared
// services, guard failures inside a group, the group caps, and a cluster whose limits are below
// the caps.
#include "server/storage/etcd_storage.h"

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/slice.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/test_util.h"

namespace slicekeeper::storage {
namespace {

using etcd::testing::EtcdCluster;
using Proposal = ReplicatedStorage::Proposal;

// Records what the follower applies: per service, the revisions of its changes in apply order.
class Recorder : public ReplicationSink {
 public:
  absl::Status Apply(const ReplicatedCommit& commit) override {
    absl::MutexLock l(&mu_);
    for (const ReplicatedCommit::ServiceChange& s : commit.services) {
      changes_[s.name].push_back(commit.revision);
    }
    applied_ = commit.revision;
    return absl::OkStatus();
  }
  void AwaitApplied(int64_t revision) {
    absl::MutexLock l(&mu_);
    auto reached = [this, revision]()
                       ABSL_NO_THREAD_SAFETY_ANALYSIS { return applied_ >= revision; };
    mu_.Await(absl::Condition(&reached));
  }
  // The revision of the service's last change (0: none).
  int64_t Last(const std::string& service) {
    absl::MutexLock l(&mu_);
    auto it = changes_.find(service);
    return it == changes_.end() ? 0 : it->second.back();
  }
  std::vector<int64_t> Changes(const std::string& service) {
    absl::MutexLock l(&mu_);
    return changes_[service];
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::vector<int64_t>> changes_ ABSL_GUARDED_BY(mu_);
  int64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
};

// A commit of service `name` (namespace "ns") read at `prev` that writes its record and one
// slice, `<name>-s`, created when `create_slice` (guarded absent) or else `slice` as named.
CommitRecord Write(const std::string& name, int64_t prev, bool create_slice = true,
                   std::string slice = "") {
  if (slice.empty()) slice = name + "-s";
  ServiceWrite w;
  w.namespace_ = "ns";
  w.name = name;
  auto record = std::make_shared<v1::ServiceRecord>();
  record->set_namespace_("ns");
  record->set_name(name);
  w.record = record;
  v1::EndpointSlice proto;
  proto.mutable_metadata()->set_namespace_("ns");
  proto.mutable_metadata()->set_name(slice);
  (*proto.mutable_metadata()->mutable_labels())[kLabelServiceName] = name;
  proto.set_address_type("IPv4");
  w.slices.push_back({slice, SliceFromProto(proto)});
  w.undo.prev_mod_revision = prev;
  w.undo.slices.push_back({slice, create_slice ? nullptr : w.slices.back().slice});
  CommitRecord c;
  c.services.push_back(std::move(w));
  return c;
}

class EtcdStorageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = EtcdCluster::Start({});
    ASSERT_OK(cluster);
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  static std::unique_ptr<EtcdStorage> Open(const std::string& prefix, int max_group_ops = 128,
                                           EtcdCluster* cluster = nullptr) {
    EtcdStorageOptions options;
    options.client.endpoints = (cluster != nullptr ? cluster : cluster_)->endpoints();
    options.prefix = prefix;
    options.max_group_ops = max_group_ops;
    auto storage = EtcdStorage::Open(options);
    EXPECT_OK(storage);
    return storage.ok() ? *std::move(storage) : nullptr;
  }

  // Proposes every commit without waiting, then waits for every answer.
  static std::vector<absl::StatusOr<Proposal>> Burst(EtcdStorage& storage,
                                                     const std::vector<CommitRecord>& commits) {
    std::vector<absl::StatusOr<Proposal>> out(commits.size());
    std::vector<absl::Notification> done(commits.size());
    for (size_t i = 0; i < commits.size(); ++i) {
      storage.ProposeAsync(commits[i], 0, [&, i](absl::StatusOr<Proposal> r) {
        out[i] = std::move(r);
        done[i].Notify();
      });
    }
    for (absl::Notification& n : done) n.WaitForNotification();
    return out;
  }

  static EtcdCluster* cluster_;
};

EtcdCluster* EtcdStorageTest::cluster_ = nullptr;

// Eight writers, each on two services of its own and all on one shared service: every
// acknowledged write is applied, each service's revisions rise in proposal order, the shared
// service loses no write, and concurrent proposals shared Txns.
TEST_F(EtcdStorageTest, ConcurrentWritersOnDisjointAndSharedServices) {
  auto storage = Open("/concurrent/");
  ASSERT_NE(storage, nullptr);
  Recorder sink;
  ASSERT_OK(storage->Load());
  ASSERT_OK(storage->Follow(0, &sink));
  constexpr int kWriters = 8, kRounds = 15;
  std::atomic<int> shared_commits{0};
  std::atomic<int64_t> shared_newest{0};
  std::vector<std::vector<int64_t>> own(kWriters * 2);
  std::vector<std::thread> writers;
  for (int t = 0; t < kWriters; ++t) {
    writers.emplace_back([&, t] {
      int64_t prev[2] = {0, 0};
      for (int round = 0; round < kRounds; ++round) {
        for (int k = 0; k < 2; ++k) {
          const std::string name = absl::StrCat("w", t, "-", k);
          auto p = storage->Propose(Write(name, prev[k], prev[k] == 0), 0);
          ASSERT_OK(p);
          ASSERT_TRUE(p->committed) << name << " round " << round;
          prev[k] = p->revision;
          own[t * 2 + k].push_back(p->revision);
        }
        // The shared service: read, propose, and on a conflict catch up and try again.
        for (int attempt = 0;; ++attempt) {
          ASSERT_LT(attempt, 200);
          const int64_t last = sink.Last("shared");
          auto p = storage->Propose(Write("shared", last, last == 0), 0);
          ASSERT_OK(p);
          if (p->committed) {
            shared_commits.fetch_add(1);
            int64_t seen = shared_newest.load();
            while (seen < p->revision && !shared_newest.compare_exchange_weak(seen, p->revision)) {
            }
            break;
          }
          ASSERT_GT(p->revision, 0);
          sink.AwaitApplied(p->revision);
        }
      }
    });
  }
  for (std::thread& t : writers) t.join();
  int64_t newest = 0;
  for (const auto& revisions : own) {
    ASSERT_EQ(revisions.size(), kRounds);
    for (size_t i = 1; i < revisions.size(); ++i) EXPECT_LT(revisions[i - 1], revisions[i]);
    newest = std::max(newest, revisions.back());
  }
  sink.AwaitApplied(newest);
  for (int i = 0; i < kWriters * 2; ++i) {
    EXPECT_EQ(sink.Changes(absl::StrCat("w", i / 2, "-", i % 2)), own[i]);
  }
  EXPECT_EQ(shared_commits.load(), kWriters * kRounds);
  // The newest acknowledged write of the shared service (not the newest the sink has seen: the
  // follower may not have applied the last one yet).
  sink.AwaitApplied(shared_newest.load());
  EXPECT_EQ(sink.Changes("shared").size(), static_cast<size_t>(kWriters * kRounds));
  // Group commit: fewer Txns than proposals (8 writers block on a Txn at a time).
  EXPECT_LT(storage->txns_sent(), storage->proposals_sent());
  storage->StopFollowing();
}

// A stale service guard and a create guard on an existing slice inside one burst: those two are
// refused with the revision to catch up to, the others commit, and nothing of the refused ones
// is in etcd.
TEST_F(EtcdStorageTest, GuardFailuresInsideAGroupAreAnsweredEachAndNotApplied) {
  auto storage = Open("/guards/");
  ASSERT_NE(storage, nullptr);
  auto taken = storage->Propose(Write("owner", 0, true, "taken"), 0);
  ASSERT_OK(taken);
  ASSERT_TRUE(taken->committed);
  std::vector<CommitRecord> commits;
  for (int i = 0; i < 10; ++i) commits.push_back(Write(absl::StrCat("filler", i), 0));
  commits.push_back(Write("a", 0));
  commits.push_back(Write("stale", 12345));  // read at a revision that never touched it
  commits.push_back(Write("c", 0));
  commits.push_back(Write("thief", 0, true, "taken"));  // creates a slice that exists
  commits.push_back(Write("e", 0));
  std::vector<absl::StatusOr<Proposal>> out = Burst(*storage, commits);
  for (size_t i = 0; i < out.size(); ++i) {
    ASSERT_OK(out[i]);
    const std::string& name = commits[i].services[0].name;
    const bool refused = name == "stale" || name == "thief";
    EXPECT_EQ(out[i]->committed, !refused) << name;
    EXPECT_GE(out[i]->revision, taken->revision) << name;
  }
  // The refused proposals wrote nothing; the slice keeps its owner.
  auto reader = Open("/guards/");
  ASSERT_NE(reader, nullptr);
  auto state = reader->Load();
  ASSERT_OK(state);
  std::vector<std::string> names;
  for (const StoredService& s : state->services) {
    names.push_back(s.name);
    if (s.name == "owner") {
      ASSERT_EQ(s.slices.size(), 1u);
      EXPECT_EQ(s.slices[0]->name, "taken");
    }
  }
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("stale")));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("thief")));
  EXPECT_THAT(names, ::testing::IsSupersetOf({"a", "c", "e", "filler0", "filler9", "owner"}));
}

// max_group_ops bounds a group: with 6, a group holds two proposals (3 compares each, counting
// the node registry's), so 20 proposals need at least 10 Txns.
TEST_F(EtcdStorageTest, GroupSizeIsCapped) {
  auto storage = Open("/capped/", /*max_group_ops=*/6);
  ASSERT_NE(storage, nullptr);
  std::vector<CommitRecord> commits;
  for (int i = 0; i < 20; ++i) commits.push_back(Write(absl::StrCat("s", i), 0));
  for (const auto& r : Burst(*storage, commits)) {
    ASSERT_OK(r);
    EXPECT_TRUE(r->committed);
  }
  EXPECT_GE(storage->txns_sent(), 10);
  EXPECT_EQ(storage->proposals_sent(), 20);
}

// A cluster whose --max-txn-ops is below the caps refuses a group: its proposals go out again
// one per Txn and all commit; a single proposal over the limit is RESOURCE_EXHAUSTED.
TEST(EtcdStorageSmallLimitsTest, OversizedGroupsFallBackToOneProposalPerTxn) {
  auto cluster = EtcdCluster::Start({.extra_args = {"--max-txn-ops=4"}});
  ASSERT_OK(cluster);
  EtcdStorageOptions options;
  options.client.endpoints = (*cluster)->endpoints();
  auto storage = EtcdStorage::Open(options);
  ASSERT_OK(storage);
  std::vector<CommitRecord> commits;
  for (int i = 0; i < 12; ++i) commits.push_back(Write(absl::StrCat("s", i), 0));
  std::vector<absl::StatusOr<Proposal>> out(commits.size());
  std::vector<absl::Notification> done(commits.size());
  for (size_t i = 0; i < commits.size(); ++i) {
    (*storage)->ProposeAsync(commits[i], 0, [&, i](absl::StatusOr<Proposal> r) {
      out[i] = std::move(r);
      done[i].Notify();
    });
  }
  for (absl::Notification& n : done) n.WaitForNotification();
  for (const auto& r : out) {
    ASSERT_OK(r);
    EXPECT_TRUE(r->committed);
  }
  CommitRecord big = Write("big", 0);
  for (int i = 0; i < 4; ++i) {
    CommitRecord more = Write(absl::StrCat("big", i), 0);
    big.services.push_back(std::move(more.services[0]));
  }
  auto refused = (*storage)->Propose(big, 0);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
}

}  // namespace
}  // namespace slicekeeper::storage
