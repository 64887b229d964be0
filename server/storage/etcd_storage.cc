#include "server/storage/etcd_storage.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_util.h"
#include "server/storage/internal/records.pb.h"
#include "spdlog/spdlog.h"

namespace slicekeeper::storage {
namespace {

constexpr char kFormatVersion[] = "1";

using etcdserverpb::Compare;
using etcdserverpb::RequestOp;

absl::Status Corrupt(absl::string_view key, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("etcd storage: corrupt value at key \"", absl::CHexEscape(key), "\": ", what));
}

struct Keys {
  explicit Keys(std::string p) : prefix(std::move(p)) {}
  std::string Format() const { return prefix + "format"; }
  std::string Nodes() const { return prefix + "nodes"; }
  std::string Service(absl::string_view ns, absl::string_view name) const {
    return absl::StrCat(prefix, "services/", ns, "/", name);
  }
  std::string Slice(absl::string_view ns, absl::string_view name) const {
    return absl::StrCat(prefix, "slices/", ns, "/", name);
  }
  const std::string prefix;
};

// "<ns>/<name>" after `what` under the prefix, or false.
bool Split(absl::string_view key, absl::string_view prefix, absl::string_view what,
           std::string& ns, std::string& name) {
  if (!absl::StartsWith(key, prefix)) return false;
  key.remove_prefix(prefix.size());
  if (!absl::ConsumePrefix(&key, what)) return false;
  std::vector<absl::string_view> parts = absl::StrSplit(key, '/');
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty()) return false;
  ns = std::string(parts[0]);
  name = std::string(parts[1]);
  return true;
}

v1::EndpointSlice SliceValue(const Slice& slice) {
  v1::EndpointSlice proto = slice.ToProto();
  proto.clear_api_version();
  proto.clear_kind();
  proto.mutable_metadata()->clear_resource_version();
  return proto;
}

absl::StatusOr<SlicePtr> DecodeSlice(const mvccpb::KeyValue& kv, absl::string_view ns,
                                     absl::string_view name) {
  v1::EndpointSlice proto;
  if (!proto.ParseFromString(kv.value())) return Corrupt(kv.key(), "unparsable slice");
  if (proto.metadata().name() != name || proto.metadata().namespace_() != ns) {
    return Corrupt(kv.key(), "slice name differs from its key");
  }
  std::shared_ptr<Slice> slice = SliceFromProto(proto);
  if (slice->ServiceName().empty()) return Corrupt(kv.key(), "slice without a service label");
  slice->resource_version = kv.mod_revision();
  return SlicePtr(std::move(slice));
}

absl::StatusOr<RecordPtr> DecodeRecord(const mvccpb::KeyValue& kv, absl::string_view ns,
                                       absl::string_view name) {
  internal::ServiceValue value;
  if (!value.ParseFromString(kv.value())) return Corrupt(kv.key(), "unparsable service value");
  if (!value.has_record()) return RecordPtr();
  if (value.record().namespace_() != ns || value.record().name() != name) {
    return Corrupt(kv.key(), "record names another service");
  }
  auto record = std::make_shared<v1::ServiceRecord>(std::move(*value.mutable_record()));
  record->set_resource_version(absl::StrCat(kv.mod_revision()));
  return RecordPtr(std::move(record));
}

absl::StatusOr<NodeListPtr> DecodeNodes(const mvccpb::KeyValue& kv) {
  internal::NodesValue value;
  if (!value.ParseFromString(kv.value())) return Corrupt(kv.key(), "unparsable node list");
  return std::make_shared<const std::vector<v1::Node>>(value.nodes().begin(),
                                                       value.nodes().end());
}

