#include "server/storage/rocksdb_storage.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <limits>
#include <map>
#include <thread>
#include <utility>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/listener.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/storage/internal/codec.h"
#include "server/storage/internal/history_column.h"

namespace slicekeeper::storage {
namespace {

namespace codec = internal;
using internal::HistoryColumn;

rocksdb::Slice ToSlice(absl::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view ToView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// Maps a RocksDB error to the codes of storage.h, with the data directory in the message.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view path, absl::string_view what) {
  const std::string msg = absl::StrCat("storage ", path, ": ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() && absl::StrContains(absl::AsciiStrToLower(s.ToString()), "lock")) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage ", path,
                     ": the data directory is in use by another slicekeeper process (its "
                     "LOCK file is held); stop it or choose another --data_dir: ",
                     s.ToString()));
  }
  if (s.IsInvalidArgument() || s.IsNotSupported()) return absl::FailedPreconditionError(msg);
  return absl::UnavailableError(msg);
}

using ServiceMap = std::map<std::pair<std::string, std::string>, StoredService>;

StoredService& ServiceFor(ServiceMap& services, const std::string& ns, const std::string& name) {
  StoredService& s = services[{ns, name}];
  s.namespace_ = ns;
  s.name = name;
  return s;
}

// A slice record read by Load, decoded after the scan.
struct PendingSlice {
  std::vector<std::string> parts;  // namespace, service, slice name
  std::string key;
  std::string value;
};

// Decodes every pending slice on the machine's cores (each slice is independent; decoding and
// first-touching the decoded endpoints' memory is most of a large store's load), and calls
// `progress(done)` from the calling thread as slices complete. Frees each value once decoded.
std::vector<absl::StatusOr<SlicePtr>> DecodeSlices(std::vector<PendingSlice>& pending,
                                                   const std::function<void(int64_t)>& progress) {
  std::vector<absl::StatusOr<SlicePtr>> out(pending.size());
  std::atomic<size_t> next{0};
  auto work = [&](bool report) {
    size_t mine = 0;
    for (size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < pending.size();) {
      PendingSlice& p = pending[i];
      out[i] = codec::DecodeSlice(p.key, p.parts[2], p.value);
      std::string().swap(p.value);
      // Every 512 of the calling thread's own slices, whichever indexes the others took.
      if (report && ++mine % 512 == 0) {
        progress(
            static_cast<int64_t>(std::min(next.load(std::memory_order_relaxed), pending.size())));
      }
    }
  };
  const size_t threads = std::min<size_t>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u),
                                          std::max<size_t>(pending.size() / 64, 1));
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, false);
  work(progress != nullptr);
  for (std::thread& t : pool) t.join();
  return out;
}

rocksdb::Options DbOptions() {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.paranoid_checks = true;
  // A torn last record after a crash is dropped; anything else corrupt fails the open.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.IncreaseParallelism(2);
  // What a restart after kill -9 replays: column families are flushed once the log holds this
  // much, so the replay stays small whatever the write rate. Replay runs at ~140 MB/s here: 8 MiB
  // is ~60 ms of a restart (32 MiB was ~200 ms, half of a 9 k-endpoint restart). The flushes it
  // forces are small: the live family dedups to the live state (~0.3 MB for 9 k endpoints) and
  // the history family is append-only (trivial moves down the levels).
  o.max_total_wal_size = 8 << 20;
  // The recovered log stays in the memtables instead of being written out as level-0 tables
  // before the store can load: the next flush writes it, off the start-up path.
  o.avoid_flush_during_recovery = true;
  // RocksDB's own files beside the data, bounded whatever the churn. Its info log (LOG) writes
  // ~20 lines a flush and a flush runs every 8 MiB of log: unbounded it grew by ~9 MB a minute
  // under churn, most of a data directory after an hour. At INFO (the library's build default
  // here is DEBUG) it is rolled at 8 MiB and 4 old ones are kept: at most ~40 MiB.
  o.info_log_level = rocksdb::InfoLogLevel::INFO_LEVEL;
  o.max_log_file_size = 8 << 20;
  o.keep_log_file_num = 4;
  // The MANIFEST appends a record for every flush and deleted file (~7 KB/s under churn) and is
  // replayed whole by DB::Open: RocksDB's default of 1 GiB before it writes a fresh one would let
  // a day of churn add seconds to a restart. At 16 MiB a fresh one (the live files only) is
  // written instead.
  o.max_manifest_file_size = 16 << 20;
  // Table files held open: half the descriptors the process may have, the rest for sockets
  // (a churned 1 M-endpoint store keeps ~1 000 small history tables). RocksDB's default keeps
  // every file open, and a store past the limit fails its flushes; beyond this bound it closes
  // the least recently used, which only the history's readers (resumes) and compactions reopen.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    o.max_open_files = static_cast<int>(
        std::clamp<rlim_t>(files.rlim_cur / 2, 64, std::numeric_limits<int>::max()));
  }
  return o;
}

