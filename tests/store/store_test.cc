#include "server/store/store.h"

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/internal/sequencer.h"
#include "tests/fakes/fake_clock.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::store {
namespace {

using ::slicekeeper::testing::FakeClock;
using ::slicekeeper::testing::IsOkAndHolds;
using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::SizeIs;
using namespace ::slicekeeper::store::testing;  // NOLINT: test builders

class StoreTest : public ::testing::Test {
 protected:
  Store::Options Opts(int max_per_slice = 100) {
    Store::Options o;
    o.clock = &clock_;
    o.reconcile.max_endpoints_per_slice = max_per_slice;
    return o;
  }
  absl::StatusOr<WriteResult> Apply(Store& s, std::vector<v1::EndpointChange> changes) {
    return s.ApplyChanges(changes);
  }
  FakeClock clock_;
};

// A first write creates the service (record, uid) and one managed slice named <svc>-<5 chars>.
TEST_F(StoreTest, SingleServiceWriteIsReadable) {
  Store store(Opts());
  absl::StatusOr<WriteResult> r = Apply(
      store, {Upsert("ns", "web", Ip(1)), Upsert("ns", "web", Ip(2)), Upsert("ns", "web", Ip(3))});
  ASSERT_OK(r);
  EXPECT_EQ(r->revision, 1);
  EXPECT_EQ(r->stats.endpoints_added(), 3);
  EXPECT_EQ(r->stats.slices_created(), 1);
  EXPECT_EQ(store.revision(), 1);

  ServiceSnapshotPtr s = store.GetService("ns", "web");
  ASSERT_NE(s, nullptr);
  ASSERT_NE(s->record, nullptr);
  EXPECT_THAT(s->record->uid(),
              MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
  EXPECT_EQ(s->record->creation_timestamp(), FormatRfc3339(clock_.Now()));
  ASSERT_THAT(s->slices, SizeIs(1));
  const SlicePtr& slice = s->slices[0];
  EXPECT_THAT(slice->name, MatchesRegex("web-[a-z0-9]{5}"));
  EXPECT_TRUE(slice->Managed());
  EXPECT_EQ(slice->endpoints.size(), 3u);
  EXPECT_EQ(slice->creation_timestamp, FormatRfc3339(clock_.Now()));
  EXPECT_EQ(slice->meta->annotations().at(kAnnotationTriggerTime), FormatRfc3339Nano(clock_.Now()));
  EXPECT_THAT(store.GetSlice("ns", slice->name), IsOkAndHolds(::testing::Pair(slice, 1)));
  EXPECT_THAT(store.GetSlice("ns", "web-zzzzz"),
              StatusIs(absl::StatusCode::kNotFound, ::testing::HasSubstr("ns/web-zzzzz")));
  EXPECT_EQ(store.GetService("ns", "other"), nullptr);
  Totals t = store.totals();
  EXPECT_EQ(t.services, 1);
  EXPECT_EQ(t.slices, 1);
  EXPECT_EQ(t.endpoints, 3);
  EXPECT_EQ(t.desired_slices, 1);
}

// Every slice version carries the revision of the commit that wrote it.
TEST_F(StoreTest, ResourceVersionIsCommitRevision) {
  Store store(Opts(/*max_per_slice=*/2));
  ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(1)), Upsert("ns", "web", Ip(2))}));
  absl::StatusOr<WriteResult> r = Apply(store, {Upsert("ns", "web", Ip(3))});
  ASSERT_OK(r);
  ServiceSnapshotPtr s = store.GetService("ns", "web");
  ASSERT_THAT(s->slices, SizeIs(2));
  EXPECT_EQ(s->mod_revision, r->revision);
  std::vector<int64_t> rvs;
  for (const SlicePtr& slice : s->slices) {
    rvs.push_back(slice->resource_version);
    EXPECT_EQ(slice->ToProto().metadata().resource_version(),
              std::to_string(slice->resource_version));
  }
  std::sort(rvs.begin(), rvs.end());
  EXPECT_THAT(rvs, ElementsAre(1, 2));
  EXPECT_EQ(s->record->resource_version(), "1");
}

// Revisions returned by successive writes strictly increase, by one per commit.
TEST_F(StoreTest, RevisionStrictlyIncreasing) {
  Store store(Opts());
  int64_t last = store.revision();
  EXPECT_EQ(last, 0);
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<WriteResult> r = Apply(store, {Upsert("ns", i % 2 ? "a" : "b", Ip(i))});
    ASSERT_OK(r);
    EXPECT_EQ(r->revision, last + 1);
    last = r->revision;
  }
  EXPECT_EQ(store.revision(), last);
}

