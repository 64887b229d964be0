// EtcdStorage: the replicated backend (`--store=etcd`). Several slicekeeper replicas share one
// etcd cluster; each runs its own store, fed by a watch of the key prefix (see
// storage::ReplicatedStorage). Revisions are etcd's revisions, so a watcher resumes on any replica.
//
// Keys under the prefix P (default "/slicekeeper/"), values are protobuf:
//   P format                  "1"; a different value is refused (FAILED_PRECONDITION)
//   P services/<ns>/<name>    storage.internal.ServiceValue: the record (absent for a service with
//                             only foreign slices); its mod_revision is the service's revision
//   P slices/<ns>/<slice>     slicekeeper.v1.EndpointSlice (resourceVersion = the key's
//                             mod_revision; the service is its kubernetes.io/service-name label)
//   P nodes                   storage.internal.NodesValue
// A commit is one etcd Txn that writes the service key of every service it touches, guarded by
// that key's mod_revision (the revision the proposer reconciled from), by create_revision = 0 for
// every slice it creates (slice names are unique per namespace across replicas) and by the nodes
// key's mod_revision. When a guard fails, the Txn's failure branch reads the guarded keys, so the
// proposer learns which revision to wait for before it retries.
//
// etcd limits a Txn to --max-txn-ops operations (128 by default) and a request to
// --max-request-bytes (1.5 MiB): a commit touching more slices than that is refused with
// RESOURCE_EXHAUSTED. Run etcd with larger limits for big batches (docker-compose.yml uses 10000
// and 10 MiB).
//
// Group commit: the Txns go out one at a time, in the order proposals arrived, sent by a caller
// of Propose that finds none in flight, or else by whoever is free first (a waiting caller, or
// the proposer thread, which sends what ProposeAsync queued). Proposals that queued while a Txn was
// in flight go out together as ONE Txn (their guards ANDed, their writes in the success branch), so
// one etcd round trip and one etcd fsync carry many commits, which then share a revision. A group
// is a prefix of the queue: it stops before a proposal that writes a key the group already writes,
// before or after one that writes the node registry, and at EtcdStorageOptions::max_group_ops /
// max_group_bytes (etcd's default limits). When the group's compare fails, the failure branch's
// reads say exactly which proposals' guards failed: those are answered (not committed, with the
// revision to catch up to) and the rest go out again as a group; nothing of a failed compare is
// applied. A group etcd refuses as too large is sent again one proposal per Txn. Only one Txn is in
// flight: two Txns in flight could be applied by etcd in either order, and a writer's pipelined
// commits to different services are appended in the order it made them.
//
// Compaction: when etcd compacted away revisions the follower had not seen (it was disconnected
// for long), the follower reads the whole prefix again and applies it as one full
// resynchronization; watchers of the replica then see the differences as ordinary changes.
//
// Thread-safety: Propose and ProposeAsync may be called concurrently; Load once, then Follow once.
#ifndef SLICEKEEPER_SERVER_STORAGE_ETCD_STORAGE_H_
#define SLICEKEEPER_SERVER_STORAGE_ETCD_STORAGE_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/storage/etcd/etcd_client.h"
#include "server/storage/storage.h"

namespace slicekeeper::storage {

struct EtcdStorageOptions {
  etcd::ClientOptions client;
  // Every key slicekeeper writes starts with it. Non-empty.
  std::string prefix = "/slicekeeper/";
  // Group commit caps: operations of each Txn branch (etcd's --max-txn-ops default is 128) and
  // bytes of the Txn (etcd's --max-request-bytes default is 1.5 MiB). A single proposal larger
  // than that still goes out alone. >= 1.
  int max_group_ops = 128;
  int64_t max_group_bytes = 1 << 20;
};

class EtcdStorage : public ReplicatedStorage {
 public:
  // Connects lazily; checks (or, on an empty prefix, writes) the format key, which needs the
  // cluster: UNAVAILABLE when no member answers. FAILED_PRECONDITION for another format version,
  // INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<EtcdStorage>> Open(EtcdStorageOptions options);
  ~EtcdStorage() override;

  absl::StatusOr<LoadedState> Load() override;
  absl::StatusOr<Proposal> Propose(const CommitRecord& commit, int64_t nodes_revision) override;
  void ProposeAsync(const CommitRecord& commit, int64_t nodes_revision, ProposeDone done) override;
  absl::Status Follow(int64_t revision, ReplicationSink* sink) override;
  void StopFollowing() override;
  // log_txns and log_proposals; the other fields are -1.
  StorageStats Stats() const override;

  // Txns sent for proposals, and the proposals they carried (first attempts and re-sends), so
  // far. Thread-safe.
  int64_t txns_sent() const { return txns_sent_.load(std::memory_order_relaxed); }
  int64_t proposals_sent() const { return proposals_sent_.load(std::memory_order_relaxed); }
  // The last revision the follower handed to its sink (0 before Follow). Thread-safe.
  int64_t applied_revision() const { return applied_.load(std::memory_order_acquire); }
  // False once the follower stopped on an error (the replica is then stale). Thread-safe.
  bool following() const override { return following_.load(std::memory_order_acquire); }

  // A queued proposal, encoded (etcd_storage.cc).
  struct Part;

 private:
  class Handler;
  EtcdStorage(EtcdStorageOptions options, std::unique_ptr<etcd::Client> client);

  // The follower thread: watches from applied_ + 1, resynchronizes after a compaction.
  void Run();
  // Reads the whole prefix as a full ReplicatedCommit at the read's revision.
  absl::StatusOr<ReplicatedCommit> ReadAll();
  // Decodes and applies the events of whole revisions; false when the sink failed.
  bool ApplyEvents(absl::Span<const mvccpb::Event> events);

  // The proposer thread: sends the queued proposals no caller of Propose is there to send.
  void ProposeLoop();
  // Sends the next group, with propose_mu_ released meanwhile. REQUIRES: !sending_.
  void SendNextGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(propose_mu_);
  // Takes the next group off the queue: a prefix of it (see the file comment).
  std::vector<std::unique_ptr<Part>> TakeGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(propose_mu_);
  // Sends `group` as one Txn (and, after a failed compare or an oversized group, what is left of
  // it again) and calls every proposal's `done`.
  void Settle(std::vector<std::unique_ptr<Part>> group);

  const EtcdStorageOptions options_;
  const std::unique_ptr<etcd::Client> client_;

  ReplicationSink* sink_ = nullptr;
  std::atomic<int64_t> applied_{0};
  std::atomic<bool> following_{false};
  std::thread thread_;

  absl::Mutex propose_mu_;
  std::deque<std::unique_ptr<Part>> queue_ ABSL_GUARDED_BY(propose_mu_);
  bool proposer_stop_ ABSL_GUARDED_BY(propose_mu_) = false;
  // A Txn is in flight (one at most, so the log keeps the proposals' order).
  bool sending_ ABSL_GUARDED_BY(propose_mu_) = false;
  std::thread proposer_;
  // Txns the proposer sent, and proposals they carried (tests check the grouping).
  std::atomic<int64_t> txns_sent_{0};
  std::atomic<int64_t> proposals_sent_{0};

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the watch handler: the watch stopped (compacted, or the sink failed).
  bool watch_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::storage

#endif  // SLICEKEEPER_SERVER_STORAGE_ETCD_STORAGE_H_
