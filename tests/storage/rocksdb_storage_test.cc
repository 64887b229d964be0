#include "server/storage/rocksdb_storage.h"

#include <rocksdb/db.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/memory_storage.h"
#include "tests/storage/storage_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::storage {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using namespace ::slicekeeper::storage::testing;  // NOLINT: test builders

// Runs the same checks against both backends; Reopen() is a restart.
class StorageTest : public ::testing::TestWithParam<bool> {
 protected:
  bool rocks() const { return GetParam(); }
  void Open(int64_t history = 100) {
    history_ = history;
    storage_.reset();
    if (!rocks()) {
      if (memory_ == nullptr)
        memory_ = std::make_unique<MemoryStorage>(MemoryStorage::Options{history});
      return;
    }
    absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = RocksDbStorage::Open(
        {.path = dir_.path(), .sync = RocksDbStorage::SyncMode::kAlways, .history_size = history});
    ASSERT_OK(s);
    storage_ = std::move(*s);
  }
  Storage& storage() {
    if (rocks()) return *storage_;
    return *memory_;
  }
  LoadedState Load() {
    absl::StatusOr<LoadedState> s = storage().Load();
    EXPECT_OK(s);
    return s.ok() ? std::move(*s) : LoadedState{};
  }

  TempDir dir_;
  int64_t history_ = 100;
  std::unique_ptr<MemoryStorage> memory_;
  std::unique_ptr<RocksDbStorage> storage_;
};

INSTANTIATE_TEST_SUITE_P(Backends, StorageTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "RocksDb" : "Memory"; });

// Services, slices (managed and foreign), nodes and undo records come back as committed.
TEST_P(StorageTest, RoundTrip) {
  Open();
  EXPECT_EQ(Load().revision, 0);
  SlicePtr a1 = MakeSlice("default", "web", "web-a", 1, {"10.0.0.1", "10.0.0.2"});
  SlicePtr f1 = MakeSlice("default", "web", "mirror-1", 1, {"10.0.1.1"}, /*managed=*/false);
  ASSERT_OK(storage().Commit(MakeCommit(1, "default", "web", {a1, f1}, /*created=*/true)));
  SlicePtr b2 = MakeSlice("prod", "api", "api-b", 2, {"10.1.0.1"});
  CommitRecord c2 = MakeCommit(2, "prod", "api", {b2}, /*created=*/true);
  auto nodes = std::make_shared<std::vector<v1::Node>>(1);
  (*nodes)[0].set_name("node-1");
  (*nodes)[0].set_zone("z1");
  c2.nodes = nodes;
  ASSERT_OK(storage().Commit(c2));
  // Revision 3 rewrites web-a and deletes the foreign slice.
  SlicePtr a3 = MakeSlice("default", "web", "web-a", 3, {"10.0.0.1"});
  CommitRecord c3 = MakeCommit(3, "default", "web", {a3}, /*created=*/false);
  c3.services[0].undo.slices[0].prev = a1;
  c3.services[0].slices.push_back({"mirror-1", nullptr});
  c3.services[0].undo.slices.push_back({"mirror-1", f1});
  ASSERT_OK(storage().Commit(c3));

  Open();
  LoadedState s = Load();
  EXPECT_EQ(s.revision, 3);
  ASSERT_THAT(s.services, SizeIs(2));
  EXPECT_EQ(s.services[0].namespace_, "default");
  EXPECT_EQ(s.services[0].mod_revision, 3);
  ASSERT_THAT(s.services[0].slices, SizeIs(1));
  EXPECT_TRUE(SameSlice(s.services[0].slices[0], a3));
  ASSERT_NE(s.services[0].record, nullptr);
  EXPECT_EQ(s.services[0].record->resource_version(), "3");
  EXPECT_EQ(s.services[1].name, "api");
  EXPECT_TRUE(SameSlice(s.services[1].slices[0], b2));
  ASSERT_THAT(s.nodes, SizeIs(1));
  EXPECT_EQ(s.nodes[0].zone(), "z1");
  ASSERT_THAT(s.history, SizeIs(3));
  const HistoryEntry& h3 = s.history[2];
  EXPECT_EQ(h3.revision, 3);
  EXPECT_EQ(h3.time, absl::FromUnixSeconds(1'700'000'003));
  ASSERT_THAT(h3.services, SizeIs(1));
  EXPECT_TRUE(h3.services[0].existed);
  EXPECT_EQ(h3.services[0].prev_mod_revision, 2);
  ASSERT_THAT(h3.services[0].slices, SizeIs(2));
  EXPECT_TRUE(SameSlice(h3.services[0].slices[0].prev, a1));
  EXPECT_TRUE(SameSlice(h3.services[0].slices[1].prev, f1));
  EXPECT_FALSE(s.history[0].services[0].existed);
  EXPECT_EQ(s.history[0].services[0].slices[0].prev, nullptr);
}

// A removed service leaves no key behind; its undo record keeps what it held.
TEST_P(StorageTest, ServiceRemoval) {
  Open();
  SlicePtr a1 = MakeSlice("default", "web", "web-a", 1, {"10.0.0.1"});
  ASSERT_OK(storage().Commit(MakeCommit(1, "default", "web", {a1}, true)));
  CommitRecord c2 = MakeCommit(2, "default", "web", {}, false);
  c2.services[0].exists = false;
  c2.services[0].record = nullptr;
  c2.services[0].slices.push_back({"web-a", nullptr});
  c2.services[0].undo.slices.push_back({"web-a", a1});
  ASSERT_OK(storage().Commit(c2));
  Open();
  LoadedState s = Load();
  EXPECT_EQ(s.revision, 2);
  EXPECT_THAT(s.services, SizeIs(0));
  ASSERT_THAT(s.history, SizeIs(2));
}

// Only the newest `history_size` undo records are kept, also when the window shrinks on reopen.
TEST_P(StorageTest, HistoryWindowIsTrimmed) {
  Open(/*history=*/3);
  for (int64_t r = 1; r <= 10; ++r) {
    SlicePtr s = MakeSlice("default", "web", "web-a", r, {"10.0.0.1"});
    ASSERT_OK(storage().Commit(MakeCommit(r, "default", "web", {s}, r == 1)));
  }
  Open(3);
  LoadedState s = Load();
  EXPECT_EQ(s.revision, 10);
  std::vector<int64_t> revisions;
  for (const HistoryEntry& e : s.history) revisions.push_back(e.revision);
  EXPECT_THAT(revisions, ElementsAre(8, 9, 10));
  if (!rocks()) return;  // the window of a MemoryStorage is fixed at construction
  Open(2);
  EXPECT_THAT(Load().history, SizeIs(2));
  Open(2);
  EXPECT_THAT(Load().history, SizeIs(2));
}

// A nodes-only commit changes the nodes and adds no undo record.
TEST_P(StorageTest, NodesOnlyCommit) {
  Open();
  CommitRecord c;
  c.revision = 0;
  auto nodes = std::make_shared<std::vector<v1::Node>>(2);
  (*nodes)[0].set_name("a");
  (*nodes)[1].set_name("b");
  c.nodes = nodes;
  ASSERT_OK(storage().Commit(c));
  Open();
  LoadedState s = Load();
  EXPECT_THAT(s.nodes, SizeIs(2));
  EXPECT_THAT(s.history, SizeIs(0));
  EXPECT_EQ(s.revision, 0);
}

class RocksDbStorageTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> Open() {
    return RocksDbStorage::Open({.path = dir_.path()});
  }
  // Writes `key` = `value` with RocksDB directly (the storage must be closed).
  void Tamper(const std::string& key, const std::string& value) {
    rocksdb::DB* db = nullptr;
    rocksdb::Options o;
    o.create_if_missing = true;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.path(), &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    delete db;
  }
  TempDir dir_;
};

// A data directory written by an unknown format version is refused, not reinitialized.
TEST_F(RocksDbStorageTest, UnknownFormatVersionIsRefused) {
  ASSERT_OK(Open());
  Tamper("m/format", "7");
  EXPECT_THAT(Open(), StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("format version 7 is not supported")));
}

