// Channels: the etcd client's endpoints (one gRPC channel and its stubs each), the endpoint that
// answered last, and the failover loop every unary call goes through.
//
// Thread-safety: immutable after Create except the preferred index (atomic); the stubs are
// thread-safe. Shared (shared_ptr) by a Client and its watchers.
#ifndef SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_CHANNELS_H_
#define SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_CHANNELS_H_

#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/backoff.h"
#include "common/status_util.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "server/storage/etcd/etcd_client.h"

namespace slicekeeper::etcd::internal {

struct Endpoint {
  std::string target;  // "host:port", as gRPC dials it
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

// Connects `channel` if it is not connected yet and waits until it is READY. A channel already
// failing (TRANSIENT_FAILURE) gets `failure_grace` to recover. Errors: UNAVAILABLE when a
// connection attempt fails, DEADLINE_EXCEEDED when none completes before `deadline`.
//
// Why not just issue the RPC: a sync RPC that fails fast on a channel that is not READY leaves no
// thread polling the connection attempt, which then completes only when gRPC's backup poller
// runs (every 5 s), so a member that comes back would look dead for seconds, and a member that is
// starting up never within a short connect timeout. Waiting on the connectivity state polls it.
grpc::Status AwaitConnected(grpc::Channel& channel, absl::Time deadline,
                            absl::Duration failure_grace);

// Strips an http:// or https:// scheme and checks "host:port". Sets *tls to whether the scheme
// asks for TLS (nullopt for no scheme). Errors: INVALID_ARGUMENT.
absl::StatusOr<std::string> ParseEndpoint(absl::string_view endpoint, std::optional<bool>* tls);

class Channels {
 public:
  // Errors: INVALID_ARGUMENT, as Client::Create documents.
  static absl::StatusOr<std::shared_ptr<Channels>> Create(const ClientOptions& options);

  size_t size() const { return endpoints_.size(); }
  const Endpoint& at(size_t i) const { return *endpoints_[i]; }

  // The endpoint that answered last: where calls and watches start.
  size_t preferred() const { return preferred_.load(std::memory_order_relaxed); }
  void set_preferred(size_t i) { preferred_.store(i, std::memory_order_relaxed); }

 private:
  explicit Channels(std::vector<std::unique_ptr<Endpoint>> endpoints)
      : endpoints_(std::move(endpoints)) {}

  const std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::atomic<size_t> preferred_{0};
};

// The first backoff after a full round of failed attempts, and its cap.
inline constexpr absl::Duration kRetryBackoffInitial = absl::Milliseconds(20);
inline constexpr absl::Duration kRetryBackoffMax = absl::Milliseconds(500);
// With several endpoints, how long a member that is failing may take to recover before the
// next one is tried.
inline constexpr absl::Duration kFailureGrace = absl::Milliseconds(300);
// With several endpoints one attempt gets timeout / endpoints, but at least this long, so a
// member that hangs (rather than refusing connections) leaves time to try the others.
inline constexpr absl::Duration kMinAttemptTimeout = absl::Seconds(1);

// Runs `attempt(const Endpoint&, grpc::ClientContext*, Resp*) -> grpc::Status` against the
// preferred endpoint, moving on to the next on UNAVAILABLE or an attempt's DEADLINE_EXCEEDED,
// until `timeout` has passed. Returns the first response or the first non-retryable status; when
// time runs out, UNAVAILABLE if any member failed outright, else DEADLINE_EXCEEDED.
template <typename Resp, typename Attempt>
absl::StatusOr<Resp> CallWithFailover(Channels& channels, absl::Duration timeout,
                                      absl::string_view method, Attempt&& attempt) {
  const size_t n = channels.size();
  const absl::Time deadline = absl::Now() + timeout;
  const absl::Duration attempt_timeout =
      n == 1 ? timeout
             : std::min(timeout, std::max(timeout / static_cast<int64_t>(n), kMinAttemptTimeout));
  Backoff backoff(
      BackoffOptions{.initial = kRetryBackoffInitial, .max = kRetryBackoffMax, .multiplier = 2});
  size_t index = channels.preferred();
  grpc::Status last;
  bool refused = false;  // some member failed outright, rather than running out of time
  for (size_t tries = 1;; ++tries) {
    const absl::Time attempt_deadline = std::min(deadline, absl::Now() + attempt_timeout);
    last = AwaitConnected(*channels.at(index).channel, attempt_deadline,
                          n == 1 ? timeout : kFailureGrace);
    Resp response;
    if (last.ok()) {
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(attempt_deadline));
      last = attempt(channels.at(index), &context, &response);
    }
    if (last.ok()) {
      channels.set_preferred(index);
      return response;
    }
    const grpc::StatusCode code = last.error_code();
    if (code != grpc::StatusCode::UNAVAILABLE && code != grpc::StatusCode::DEADLINE_EXCEEDED) {
      return FromGrpcStatus(last);
    }
    refused = refused || code == grpc::StatusCode::UNAVAILABLE;
    index = (index + 1) % n;
    if (tries % n == 0) {
      // Every member refused: typically an election in progress. Wait before the next round.
      absl::SleepFor(std::min(backoff.Next(), deadline - absl::Now()));
    }
    if (absl::Now() >= deadline) break;
  }
  return absl::Status(
      refused ? absl::StatusCode::kUnavailable : static_cast<absl::StatusCode>(last.error_code()),
      absl::StrCat("etcd ", method, ": no endpoint answered within ", absl::FormatDuration(timeout),
                   "; last error (", channels.at((index + n - 1) % n).target,
                   "): ", last.error_message()));
}

}  // namespace slicekeeper::etcd::internal

#endif  // SLICEKEEPER_SERVER_STORAGE_ETCD_INTERNAL_CHANNELS_H_