// A write that changes nothing takes no revision and reports the current one.
TEST_F(StoreTest, NoOpWriteTakesNoRevision) {
  Store store(Opts());
  ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(1))}));
  absl::StatusOr<WriteResult> again = Apply(store, {Upsert("ns", "web", Ip(1))});
  ASSERT_OK(again);
  EXPECT_EQ(again->revision, 1);
  EXPECT_EQ(again->stats.slices_updated(), 0);
  absl::StatusOr<WriteResult> empty = Apply(store, {});
  ASSERT_OK(empty);
  EXPECT_EQ(empty->revision, 1);
  EXPECT_EQ(store.revision(), 1);
  EXPECT_THAT(store.ChangesSince(1), IsOkAndHolds(IsEmpty()));
}

// An invalid change anywhere in a batch (here the last of 1000) applies nothing.
TEST_F(StoreTest, InvalidBatchAppliesNothing) {
  Store store(Opts());
  std::vector<v1::EndpointChange> batch;
  for (int i = 0; i < 999; ++i) batch.push_back(Upsert("ns", i % 2 ? "a" : "b", Ip(i)));
  batch.push_back(Upsert("ns", "a", "10.0.0.300"));
  EXPECT_THAT(Apply(store, batch),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("changes[999]")));
  EXPECT_EQ(store.revision(), 0);
  EXPECT_EQ(store.GetService("ns", "a"), nullptr);
  EXPECT_EQ(store.GetService("ns", "b"), nullptr);
  EXPECT_EQ(store.totals().services, 0);
  EXPECT_THAT(store.Snapshot()->services, IsEmpty());

  // Against existing state: the valid first change is not applied either.
  ASSERT_OK(Apply(store, {Upsert("ns", "a", Ip(1))}));
  EXPECT_THAT(Apply(store, {Upsert("ns", "a", Ip(2)), Upsert("NS!", "a", Ip(3))}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("changes[1]")));
  EXPECT_EQ(store.revision(), 1);
  EXPECT_EQ(EndpointCount(*store.GetService("ns", "a")), 1);
}

// The pipelined path takes the batch it is given: every violation is reported, nothing is
// applied, and a valid batch's endpoints arrive whole (moved, not copied).
TEST_F(StoreTest, AsyncBatchIsValidatedWholeAndTaken) {
  Store store(Opts());
  absl::StatusOr<WriteResult> got = absl::UnknownError("no callback");
  store.ApplyChangesAsync({Upsert("ns", "a", Ip(1)), Upsert("ns", "a", "10.0.0.300"),
                           Upsert("ns", "a", Ip(2)), Upsert("NS!", "a", Ip(3))},
                          [&](absl::StatusOr<WriteResult> r) { got = std::move(r); });
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("changes[1]")));
  EXPECT_THAT(got.status().message(), HasSubstr("changes[3].namespace"));
  EXPECT_THAT(got.status().message(), ::testing::Not(HasSubstr("changes[0]")));
  EXPECT_EQ(store.revision(), 0);
  EXPECT_EQ(store.GetService("ns", "a"), nullptr);

  std::vector<v1::EndpointChange> batch = {Upsert("ns", "a", Ip(1)), Upsert("ns", "b", Ip(2)),
                                           Upsert("ns", "a", Ip(3))};
  batch[0].mutable_endpoint()->set_hostname("pod-1");
  store.ApplyChangesAsync(std::move(batch),
                          [&](absl::StatusOr<WriteResult> r) { got = std::move(r); });
  ASSERT_OK(got);
  EXPECT_EQ(got->revision, 1);
  EXPECT_EQ(EndpointCount(*store.GetService("ns", "a")), 2);
  EXPECT_EQ(EndpointCount(*store.GetService("ns", "b")), 1);
  bool found = false;
  for (const SlicePtr& slice : store.GetService("ns", "a")->slices) {
    for (const EndpointPtr& e : slice->endpoints) {
      if (e->addresses(0) == Ip(1)) {
        found = true;
        EXPECT_EQ(e->hostname(), "pod-1");
      }
    }
  }
  EXPECT_TRUE(found);
}

// One batch over two services commits both at one revision, in one commit.
TEST_F(StoreTest, BatchAcrossServicesIsAtomic) {
  Store store(Opts());
  RecordingListener listener;
  store.SnapshotAndListen("", &listener);
  absl::StatusOr<WriteResult> r = Apply(
      store, {Upsert("ns", "a", Ip(1)), Upsert("other", "b", Ip(2)), Upsert("ns", "a", Ip(3))});
  ASSERT_OK(r);
  EXPECT_EQ(r->revision, 1);
  EXPECT_EQ(store.GetService("ns", "a")->mod_revision, 1);
  EXPECT_EQ(store.GetService("other", "b")->mod_revision, 1);
  EXPECT_EQ(EndpointCount(*store.GetService("ns", "a")), 2);
  std::vector<CommitPtr> commits = listener.commits();
  ASSERT_THAT(commits, SizeIs(1));
  ASSERT_THAT(commits[0]->services, SizeIs(2));
  EXPECT_EQ(commits[0]->services[0].after->name, "a");
  EXPECT_EQ(commits[0]->services[1].after->name, "b");
  store.RemoveListener(&listener);
}