// Adds what `kv` (written, or deleted when `deleted`) means to `out`.
absl::Status Decode(const Keys& keys, const mvccpb::KeyValue& kv, bool deleted,
                    ReplicatedCommit& out, NodeListPtr& nodes, int64_t& nodes_revision) {
  std::string ns, name;
  if (Split(kv.key(), keys.prefix, "services/", ns, name)) {
    ReplicatedCommit::ServiceChange c;
    c.namespace_ = ns;
    c.name = name;
    c.exists = !deleted;
    c.mod_revision = kv.mod_revision();
    if (!deleted) {
      SK_ASSIGN_OR_RETURN(c.record, DecodeRecord(kv, ns, name));
    }
    out.services.push_back(std::move(c));
  } else if (Split(kv.key(), keys.prefix, "slices/", ns, name)) {
    ReplicatedCommit::SliceChange c;
    c.namespace_ = ns;
    c.name = name;
    if (!deleted) {
      SK_ASSIGN_OR_RETURN(c.slice, DecodeSlice(kv, ns, name));
    }
    out.slices.push_back(std::move(c));
  } else if (kv.key() == keys.Nodes()) {
    if (deleted) return Corrupt(kv.key(), "node registry deleted");
    SK_ASSIGN_OR_RETURN(nodes, DecodeNodes(kv));
    nodes_revision = kv.mod_revision();
  }
  // Anything else under the prefix (the format key) is not state.
  return absl::OkStatus();
}

Compare Guard(std::string key, Compare::CompareTarget target, int64_t revision) {
  Compare c;
  c.set_key(std::move(key));
  c.set_result(Compare::EQUAL);
  c.set_target(target);
  if (target == Compare::MOD) {
    c.set_mod_revision(revision);
  } else {
    c.set_create_revision(revision);
  }
  return c;
}

}  // namespace

// Receives the watch: applies whole revisions, notes when the watch ends.
class EtcdStorage::Handler : public etcd::WatchHandler {
 public:
  explicit Handler(EtcdStorage* storage) : storage_(storage) {}
  void OnEvents(int64_t, absl::Span<const mvccpb::Event> events) override {
    if (events.empty() || failed_) return;
    if (!storage_->ApplyEvents(events)) {
      failed_ = true;
      absl::MutexLock l(&storage_->mu_);
      storage_->failed_ = true;
      storage_->watch_ended_ = true;
    }
  }
  void OnCompacted(int64_t compact_revision) override {
    spdlog::warn("etcd storage: revisions up to {} were compacted before this replica saw them; "
                 "reading everything again",
                 compact_revision);
    absl::MutexLock l(&storage_->mu_);
    storage_->watch_ended_ = true;
  }

 private:
  EtcdStorage* const storage_;
  bool failed_ = false;
};

EtcdStorage::EtcdStorage(EtcdStorageOptions options, std::unique_ptr<etcd::Client> client)
    : options_(std::move(options)), client_(std::move(client)) {}

EtcdStorage::~EtcdStorage() { StopFollowing(); }

absl::StatusOr<std::unique_ptr<EtcdStorage>> EtcdStorage::Open(EtcdStorageOptions options) {
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError("etcd_prefix: must not be empty");
  }
  SK_ASSIGN_OR_RETURN(std::unique_ptr<etcd::Client> client, etcd::Client::Create(options.client));
  const Keys keys(options.prefix);
  // Writes the format key if absent; reads it either way.
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = Guard(keys.Format(), Compare::CREATE, 0);
  auto* put = txn.add_success()->mutable_request_put();
  put->set_key(keys.Format());
  put->set_value(kFormatVersion);
  txn.add_failure()->mutable_request_range()->set_key(keys.Format());
  absl::StatusOr<etcdserverpb::TxnResponse> r = client->Txn(txn);
  if (!r.ok()) {
    return absl::Status(r.status().code(),
                        absl::StrCat("etcd storage: cannot reach etcd: ", r.status().message()));
  }
  if (!r->succeeded()) {
    const auto& range = r->responses(0).response_range();
    const std::string found = range.kvs_size() > 0 ? range.kvs(0).value() : "";
    if (found != kFormatVersion) {
      return absl::FailedPreconditionError(absl::StrCat(
          "etcd storage: prefix \"", options.prefix, "\" holds format version \"",
          absl::CHexEscape(found), "\"; this binary reads version ", kFormatVersion));
    }
  }
  return std::unique_ptr<EtcdStorage>(new EtcdStorage(std::move(options), std::move(client)));
}

