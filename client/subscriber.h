// Subscriber: a local, kube-proxy-style cache of the endpoints of some services, kept current by a
// Watch (SLICES view; protocol in docs/watch.md).
//
// The cache holds every slice of the watched services, keyed by (namespace, kubernetes.io/
// service-name label, slice name); slices without the label and FQDN slices are ignored
// (docs/kubernetes-behaviour.md §5.1). Per service it keeps the merged, de-duplicated endpoint list
// (client/endpoints.h MergeSlices: addresses[0], non-terminating wins), from which Endpoints() and
// Routable() answer without a round trip.
//
// Reconnects: when the stream fails, the Subscriber waits (jittered exponential backoff, reset
// after each SYNCED), fails over to the Client's next address on UNAVAILABLE, and resumes from the
// last revision it has completely seen, so only what changed since is re-sent. If the server
// cannot resume (history compacted, or a restarted memory store), it answers RESET and a fresh
// snapshot: the Subscriber collects the snapshot aside and swaps it in at SYNCED, so readers never
// see a half-built cache, and services missing from the new snapshot are reported as emptied.
// Limitation: a revision names a point in one store's history. A memory-store server that
// restarted empty RESETs a Subscriber only while its own revision is below the Subscriber's; if
// it has already passed it when the Subscriber reconnects, the resume is accepted into a different
// history. Durable stores (RocksDB, etcd) keep one history across restarts.
//
// Callbacks: `on_change(service, previous, current)` runs once per service whose merged endpoint
// list changed, after each received message (or at SYNCED for a snapshot), with the lists before
// and after. A service whose endpoints did not change (e.g. only a slice's resourceVersion moved)
// gets no callback.
//
// Threading model: Start() starts one background thread that owns the stream; it applies events
// under the cache mutex and runs callbacks on that thread with no lock held, so a callback may
// call Endpoints() / Routable() (which lock the mutex briefly and copy), but must not call Stop()
// (it would wait for itself). Callbacks run one at a time, in revision order. Endpoints(),
// Routable(), revision(), AwaitRevision() and Stop() are thread-safe.
//
// Example:
//   Subscriber sub(client.get(), {.services = {"web"}},
//                  [](const std::string& svc, const EndpointList& before,
//                     const EndpointList& after) { ... });
//   sub.Start();
//   sub.AwaitSynced(absl::Seconds(5));
//   EndpointList backends = sub.Routable("web", {.zone = "us-west2-a"});
#ifndef SLICEKEEPER_CLIENT_SUBSCRIBER_H_
#define SLICEKEEPER_CLIENT_SUBSCRIBER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/endpoints.h"
#include "common/backoff.h"

namespace slicekeeper::client {

struct SubscriberOptions {
  // "" watches every namespace; services named without a namespace then resolve to "default".
  std::string namespace_;
  // Service names; empty: every service of the namespace, including ones created later.
  std::vector<std::string> services;
  // "IPv4" or "IPv6": the proxier's family (other slices ignored); "": both.
  std::string address_type;
  // Ask for BOOKMARKs, so the resume revision keeps advancing while idle.
  bool bookmarks = true;
  BackoffOptions backoff;
};

// Counters for tests and monitoring.
struct SubscriberStats {
  int64_t connects = 0;     // streams opened
  int64_t resets = 0;       // RESET events received
  int64_t snapshots = 0;    // full snapshots swapped in
  int64_t syncs = 0;        // SYNCED events received (one per stream that got in sync)
  int64_t events = 0;       // ADDED / MODIFIED / DELETED events applied
  int64_t callbacks = 0;    // on_change invocations
  int64_t last_resume = 0;  // resume_revision of the last stream opened
};

class Subscriber {
 public:
  // `service` is "namespace/name".
  using ChangeCallback = std::function<void(
      const std::string& service, const EndpointList& previous, const EndpointList& current)>;

