// Replicated stores: several Store replicas over one shared log (tests/fakes/fake_log.h, etcd's
// semantics in memory). Writes on any replica become visible on every replica at the same
// revision; concurrent writers of one service on different replicas lose no update (the log
// refuses a proposal computed from a stale state and the writer retries); replicas agree on
// history, so a watcher resumes on any of them.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/store/store.h"
#include "tests/fakes/fake_log.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using ::slicekeeper::testing::FakeLog;
using ::slicekeeper::testing::FakeReplicaStorage;
using ::slicekeeper::testing::StatusIs;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

struct Replica {
  explicit Replica(FakeLog* log, int max_per_slice = 10) : storage(log) {
    Store::Options options;
    options.storage = &storage;
    options.shards = 4;
    options.reconcile.max_endpoints_per_slice = max_per_slice;
    auto opened = Store::Open(options);
    EXPECT_TRUE(opened.ok()) << opened.status();
    store = std::move(*opened);
  }
  FakeReplicaStorage storage;
  std::unique_ptr<Store> store;
};

// Waits until `store` applied `revision`, by watching it (no sleeps).
void AwaitRevision(Store& store, int64_t revision) {
  struct Waiter : CommitListener {
    absl::Mutex mu;
    int64_t seen ABSL_GUARDED_BY(mu) = 0;
    void OnCommit(const CommitPtr& c) override {
      absl::MutexLock l(&mu);
      seen = c->revision;
    }
  } waiter;
  CatalogPtr at = store.SnapshotAndListen("", &waiter);
  {
    absl::MutexLock l(&waiter.mu);
    if (waiter.seen == 0) waiter.seen = at->revision;
    auto reached = [&]() ABSL_SHARED_LOCKS_REQUIRED(waiter.mu) { return waiter.seen >= revision; };
    EXPECT_TRUE(waiter.mu.AwaitWithTimeout(absl::Condition(&reached), absl::Seconds(20)))
        << "replica never applied revision " << revision;
  }
  store.RemoveListener(&waiter);
}

// The outcome of one ApplyChangesAsync.
struct AsyncWrite {
  Store::WriteCallback callback() {
    return [this](absl::StatusOr<WriteResult> r) {
      result = std::move(r);
      done.Notify();
    };
  }
  absl::StatusOr<WriteResult> Wait() {
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20))) << "never acked";
    return result;
  }
  absl::Notification done;
  absl::StatusOr<WriteResult> result;
};

std::string Describe(const ServiceSnapshotPtr& s) {
  if (s == nullptr) return "<none>";
  std::string out = absl::StrCat("mod=", s->mod_revision, " record=", s->record != nullptr);
  for (const SlicePtr& slice : s->slices) {
    absl::StrAppend(&out, "\n  ", slice->ToProto().ShortDebugString());
  }
  return out;
}

void ExpectSameService(const ServiceSnapshotPtr& a, const ServiceSnapshotPtr& b) {
  EXPECT_EQ(Describe(a), Describe(b));
}

std::set<std::string> Addresses(const ServiceSnapshotPtr& s) {
  std::set<std::string> out;
  if (s == nullptr) return out;
  for (const SlicePtr& slice : s->slices) {
    for (const EndpointPtr& e : slice->endpoints) out.emplace(e->addresses(0));
  }
  return out;
}

