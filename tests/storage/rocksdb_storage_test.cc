#include "server/storage/rocksdb_storage.h"

#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/internal/codec.h"
#include "server/storage/internal/history_column.h"
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
  // The revisions ScanHistory(after, upto) returns, newest first (their bytes checked).
  std::vector<int64_t> Revisions(int64_t after, int64_t upto) {
    absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> records =
        Scan(storage(), after, upto);
    EXPECT_OK(records);
    std::vector<int64_t> out;
    if (!records.ok()) return out;
    for (const auto& [r, bytes] : *records) {
      EXPECT_EQ(bytes, HistoryBytes(r));
      out.push_back(r);
    }
    return out;
  }
  // Trims the RocksDB history now (its trimmer thread does it in the background).
  void Trim() {
    if (rocks()) ASSERT_OK(storage_->TrimHistoryNow());
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

// Services, slices (managed and foreign) and nodes come back from Load; history records from
// ScanHistory, newest first.
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
  EXPECT_EQ(s.history_floor, 0);
  EXPECT_THAT(Revisions(0, 3), ElementsAre(3, 2, 1));
  EXPECT_THAT(Revisions(1, 2), ElementsAre(2));
  EXPECT_THAT(Revisions(3, 3), ElementsAre());
}

// Load reads the live state only: its key count does not grow with the history.
TEST_P(StorageTest, LoadDoesNotReadTheHistory) {
  if (!rocks()) return;
  Open(/*history=*/1000);
  SlicePtr a = MakeSlice("default", "web", "web-a", 1, {"10.0.0.1"});
  ASSERT_OK(storage().Commit(MakeCommit(1, "default", "web", {a}, true)));
  Open(1000);
  Load();
  const StorageStats few = storage().Stats();
  for (int64_t r = 2; r <= 200; ++r) {
    SlicePtr s = MakeSlice("default", "web", "web-a", r, {"10.0.0.1"});
    ASSERT_OK(storage().Commit(MakeCommit(r, "default", "web", {s}, false)));
  }
  Open(1000);
  EXPECT_EQ(Load().revision, 200);
  const StorageStats many = storage().Stats();
  EXPECT_EQ(many.load_keys, few.load_keys);
  EXPECT_EQ(many.load_history_records, 0);
  EXPECT_EQ(many.history_floor, 0);
  EXPECT_EQ(many.history_last, 200);
  EXPECT_EQ(many.history_records_read, 0);
  EXPECT_THAT(Revisions(198, 200), ElementsAre(200, 199));
  EXPECT_EQ(storage().Stats().history_records_read, 2);
  EXPECT_GT(many.disk_bytes, 0);
}

// A removed service leaves no key behind, and its revision is still the store's.
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
  EXPECT_THAT(Revisions(0, 2), ElementsAre(2, 1));
}

// Only the newest `history_size` records are kept, also when the window shrinks on reopen; a scan
// from below the window is OUT_OF_RANGE.
TEST_P(StorageTest, HistoryWindowIsTrimmed) {
  Open(/*history=*/3);
  for (int64_t r = 1; r <= 10; ++r) {
    SlicePtr s = MakeSlice("default", "web", "web-a", r, {"10.0.0.1"});
    ASSERT_OK(storage().Commit(MakeCommit(r, "default", "web", {s}, r == 1)));
  }
  Open(3);
  LoadedState s = Load();
  Trim();
  EXPECT_EQ(s.revision, 10);
  EXPECT_THAT(Revisions(7, 10), ElementsAre(10, 9, 8));
  EXPECT_THAT(Scan(storage(), 6, 10),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("history starts after")));
  if (!rocks()) return;  // the window of a MemoryStorage is fixed at construction
  Open(2);
  EXPECT_EQ(Load().revision, 10);
  Trim();
  EXPECT_THAT(Revisions(8, 10), ElementsAre(10, 9));
  Open(2);
  EXPECT_EQ(Load().history_floor, 8);
  EXPECT_THAT(Scan(storage(), 7, 10),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("history starts after")));
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
  EXPECT_THAT(Revisions(0, 0), ElementsAre());
  EXPECT_EQ(s.revision, 0);
}

class RocksDbStorageTest : public ::testing::Test {
 protected:
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> Open() {
    return RocksDbStorage::Open({.path = dir_.path()});
  }
  // Writes `key` = `value` in the default column family with RocksDB directly (the storage must
  // be closed; every column family is opened, as RocksDB requires).
  void Tamper(const std::string& key, const std::string& value) {
    rocksdb::Options o;
    o.create_if_missing = true;
    std::vector<std::string> names;
    if (!rocksdb::DB::ListColumnFamilies(o, dir_.path(), &names).ok()) {
      names = {rocksdb::kDefaultColumnFamilyName};
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& n : names) families.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.path(), families, &handles, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, value).ok());
    for (rocksdb::ColumnFamilyHandle* h : handles)
      ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
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

