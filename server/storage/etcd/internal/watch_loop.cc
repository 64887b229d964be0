#include "server/storage/etcd/internal/watch_loop.h"

#include <algorithm>
#include <utility>

#include "spdlog/spdlog.h"

namespace slicekeeper::etcd::internal {
namespace {

constexpr absl::Duration kReconnectBackoffInitial = absl::Milliseconds(50);
constexpr absl::Duration kReconnectBackoffMax = absl::Seconds(1);
// How long a (re)connect may take before the next endpoint is tried.
constexpr absl::Duration kConnectTimeout = absl::Seconds(3);
// How often a connect that is waiting checks for Stop.
constexpr absl::Duration kStopPollInterval = absl::Milliseconds(50);

}  // namespace

WatchLoop::WatchLoop(std::shared_ptr<Channels> channels, std::string key, std::string range_end,
                     int64_t start_revision, WatchHandler* handler)
    : channels_(std::move(channels)),
      key_(std::move(key)),
      range_end_(std::move(range_end)),
      handler_(handler),
      next_revision_(start_revision),
      backoff_(BackoffOptions{
          .initial = kReconnectBackoffInitial, .max = kReconnectBackoffMax, .multiplier = 2}) {}

WatchLoop::~WatchLoop() { Stop(); }

void WatchLoop::Start() {
  thread_ = std::thread([this] { Run(); });
}

void WatchLoop::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    // The loop thread clears context_ under mu_ before the context dies, so it is live here.
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool WatchLoop::WaitUnlessStopping(absl::Duration delay) {
  absl::MutexLock l(&mu_);
  return !mu_.AwaitWithTimeout(absl::Condition(&stopping_), delay);
}

void WatchLoop::Run() {
  size_t index = channels_->preferred();
  while (RunStream(channels_->at(index)) == StreamEnd::kRetry) {
    // The member just failed; the next one is the likeliest to answer.
    index = (index + 1) % channels_->size();
    if (!WaitUnlessStopping(backoff_.Next())) return;
  }
}

grpc::Status WatchLoop::Connect(const Endpoint& endpoint) {
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + kConnectTimeout;
  const absl::Time grace_end = start + (channels_->size() == 1 ? kConnectTimeout : kFailureGrace);
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return grpc::Status::CANCELLED;
    }
    const absl::Time now = absl::Now();
    grpc::Status status = AwaitConnected(
        *endpoint.channel, std::min(deadline, now + kStopPollInterval), grace_end - now);
    if (status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED || absl::Now() >= deadline) {
      return status;
    }
  }
}

WatchLoop::StreamEnd WatchLoop::RunStream(const Endpoint& endpoint) {
  if (grpc::Status connected = Connect(endpoint); !connected.ok()) {
    // Stop, or a member that is down: the caller moves on to the next one.
    spdlog::debug("etcd watch cannot connect key={} endpoint={} error=\"{}\"", key_,
                  endpoint.target, connected.error_message());
    return StreamEnd::kRetry;
  }
  grpc::ClientContext context;
  // etcd's clientv3 WithRequireLeader: a member without a leader closes the stream (after a few
  // election timeouts) rather than keep a watch that would receive nothing.
  context.AddMetadata("hasleader", "true");
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return StreamEnd::kStop;
    context_ = &context;
  }
  created_ = false;
  fragments_.clear();

  auto stream = endpoint.watch->Watch(&context);
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(key_);
  create->set_range_end(range_end_);
  create->set_start_revision(next_revision_);
  create->set_progress_notify(true);
  Next next = Next::kContinue;
  const bool written = stream->Write(request);
  if (written) {
    etcdserverpb::WatchResponse response;
    while (next == Next::kContinue && stream->Read(&response)) next = Handle(response, endpoint);
  }
  if (!written || next != Next::kContinue) context.TryCancel();
  // Finish only once every incoming message has been read.
  for (etcdserverpb::WatchResponse ignored; stream->Read(&ignored);) {
  }
  const grpc::Status status = stream->Finish();

  bool stopping;
  {
    absl::MutexLock l(&mu_);
    context_ = nullptr;
    stopping = stopping_;
  }
  if (stopping || next == Next::kStop) return StreamEnd::kStop;
  if (next == Next::kContinue) {
    spdlog::warn("etcd watch stream ended key={} endpoint={} code={} error=\"{}\" resume_rev={}",
                 key_, endpoint.target, static_cast<int>(status.error_code()),
                 status.error_message(), next_revision_);
  }
  return StreamEnd::kRetry;
}

WatchLoop::Next WatchLoop::Handle(const etcdserverpb::WatchResponse& response,
                                  const Endpoint& endpoint) {
  if (response.created()) {
    if (response.canceled()) {
      spdlog::warn("etcd watch refused key={} endpoint={} reason=\"{}\"", key_, endpoint.target,
                   response.cancel_reason());
      return Next::kCancel;
    }
    created_ = true;
    backoff_.Reset();
    // Start revision 0 is "after the revision the watch was created at": pin it, so a reconnect
    // resumes exactly there instead of at a later "now".
    if (next_revision_ == 0) next_revision_ = response.header().revision() + 1;
    return Next::kContinue;
  }
  if (response.compact_revision() != 0) {
    handler_->OnCompacted(response.compact_revision());
    return Next::kStop;
  }
  if (response.canceled()) {
    spdlog::warn("etcd watch canceled by server key={} endpoint={} reason=\"{}\"", key_,
                 endpoint.target, response.cancel_reason());
    return Next::kCancel;
  }
  // Not ours (a broadcast progress reply, watch_id -1): this loop never asks for one.
  if (!created_) return Next::kContinue;
  fragments_.insert(fragments_.end(), response.events().begin(), response.events().end());
  if (response.fragment()) return Next::kContinue;
  std::vector<mvccpb::Event> events = std::move(fragments_);
  fragments_.clear();
  Deliver(response.header().revision(), std::move(events));
  return Next::kContinue;
}

void WatchLoop::Deliver(int64_t header_revision, std::vector<mvccpb::Event> events) {
  if (!events.empty()) {
    // A resumed watch starts at next_revision_, so this drops nothing unless a server misbehaves;
    // it keeps "no event twice" local and obvious.
    const int64_t from = next_revision_;
    std::erase_if(events, [from](const mvccpb::Event& e) { return e.kv().mod_revision() < from; });
    if (events.empty()) return;
    next_revision_ = events.back().kv().mod_revision() + 1;
    // A member that lags the one before it may report an older header; never go backwards.
    reported_header_ = std::max(reported_header_, header_revision);
    handler_->OnEvents(reported_header_, events);
    return;
  }
  // A progress notification: etcd sends one only to a watcher that has caught up, so every event
  // up to header_revision has been delivered and a reconnect may resume after it.
  next_revision_ = std::max(next_revision_, header_revision + 1);
  if (header_revision <= reported_header_) return;
  reported_header_ = header_revision;
  handler_->OnEvents(header_revision, {});
}

}  // namespace slicekeeper::etcd::internal