TEST(ReplicatedStoreTest, WriteOnOneReplicaIsVisibleOnTheOtherAtTheSameRevision) {
  FakeLog log(/*gap=*/3);
  Replica a(&log), b(&log);
  std::vector<v1::EndpointChange> batch;
  for (int i = 0; i < 25; ++i) batch.push_back(Upsert("default", "web", Ip(i)));
  absl::StatusOr<WriteResult> w = a.store->ApplyChanges(batch);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->stats.endpoints_added(), 25);
  EXPECT_EQ(w->revision, 4);  // the log's revision, gaps included
  // The proposer's write returns once its own replica applied it.
  EXPECT_GE(a.store->revision(), w->revision);
  ASSERT_NE(a.store->GetService("default", "web"), nullptr);
  EXPECT_EQ(a.store->GetService("default", "web")->slices.size(), 3u);
  AwaitRevision(*b.store, w->revision);
  ExpectSameService(a.store->GetService("default", "web"), b.store->GetService("default", "web"));
  EXPECT_EQ(b.store->GetService("default", "web")->mod_revision, w->revision);
  EXPECT_EQ(b.store->totals().endpoints, 25);

  // B continues from the state A wrote: its reconcile sees A's slices.
  absl::StatusOr<WriteResult> w2 = b.store->ApplyChanges({Remove("default", "web", Ip(0))});
  ASSERT_TRUE(w2.ok()) << w2.status();
  EXPECT_EQ(w2->stats.endpoints_removed(), 1);
  EXPECT_EQ(w2->stats.slices_updated(), 1);
  EXPECT_GT(w2->revision, w->revision);
  AwaitRevision(*a.store, w2->revision);
  ExpectSameService(a.store->GetService("default", "web"), b.store->GetService("default", "web"));

  // Deleting the service on A removes it everywhere.
  absl::StatusOr<WriteResult> d = a.store->DeleteService("default", "web");
  ASSERT_TRUE(d.ok()) << d.status();
  AwaitRevision(*b.store, d->revision);
  EXPECT_EQ(b.store->GetService("default", "web"), nullptr);
  EXPECT_EQ(b.store->totals().endpoints, 0);
  EXPECT_EQ(b.store->totals().services, 0);
}

TEST(ReplicatedStoreTest, ConcurrentWritersOnTwoReplicasLoseNoUpdate) {
  FakeLog log;
  Replica a(&log), b(&log);
  // Each writer owns a range of endpoints and flips them in and out; both write one service, so
  // their proposals conflict and must be retried on the newer state.
  constexpr int kPerWriter = 60, kBatches = 80;
  std::map<std::string, bool> expected[2];
  auto writer = [&](Store& store, int id) {
    absl::BitGen gen;
    for (int n = 0; n < kBatches; ++n) {
      std::vector<v1::EndpointChange> batch;
      std::map<std::string, bool> changes;
      for (int k = 0; k < 5; ++k) {
        const std::string ip = Ip(id * 1000 + absl::Uniform(gen, 0, kPerWriter));
        changes[ip] = absl::Bernoulli(gen, 0.6);
      }
      for (const auto& [ip, present] : changes) {
        batch.push_back(present ? Upsert("default", "web", ip) : Remove("default", "web", ip));
      }
      absl::StatusOr<WriteResult> r = store.ApplyChanges(batch);
      ASSERT_TRUE(r.ok()) << r.status();
      for (const auto& [ip, present] : changes) expected[id][ip] = present;
    }
  };
  std::thread ta(writer, std::ref(*a.store), 0);
  std::thread tb(writer, std::ref(*b.store), 1);
  ta.join();
  tb.join();
  EXPECT_GT(log.conflicts(), 0) << "the writers never raced: the test proved nothing";

  std::set<std::string> want;
  for (const auto& m : expected) {
    for (const auto& [ip, present] : m) {
      if (present) want.insert(ip);
    }
  }
  AwaitRevision(*a.store, log.revision());
  AwaitRevision(*b.store, log.revision());
  ServiceSnapshotPtr sa = a.store->GetService("default", "web");
  ServiceSnapshotPtr sb = b.store->GetService("default", "web");
  EXPECT_EQ(Addresses(sa), want);
  ExpectSameService(sa, sb);
  // The distribution is what a single store holds for these endpoints: every slice within the
  // limit, every endpoint once, and no more slices than a fresh reconcile would need plus the
  // slack Kubernetes' algorithm allows.
  ASSERT_NE(sa, nullptr);
  size_t total = 0;
  for (const SlicePtr& slice : sa->slices) {
    EXPECT_LE(slice->endpoints.size(), 10u);
    total += slice->endpoints.size();
  }
  EXPECT_EQ(total, want.size());
  EXPECT_EQ(a.store->totals().endpoints, static_cast<int64_t>(want.size()));
  EXPECT_EQ(b.store->totals().endpoints, static_cast<int64_t>(want.size()));

  // A third replica started now loads the same state.
  Replica c(&log);
  ExpectSameService(sa, c.store->GetService("default", "web"));
  EXPECT_EQ(c.store->revision(), log.revision());
}