// Load decodes slices on several threads: every one of many slices comes back whole and in its
// service, and of two unparsable ones the first in key order is the one reported.
TEST_F(RocksDbStorageTest, ManySlicesLoadWholeAndTheFirstBadKeyIsReported) {
  constexpr int kSlices = 300;
  auto name = [](int i) { return absl::StrCat("web-", 1000 + i); };  // key order = i order
  {
    absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = Open();
    ASSERT_OK(s);
    std::vector<SlicePtr> slices;
    for (int i = 0; i < kSlices; ++i) {
      slices.push_back(MakeSlice("default", "web", name(i), 1,
                                 {absl::StrCat("10.0.", i / 250, ".", i % 250 + 1)}));
    }
    ASSERT_OK((*s)->Commit(MakeCommit(1, "default", "web", slices, true)));
    absl::StatusOr<LoadedState> loaded = (*s)->Load();
    ASSERT_OK(loaded);
    ASSERT_THAT(loaded->services, SizeIs(1));
    ASSERT_THAT(loaded->services[0].slices, SizeIs(kSlices));
    for (int i = 0; i < kSlices; ++i) {
      const Slice& slice = *loaded->services[0].slices[i];
      EXPECT_EQ(slice.name, name(i));
      ASSERT_THAT(slice.endpoints, SizeIs(1));
      EXPECT_EQ(slice.endpoints[0]->addresses(0), absl::StrCat("10.0.", i / 250, ".", i % 250 + 1));
    }
  }
  Tamper("s/default/web/" + name(271), "\xff\xff not a proto");
  Tamper("s/default/web/" + name(42), "\xff\xff not a proto either");
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = Open();
  ASSERT_OK(s);
  EXPECT_THAT((*s)->Load(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(name(42))));
}

// A format-1 data directory (one column family; the history under h/ as whole slices) is refused
// with the flag to use; with `upgrade` it becomes format 2 in place: the live state is kept, the
// old history dropped, and revisions continue above the newest one it held.
TEST_F(RocksDbStorageTest, FormatOneIsRefusedOrUpgraded) {
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.path(), &db).ok());
    SlicePtr a = MakeSlice("default", "web", "web-a", 5, {"10.0.0.1"});
    const CommitRecord c = MakeCommit(5, "default", "web", {a}, true);
    auto put = [&](const std::string& k, const std::string& v) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), k, v).ok());
    };
    put("m/format", "1");
    put("r/default/web", internal::EncodeService(c.services[0]));
    put("s/default/web/web-a", *internal::EncodeSlice(*a));
    for (int64_t r = 5; r <= 7; ++r) put("h/" + internal::HistoryKey(r), "an old undo record");
    delete db;
  }
  EXPECT_THAT(Open(), StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("format version 1 is older than this binary's (2)")));
  EXPECT_THAT(Open(),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("--upgrade_data_dir")));
  {
    absl::StatusOr<std::unique_ptr<RocksDbStorage>> s =
        RocksDbStorage::Open({.path = dir_.path(), .upgrade = true});
    ASSERT_OK(s);
    absl::StatusOr<LoadedState> loaded = (*s)->Load();
    ASSERT_OK(loaded);
    EXPECT_EQ(loaded->revision, 7);
    EXPECT_EQ(loaded->history_floor, 7);
    ASSERT_THAT(loaded->services, SizeIs(1));
    EXPECT_THAT(loaded->services[0].slices, SizeIs(1));
    EXPECT_THAT(Scan(**s, 6, 7),
                StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("history starts after")));
    SlicePtr b = MakeSlice("default", "web", "web-a", 8, {"10.0.0.2"});
    ASSERT_OK((*s)->Commit(MakeCommit(8, "default", "web", {b}, false)));
  }
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = Open();
  ASSERT_OK(s);
  absl::StatusOr<LoadedState> loaded = (*s)->Load();
  ASSERT_OK(loaded);
  EXPECT_EQ(loaded->revision, 8);
  EXPECT_EQ((*s)->Stats().load_keys, 4);  // m/format, m/history_floor, r/, s/: no h/ left
  absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> records = Scan(**s, 7, 8);
  ASSERT_OK(records);
  EXPECT_THAT(*records, SizeIs(1));
}