absl::StatusOr<ReplicatedCommit> EtcdStorage::ReadAll() {
  SK_ASSIGN_OR_RETURN(auto kvs_and_revision, client_->RangePrefix(options_.prefix));
  const Keys keys(options_.prefix);
  ReplicatedCommit out;
  out.revision = kvs_and_revision.second;
  out.full = true;
  NodeListPtr nodes = std::make_shared<const std::vector<v1::Node>>();
  int64_t nodes_revision = 0;
  for (const mvccpb::KeyValue& kv : kvs_and_revision.first) {
    SK_RETURN_IF_ERROR(Decode(keys, kv, /*deleted=*/false, out, nodes, nodes_revision));
  }
  out.nodes = std::move(nodes);
  out.nodes_revision = nodes_revision;
  return out;
}

absl::StatusOr<LoadedState> EtcdStorage::Load() {
  SK_ASSIGN_OR_RETURN(ReplicatedCommit all, ReadAll());
  LoadedState state;
  state.revision = all.revision;
  // The history is etcd's own MVCC; a replica keeps its window in memory from its start.
  state.history_floor = all.revision;
  state.nodes = *all.nodes;
  std::map<std::pair<std::string, std::string>, StoredService> services;
  for (ReplicatedCommit::ServiceChange& c : all.services) {
    StoredService& s = services[{c.namespace_, c.name}];
    s.namespace_ = c.namespace_;
    s.name = c.name;
    s.record = c.record;
    s.mod_revision = c.mod_revision;
  }
  for (ReplicatedCommit::SliceChange& c : all.slices) {
    auto it = services.find({c.namespace_, c.slice->ServiceName()});
    if (it == services.end()) {
      return Corrupt(Keys(options_.prefix).Slice(c.namespace_, c.name),
                     "slice of a service without a service key");
    }
    it->second.slices.push_back(std::move(c.slice));
  }
  for (auto& [key, s] : services) state.services.push_back(std::move(s));
  state.nodes_revision = all.nodes_revision;
  return state;
}

absl::StatusOr<ReplicatedStorage::Proposal> EtcdStorage::Propose(const CommitRecord& commit,
                                                                 int64_t nodes_revision) {
  const Keys keys(options_.prefix);
  etcdserverpb::TxnRequest txn;
  *txn.add_compare() = Guard(keys.Nodes(), Compare::MOD, nodes_revision);
  txn.add_failure()->mutable_request_range()->set_key(keys.Nodes());
  for (const ServiceWrite& w : commit.services) {
    const std::string service_key = keys.Service(w.namespace_, w.name);
    *txn.add_compare() = Guard(service_key, Compare::MOD, w.undo.prev_mod_revision);
    txn.add_failure()->mutable_request_range()->set_key(service_key);
    if (w.exists) {
      internal::ServiceValue value;
      if (w.record != nullptr) {
        *value.mutable_record() = *w.record;
        value.mutable_record()->clear_resource_version();
      }
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(service_key);
      put->set_value(value.SerializeAsString());
    } else {
      txn.add_success()->mutable_request_delete_range()->set_key(service_key);
    }
    for (size_t i = 0; i < w.slices.size(); ++i) {
      const ServiceWrite::SliceWrite& sw = w.slices[i];
      std::string slice_key = keys.Slice(w.namespace_, sw.name);
      if (sw.slice == nullptr) {
        txn.add_success()->mutable_request_delete_range()->set_key(slice_key);
        continue;
      }
      const bool created = i < w.undo.slices.size() && w.undo.slices[i].prev == nullptr;
      if (created) {
        *txn.add_compare() = Guard(slice_key, Compare::CREATE, 0);
        txn.add_failure()->mutable_request_range()->set_key(slice_key);
      }
      auto* put = txn.add_success()->mutable_request_put();
      put->set_key(std::move(slice_key));
      put->set_value(SliceValue(*sw.slice).SerializeAsString());
    }
  }
  if (commit.nodes != nullptr) {
    internal::NodesValue value;
    for (const v1::Node& n : *commit.nodes) *value.add_nodes() = n;
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(keys.Nodes());
    put->set_value(value.SerializeAsString());
  }
  absl::StatusOr<etcdserverpb::TxnResponse> r = client_->Txn(txn);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kInvalidArgument &&
        absl::StrContains(r.status().message(), "too many operations")) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "etcd storage: the commit needs ", txn.success_size(),
          " operations, more than etcd's --max-txn-ops allows: ", r.status().message()));
    }
    if (r.status().code() == absl::StatusCode::kInvalidArgument &&
        absl::StrContains(r.status().message(), "too large")) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "etcd storage: the commit is larger than etcd's --max-request-bytes: ",
          r.status().message()));
    }
    return absl::UnavailableError(absl::StrCat("etcd storage: ", r.status().ToString()));
  }
  if (r->succeeded()) return Proposal{true, r->header().revision()};
  // Which revision changed what the proposer read: the newest of the guarded keys. A guarded key
  // that is gone now was deleted at some revision up to the response's; wait for that one.
  int64_t newest = 0;
  bool vanished = false;
  for (const etcdserverpb::ResponseOp& op : r->responses()) {
    const auto& range = op.response_range();
    for (const mvccpb::KeyValue& kv : range.kvs()) newest = std::max(newest, kv.mod_revision());
    if (range.kvs_size() == 0) vanished = true;
  }
  if (vanished || newest == 0) newest = std::max(newest, r->header().revision());
  return Proposal{false, newest};
}