// The live state: small, rewritten in place (a slice key per slice), read whole at start.
// Both families compress with LZ4, not RocksDB's default Snappy: flushes and compactions compress
// everything the store writes (a 1 M-endpoint server at ~150 k changes/s writes ~90 MB/s of
// slices), and LZ4 decompresses for less at about the same ratio and compression cost. (The
// growth of compression over a long churn, first blamed on Snappy, was the history trim rewriting
// the whole family: see internal/history_column.cc.) Files written with Snappy stay readable:
// each SST file names its own compression. BENCHMARKS.md, "The soak's first minute".
constexpr rocksdb::CompressionType kCompression = rocksdb::kLZ4Compression;

rocksdb::ColumnFamilyOptions LiveOptions() {
  rocksdb::ColumnFamilyOptions c;
  // Level 0 stays uncompressed: its files (a flush each) live until the next compaction from
  // level 0 merges them, ~1 s under churn, and compressing them was the larger part of
  // RocksDB's CPU (LZ4 in flushes 7-11 % of the whole server's CPU at 1 M endpoints, against
  // 3 % in compactions), for files that at most 16 flushes (~100 MB) make up. The levels below,
  // which hold the state, compress. (With dynamic level sizes entry i > 0 applies to the i-th
  // level from the one level 0 merges into.)
  c.compression_per_level.assign(c.num_levels, kCompression);
  c.compression_per_level[0] = rocksdb::kNoCompression;
  c.write_buffer_size = 16 << 20;
  c.level_compaction_dynamic_level_bytes = true;
  // Every flush (forced by max_total_wal_size) holds the slices rewritten since the last one, and
  // a compaction from level 0 rewrites the whole live state under it (~100 MB at 1 M endpoints):
  // 16 flushes a compaction instead of RocksDB's 4 cuts that rewriting by 4. Level 0 is read once,
  // at start, by one scan.
  c.level0_file_num_compaction_trigger = 16;
  c.level0_slowdown_writes_trigger = 32;
  c.level0_stop_writes_trigger = 48;
  return c;
}

// The history: appended in revision order, dropped from the old end, read only on resume.
rocksdb::ColumnFamilyOptions HistoryOptions() {
  rocksdb::ColumnFamilyOptions c;
  c.compression = kCompression;
  c.write_buffer_size = 8 << 20;
  c.level_compaction_dynamic_level_bytes = true;
  return c;
}

// The regular files under `path` by kind, by name: RocksDB names its write-ahead log files
// NNNNNN.log and its info log LOG, LOG.old.<time> (0 when unreadable).
struct DirectoryUsage {
  int64_t total = 0;
  int64_t wal = 0;
  int64_t info_log = 0;
};

DirectoryUsage ReadDirectoryUsage(const std::string& path) {
  DirectoryUsage out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code size_ec;
    if (!it->is_regular_file(size_ec)) continue;
    const uintmax_t size = it->file_size(size_ec);
    if (size_ec) continue;
    const auto bytes = static_cast<int64_t>(size);
    out.total += bytes;
    const std::string name = it->path().filename().string();
    if (absl::EndsWith(name, ".log")) {
      out.wal += bytes;
    } else if (absl::StartsWith(name, "LOG")) {
      out.info_log += bytes;
    }
  }
  return out;
}

}  // namespace

