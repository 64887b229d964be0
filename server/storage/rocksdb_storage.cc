#include "server/storage/rocksdb_storage.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/storage/internal/codec.h"

namespace slicekeeper::storage {
namespace {

namespace codec = internal;

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

}  // namespace

absl::StatusOr<std::unique_ptr<RocksDbStorage>> RocksDbStorage::Open(Options options) {
  if (options.path.empty()) return absl::InvalidArgumentError("storage: empty data directory");
  rocksdb::Options o;
  o.create_if_missing = true;
  o.paranoid_checks = true;
  // A torn last record after a crash is dropped; anything else corrupt fails the open.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.IncreaseParallelism(2);
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(o, options.path, &raw);
  if (!s.ok()) return FromRocks(s, options.path, "cannot open");
  std::unique_ptr<RocksDbStorage> storage(
      new RocksDbStorage(std::move(options), std::unique_ptr<rocksdb::DB>(raw)));
  SK_RETURN_IF_ERROR(storage->CheckFormat());
  if (storage->options_.sync == SyncMode::kBatch) {
    storage->sync_thread_ = std::thread([p = storage.get()] { p->SyncLoop(); });
  }
  return storage;
}

RocksDbStorage::RocksDbStorage(Options options, std::unique_ptr<rocksdb::DB> db)
    : options_(std::move(options)), db_(std::move(db)) {}

RocksDbStorage::~RocksDbStorage() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
  }
  if (sync_thread_.joinable()) sync_thread_.join();
  db_->SyncWAL().PermitUncheckedError();
  db_->Close().PermitUncheckedError();
}

absl::Status RocksDbStorage::CheckFormat() {
  std::string version;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), codec::kFormatKey, &version);
  if (s.ok()) {
    if (version == codec::kFormatVersion) return absl::OkStatus();
    int v = 0;
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
  rocksdb::WriteOptions wo;
  wo.sync = true;
  s = db_->Put(wo, codec::kFormatKey, codec::kFormatVersion);
  if (!s.ok()) return FromRocks(s, options_.path, "cannot initialize");
  return absl::OkStatus();
}

absl::StatusOr<LoadedState> RocksDbStorage::Load() {
  LoadedState out;
  ServiceMap services;
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const absl::string_view key = ToView(it->key());
    const absl::string_view value = ToView(it->value());
    if (absl::StartsWith(key, codec::kHistoryPrefix)) {
      SK_ASSIGN_OR_RETURN(HistoryEntry entry, codec::DecodeHistory(key, value));
      out.revision = std::max(out.revision, entry.revision);
      out.history.push_back(std::move(entry));
    } else if (key == codec::kFormatKey) {
      continue;
    } else if (key == codec::kNodesKey) {
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
      SK_ASSIGN_OR_RETURN(SlicePtr slice, codec::DecodeSlice(key, parts[2], value));
      if (slice->namespace_ != parts[0] || slice->ServiceName() != parts[1]) {
        return absl::DataLossError(absl::StrCat("storage ", options_.path, ": slice at key ", key,
                                                " belongs to another service"));
      }
      ServiceFor(services, parts[0], parts[1]).slices.push_back(std::move(slice));
    } else {
      return absl::DataLossError(
          absl::StrCat("storage ", options_.path, ": unknown key \"", key, "\""));
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), options_.path, "cannot read");
  for (auto& [key, s] : services) {
    // "r/" sorts before "s/", so a service seen only through slices has no record key.
    if (s.mod_revision == 0) {
      return absl::DataLossError(absl::StrCat("storage ", options_.path, ": slices of service ",
                                              key.first, "/", key.second, " without its r/ key"));
    }
    out.services.push_back(std::move(s));
  }
  // Drop undo records beyond the window (a smaller --history than the last run's).
  const int64_t keep_from = out.revision - std::max<int64_t>(options_.history_size, 1) + 1;
  auto first_kept = std::find_if(out.history.begin(), out.history.end(),
                                 [&](const HistoryEntry& e) { return e.revision >= keep_from; });
  if (first_kept != out.history.begin()) {
    const std::string begin = codec::HistoryKey(0);
    const std::string end = codec::HistoryKey(keep_from);
    rocksdb::Status s = db_->DeleteRange(rocksdb::WriteOptions(), db_->DefaultColumnFamily(),
                                         ToSlice(begin), ToSlice(end));
    if (!s.ok()) return FromRocks(s, options_.path, "cannot trim the history");
    out.history.erase(out.history.begin(), first_kept);
  }
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
    for (const ServiceWrite::SliceWrite& sw : w.slices) {
      const std::string slice_key = codec::SliceKey(w.namespace_, w.name, sw.name);
      if (sw.slice != nullptr) {
        batch.Put(slice_key, codec::EncodeSlice(*sw.slice));
      } else {
        batch.Delete(slice_key);
      }
    }
  }
  if (commit.nodes != nullptr) batch.Put(codec::kNodesKey, codec::EncodeNodes(*commit.nodes));
  if (!commit.services.empty()) {
    batch.Put(codec::HistoryKey(commit.revision), codec::EncodeHistory(commit));
    // Every revision has at most one undo record, so deleting one per commit keeps the window.
    const int64_t expired = commit.revision - std::max<int64_t>(options_.history_size, 1);
    if (expired > 0) batch.Delete(codec::HistoryKey(expired));
  }
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb::Status s = db_->Write(wo, &batch);
  if (!s.ok()) {
    return absl::UnavailableError(absl::StrCat("storage ", options_.path, ": commit of revision ",
                                               commit.revision, " failed: ", s.ToString()));
  }
  return absl::OkStatus();
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