TEST(ReplicatedStoreTest, ReplicasAgreeOnHistorySoAWatcherResumesOnAnyOfThem) {
  FakeLog log(/*gap=*/2);
  Replica a(&log), b(&log);
  int64_t first = 0;
  for (int i = 0; i < 20; ++i) {
    Store& s = i % 2 == 0 ? *a.store : *b.store;
    absl::StatusOr<WriteResult> r =
        s.ApplyChanges({Upsert("default", i % 3 == 0 ? "api" : "web", Ip(i))});
    ASSERT_TRUE(r.ok()) << r.status();
    if (i == 5) first = r->revision;
  }
  AwaitRevision(*a.store, log.revision());
  AwaitRevision(*b.store, log.revision());
  absl::StatusOr<std::vector<CommitPtr>> ha = a.store->ChangesSince(first);
  absl::StatusOr<std::vector<CommitPtr>> hb = b.store->ChangesSince(first);
  ASSERT_TRUE(ha.ok()) << ha.status();
  ASSERT_TRUE(hb.ok()) << hb.status();
  ASSERT_EQ(ha->size(), 14u);
  ASSERT_EQ(ha->size(), hb->size());
  for (size_t i = 0; i < ha->size(); ++i) {
    EXPECT_EQ((*ha)[i]->revision, (*hb)[i]->revision);
    ASSERT_EQ((*ha)[i]->services.size(), 1u);
    ExpectSameService((*ha)[i]->services[0].after, (*hb)[i]->services[0].after);
  }
  // A revision inside a gap resumes from the next commit.
  absl::StatusOr<std::vector<CommitPtr>> gap = b.store->ChangesSince(first + 1);
  ASSERT_TRUE(gap.ok());
  EXPECT_EQ(gap->size(), 14u);
  absl::StatusOr<std::vector<CommitPtr>> next = b.store->ChangesSince((*ha)[0]->revision);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->size(), 13u);
  // A replica started later has no history before its start: resuming there is OUT_OF_RANGE.
  Replica c(&log);
  EXPECT_THAT(c.store->ChangesSince(first), StatusIs(absl::StatusCode::kOutOfRange, ::testing::_));
  EXPECT_TRUE(c.store->ChangesSince(log.revision()).ok());
}

TEST(ReplicatedStoreTest, RecordsForeignSlicesAndNodesReplicate) {
  FakeLog log;
  Replica a(&log), b(&log);
  v1::ServiceRecord record;
  record.set_namespace_("default");
  record.set_name("web");
  (*record.mutable_labels())["app"] = "web";
  auto up = a.store->UpsertService(record);
  ASSERT_TRUE(up.ok()) << up.status();
  // The returned record carries the log's revision, like the stored one.
  EXPECT_EQ(up->first.resource_version(), absl::StrCat(up->second.revision));
  auto foreign = b.store->PutSlice(ForeignSlice("default", "web", "mirror-1", "10.9.9.9"));
  ASSERT_TRUE(foreign.ok()) << foreign.status();
  EXPECT_EQ(foreign->first->resource_version, foreign->second);
  v1::Node node;
  node.set_name("n1");
  node.set_zone("z1");
  node.set_cpu_millis(4000);
  node.set_ready(true);
  auto nodes = a.store->PutNodes({node});
  ASSERT_TRUE(nodes.ok()) << nodes.status();
  AwaitRevision(*b.store, *nodes);
  AwaitRevision(*a.store, *nodes);
  ExpectSameService(a.store->GetService("default", "web"), b.store->GetService("default", "web"));
  EXPECT_EQ(b.store->GetService("default", "web")->record->labels().at("app"), "web");
  ASSERT_EQ(b.store->Nodes().size(), 1u);
  EXPECT_EQ(b.store->Nodes()[0].zone(), "z1");
  // The foreign slice's name is taken on A too.
  EXPECT_THAT(a.store->PutSlice(ForeignSlice("default", "api", "mirror-1", "10.9.9.8")),
              StatusIs(absl::StatusCode::kFailedPrecondition, ::testing::_));
  auto del = a.store->DeleteSlice("default", "mirror-1");
  ASSERT_TRUE(del.ok()) << del.status();
  AwaitRevision(*b.store, *del);
  EXPECT_THAT(b.store->GetSlice("default", "mirror-1"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::_));
}