// Counts the bytes compactions write, by family. The history's stays 0: its files are moved
// down the levels whole and deleted whole (internal/history_column.cc); the live family's is the
// write amplification of rewriting slices in place.
class RocksDbStorage::CompactionCounter : public rocksdb::EventListener {
 public:
  void OnCompactionCompleted(rocksdb::DB* /*db*/, const rocksdb::CompactionJobInfo& info) override {
    if (!info.status.ok()) return;
    (info.cf_name == internal::kHistoryColumnFamily ? history_ : live_)
        .fetch_add(static_cast<int64_t>(info.stats.total_output_bytes), std::memory_order_relaxed);
  }
  int64_t live() const { return live_.load(std::memory_order_relaxed); }
  int64_t history() const { return history_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> live_{0};
  std::atomic<int64_t> history_{0};
};

absl::StatusOr<std::unique_ptr<RocksDbStorage>> RocksDbStorage::Open(Options options) {
  if (options.path.empty()) return absl::InvalidArgumentError("storage: empty data directory");
  rocksdb::Options o = DbOptions();
  auto compactions = std::make_shared<CompactionCounter>();
  o.listeners.push_back(compactions);
  // Every column family must be opened; a new database has only the default one.
  std::vector<std::string> names;
  if (!rocksdb::DB::ListColumnFamilies(o, options.path, &names).ok()) {
    names = {rocksdb::kDefaultColumnFamilyName};
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) {
    families.emplace_back(
        name, name == internal::kHistoryColumnFamily ? HistoryOptions() : LiveOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, options.path, families, &handles, &raw);
  if (!s.ok()) return FromRocks(s, options.path, "cannot open");
  std::unique_ptr<RocksDbStorage> storage(new RocksDbStorage(
      std::move(options), std::unique_ptr<rocksdb::DB>(raw), std::move(handles), compactions));
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == internal::kHistoryColumnFamily) storage->history_cf_ = storage->handles_[i];
  }
  SK_RETURN_IF_ERROR(storage->CheckFormat());
  const Options& opts = storage->options_;
  storage->history_ = std::make_unique<HistoryColumn>(
      storage->db_.get(), storage->history_cf_,
      HistoryColumn::Options{.max_records = std::max<int64_t>(opts.history_size, 1),
                             .max_bytes = std::max<int64_t>(opts.history_bytes, 0),
                             .path = opts.path});
  SK_RETURN_IF_ERROR(storage->history_->Recover());
  if (opts.sync == SyncMode::kBatch) {
    storage->sync_thread_ = std::thread([p = storage.get()] { p->SyncLoop(); });
  }
  return storage;
}

RocksDbStorage::RocksDbStorage(Options options, std::unique_ptr<rocksdb::DB> db,
                               std::vector<rocksdb::ColumnFamilyHandle*> handles,
                               std::shared_ptr<const CompactionCounter> compactions)
    : options_(std::move(options)),
      db_(std::move(db)),
      handles_(std::move(handles)),
      compactions_(std::move(compactions)) {}

RocksDbStorage::~RocksDbStorage() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (sync_thread_.joinable()) sync_thread_.join();
  if (history_ != nullptr) history_->Stop();
  history_.reset();
  db_->SyncWAL().PermitUncheckedError();
  for (rocksdb::ColumnFamilyHandle* h : handles_)
    db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  db_->Close().PermitUncheckedError();
}

