#include "common/endpoint_list.h"

#include <algorithm>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slicekeeper {
namespace {

using ::testing::ElementsAreArray;

RecordPtr Make(int i) {
  v1::Endpoint e;
  e.add_addresses(absl::StrCat("10.0.", i / 256, ".", i % 256));
  e.mutable_conditions()->set_ready(true);
  return EndpointRecord::FromProto(e);
}

std::vector<RecordPtr> MakeMany(int n, int first = 0) {
  std::vector<RecordPtr> out;
  for (int i = 0; i < n; ++i) out.push_back(Make(first + i));
  return out;
}

std::vector<const EndpointRecord*> Pointers(const EndpointList& list) {
  std::vector<const EndpointRecord*> out;
  for (const RecordPtr& e : list) out.push_back(e.get());
  return out;
}
std::vector<const EndpointRecord*> Pointers(const std::vector<RecordPtr>& list) {
  std::vector<const EndpointRecord*> out;
  for (const RecordPtr& e : list) out.push_back(e.get());
  return out;
}

// Runs of `list` that are the same objects as some run of `old`.
int SharedRuns(const EndpointList& list, const EndpointList& old) {
  int shared = 0;
  for (size_t i = 0; i < list.run_count(); ++i) {
    for (size_t j = 0; j < old.run_count(); ++j) shared += list.SharesRun(i, old, j) ? 1 : 0;
  }
  return shared;
}

TEST(EndpointListTest, ReadsLikeTheVectorItWasBuiltFrom) {
  for (int n : {0, 1, 15, 16, 17, 40, 100}) {
    SCOPED_TRACE(n);
    const std::vector<RecordPtr> v = MakeMany(n);
    const EndpointList list(v);
    EXPECT_EQ(list.size(), v.size());
    EXPECT_EQ(list.empty(), v.empty());
    EXPECT_THAT(Pointers(list), ElementsAreArray(Pointers(v)));
    EXPECT_THAT(Pointers(list.ToVector()), ElementsAreArray(Pointers(v)));
    EXPECT_THAT(list.Records(), ElementsAreArray(Pointers(v)));
    // AppendBorrowed appends behind what the vectors hold, every pointer borrowed.
    std::vector<RecordPtr> borrowed = {Make(999)};
    std::vector<const EndpointRecord*> records = {nullptr};
    list.AppendBorrowed(borrowed, records);
    ASSERT_EQ(borrowed.size(), v.size() + 1);
    ASSERT_EQ(records.size(), v.size() + 1);
    EXPECT_FALSE(borrowed[0].borrowed());
    for (int i = 0; i < n; ++i) {
      EXPECT_TRUE(borrowed[i + 1].borrowed());
      EXPECT_EQ(borrowed[i + 1].get(), v[i].get());
      EXPECT_EQ(records[i + 1], v[i].get());
    }
    for (int i = 0; i < n; ++i) EXPECT_EQ(list[i].get(), v[i].get());
    if (n > 0) {
      EXPECT_EQ(list.front().get(), v.front().get());
      EXPECT_EQ(list.back().get(), v.back().get());
    }
    EXPECT_EQ(list.run_count(),
              (v.size() + EndpointList::kRunCapacity - 1) / EndpointList::kRunCapacity);
  }
}

TEST(EndpointListTest, ChangingACopyLeavesTheOriginalAlone) {
  const std::vector<RecordPtr> v = MakeMany(40);
  const EndpointList original(v);
  EndpointList copy = original;
  EXPECT_EQ(SharedRuns(copy, original), 3);
  copy.Set(20, Make(1000));
  copy.erase(0);
  copy.push_back(Make(1001));  // the last run is shared: a new run
  EXPECT_THAT(Pointers(original), ElementsAreArray(Pointers(v)));
  std::vector<const EndpointRecord*> want = Pointers(v);
  want.erase(want.begin());
  ASSERT_EQ(copy.size(), 40u);
  EXPECT_EQ(copy[19]->addresses(0), "10.0.3.232");  // Make(1000), shifted by the erase
  EXPECT_EQ(copy.back()->addresses(0), "10.0.3.233");
  want[19] = copy[19].get();
  want.push_back(copy.back().get());
  EXPECT_THAT(Pointers(copy), ElementsAreArray(want));
  // The run no edit changed is still shared.
  EXPECT_EQ(SharedRuns(copy, original), 1);
  copy.pop_back();
  copy.pop_back();
  EXPECT_EQ(copy.size(), 38u);
  EXPECT_EQ(copy.back().get(), v[38].get());
  EXPECT_THAT(Pointers(original), ElementsAreArray(Pointers(v)));
}

TEST(EndpointListTest, RebuildSharesTheRunsItKeepsWhole) {
  const EndpointList old(MakeMany(100));  // runs of 16: six full, then 4
  std::vector<RecordPtr> next = old.Borrowed();
  next[50] = Make(500);  // breaks the run of 48..63
  const std::vector<const EndpointRecord*> want = Pointers(next);
  const EndpointList rebuilt = EndpointList::Rebuild(old, std::move(next));
  EXPECT_THAT(Pointers(rebuilt), ElementsAreArray(want));
  // Runs 0-2, 4-5 and the short last one (nothing follows it) are shared; the broken run is
  // copied.
  EXPECT_EQ(SharedRuns(rebuilt, old), 6);
  EXPECT_EQ(rebuilt.run_count(), 7u);
  // Patch and Rebuild follow one rule: the same edit gives the same runs.
  std::vector<RecordPtr> fresh = {rebuilt[50]};
  const EndpointList patched = EndpointList::Patch(old, {{50, false}}, std::move(fresh));
  ASSERT_EQ(patched.run_count(), rebuilt.run_count());
  for (size_t i = 0; i < patched.run_count(); ++i) {
    EXPECT_EQ(patched.SharesRun(i, old, i), rebuilt.SharesRun(i, old, i)) << i;
  }
  // A short last run is merged with the endpoints appended after it.
  const EndpointList tail(MakeMany(20));  // runs of 16 and 4
  std::vector<RecordPtr> more = tail.Borrowed();
  more.push_back(Make(800));
  const EndpointList appended = EndpointList::Rebuild(tail, std::move(more));
  EXPECT_EQ(SharedRuns(appended, tail), 1);
  EXPECT_EQ(appended.run_count(), 2u);
}

TEST(EndpointListTest, RebuildFollowsDropsAndAppends) {
  const EndpointList old(MakeMany(64));
  std::vector<RecordPtr> next = old.Borrowed();
  next.erase(next.begin() + 17);  // breaks run 1
  next.erase(next.begin());       // breaks run 0
  next.push_back(Make(700));
  const std::vector<const EndpointRecord*> want = Pointers(next);
  const EndpointList rebuilt = EndpointList::Rebuild(old, std::move(next));
  EXPECT_THAT(Pointers(rebuilt), ElementsAreArray(want));
  EXPECT_EQ(SharedRuns(rebuilt, old), 2);  // runs 2 and 3
}

TEST(EndpointListTest, RebuildOfAReorderedListIsCorrect) {
  const EndpointList old(MakeMany(50));
  std::vector<RecordPtr> next = old.Borrowed();
  std::reverse(next.begin(), next.end());
  const std::vector<const EndpointRecord*> want = Pointers(next);
  const EndpointList rebuilt = EndpointList::Rebuild(old, std::move(next));
  EXPECT_THAT(Pointers(rebuilt), ElementsAreArray(want));
  EXPECT_EQ(SharedRuns(rebuilt, old), 0);
}

// The rebuilt list owns its endpoints: it outlives the old list and the borrowed input (ASan
// reports a use after free otherwise).
TEST(EndpointListTest, RebuildOwnsBorrowedEndpoints) {
  auto old = std::make_unique<EndpointList>(MakeMany(40));
  std::vector<RecordPtr> next = old->Borrowed();
  ASSERT_TRUE(next[0].borrowed());
  next.erase(next.begin() + 3);
  EndpointList rebuilt = EndpointList::Rebuild(*old, std::move(next));
  old.reset();
  ASSERT_EQ(rebuilt.size(), 39u);
  EXPECT_EQ(rebuilt[3]->addresses(0), "10.0.0.4");
  EXPECT_EQ(rebuilt[38]->addresses(0), "10.0.0.39");
  for (const RecordPtr& e : rebuilt) EXPECT_FALSE(e.borrowed());
}

// Under ASan (the CI build), a borrowed pointer that released a reference, or an Own() that took
// none, shows as a use after free or a double free below.
TEST(EndpointListTest, BorrowedPointersTakeNoReference) {
  RecordPtr owner = Make(1);
  RecordPtr borrowed = RecordPtr::Borrow(owner);
  EXPECT_TRUE(borrowed.borrowed());
  EXPECT_EQ(borrowed, owner);
  RecordPtr copy = borrowed;  // a copy of a borrowed pointer is borrowed
  EXPECT_TRUE(copy.borrowed());
  copy.Own();
  EXPECT_FALSE(copy.borrowed());
  borrowed = nullptr;
  owner = nullptr;
  EXPECT_EQ(copy->addresses(0), "10.0.0.1");  // `copy` holds the only reference now
  EXPECT_FALSE(RecordPtr::Borrow(RecordPtr()));
}

// Many rewrites of a few edits each keep the runs few: small runs are merged back.
TEST(EndpointListTest, RebuildDoesNotFrayOverManyRewrites) {
  std::mt19937 rng(3);
  EndpointList list(MakeMany(100));
  int next_id = 100;
  for (int round = 0; round < 2000; ++round) {
    std::vector<RecordPtr> next = list.Borrowed();
    for (int edits = 1 + static_cast<int>(rng() % 2); edits > 0; --edits) {
      const size_t at = rng() % next.size();
      switch (rng() % 3) {
        case 0:
          next[at] = Make(next_id++);
          break;
        case 1:
          next.erase(next.begin() + static_cast<ptrdiff_t>(at));
          next.push_back(Make(next_id++));
          break;
        default:
          next.erase(next.begin() + static_cast<ptrdiff_t>(at));
          next.insert(next.begin() + static_cast<ptrdiff_t>(rng() % next.size()), Make(next_id++));
      }
    }
    const std::vector<const EndpointRecord*> want = Pointers(next);
    list = EndpointList::Rebuild(list, std::move(next));
    ASSERT_THAT(Pointers(list), ElementsAreArray(want));
  }
  EXPECT_EQ(list.size(), 100u);
  // 100 endpoints fit in 7 full runs; runs of 8 or more would be 13.
  EXPECT_LE(list.run_count(), 13u);
}

// `list` as a vector with `changes` applied and the rest of `fresh` appended (Patch's contract).
std::vector<const EndpointRecord*> Patched(const EndpointList& list,
                                           const std::vector<EndpointList::Change>& changes,
                                           const std::vector<RecordPtr>& fresh) {
  std::vector<const EndpointRecord*> out;
  size_t c = 0, f = 0, pos = 0;
  for (const RecordPtr& e : list) {
    if (c < changes.size() && changes[c].pos == pos) {
      if (!changes[c].remove) out.push_back(fresh[f++].get());
      ++c;
    } else {
      out.push_back(e.get());
    }
    ++pos;
  }
  for (; f < fresh.size(); ++f) out.push_back(fresh[f].get());
  return out;
}

TEST(EndpointListTest, IndexOfFindsRecordsAcrossRuns) {
  const std::vector<RecordPtr> v = MakeMany(40);
  const EndpointList list(v);
  for (size_t i : {0, 15, 16, 31, 39}) EXPECT_EQ(list.IndexOf(v[i].get()), i);
  const RecordPtr other = Make(100);
  EXPECT_EQ(list.IndexOf(other.get()), 40u);
  EXPECT_EQ(EndpointList().IndexOf(other.get()), 0u);
}

TEST(EndpointListTest, PatchSharesEveryRunNoChangeFallsIn) {
  const EndpointList old(MakeMany(100));  // runs of 16: six full, then 4
  std::vector<RecordPtr> fresh = {Make(500)};
  const std::vector<EndpointList::Change> changes = {{50, false}};  // in the run of 48..63
  const std::vector<const EndpointRecord*> want = Patched(old, changes, fresh);
  const EndpointList patched = EndpointList::Patch(old, changes, std::move(fresh));
  EXPECT_THAT(Pointers(patched), ElementsAreArray(want));
  EXPECT_EQ(patched.size(), 100u);
  // Runs 0-2, 4-5 and the short last one (nothing is appended to it) are shared.
  EXPECT_EQ(SharedRuns(patched, old), 6);
  EXPECT_EQ(patched.run_count(), 7u);
}

TEST(EndpointListTest, PatchDropsReplacesAndAppends) {
  const EndpointList old(MakeMany(64));
  std::vector<RecordPtr> fresh = {Make(700), Make(701), Make(702)};
  // Drops in runs 0 and 1, a replacement in run 2, then two appended: run 3 alone is shared.
  const std::vector<EndpointList::Change> changes = {{0, true}, {17, true}, {40, false}};
  const std::vector<const EndpointRecord*> want = Patched(old, changes, fresh);
  const EndpointList patched = EndpointList::Patch(old, changes, std::move(fresh));
  EXPECT_THAT(Pointers(patched), ElementsAreArray(want));
  EXPECT_EQ(patched.size(), 64u);
  EXPECT_EQ(SharedRuns(patched, old), 1);
  // A short last run is merged with what is appended to it.
  const EndpointList tail(MakeMany(20));  // runs of 16 and 4
  std::vector<RecordPtr> more = {Make(800)};
  const std::vector<const EndpointRecord*> want_tail = Patched(tail, {}, more);
  const EndpointList appended = EndpointList::Patch(tail, {}, std::move(more));
  EXPECT_THAT(Pointers(appended), ElementsAreArray(want_tail));
  EXPECT_EQ(SharedRuns(appended, tail), 1);
  EXPECT_EQ(appended.run_count(), 2u);
}

// The patched list owns its endpoints, the ones it copies and the fresh ones, even when those
// were handed in borrowed: it outlives both inputs (ASan reports a use after free otherwise).
TEST(EndpointListTest, PatchOwnsWhatItKeeps) {
  auto old = std::make_unique<EndpointList>(MakeMany(40));
  auto source = std::make_unique<EndpointList>(MakeMany(2, 100));
  std::vector<RecordPtr> fresh = source->Borrowed();
  EndpointList patched = EndpointList::Patch(*old, {{3, true}, {20, false}}, std::move(fresh));
  old.reset();
  source.reset();
  ASSERT_EQ(patched.size(), 40u);
  EXPECT_EQ(patched[3]->addresses(0), "10.0.0.4");
  EXPECT_EQ(patched[19]->addresses(0), "10.0.0.100");
  EXPECT_EQ(patched[39]->addresses(0), "10.0.0.101");
  for (const RecordPtr& e : patched) EXPECT_FALSE(e.borrowed());
}

// The reconciler's churn (replacements, drops, appends), patched 2000 times: the list matches a
// plain vector throughout and its runs stay few.
TEST(EndpointListTest, PatchDoesNotFrayOverManyRewrites) {
  std::mt19937 rng(5);
  EndpointList list(MakeMany(100));
  int next_id = 100;
  for (int round = 0; round < 2000; ++round) {
    std::vector<size_t> at;
    for (int edits = 1 + static_cast<int>(rng() % 3); edits > 0; --edits) {
      at.push_back(rng() % list.size());
    }
    std::sort(at.begin(), at.end());
    at.erase(std::unique(at.begin(), at.end()), at.end());
    std::vector<EndpointList::Change> changes;
    std::vector<RecordPtr> fresh;
    size_t removed = 0;
    for (size_t pos : at) {
      const bool remove = rng() % 2 == 0;
      changes.push_back({pos, remove});
      if (remove) {
        ++removed;
      } else {
        fresh.push_back(Make(next_id++));
      }
    }
    for (size_t i = 0; i < removed; ++i) fresh.push_back(Make(next_id++));  // size stays 100
    const std::vector<const EndpointRecord*> want = Patched(list, changes, fresh);
    list = EndpointList::Patch(list, changes, std::move(fresh));
    ASSERT_THAT(Pointers(list), ElementsAreArray(want));
    // 100 endpoints fit in 7 full runs; runs of 8 or more would be 13. (Without the merge rules
    // the list reaches 23.)
    ASSERT_LE(list.run_count(), 13u) << "round " << round;
  }
  EXPECT_EQ(list.size(), 100u);
}

TEST(EndpointListTest, EqualityComparesRecords) {
  const std::vector<RecordPtr> v = MakeMany(20);
  const EndpointList a(v);
  EndpointList b(v);
  EXPECT_EQ(a, b);
  b.Set(19, Make(99));
  EXPECT_NE(a, b);
}

TEST(EndpointListTest, HeapBytesCountsTheRuns) {
  const EndpointList list(MakeMany(20));  // runs of 16 and 4
  EXPECT_GE(list.HeapBytes(), static_cast<int64_t>((8 + 16 * 8) + (8 + 4 * 8)));
  EXPECT_EQ(EndpointList().HeapBytes(), 0);
  // Up to kInlineRuns runs live in the list object; beyond, their vector is on the heap too.
  const EndpointList inline_runs(MakeMany(16 * EndpointList::kInlineRuns));
  EXPECT_EQ(inline_runs.HeapBytes(),
            static_cast<int64_t>(EndpointList::kInlineRuns * (8 + 16 * 8)));
  const EndpointList heap_runs(MakeMany(16 * EndpointList::kInlineRuns + 1));
  EXPECT_GE(heap_runs.HeapBytes(),
            static_cast<int64_t>(EndpointList::kInlineRuns * (8 + 16 * 8) + (8 + 8) +
                                 (EndpointList::kInlineRuns + 1) * 8));
}

}  // namespace
}  // namespace slicekeeper