// A garbage format key is DATA_LOSS.
TEST_F(RocksDbStorageTest, CorruptFormatKeyIsDataLoss) {
  ASSERT_OK(Open());
  Tamper("m/format", "\x01\xff garbage");
  EXPECT_THAT(Open(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("m/format")));
}

// Data without a format key (not ours, or damaged) is DATA_LOSS, never initialized over.
TEST_F(RocksDbStorageTest, DataWithoutFormatKeyIsDataLoss) {
  Tamper("r/default/web", "x");
  EXPECT_THAT(Open(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("no format key")));
}

// An unparsable slice value fails Load with DATA_LOSS naming the key; so does an unknown key.
TEST_F(RocksDbStorageTest, UnparsableValuesAreDataLoss) {
  {
    absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = Open();
    ASSERT_OK(s);
    SlicePtr a = MakeSlice("default", "web", "web-a", 1, {"10.0.0.1"});
    ASSERT_OK((*s)->Commit(MakeCommit(1, "default", "web", {a}, true)));
  }
  Tamper("s/default/web/web-a", "\xff\xff\xff\xff not a proto");
  {
    absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = Open();
    ASSERT_OK(s);
    EXPECT_THAT((*s)->Load(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("web-a")));
  }
  Tamper("s/default/web/web-a",
         MakeSlice("default", "web", "web-a", 1, {})->ToProto().SerializeAsString());
  Tamper("zz/unknown", "1");
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = Open();
  ASSERT_OK(s);
  EXPECT_THAT((*s)->Load(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("unknown key")));
}

// A second open of a directory in use fails clearly (RocksDB's LOCK file).
TEST_F(RocksDbStorageTest, SecondOpenIsRefused) {
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> first = Open();
  ASSERT_OK(first);
  EXPECT_THAT(Open(), StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("in use")));
}

// A path that is a regular file is an error, not a crash.
TEST_F(RocksDbStorageTest, FileInsteadOfDirectoryIsAnError) {
  const std::string file = dir_.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  EXPECT_FALSE(RocksDbStorage::Open({.path = file}).ok());
  EXPECT_THAT(RocksDbStorage::Open({.path = ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

// Batch and none sync modes commit and reload the same data; SyncOnce syncs on demand.
TEST_F(RocksDbStorageTest, BatchAndNoneModes) {
  for (auto mode : {RocksDbStorage::SyncMode::kBatch, RocksDbStorage::SyncMode::kNone}) {
    TempDir dir;
    {
      absl::StatusOr<std::unique_ptr<RocksDbStorage>> s =
          RocksDbStorage::Open({.path = dir.path(), .sync = mode});
      ASSERT_OK(s);
      SlicePtr a = MakeSlice("default", "web", "web-a", 1, {"10.0.0.1"});
      ASSERT_OK((*s)->Commit(MakeCommit(1, "default", "web", {a}, true)));
      ASSERT_OK((*s)->SyncOnce());
    }
    absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = RocksDbStorage::Open({.path = dir.path()});
    ASSERT_OK(s);
    absl::StatusOr<LoadedState> loaded = (*s)->Load();
    ASSERT_OK(loaded);
    EXPECT_EQ(loaded->revision, 1);
    EXPECT_THAT(loaded->services, SizeIs(1));
  }
}

}  // namespace
}  // namespace slicekeeper::storage