absl::Status RocksDbStorage::CheckFormat() {
  std::string version;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), codec::kFormatKey, &version);
  if (s.ok()) {
    if (version == codec::kFormatVersion) {
      if (history_cf_ != nullptr) return absl::OkStatus();
      return absl::DataLossError(
          absl::StrCat("storage ", options_.path, ": the history column family is missing"));
    }
    int v = 0;
    if (absl::SimpleAtoi(version, &v) && v == 1) {
      if (options_.upgrade) return Upgrade();
      return absl::FailedPreconditionError(absl::StrCat(
          "storage ", options_.path, ": on-disk format version 1 is older than this binary's (",
          codec::kFormatVersion,
          "); restart with --upgrade_data_dir to upgrade it in place (the "
          "live state is kept; the watch history is dropped, so watchers resuming from before "
          "the upgrade get RESET), or use a matching slicekeeper binary"));
    }
    if (absl::SimpleAtoi(version, &v)) {
      return absl::FailedPreconditionError(
          absl::StrCat("storage ", options_.path, ": on-disk format version ", v,
                       " is not supported (this binary reads version ", codec::kFormatVersion,
                       "); use a matching slicekeeper binary or another --data_dir"));
    }
    return absl::DataLossError(
        absl::StrCat("storage ", options_.path, ": the format key m/format is corrupt"));
  }
  if (!s.IsNotFound()) return FromRocks(s, options_.path, "cannot read the format key");
  // No format key: only an empty database may be initialized.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  it->SeekToFirst();
  if (!it->status().ok()) return FromRocks(it->status(), options_.path, "cannot read");
  if (it->Valid()) {
    return absl::DataLossError(
        absl::StrCat("storage ", options_.path, ": the database holds data but no format key"));
  }
  if (history_cf_ == nullptr) SK_RETURN_IF_ERROR(CreateHistoryColumn());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = db_->Put(wo, codec::kFormatKey, codec::kFormatVersion);
  if (!s.ok()) return FromRocks(s, options_.path, "cannot initialize");
  return absl::OkStatus();
}

absl::Status RocksDbStorage::CreateHistoryColumn() {
  rocksdb::ColumnFamilyHandle* h = nullptr;
  rocksdb::Status s = db_->CreateColumnFamily(HistoryOptions(), internal::kHistoryColumnFamily, &h);
  if (!s.ok()) return FromRocks(s, options_.path, "cannot create the history column family");
  handles_.push_back(h);
  history_cf_ = h;
  return absl::OkStatus();
}

absl::Status RocksDbStorage::Upgrade() {
  // Format 1 kept the history under h/ in the default column family, as whole slice versions.
  // It is dropped; its newest revision becomes the floor, so revisions never go back.
  const std::string begin = codec::kLegacyHistoryPrefix, end = "h0";  // '0' follows '/'
  int64_t newest = 0;
  {
    rocksdb::ReadOptions ro;
    const rocksdb::Slice lower = ToSlice(begin);
    ro.iterate_lower_bound = &lower;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
    it->SeekForPrev(begin + std::string(8, '\xff'));
    if (it->Valid() && absl::StartsWith(ToView(it->key()), begin)) {
      SK_ASSIGN_OR_RETURN(newest, internal::ParseHistoryKey(ToView(it->key()).substr(2)));
    }
    if (!it->status().ok()) return FromRocks(it->status(), options_.path, "cannot read");
  }
  if (history_cf_ == nullptr) SK_RETURN_IF_ERROR(CreateHistoryColumn());
  rocksdb::WriteBatch batch;
  batch.DeleteRange(ToSlice(begin), ToSlice(end));
  batch.Put(internal::kHistoryFloorKey, absl::StrCat(newest));
  batch.Put(codec::kFormatKey, codec::kFormatVersion);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) return FromRocks(s, options_.path, "cannot upgrade");
  const rocksdb::Slice b = ToSlice(begin), e = ToSlice(end);
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  s = db_->CompactRange(co, &b, &e);
  if (!s.ok()) return FromRocks(s, options_.path, "cannot compact the old history");
  return absl::OkStatus();
}