TEST(ReplicatedStoreTest, AnUnreachableLogFailsTheWriteAndAppliesNothing) {
  FakeLog log;
  Replica a(&log);
  a.storage.set_fail_proposals(true);
  EXPECT_THAT(a.store->ApplyChanges({Upsert("default", "web", Ip(1))}),
              StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(a.store->GetService("default", "web"), nullptr);
  EXPECT_EQ(log.revision(), 0);
  // Pipelined: the same answer, from the log's decision.
  AsyncWrite w;
  a.store->ApplyChangesAsync({Upsert("default", "web", Ip(1))}, w.callback());
  EXPECT_THAT(w.Wait(), StatusIs(absl::StatusCode::kUnavailable, ::testing::_));
  EXPECT_EQ(a.store->GetService("default", "web"), nullptr);
  EXPECT_EQ(log.revision(), 0);
  a.storage.set_fail_proposals(false);
  auto r = a.store->ApplyChanges({Upsert("default", "web", Ip(1))});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(EndpointCount(*a.store->GetService("default", "web")), 1);
}

// A StreamChanges stream over etcd: each batch is proposed without waiting for the log, so the
// next one is reconciled while it travels; a later batch of the same service waits until the
// earlier one is applied here, so it never conflicts with it.
TEST(ReplicatedStoreTest, PipelinedWritesReturnBeforeTheLogDecidesAndKeepEachServicesOrder) {
  FakeLog log;
  Replica a(&log);
  a.storage.set_hold_proposals(true);
  AsyncWrite web1, api, web2;
  a.store->ApplyChangesAsync({Upsert("default", "web", Ip(1))}, web1.callback());
  a.store->ApplyChangesAsync({Upsert("default", "api", Ip(2))}, api.callback());
  // Both returned with their proposals queued and undecided.
  a.storage.AwaitHeld(2);
  EXPECT_FALSE(web1.done.HasBeenNotified());
  EXPECT_FALSE(api.done.HasBeenNotified());
  EXPECT_EQ(log.revision(), 0);

  // The log decides whatever is queued, as etcd would, until all three writes are in.
  std::thread log_thread([&] {
    for (size_t decided = 0; decided < 3;) {
      a.storage.AwaitHeld(1);
      decided += a.storage.ReleaseHeld();
    }
  });
  // Blocks until web1 is applied here: reconciled before that, it would be refused (its guard
  // is web's revision before web1).
  a.store->ApplyChangesAsync({Upsert("default", "web", Ip(3))}, web2.callback());
  log_thread.join();

  absl::StatusOr<WriteResult> r1 = web1.Wait(), r2 = api.Wait(), r3 = web2.Wait();
  ASSERT_TRUE(r1.ok()) << r1.status();
  ASSERT_TRUE(r2.ok()) << r2.status();
  ASSERT_TRUE(r3.ok()) << r3.status();
  EXPECT_LT(r1->revision, r3->revision);
  EXPECT_EQ(r3->stats.endpoints_added(), 1);
  EXPECT_EQ(log.conflicts(), 0);
  EXPECT_EQ(log.revision(), 3);
  AwaitRevision(*a.store, r3->revision);
  EXPECT_EQ(Addresses(a.store->GetService("default", "web")),
            (std::set<std::string>{Ip(1), Ip(3)}));
  EXPECT_EQ(Addresses(a.store->GetService("default", "api")), std::set<std::string>{Ip(2)});
}

// Another replica writes the service while a pipelined write's proposal is queued: the log
// refuses it, and the write is done again on top of the other replica's, not lost.
TEST(ReplicatedStoreTest, APipelinedWriteRefusedByTheLogIsRetriedOnTopOfTheOtherReplicas) {
  FakeLog log;
  Replica a(&log), b(&log);
  auto first = a.store->ApplyChanges({Upsert("default", "web", Ip(1))});
  ASSERT_TRUE(first.ok()) << first.status();
  AwaitRevision(*b.store, first->revision);

  a.storage.set_hold_proposals(true);
  AsyncWrite w;
  a.store->ApplyChangesAsync({Upsert("default", "web", Ip(2))}, w.callback());
  a.storage.AwaitHeld(1);
  auto other = b.store->ApplyChanges({Upsert("default", "web", Ip(3))});
  ASSERT_TRUE(other.ok()) << other.status();
  a.storage.set_hold_proposals(false);
  ASSERT_EQ(a.storage.ReleaseHeld(), 1u);

  absl::StatusOr<WriteResult> r = w.Wait();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->revision, other->revision);
  EXPECT_EQ(r->stats.endpoints_added(), 1);
  EXPECT_EQ(log.conflicts(), 1);
  const std::set<std::string> all{Ip(1), Ip(2), Ip(3)};
  AwaitRevision(*a.store, r->revision);
  AwaitRevision(*b.store, r->revision);
  EXPECT_EQ(Addresses(a.store->GetService("default", "web")), all);
  EXPECT_EQ(Addresses(b.store->GetService("default", "web")), all);
}