// 10^6 changes in one batch work; duplicates of one identity collapse, the last one winning.
// (A fifth of that under sanitizers, whose allocator makes a million protos slow; the code path is
// the same.)
TEST_F(StoreTest, MillionChangeBatch) {
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER)
  constexpr int kChanges = 200'000;
#else
  constexpr int kChanges = 1'000'000;
#endif
  Store store(Opts());
  std::vector<v1::EndpointChange> batch;
  batch.reserve(kChanges);
  for (int i = 0; i < kChanges; ++i) batch.push_back(Upsert("ns", "big", Ip(i)));
  absl::StatusOr<WriteResult> r = Apply(store, batch);
  ASSERT_OK(r);
  EXPECT_EQ(r->stats.endpoints_added(), kChanges);
  EXPECT_EQ(store.totals().endpoints, kChanges);
  EXPECT_EQ(store.GetService("ns", "big")->slices.size(), static_cast<size_t>(kChanges / 100));

  for (int i = 0; i < kChanges; ++i) batch[i] = Upsert("ns", "dup", Ip(7), /*ready=*/i % 2 == 1);
  ASSERT_OK(Apply(store, batch));
  ServiceSnapshotPtr dup = store.GetService("ns", "dup");
  ASSERT_THAT(dup->slices, SizeIs(1));
  ASSERT_THAT(dup->slices[0]->endpoints, SizeIs(1));
  EXPECT_TRUE(dup->slices[0]->endpoints[0]->conditions().ready());
}

// A write copies the service's slice vector but shares every slice it did not change.
TEST_F(StoreTest, UnchangedSlicesAreShared) {
  Store store(Opts(/*max_per_slice=*/2));
  ASSERT_OK(Apply(
      store, {Upsert("ns", "web", Ip(1)), Upsert("ns", "web", Ip(2)), Upsert("ns", "web", Ip(3)),
              Upsert("ns", "web", Ip(4)), Upsert("ns", "web", Ip(5)), Upsert("ns", "web", Ip(6))}));
  ServiceSnapshotPtr before = store.GetService("ns", "web");
  ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(4), /*ready=*/false)}));
  ServiceSnapshotPtr after = store.GetService("ns", "web");
  ASSERT_THAT(after->slices, SizeIs(3));
  int shared = 0;
  for (size_t i = 0; i < 3; ++i) shared += before->slices[i] == after->slices[i];
  EXPECT_EQ(shared, 2);
  EXPECT_TRUE(
      std::is_sorted(after->slices.begin(), after->slices.end(),
                     [](const SlicePtr& a, const SlicePtr& b) { return a->name < b->name; }));
}

// Changes are visible in order through ChangesSince; compacted revisions are OUT_OF_RANGE.
TEST_F(StoreTest, HistoryAndOutOfRange) {
  Store::Options o = Opts();
  o.history_size = 5;
  Store store(o);
  for (int i = 0; i < 10; ++i) ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(i))}));
  absl::StatusOr<std::vector<CommitPtr>> since = store.ChangesSince(5);
  ASSERT_OK(since);
  ASSERT_THAT(*since, SizeIs(5));
  for (int i = 0; i < 5; ++i) EXPECT_EQ((*since)[i]->revision, 6 + i);
  EXPECT_THAT(store.ChangesSince(8), IsOkAndHolds(SizeIs(2)));
  EXPECT_THAT(store.ChangesSince(10), IsOkAndHolds(IsEmpty()));
  EXPECT_THAT(store.ChangesSince(4), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("4")));
  EXPECT_THAT(store.ChangesSince(0), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("6")));
}