absl::StatusOr<LoadedState> RocksDbStorage::Load() {
  LoadedState out;
  ServiceMap services;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  uint64_t estimated = 0;
  db_->GetIntProperty("rocksdb.estimate-num-keys", &estimated);
  StorageStats stats;
  // Slices are copied out during the scan and decoded after it, in parallel (DecodeSlices);
  // progress counts the other keys as they are read and slices as they are decoded.
  std::vector<PendingSlice> pending;
  int64_t other_keys = 0;
  // The default column family only: the history is read on demand (ScanHistory).
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view key = ToView(it->key());
    const absl::string_view value = ToView(it->value());
    ++stats.load_keys;
    stats.load_bytes += static_cast<int64_t>(key.size() + value.size());
    if (!absl::StartsWith(key, codec::kSlicePrefix) && options_.progress &&
        ++other_keys % 16384 == 0) {
      options_.progress(other_keys, static_cast<int64_t>(estimated));
    }
    if (absl::StartsWith(key, codec::kMetaPrefix)) continue;  // format, history floor
    if (key == codec::kNodesKey) {
      SK_ASSIGN_OR_RETURN(out.nodes, codec::DecodeNodes(value));
    } else if (absl::StartsWith(key, codec::kServicePrefix)) {
      SK_ASSIGN_OR_RETURN(std::vector<std::string> parts,
                          codec::SplitKey(key, codec::kServicePrefix, 2));
      StoredService& s = ServiceFor(services, parts[0], parts[1]);
      SK_RETURN_IF_ERROR(codec::DecodeService(key, value, s));
      out.revision = std::max(out.revision, s.mod_revision);
    } else if (absl::StartsWith(key, codec::kSlicePrefix)) {
      SK_ASSIGN_OR_RETURN(std::vector<std::string> parts,
                          codec::SplitKey(key, codec::kSlicePrefix, 3));
      pending.push_back({std::move(parts), std::string(key), std::string(value)});
    } else {
      return absl::DataLossError(
          absl::StrCat("storage ", options_.path, ": unknown key \"", key, "\""));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), options_.path, "cannot read");
  it.reset();
  std::function<void(int64_t)> slice_progress;
  if (options_.progress) {
    slice_progress = [&](int64_t decoded) {
      options_.progress(other_keys + decoded, static_cast<int64_t>(estimated));
    };
  }
  std::vector<absl::StatusOr<SlicePtr>> decoded = DecodeSlices(pending, slice_progress);
  // In key order, so the first bad key is the one reported, as when decoding during the scan.
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!decoded[i].ok()) return decoded[i].status();
    SlicePtr slice = *std::move(decoded[i]);
    const std::vector<std::string>& parts = pending[i].parts;
    if (slice->namespace_ != parts[0] || slice->ServiceName() != parts[1]) {
      return absl::DataLossError(absl::StrCat("storage ", options_.path, ": slice at key ",
                                              pending[i].key, " belongs to another service"));
    }
    ServiceFor(services, parts[0], parts[1]).slices.push_back(std::move(slice));
  }
  for (auto& [key, s] : services) {
    // "r/" sorts before "s/", so a service seen only through slices has no record key.
    if (s.mod_revision == 0) {
      return absl::DataLossError(absl::StrCat("storage ", options_.path, ": slices of service ",
                                              key.first, "/", key.second, " without its r/ key"));
    }
    out.services.push_back(std::move(s));
  }
  // The newest revision may be in the history only (a commit that deleted a service).
  out.revision = std::max({out.revision, history_->last(), history_->floor()});
  out.history_floor = history_->readable_floor();
  load_stats_ = stats;
  history_->Start();
  return out;
}

absl::Status RocksDbStorage::Commit(const CommitRecord& commit) {
  return Write(commit, options_.sync == SyncMode::kAlways);
}

absl::Status RocksDbStorage::Append(const CommitRecord& commit) {
  return Write(commit, /*sync=*/false);
}