  // Does no work. `client` must outlive the Subscriber. `on_change` may be empty.
  Subscriber(Client* client, SubscriberOptions options, ChangeCallback on_change);
  // Stops (see Stop).
  ~Subscriber();
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // Starts the watch thread. REQUIRES: not started before.
  void Start();
  // Cancels the stream and joins the thread; no callback runs after it returns. Idempotent.
  // REQUIRES: not called from a callback.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // The merged endpoints of `service` ("namespace/name", or "name" in options.namespace_ or
  // "default"), filtered. Empty when the service is unknown.
  EndpointList Endpoints(const std::string& service, const EndpointFilter& filter = {}) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // The endpoints cluster traffic from `location` may use (kube-proxy's rule,
  // docs/kubernetes-behaviour.md §5.2; see RoutableEndpoints).
  EndpointList Routable(const std::string& service, const Location& location = {}) const
      ABSL_LOCKS_EXCLUDED(mu_);
  // "namespace/name" of every service with at least one endpoint or slice, sorted.
  std::vector<std::string> Services() const ABSL_LOCKS_EXCLUDED(mu_);

  // The revision the cache equals the store at (last SYNCED / BOOKMARK, or the last complete
  // revision of the live stream); 0 before the first SYNCED.
  int64_t revision() const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the cache has synced at a revision >= `revision` (any revision when 0) on the
  // current stream. False on timeout.
  bool AwaitRevision(int64_t revision, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  bool AwaitSynced(absl::Duration timeout) const { return AwaitRevision(0, timeout); }
  // Waits until `n` snapshots have been swapped in (1: the first SYNCED; 2: after a RESET).
  bool AwaitSnapshots(int64_t n, absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until the current stream is in sync and `done(stats())` holds. False on timeout.
  bool AwaitStats(const std::function<bool(const SubscriberStats&)>& done,
                  absl::Duration timeout) const ABSL_LOCKS_EXCLUDED(mu_);
  SubscriberStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct ServiceCache {
    std::map<std::string, v1::EndpointSlice> slices;  // by slice name
    EndpointList merged;
  };
  using Cache = absl::flat_hash_map<std::string, ServiceCache>;  // by "namespace/name"
  struct Notification {
    std::string service;
    EndpointList previous;
    EndpointList current;
  };

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // One stream from open to end; returns its final status.
  grpc::Status RunStream() ABSL_LOCKS_EXCLUDED(mu_);
  // Applies one message; returns the callbacks to run.
  std::vector<Notification> ApplyLocked(const v1::WatchResponse& response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Re-merges the dirty services of cache_, dropping empty ones.
  void RemergeLocked(const absl::flat_hash_set<std::string>& dirty, std::vector<Notification>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces cache_ with staging_ (at SYNCED after a snapshot).
  void SwapInSnapshotLocked(std::vector<Notification>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const std::vector<Notification>& notifications) ABSL_LOCKS_EXCLUDED(mu_);
  std::string Resolve(const std::string& service) const;
  // The slice's cache key, or "" when the cache ignores the slice.
  std::string KeyOf(const v1::EndpointSlice& slice) const;

  // Immutable after construction.
  Client* const client_;
  const SubscriberOptions options_;
  const ChangeCallback on_change_;

  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* context_ ABSL_GUARDED_BY(mu_) = nullptr;
  Cache cache_ ABSL_GUARDED_BY(mu_);
  // While a snapshot streams in (fresh stream or after RESET): the slices received so far.
  bool in_snapshot_ ABSL_GUARDED_BY(mu_) = false;
  Cache staging_ ABSL_GUARDED_BY(mu_);
  // True from SYNCED until the stream ends.
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  // Every event at or below it has been received; resume from here.
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  // The highest event revision seen on the current stream.
  int64_t max_event_revision_ ABSL_GUARDED_BY(mu_) = 0;
  SubscriberStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::client

#endif  // SLICEKEEPER_CLIENT_SUBSCRIBER_H_
