// Internal to server/xds: one xDS stream on gRPC's callback API, the gRPC end of a session
// (sotw_session.h or delta_session.h) and of the hub subscribers it watches through.
//
// The reactor is the Sink of its subscribers (marks-only, watch/subscriber.h): one per service
// the stream's names refer to, or one for every service while a wildcard is subscribed. The hub
// wakes it when a watched service changes; if no write is in flight it takes the marks (the
// newest version of each changed service: several commits fold into one), lets the session build
// the next response, and starts writing it. OnWriteDone does the same, or lets the stream go
// idle. There is never more than one write in flight and never a queue of responses: what a slow
// client has not read yet is its subscribers' marks, bounded by the services it watches. Writers
// never wait for a stream (the hub's dispatcher only marks).
//
// Reads: one at a time; each request goes to the session, then the subscribers are brought in
// line with what the session wants (outside the lock: subscribing wakes this sink), and no
// response is built in between, so every watched service is known before the next one is.
//
// The stream ends (Finish exactly once, never while a write is in flight):
//   - OK when the client half-closes; CANCELLED when it cancels or a write fails;
//   - INVALID_ARGUMENT when the session rejects a request (missing type URL, ...);
//   - UNAVAILABLE "server shutting down" after BeginShutdown().
//
// Lifetime: gRPC owns the reactor. OnDone unsubscribes from the hub (after which no Wake comes),
// calls `on_done(this)`, and deletes the reactor. The owner may call BeginShutdown() until
// on_done returned, serializing the two with its own lock.
//
// Thread-safety: Wake runs on the hub's thread, the reactions on gRPC's; all state is guarded by
// mu_. Lock order: a subscriber's sink lock -> mu_ -> a subscriber's locks.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_ADS_REACTOR_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_ADS_REACTOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth/limits.h"
#include "server/watch/hub.h"
#include "server/watch/sink.h"
#include "server/xds/internal/session.h"
#include "server/xds/xds_metrics.h"

namespace slicekeeper::xds::internal {

// What the service needs of a stream, whatever its protocol variant.
class Stream {
 public:
  virtual ~Stream() = default;
  // Finishes the stream with UNAVAILABLE once the write in flight (if any) completes. Idempotent.
  virtual void BeginShutdown() = 0;
};

// What a reactor works with. Everything must outlive the reactor.
struct StreamDeps {
  watch::Hub* hub = nullptr;
  ResourceCache* cache = nullptr;
  XdsMetrics* metrics = nullptr;  // may be null
  std::function<void(Stream*)> on_done;
};

// What authorization left a stream with: the namespaces its caller may read (null: all) and the
// caller's stream slot it holds until it is done (null: no limit).
struct Admitted {
  std::shared_ptr<const absl::flat_hash_set<std::string>> readable;
  std::unique_ptr<auth::StreamLimiter::Slot> slot;
};

// SessionT: SotwSession or DeltaSession (explicitly instantiated in ads_reactor.cc).
template <typename SessionT>
class AdsReactor final
    : public grpc::ServerBidiReactor<typename SessionT::Request, typename SessionT::Response>,
      public watch::Sink,
      public Stream {
 public:
  // `fixed_type`: the one type a standalone EDS / CDS stream serves; nullopt for ADS.
  // Its subscribers see only `admitted.readable`'s namespaces.
  AdsReactor(StreamDeps deps, std::optional<ResourceType> fixed_type, Admitted admitted);

  // Starts reading. Call once, right after construction.
  void Start();

  void BeginShutdown() override ABSL_LOCKS_EXCLUDED(mu_);
  void Wake() override ABSL_LOCKS_EXCLUDED(mu_);

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_);
  void OnCancel() override ABSL_LOCKS_EXCLUDED(mu_);
  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Subscribers = absl::flat_hash_map<std::string, std::shared_ptr<watch::Subscriber>>;

  // Brings the subscribers in line with `want` (subscribing outside mu_).
  void Resubscribe(const WatchSet& want) ABSL_LOCKS_EXCLUDED(mu_);
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the per-type subscription gauges to the session's subscription.
  void CountSubscribedLocked(uint32_t now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const StreamDeps deps_;
  const Admitted admitted_;

  // Only the read path (one read at a time) touches it.
  typename SessionT::Request request_;

  absl::Mutex mu_;
  SessionT session_ ABSL_GUARDED_BY(mu_);
  // NamespacedName -> its subscriber; "" -> the subscriber of every service (wildcard).
  Subscribers subscribers_ ABSL_GUARDED_BY(mu_);
  typename SessionT::Response response_ ABSL_GUARDED_BY(mu_);
  bool resubscribing_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  // When the oldest change not yet fully pushed was marked, and that of the write in flight.
  absl::Time pending_oldest_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Time write_oldest_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint32_t subscribed_types_ ABSL_GUARDED_BY(mu_) = 0;
};

// A stream refused before it started (authorization, shutdown): finishes with `status`.
template <typename Request, typename Response>
class RejectReactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit RejectReactor(const grpc::Status& status) { this->Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_ADS_REACTOR_H_