bool EtcdStorage::ApplyEvents(absl::Span<const mvccpb::Event> events) {
  const Keys keys(options_.prefix);
  size_t i = 0;
  while (i < events.size()) {
    const int64_t revision = events[i].kv().mod_revision();
    ReplicatedCommit commit;
    commit.revision = revision;
    NodeListPtr nodes;
    int64_t nodes_revision = 0;
    for (; i < events.size() && events[i].kv().mod_revision() == revision; ++i) {
      const mvccpb::Event& e = events[i];
      absl::Status s = Decode(keys, e.kv(), e.type() == mvccpb::Event::DELETE, commit, nodes,
                              nodes_revision);
      if (!s.ok()) {
        spdlog::error("etcd storage: revision {}: {}; this replica stops following", revision,
                      s.ToString());
        following_.store(false, std::memory_order_release);
        return false;
      }
    }
    commit.nodes = std::move(nodes);
    commit.nodes_revision = nodes_revision;
    if (revision <= applied_.load(std::memory_order_acquire)) continue;  // already applied
    if (absl::Status s = sink_->Apply(commit); !s.ok()) {
      spdlog::error("etcd storage: applying revision {}: {}; this replica stops following",
                    revision, s.ToString());
      following_.store(false, std::memory_order_release);
      return false;
    }
    applied_.store(revision, std::memory_order_release);
  }
  return true;
}

absl::Status EtcdStorage::Follow(int64_t revision, ReplicationSink* sink) {
  sink_ = sink;
  applied_.store(revision, std::memory_order_release);
  following_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void EtcdStorage::Run() {
  Handler handler(this);
  absl::BitGen gen;
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stop_ || failed_) return;
      watch_ended_ = false;
    }
    absl::StatusOr<std::unique_ptr<etcd::Watcher>> watcher =
        client_->WatchPrefix(options_.prefix, applied_.load() + 1, &handler);
    if (!watcher.ok()) {
      spdlog::error("etcd storage: cannot watch: {}", watcher.status().ToString());
      following_.store(false, std::memory_order_release);
      return;
    }
    {
      absl::MutexLock l(&mu_);
      mu_.Await(absl::Condition(
          +[](EtcdStorage* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) {
            return s->stop_ || s->watch_ended_;
          },
          this));
      if (stop_ || failed_) return;  // the watcher is destroyed on the way out
    }
    watcher->reset();
    // Compacted: read everything again, until it works or we are stopped.
    while (true) {
      absl::StatusOr<ReplicatedCommit> all = ReadAll();
      if (all.ok()) {
        if (all->revision > applied_.load()) {
          if (absl::Status s = sink_->Apply(*all); !s.ok()) {
            spdlog::error("etcd storage: resynchronizing at revision {}: {}", all->revision,
                          s.ToString());
            following_.store(false, std::memory_order_release);
            return;
          }
          applied_.store(all->revision, std::memory_order_release);
        }
        backoff = absl::Milliseconds(50);
        break;
      }
      spdlog::warn("etcd storage: reading the prefix again: {}", all.status().ToString());
      absl::MutexLock l(&mu_);
      const absl::Duration wait = backoff * absl::Uniform(gen, 0.5, 1.0);
      backoff = std::min(backoff * 2, absl::Seconds(1));
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), wait)) return;
    }
  }
}

void EtcdStorage::StopFollowing() {
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace slicekeeper::storage