absl::Status RocksDbStorage::Write(const CommitRecord& commit, bool sync) {
  rocksdb::WriteBatch batch;
  for (const ServiceWrite& w : commit.services) {
    const std::string key = codec::ServiceKey(w.namespace_, w.name);
    if (w.exists) {
      batch.Put(key, codec::EncodeService(w));
    } else {
      batch.Delete(key);
    }
    for (size_t i = 0; i < w.slices.size(); ++i) {
      const ServiceWrite::SliceWrite& sw = w.slices[i];
      const std::string slice_key = codec::SliceKey(w.namespace_, w.name, sw.name);
      if (sw.slice != nullptr) {
        // The version it replaces (the store lists undo.slices in the order of slices).
        const Slice* prev = i < w.undo.slices.size() && w.undo.slices[i].name == sw.name
                                ? w.undo.slices[i].prev.get()
                                : nullptr;
        batch.Put(slice_key, *codec::EncodeSlice(*sw.slice, prev));
      } else {
        batch.Delete(slice_key);
      }
    }
  }
  if (commit.nodes != nullptr) batch.Put(codec::kNodesKey, codec::EncodeNodes(*commit.nodes));
  // The history record goes in the same batch: after a crash both are there or neither is.
  if (commit.history != nullptr) {
    batch.Put(history_cf_, internal::HistoryKey(commit.revision), ToSlice(*commit.history));
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("storage ", options_.path, ": commit of revision ",
                                               commit.revision, " failed: ", s.ToString()));
  }
  if (commit.history != nullptr) {
    history_->Note(commit.revision, static_cast<int64_t>(commit.history->size()));
  }
  return absl::OkStatus();
}

absl::Status RocksDbStorage::ScanHistory(int64_t after, int64_t upto, const HistoryFn& fn) const {
  return history_->Scan(after, upto, fn);
}

absl::Status RocksDbStorage::TrimHistoryNow() { return history_->TrimOnce(); }

StorageStats RocksDbStorage::Stats() const {
  StorageStats out = load_stats_;
  const DirectoryUsage dir = ReadDirectoryUsage(options_.path);
  out.disk_bytes = dir.total;
  out.disk_wal_bytes = dir.wal;
  out.disk_info_log_bytes = dir.info_log;
  out.disk_live_table_bytes = out.disk_history_table_bytes = 0;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kLiveSstFilesSize, &v)) {
      (h == history_cf_ ? out.disk_history_table_bytes : out.disk_live_table_bytes) +=
          static_cast<int64_t>(v);
    }
  }
  out.compacted_live_bytes = compactions_->live();
  out.compacted_history_bytes = compactions_->history();
  // Tables deleted between the listing and the properties would make this negative.
  out.disk_other_bytes = std::max<int64_t>(
      dir.total - dir.wal - dir.info_log - out.disk_live_table_bytes - out.disk_history_table_bytes,
      0);
  out.history_floor = history_->readable_floor();
  out.history_last = history_->last();
  out.history_bytes = history_->ApproximateBytes();
  out.history_records_read = history_->records_read();
  out.memtable_bytes = out.block_cache_bytes = out.table_reader_bytes = 0;
  for (rocksdb::ColumnFamilyHandle* h : handles_) {
    uint64_t v = 0;
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
      out.memtable_bytes += static_cast<int64_t>(v);
    }
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kBlockCacheUsage, &v)) {
      out.block_cache_bytes += static_cast<int64_t>(v);
    }
    if (db_->GetIntProperty(h, rocksdb::DB::Properties::kEstimateTableReadersMem, &v)) {
      out.table_reader_bytes += static_cast<int64_t>(v);
    }
  }
  return out;
}

absl::Status RocksDbStorage::SyncOnce() {
  rocksdb::Status s = db_->SyncWAL();
  if (!s.ok()) return FromRocks(s, options_.path, "log sync failed");
  return absl::OkStatus();
}

void RocksDbStorage::SyncLoop() {
  absl::MutexLock l(&mu_);
  while (!stopping_) {
    // Waits for the interval or for the destructor, whichever comes first.
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.batch_sync_interval);
    if (stopping_) break;
    mu_.Unlock();
    SyncOnce().IgnoreError();
    mu_.Lock();
  }
}

}  // namespace slicekeeper::storage
