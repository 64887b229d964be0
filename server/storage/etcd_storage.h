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
// Compaction: when etcd compacted away revisions the follower had not seen (it was disconnected
// for long), the follower reads the whole prefix again and applies it as one full
// resynchronization; watchers of the replica then see the differences as ordinary changes.
//
// Thread-safety: Propose may be called concurrently; Load once, then Follow once.
#ifndef SLICEKEEPER_SERVER_STORAGE_ETCD_STORAGE_H_
#define SLICEKEEPER_SERVER_STORAGE_ETCD_STORAGE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

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
  absl::Status Follow(int64_t revision, ReplicationSink* sink) override;
  void StopFollowing() override;

  // The last revision the follower handed to its sink (0 before Follow). Thread-safe.
  int64_t applied_revision() const { return applied_.load(std::memory_order_acquire); }
  // False once the follower stopped on an error (the replica is then stale). Thread-safe.
  bool following() const override { return following_.load(std::memory_order_acquire); }

 private:
  class Handler;
  EtcdStorage(EtcdStorageOptions options, std::unique_ptr<etcd::Client> client);

  // The follower thread: watches from applied_ + 1, resynchronizes after a compaction.
  void Run();
  // Reads the whole prefix as a full ReplicatedCommit at the read's revision.
  absl::StatusOr<ReplicatedCommit> ReadAll();
  // Decodes and applies the events of whole revisions; false when the sink failed.
  bool ApplyEvents(absl::Span<const mvccpb::Event> events);

  const EtcdStorageOptions options_;
  const std::unique_ptr<etcd::Client> client_;

  ReplicationSink* sink_ = nullptr;
  std::atomic<int64_t> applied_{0};
  std::atomic<bool> following_{false};
  std::thread thread_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the watch handler: the watch stopped (compacted, or the sink failed).
  bool watch_ended_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::storage

#endif  // SLICEKEEPER_SERVER_STORAGE_ETCD_STORAGE_H_