// The history is kept within its byte budget on disk: the oldest records are dropped (the floor
// moves up) and the newest stay.
TEST_F(RocksDbStorageTest, HistoryBytesAreBounded) {
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> s = RocksDbStorage::Open(
      {.path = dir_.path(), .sync = RocksDbStorage::SyncMode::kNone, .history_bytes = 256 << 10});
  ASSERT_OK(s);
  ASSERT_OK((*s)->Load());
  const std::string record(4096, 'x');
  for (int64_t r = 1; r <= 400; ++r) {  // 1.6 MB of records (incompressible enough: random)
    SlicePtr a = MakeSlice("default", "web", "web-a", r, {"10.0.0.1"});
    CommitRecord c = MakeCommit(r, "default", "web", {a}, r == 1);
    std::string bytes = record;
    for (size_t i = 0; i < bytes.size(); i += 7) bytes[i] = static_cast<char>((r * 131 + i) % 251);
    c.history = std::make_shared<const std::string>(std::move(bytes));
    ASSERT_OK((*s)->Commit(c));
  }
  ASSERT_OK((*s)->TrimHistoryNow());
  const StorageStats stats = (*s)->Stats();
  EXPECT_EQ(stats.history_last, 400);
  EXPECT_GT(stats.history_floor, 0);
  EXPECT_LE(stats.history_bytes, 256 << 10);
  EXPECT_THAT(Scan(**s, stats.history_floor, 400),
              ::slicekeeper::testing::IsOkAndHolds(SizeIs(400 - stats.history_floor)));
  EXPECT_THAT(Scan(**s, stats.history_floor - 1, 400),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("history starts after")));
}

// Trimming the history gives its disk back by deleting whole files and compacts nothing: after
// many times the byte budget is written, the history's tables hold a fraction of it, the window
// still serves every record above its floor, and no compaction has written a history byte. (The
// old trim, a range tombstone and CompactRange each time, rewrote the family at every trim.) The
// data directory's parts are reported.
TEST_F(RocksDbStorageTest, HistoryTrimDeletesFilesAndCompactsNothing) {
  constexpr int64_t kBudget = 1 << 20;
  // 4 KiB each: 128 MiB, ~16 flushes of the log. What stays beside the budget: files holding
  // records on both sides of the floor, and level-0 files (DeleteFilesInRange leaves level 0;
  // up to 4 flushes of <= 8 MiB wait there to be moved down), so well under half of it.
  constexpr int64_t kRecords = 32'000;
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> s =
      RocksDbStorage::Open({.path = dir_.path(),
                            .sync = RocksDbStorage::SyncMode::kNone,
                            .history_size = kRecords,
                            .history_bytes = kBudget});
  ASSERT_OK(s);
  ASSERT_OK((*s)->Load());
  std::mt19937_64 random(16);
  std::string bytes(4096, '\0');
  for (int64_t r = 1; r <= kRecords; ++r) {
    // Incompressible, so the bytes on disk are the bytes written.
    for (size_t i = 0; i < bytes.size(); i += 8) {
      const uint64_t v = random();
      std::memcpy(&bytes[i], &v, sizeof(v));
    }
    CommitRecord c = MakeCommit(r, "default", "web",
                                {MakeSlice("default", "web", "web-a", r, {"10.0.0.1"})}, r == 1);
    c.history = std::make_shared<const std::string>(bytes);
    ASSERT_OK((*s)->Commit(c));
    if (r % 2000 == 0) ASSERT_OK((*s)->TrimHistoryNow());
  }
  const StorageStats stats = (*s)->Stats();
  EXPECT_EQ(stats.compacted_history_bytes, 0);
  EXPECT_GT(stats.history_floor, kRecords / 2);
  EXPECT_GT(stats.disk_history_table_bytes, 0);
  EXPECT_LT(stats.disk_history_table_bytes, kRecords * 4096 / 2);
  EXPECT_THAT(Scan(**s, stats.history_floor, kRecords),
              ::slicekeeper::testing::IsOkAndHolds(SizeIs(kRecords - stats.history_floor)));
  // The directory's parts, each from its own source: the families' tables from RocksDB (the
  // live family is flushed with every log flush), the log files by name, the rest by difference
  // (the parts are read one after another while RocksDB works, so no exact sum is asserted).
  EXPECT_GE(stats.compacted_live_bytes, 0);
  EXPECT_GT(stats.disk_live_table_bytes, 0);
  EXPECT_GT(stats.disk_wal_bytes, 0);
  EXPECT_GT(stats.disk_info_log_bytes, 0);
  EXPECT_GT(stats.disk_other_bytes, 0);  // MANIFEST, OPTIONS
  EXPECT_LT(stats.disk_history_table_bytes + stats.disk_wal_bytes, stats.disk_bytes);
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
