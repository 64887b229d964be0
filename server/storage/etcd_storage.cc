#include "server/storage/etcd_storage.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
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
bool Split(absl::string_view key, absl::string_view prefix, absl::string_view what, std::string& ns,
           std::string& name) {
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
  return std::make_shared<const std::vector<v1::Node>>(value.nodes().begin(), value.nodes().end());
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
    spdlog::warn(
        "etcd storage: revisions up to {} were compacted before this replica saw them; "
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
    : options_(std::move(options)), client_(std::move(client)) {
  proposer_ = std::thread([this] { ProposeLoop(); });
}

EtcdStorage::~EtcdStorage() {
  {
    absl::MutexLock l(&propose_mu_);
    proposer_stop_ = true;
  }
  proposer_.join();  // after it sent what was queued
  StopFollowing();
}

absl::StatusOr<std::unique_ptr<EtcdStorage>> EtcdStorage::Open(EtcdStorageOptions options) {
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError("etcd_prefix: must not be empty");
  }
  if (options.max_group_ops < 1 || options.max_group_bytes < 1) {
    return absl::InvalidArgumentError(
        "etcd storage: max_group_ops and max_group_bytes must be >= 1");
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
      return absl::FailedPreconditionError(
          absl::StrCat("etcd storage: prefix \"", options.prefix, "\" holds format version \"",
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

// One proposal, encoded: its guards beside the node registry's, its writes, the keys it writes.
struct EtcdStorage::Part {
  int64_t nodes_revision = 0;
  bool writes_nodes = false;
  std::vector<Compare> guards;
  std::vector<RequestOp> writes;
  std::vector<std::string> keys;
  int64_t bytes = 0;
  ProposeDone done;
};

namespace {

using Part = EtcdStorage::Part;

std::unique_ptr<Part> Encode(const Keys& keys, const CommitRecord& commit, int64_t nodes_revision,
                             ReplicatedStorage::ProposeDone done) {
  auto part = std::make_unique<Part>();
  part->nodes_revision = nodes_revision;
  part->done = std::move(done);
  auto write = [&](std::string key, const std::string* value) {
    RequestOp op;
    if (value != nullptr) {
      op.mutable_request_put()->set_key(key);
      op.mutable_request_put()->set_value(*value);
    } else {
      op.mutable_request_delete_range()->set_key(key);
    }
    part->bytes += static_cast<int64_t>(key.size() + (value != nullptr ? value->size() : 0) + 16);
    part->keys.push_back(std::move(key));
    part->writes.push_back(std::move(op));
  };
  auto guard = [&](const std::string& key, Compare::CompareTarget target, int64_t revision) {
    part->bytes += static_cast<int64_t>(2 * key.size() + 32);  // the compare and its failure read
    part->guards.push_back(Guard(key, target, revision));
  };
  for (const ServiceWrite& w : commit.services) {
    std::string service_key = keys.Service(w.namespace_, w.name);
    guard(service_key, Compare::MOD, w.undo.prev_mod_revision);
    if (w.exists) {
      internal::ServiceValue value;
      if (w.record != nullptr) {
        *value.mutable_record() = *w.record;
        value.mutable_record()->clear_resource_version();
      }
      const std::string bytes = value.SerializeAsString();
      write(std::move(service_key), &bytes);
    } else {
      write(std::move(service_key), nullptr);
    }
    for (size_t i = 0; i < w.slices.size(); ++i) {
      const ServiceWrite::SliceWrite& sw = w.slices[i];
      std::string slice_key = keys.Slice(w.namespace_, sw.name);
      if (sw.slice == nullptr) {
        write(std::move(slice_key), nullptr);
        continue;
      }
      const bool created = i < w.undo.slices.size() && w.undo.slices[i].prev == nullptr;
      if (created) guard(slice_key, Compare::CREATE, 0);
      const std::string bytes = SliceValue(*sw.slice).SerializeAsString();
      write(std::move(slice_key), &bytes);
    }
  }
  if (commit.nodes != nullptr) {
    internal::NodesValue value;
    for (const v1::Node& n : *commit.nodes) *value.add_nodes() = n;
    const std::string bytes = value.SerializeAsString();
    write(keys.Nodes(), &bytes);
    part->writes_nodes = true;
  }
  return part;
}

// The Txn of `group`: one guard per distinct node registry revision, every proposal's guards
// and writes; the failure branch reads the node registry, then each proposal's guarded keys in
// order.
etcdserverpb::TxnRequest GroupTxn(const Keys& keys, absl::Span<const std::unique_ptr<Part>> group) {
  etcdserverpb::TxnRequest txn;
  std::vector<int64_t> nodes_revisions;
  for (const auto& part : group) {
    if (std::find(nodes_revisions.begin(), nodes_revisions.end(), part->nodes_revision) ==
        nodes_revisions.end()) {
      nodes_revisions.push_back(part->nodes_revision);
      *txn.add_compare() = Guard(keys.Nodes(), Compare::MOD, part->nodes_revision);
    }
  }
  txn.add_failure()->mutable_request_range()->set_key(keys.Nodes());
  for (const auto& part : group) {
    for (const Compare& c : part->guards) {
      *txn.add_compare() = c;
      txn.add_failure()->mutable_request_range()->set_key(c.key());
    }
    for (const RequestOp& op : part->writes) *txn.add_success() = op;
  }
  return txn;
}

// The revision a guard compares, as etcd reads it (0 for an absent key).
int64_t Observed(const etcdserverpb::RangeResponse& range, Compare::CompareTarget target) {
  if (range.kvs_size() == 0) return 0;
  return target == Compare::MOD ? range.kvs(0).mod_revision() : range.kvs(0).create_revision();
}

bool IsTooLarge(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument &&
         (absl::StrContains(s.message(), "too many operations") ||
          absl::StrContains(s.message(), "too large"));
}

}  // namespace

void EtcdStorage::ProposeAsync(const CommitRecord& commit, int64_t nodes_revision,
                               ProposeDone done) {
  std::unique_ptr<Part> part =
      Encode(Keys(options_.prefix), commit, nodes_revision, std::move(done));
  absl::MutexLock l(&propose_mu_);
  queue_.push_back(std::move(part));
}

StorageStats EtcdStorage::Stats() const {
  StorageStats out;
  out.log_txns = txns_sent();
  out.log_proposals = proposals_sent();
  return out;
}

absl::StatusOr<ReplicatedStorage::Proposal> EtcdStorage::Propose(const CommitRecord& commit,
                                                                 int64_t nodes_revision) {
  // The caller sends the Txn itself when none is in flight (no hand-off to the proposer thread
  // on an idle storage); otherwise its proposal waits for the next group, which whoever is free
  // first (a waiting caller or the proposer thread) sends.
  bool decided = false;
  absl::StatusOr<Proposal> out;
  std::unique_ptr<Part> part =
      Encode(Keys(options_.prefix), commit, nodes_revision, [&](absl::StatusOr<Proposal> r) {
        absl::MutexLock l(&propose_mu_);
        out = std::move(r);
        decided = true;
      });
  absl::MutexLock l(&propose_mu_);
  queue_.push_back(std::move(part));
  auto free_or_decided = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(propose_mu_) {
    return decided || !sending_;
  };
  while (true) {
    propose_mu_.Await(absl::Condition(&free_or_decided));
    if (decided) return out;
    SendNextGroup();
  }
}

void EtcdStorage::SendNextGroup() {
  sending_ = true;
  std::vector<std::unique_ptr<Part>> group = TakeGroup();
  propose_mu_.Unlock();
  Settle(std::move(group));
  propose_mu_.Lock();
  sending_ = false;
}

void EtcdStorage::ProposeLoop() {
  absl::MutexLock l(&propose_mu_);
  while (true) {
    propose_mu_.Await(absl::Condition(
        +[](EtcdStorage* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->propose_mu_) {
          return !s->sending_ && (s->proposer_stop_ || !s->queue_.empty());
        },
        this));
    if (queue_.empty()) return;  // stopping, and everything was sent
    SendNextGroup();
  }
}

std::vector<std::unique_ptr<EtcdStorage::Part>> EtcdStorage::TakeGroup() {
  std::vector<std::unique_ptr<Part>> group;
  // A prefix of the queue, so the log's order is the order of the proposals.
  absl::flat_hash_set<absl::string_view> written;
  size_t compares = 0, writes = 0;
  int64_t bytes = 0;
  while (!queue_.empty()) {
    const Part& next = *queue_.front();
    if (!group.empty()) {
      if (next.writes_nodes || group.front()->writes_nodes) break;
      if (compares + next.guards.size() + 1 > static_cast<size_t>(options_.max_group_ops) ||
          writes + next.writes.size() > static_cast<size_t>(options_.max_group_ops) ||
          bytes + next.bytes > options_.max_group_bytes) {
        break;
      }
      if (std::any_of(next.keys.begin(), next.keys.end(),
                      [&](const std::string& k) { return written.contains(k); })) {
        break;
      }
    }
    compares += next.guards.size() + 1;  // a node registry guard at most per proposal
    writes += next.writes.size();
    bytes += next.bytes;
    written.insert(next.keys.begin(), next.keys.end());
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return group;
}

void EtcdStorage::Settle(std::vector<std::unique_ptr<Part>> group) {
  const Keys keys(options_.prefix);
  while (!group.empty()) {
    const etcdserverpb::TxnRequest txn = GroupTxn(keys, group);
    txns_sent_.fetch_add(1, std::memory_order_relaxed);
    proposals_sent_.fetch_add(static_cast<int64_t>(group.size()), std::memory_order_relaxed);
    absl::StatusOr<etcdserverpb::TxnResponse> r = client_->Txn(txn);
    if (!r.ok() && IsTooLarge(r.status()) && group.size() > 1) {
      // The cluster's limits are below the caps: one proposal per Txn.
      for (auto& part : group) {
        std::vector<std::unique_ptr<Part>> alone;
        alone.push_back(std::move(part));
        Settle(std::move(alone));
      }
      return;
    }
    if (!r.ok()) {
      absl::Status error;
      if (r.status().code() == absl::StatusCode::kInvalidArgument &&
          absl::StrContains(r.status().message(), "too many operations")) {
        error = absl::ResourceExhaustedError(absl::StrCat(
            "etcd storage: the commit needs ", txn.success_size(),
            " operations, more than etcd's --max-txn-ops allows: ", r.status().message()));
      } else if (r.status().code() == absl::StatusCode::kInvalidArgument &&
                 absl::StrContains(r.status().message(), "too large")) {
        error = absl::ResourceExhaustedError(
            absl::StrCat("etcd storage: the commit is larger than etcd's --max-request-bytes: ",
                         r.status().message()));
      } else {
        error = absl::UnavailableError(absl::StrCat("etcd storage: ", r.status().ToString()));
      }
      for (auto& part : group) part->done(error);
      return;
    }
    if (r->succeeded()) {
      for (auto& part : group) part->done(Proposal{true, r->header().revision()});
      return;
    }
    // The reads of the failure branch are of the revision the compare saw: they tell exactly
    // whose guards failed. Those learn the revision to catch up to (the newest of the keys they
    // guard; a key that is gone was deleted at some revision up to the response's); the others
    // go out again.
    const etcdserverpb::RangeResponse& nodes = r->responses(0).response_range();
    std::vector<std::unique_ptr<Part>> rest;
    int index = 1;
    for (auto& part : group) {
      bool holds = Observed(nodes, Compare::MOD) == part->nodes_revision;
      int64_t newest = nodes.kvs_size() > 0 ? nodes.kvs(0).mod_revision() : 0;
      bool vanished = nodes.kvs_size() == 0;
      for (const Compare& c : part->guards) {
        const etcdserverpb::RangeResponse& range = r->responses(index++).response_range();
        const int64_t expected = c.target() == Compare::MOD ? c.mod_revision() : 0;
        holds = holds && Observed(range, c.target()) == expected;
        for (const mvccpb::KeyValue& kv : range.kvs()) newest = std::max(newest, kv.mod_revision());
        if (range.kvs_size() == 0) vanished = true;
      }
      if (holds && group.size() > 1) {
        rest.push_back(std::move(part));
        continue;
      }
      if (vanished || newest == 0) newest = std::max(newest, r->header().revision());
      part->done(Proposal{false, newest});
    }
    if (rest.size() == group.size()) {
      // Every guard read as expected yet the compare failed (cannot happen with etcd's
      // semantics): one proposal per Txn, whose answer needs no reading.
      for (auto& part : rest) {
        std::vector<std::unique_ptr<Part>> alone;
        alone.push_back(std::move(part));
        Settle(std::move(alone));
      }
      return;
    }
    group = std::move(rest);
  }
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
      absl::Status s =
          Decode(keys, e.kv(), e.type() == mvccpb::Event::DELETE, commit, nodes, nodes_revision);
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
          +[](EtcdStorage* s)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu_) { return s->stop_ || s->watch_ended_; },
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
