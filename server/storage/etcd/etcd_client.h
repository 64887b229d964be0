// etcd v3 client: the KV, Lease and Watch calls slicekeeper's etcd storage backend needs, over
// etcd's own generated gRPC stubs (sk_etcd_proto, built from the protos Debian ships), with
// failover across a cluster's members.
//
// Failover: one gRPC channel per endpoint. A unary call goes to the endpoint that answered last;
// when it fails with UNAVAILABLE (member down, no leader, etcd's own "request timed out") or its
// attempt runs out of time before any response, the call moves to the next endpoint and tries
// again, backing off after each full round, until ClientOptions::timeout has passed since the call
// began. Any other status is etcd's answer and is returned as it is (gRPC code and message mapped
// to absl::Status: e.g. OUT_OF_RANGE for a compacted revision, INVALID_ARGUMENT for a bad request).
// A watch reconnects by itself (see Watcher).
//
// Retried writes: a write whose response was lost (the member died after committing it) is sent
// again, so it may commit twice. Callers guard their Txns with compares (mod_revision / version),
// which makes the second attempt fail its compare instead of applying twice; an unguarded Put may
// add one more revision with the same value, and a retried Compact may answer OUT_OF_RANGE
// ("required revision has been compacted") although the first attempt succeeded.
//
// TLS: on when ClientOptions::ca_file is set or the endpoints say https:// (system roots then);
// mutual TLS with cert_file + key_file. Tested against a real etcd with a generated CA and client
// certificate (tests/etcd/etcd_client_test.cc).
//
// Thread-safety: Client is thread-safe; any number of threads may call it at once. A Watcher's
// handler runs on the watcher's own thread. Watchers hold a reference to the channels, so they may
// outlive the Client that started them.
//
// Example:
//   SK_ASSIGN_OR_RETURN(std::unique_ptr<etcd::Client> client,
//                       etcd::Client::Create({.endpoints = {"127.0.0.1:2379"}}));
//   SK_ASSIGN_OR_RETURN(auto kvs_and_revision, client->RangePrefix("/registry/"));
//   SK_ASSIGN_OR_RETURN(std::unique_ptr<etcd::Watcher> watcher,
//                       client->WatchPrefix("/registry/", kvs_and_revision.second + 1, &handler));
#ifndef SLICEKEEPER_SERVER_STORAGE_ETCD_ETCD_CLIENT_H_
#define SLICEKEEPER_SERVER_STORAGE_ETCD_ETCD_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"

namespace slicekeeper::etcd {

namespace internal {
class Channels;
class WatchLoop;
}  // namespace internal

struct ClientOptions {
  // The cluster's client URLs: "host:port", "http://host:port" or "https://host:port" (IPv6 as
  // "[::1]:2379"). At least one; all with the same scheme.
  std::vector<std::string> endpoints;
  // PEM files. TLS when ca_file is set (or the endpoints are https://); mutual TLS when cert_file
  // and key_file are both set. Read once, by Create.
  std::string ca_file, cert_file, key_file;
  // Overall deadline of one unary call, failover and retries included. Positive.
  absl::Duration timeout = absl::Seconds(5);
};

// Receives a Watcher's events. Calls come from the watcher's own thread, one at a time, in order.
class WatchHandler {
 public:
  virtual ~WatchHandler() = default;

  // Events of one or more whole revisions, in ascending revision order: a revision's events (one
  // Txn's) are never split across calls. No event is delivered twice and none is skipped, across
  // reconnects too. header_revision is the etcd revision the response was sent at; it never
  // decreases from one call to the next. With events it may be ahead of the last event while the
  // watch catches up with history. A call with no events is a progress notification: every event
  // up to header_revision has been delivered (sent only while no events flow, at the cluster's
  // --experimental-watch-progress-notify-interval, 10 minutes by default). Events carry no prev_kv.
  virtual void OnEvents(int64_t header_revision, absl::Span<const mvccpb::Event> events) = 0;

  // The start revision, or the revision to resume from after a reconnect, has been compacted away
  // (compact_revision is etcd's compact revision): the watch has stopped and no more calls follow.
  // The caller re-reads (RangePrefix) and starts a new watch.
  virtual void OnCompacted(int64_t compact_revision) = 0;
};

// A running watch (Client::WatchPrefix). It reconnects by itself after a stream failure or a
// server-side cancellation (to the next endpoint, after a jittered backoff of 50 ms doubling up to
// 1 s) and resumes from the revision after the last one delivered; it stops only when destroyed or
// after OnCompacted.
class Watcher {
 public:
  // Cancels the stream and joins the watcher's thread: no handler call runs after it returns.
  // REQUIRES: not called from inside this watcher's own handler (it would join itself).
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