// A replica follows each commit of the log by the slices it wrote (not by rebuilding the service's
// state), and its own writes reconcile on that state: after 150 one-endpoint commits on A into a
// 200-endpoint service, re-sending B every endpoint as it is changes nothing (B's state knows
// each one where it is), and B's removals land exactly.
TEST(ReplicatedStoreTest, AReplicaFollowsSmallCommitsAndReconcilesOnTopOfThem) {
  FakeLog log;
  Replica a(&log), b(&log);
  std::map<std::string, bool> want;  // ip -> ready
  std::vector<v1::EndpointChange> fill;
  for (int i = 0; i < 200; ++i) {
    fill.push_back(Upsert("default", "web", Ip(i)));
    want[Ip(i)] = true;
  }
  ASSERT_TRUE(a.store->ApplyChanges(fill).ok());
  absl::BitGen gen;
  int64_t last = 0;
  for (int n = 0; n < 150; ++n) {
    const std::string ip = Ip(absl::Uniform(gen, 0, 260));
    v1::EndpointChange change;
    if (want.contains(ip) && absl::Bernoulli(gen, 0.3)) {
      change = Remove("default", "web", ip);
      want.erase(ip);
    } else {
      const bool ready = want.contains(ip) ? !want[ip] : true;
      change = Upsert("default", "web", ip, ready);
      want[ip] = ready;
    }
    auto r = a.store->ApplyChanges({change});
    ASSERT_TRUE(r.ok()) << r.status();
    last = r->revision;
  }
  AwaitRevision(*b.store, last);

  std::vector<v1::EndpointChange> same;
  for (const auto& [ip, ready] : want) same.push_back(Upsert("default", "web", ip, ready));
  auto unchanged = b.store->ApplyChanges(same);
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->stats.endpoints_added(), 0);
  EXPECT_EQ(unchanged->stats.endpoints_updated(), 0);
  EXPECT_EQ(unchanged->stats.endpoints_removed(), 0);

  std::vector<v1::EndpointChange> removals;
  for (auto it = want.begin(); it != want.end() && removals.size() < 50;) {
    removals.push_back(Remove("default", "web", it->first));
    it = want.erase(it);
  }
  auto removed = b.store->ApplyChanges(removals);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->stats.endpoints_removed(), 50);
  AwaitRevision(*a.store, removed->revision);
  std::set<std::string> addresses;
  for (const auto& [ip, ready] : want) addresses.insert(ip);
  EXPECT_EQ(Addresses(b.store->GetService("default", "web")), addresses);
  ExpectSameService(a.store->GetService("default", "web"), b.store->GetService("default", "web"));
}

}  // namespace
}  // namespace slicekeeper::store