// The history window is bounded by the bytes of its records, which hold what each commit changed:
// an endpoint flip in a 100-endpoint slice costs about one endpoint (not the slice), replacing all
// 100 endpoints about 100; the oldest commits go when the total passes history_bytes, and the
// newest always stays.
TEST_F(StoreTest, HistoryBoundedByRecordBytes) {
  constexpr int64_t kLimit = 32 << 10;
  Store::Options o = Opts();
  o.history_size = 1'000'000;
  o.history_bytes = kLimit;
  Store store(o);
  std::vector<v1::EndpointChange> fill;
  for (int i = 0; i < 100; ++i) fill.push_back(Upsert("ns", "web", Ip(i)));
  ASSERT_OK(Apply(store, fill));  // revision 1: creates the slice
  const int64_t filled = store.history_usage().second;
  for (int i = 0; i < 20; ++i) ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(i), false)}));
  auto [commits, bytes] = store.history_usage();
  EXPECT_EQ(commits, 21);
  const int64_t flip = (bytes - filled) / 20;
  EXPECT_LT(flip, 400) << "a flip's record holds one endpoint, not its 100-endpoint slice";
  EXPECT_THAT(store.ChangesSince(0), IsOkAndHolds(SizeIs(21)));

  // Replacing every endpoint stores the 100 old ones: after a few, the oldest commits are
  // dropped and resuming from them is OUT_OF_RANGE.
  int64_t revision = 0;
  for (int round = 1; round <= 8; ++round) {
    std::vector<v1::EndpointChange> churn;
    for (int i = 0; i < 100; ++i) churn.push_back(Upsert("ns", "web", Ip(round * 1000 + i)));
    for (int i = 0; i < 100; ++i) churn.push_back(Remove("ns", "web", Ip((round - 1) * 1000 + i)));
    const int64_t before = store.history_usage().second;
    absl::StatusOr<WriteResult> r = Apply(store, churn);
    ASSERT_OK(r);
    // 100 endpoints of ~40 bytes against one, and the fixed part of a record once.
    if (round == 1) {
      EXPECT_GT(store.history_usage().second - before, 20 * flip);
    }
    revision = r->revision;
  }
  std::tie(commits, bytes) = store.history_usage();
  EXPECT_LE(bytes, kLimit);
  EXPECT_LT(commits, 29);
  EXPECT_GE(commits, 1);
  EXPECT_THAT(store.ChangesSince(0), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("0")));
  EXPECT_THAT(store.ChangesSince(revision - 1), IsOkAndHolds(SizeIs(1)));

  // With no byte bound left, only the newest commit stays.
  Store::Options tiny = Opts();
  tiny.history_bytes = 0;
  Store small(tiny);
  ASSERT_OK(Apply(small, fill));
  absl::StatusOr<WriteResult> last = Apply(small, {Upsert("ns", "web", Ip(0), false)});
  ASSERT_OK(last);
  EXPECT_EQ(small.history_usage().first, 1);
  EXPECT_THAT(small.ChangesSince(last->revision - 1), IsOkAndHolds(SizeIs(1)));
}

// A listener sees every commit in order, each `before` being the previous `after`.
TEST_F(StoreTest, ListenerSeesCommitsInOrder) {
  Store store(Opts());
  RecordingListener listener;
  CatalogPtr start = store.SnapshotAndListen("", &listener);
  EXPECT_EQ(start->revision, 0);
  ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(1))}));
  ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(2))}));
  ASSERT_OK(store.DeleteService("ns", "web"));
  store.RemoveListener(&listener);
  ASSERT_OK(Apply(store, {Upsert("ns", "web", Ip(3))}));

  std::vector<CommitPtr> commits = listener.commits();
  ASSERT_THAT(commits, SizeIs(3));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(commits[i]->revision, i + 1);
    ASSERT_THAT(commits[i]->services, SizeIs(1));
  }
  EXPECT_EQ(commits[0]->services[0].before, nullptr);
  EXPECT_EQ(EndpointCount(*commits[0]->services[0].after), 1);
  EXPECT_EQ(commits[1]->services[0].before, commits[0]->services[0].after);
  EXPECT_EQ(EndpointCount(*commits[1]->services[0].after), 2);
  EXPECT_EQ(commits[2]->services[0].before, commits[1]->services[0].after);
  EXPECT_EQ(commits[2]->services[0].after, nullptr);
}

// Snapshot lists every published service sorted, filtered by namespace, at one revision.
TEST_F(StoreTest, SnapshotIsSortedAndConsistent) {
  Store store(Opts());
  ASSERT_OK(Apply(store, {Upsert("b", "x", Ip(1)), Upsert("a-b", "y", Ip(2))}));
  ASSERT_OK(Apply(store, {Upsert("a", "z", Ip(3)), Upsert("a", "c", Ip(4))}));
  CatalogPtr all = store.Snapshot();
  EXPECT_EQ(all->revision, 2);
  std::vector<std::string> names;
  for (const ServiceSnapshotPtr& s : all->services) {
    names.push_back(s->namespace_ + "/" + s->name);
    EXPECT_LE(s->mod_revision, all->revision);
  }
  EXPECT_THAT(names, ElementsAre("a/c", "a/z", "a-b/y", "b/x"));
  CatalogPtr a = store.Snapshot("a");
  ASSERT_THAT(a->services, SizeIs(2));
  EXPECT_EQ(a->services[0]->name, "c");
}

}  // namespace
}  // namespace slicekeeper::store