 private:
  friend class Client;
  explicit Watcher(std::unique_ptr<internal::WatchLoop> loop);

  std::unique_ptr<internal::WatchLoop> loop_;
};

class Client {
 public:
  // Validates the options, reads the TLS files and creates one channel per endpoint. Does not
  // connect: connections are made by the first calls, so a cluster that is down is no error here.
  // Errors: INVALID_ARGUMENT (no endpoint, a malformed or mixed-scheme endpoint, cert_file without
  // key_file or the reverse, client certificates or ca_file with http:// endpoints, an unreadable
  // TLS file, a non-positive timeout).
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // etcd's KV calls, with failover (see the file comment). Errors: etcd's status as it is, or
  // UNAVAILABLE / DEADLINE_EXCEEDED when no member answered within ClientOptions::timeout.
  absl::StatusOr<etcdserverpb::RangeResponse> Range(const etcdserverpb::RangeRequest& req);
  absl::StatusOr<etcdserverpb::PutResponse> Put(const etcdserverpb::PutRequest& req);
  absl::StatusOr<etcdserverpb::DeleteRangeResponse> DeleteRange(
      const etcdserverpb::DeleteRangeRequest& req);
  // A retried Txn may have committed the first time; guard it with compares.
  absl::StatusOr<etcdserverpb::TxnResponse> Txn(const etcdserverpb::TxnRequest& req);
  // OUT_OF_RANGE when req.revision() is already compacted or is in the future.
  absl::StatusOr<etcdserverpb::CompactionResponse> Compact(
      const etcdserverpb::CompactionRequest& req);

  // Grants a lease of ttl_seconds (etcd may round it up to its minimum) and returns etcd's
  // response (ID, TTL).
  absl::StatusOr<etcdserverpb::LeaseGrantResponse> LeaseGrant(int64_t ttl_seconds);
  // Renews a lease once (one message on etcd's LeaseKeepAlive stream) and returns its new TTL in
  // seconds. Errors: NOT_FOUND when the lease has expired or never existed; as Range otherwise.
  absl::StatusOr<int64_t> LeaseKeepAliveOnce(int64_t lease_id);
  // Revokes a lease, deleting its keys. Errors: NOT_FOUND ("requested lease not found") as etcd
  // reports it; as Range otherwise.
  absl::StatusOr<etcdserverpb::LeaseRevokeResponse> LeaseRevoke(int64_t lease_id);

  // Reads every key starting with `prefix` (every key, when empty) at one revision: pages of
  // page_size keys, all read at the revision of the first page. Returns the KVs in key order and
  // that revision. Errors: INVALID_ARGUMENT when page_size < 1; OUT_OF_RANGE when the revision was
  // compacted between pages (read again); as Range otherwise.
  absl::StatusOr<std::pair<std::vector<mvccpb::KeyValue>, int64_t>> RangePrefix(
      std::string_view prefix, int64_t page_size = 1000);

  // Starts a watch of every key starting with `prefix` (every key, when empty) from
  // start_revision (inclusive; 0 means from the revision after the current one) on a thread of
  // its own, delivering to `handler` (see WatchHandler). It returns at once: the stream is opened
  // (and reopened) by that thread, and a start revision that is already compacted is reported
  // through OnCompacted, not here. REQUIRES: `handler` outlives the Watcher. Errors:
  // INVALID_ARGUMENT when handler is null or start_revision < 0.
  absl::StatusOr<std::unique_ptr<Watcher>> WatchPrefix(std::string_view prefix,
                                                       int64_t start_revision,
                                                       WatchHandler* handler);

  // etcd's range_end for a prefix: the prefix with its last byte below 0xff incremented and the
  // bytes after it dropped; "\0" (no upper bound) when there is no such byte or prefix is empty.
  static std::string PrefixEnd(std::string_view prefix);

 private:
  Client(ClientOptions options, std::shared_ptr<internal::Channels> channels);

  // Immutable after construction.
  const ClientOptions options_;
  const std::shared_ptr<internal::Channels> channels_;
};

}  // namespace slicekeeper::etcd

#endif  // SLICEKEEPER_SERVER_STORAGE_ETCD_ETCD_CLIENT_H_
