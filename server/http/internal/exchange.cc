#include "server/http/internal/exchange.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#include <microhttpd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/http/http_server.h"

namespace slicekeeper::http::internal {
namespace {

// Milliseconds until `deadline` for poll(2), rounded up so a wait never ends early.
int PollTimeout(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

// The headers every response carries, then the handler's.
void AddHeaders(MHD_Response* response, absl::string_view content_type, const HeaderList& headers) {
  MHD_add_response_header(response, "Content-Type", std::string(content_type).c_str());
  MHD_add_response_header(response, "Cache-Control", "no-cache, private");
  for (const auto& [name, value] : headers) {
    MHD_add_response_header(response, name.c_str(), value.c_str());
  }
  // No keep-alive: an idle client never holds a connection slot (as before; see HttpServer).
  MHD_add_response_header(response, "Connection", "close");
}

// libmicrohttpd's content reader of a stream; `cls` is a heap shared_ptr<Exchange>.
ssize_t ReadStream(void* cls, uint64_t, char* buf, size_t max) {
  return (*static_cast<std::shared_ptr<Exchange>*>(cls))->Read(buf, max);
}

void FreeStream(void* cls) { delete static_cast<std::shared_ptr<Exchange>*>(cls); }

}  // namespace

Exchange::Exchange(HttpServer* server, MHD_Connection* conn, absl::Duration io_timeout)
    : server_(server), conn_(conn), io_timeout_(io_timeout) {}

Exchange::~Exchange() {
  if (streaming_) server_->ReleaseStream(this);
  if (event_fd_ >= 0) close(event_fd_);
  if (response_ != nullptr) MHD_destroy_response(response_);
}

void Exchange::AwaitResponse() {
  absl::MutexLock l(&mu_);
  suspended_ = true;
}

void Exchange::ResumeLocked() {
  if (suspended_ && !ended_) {
    suspended_ = false;
    MHD_resume_connection(conn_);
  }
}

void Exchange::Deliver(MHD_Response* response) {
  absl::MutexLock l(&mu_);
  response_ = response;
  ResumeLocked();
}

MHD_Response* Exchange::TakeResponse() {
  absl::MutexLock l(&mu_);
  MHD_Response* r = response_;
  response_ = nullptr;
  return r;
}

void Exchange::Send(int status, absl::string_view content_type, absl::string_view body,
                    const HeaderList& headers) {
  if (status_ != 0) return;
  status_ = status;
  MHD_Response* response = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  AddHeaders(response, content_type, headers);
  Deliver(response);
}

absl::StatusOr<ResponseStream*> Exchange::StartStream(int status, absl::string_view content_type,
                                                      const HeaderList& headers) {
  if (status_ != 0) return absl::FailedPreconditionError("a response was already sent");
  if (!server_->AcquireStream(this)) {
    return absl::ResourceExhaustedError("every stream slot of the HTTP port is taken");
  }
  streaming_ = true;
  status_ = status;
  head_only_ = request_.method == "HEAD";
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (const MHD_ConnectionInfo* info =
          MHD_get_connection_info(conn_, MHD_CONNECTION_INFO_CONNECTION_FD)) {
    socket_fd_ = info->connect_fd;
  }
  // Unknown size: chunked for HTTP/1.1; HTTP/1.0 gets the body until the connection closes.
  MHD_Response* response = MHD_create_response_from_callback(
      MHD_SIZE_UNKNOWN, 64 << 10, &ReadStream, new std::shared_ptr<Exchange>(shared_from_this()),
      &FreeStream);
  AddHeaders(response, content_type, headers);
  Deliver(response);
  return this;
}

bool Exchange::WriteGather(absl::Span<const absl::string_view> pieces) {
  if (closed_.load(std::memory_order_acquire)) return false;
  size_t size = 0;
  for (absl::string_view p : pieces) size += p.size();
  absl::MutexLock l(&mu_);
  if (broken_) return false;
  if (size == 0 || head_only_) return true;
  if (out_pos_ > 0 && out_pos_ * 2 >= out_.size()) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  out_.reserve(out_.size() + size);
  for (absl::string_view p : pieces) out_.append(p.data(), p.size());
  ResumeLocked();
  // A slow reader: wait for room, at most io_timeout.
  auto room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return broken_ || out_.size() - out_pos_ <= kMaxBuffered;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&room), io_timeout_)) broken_ = true;
  return !broken_;
}

ssize_t Exchange::Read(char* buf, size_t max) {
  absl::MutexLock l(&mu_);
  if (out_pos_ < out_.size()) {
    const size_t n = std::min(max, out_.size() - out_pos_);
    std::memcpy(buf, out_.data() + out_pos_, n);
    out_pos_ += n;
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
      // A large chunk (a snapshot) should not stay allocated for the life of an idle stream.
      if (out_.capacity() > (256 << 10)) std::string().swap(out_);
    }
    return static_cast<ssize_t>(n);
  }
  if (broken_) return MHD_CONTENT_READER_END_WITH_ERROR;
  if (finished_) return MHD_CONTENT_READER_END_OF_STREAM;
  // Nothing to send yet: sleep until the worker writes or ends (libmicrohttpd calls again).
  suspended_ = true;
  MHD_suspend_connection(conn_);
  return 0;
}

void Exchange::Ended() {
  absl::MutexLock l(&mu_);
  ended_ = true;
  broken_ = true;
  suspended_ = false;
  if (event_fd_ >= 0) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof(one));
  }
}

void Exchange::Notify() {
  if (event_fd_ < 0) return;
  const uint64_t one = 1;
  // EAGAIN only when the counter is about to overflow: a wake is pending anyway.
  [[maybe_unused]] ssize_t n = write(event_fd_, &one, sizeof(one));
}

void Exchange::Close() {
  closed_.store(true, std::memory_order_release);
  Notify();
}

ResponseStream::WaitResult Exchange::Wait(absl::Time deadline) {
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (broken_) return WaitResult::kClosed;
    }
    if (closed_.load(std::memory_order_acquire)) return WaitResult::kClosed;
    pollfd fds[2] = {{event_fd_, POLLIN, 0}, {socket_fd_, POLLRDHUP, 0}};
    const int n = poll(fds, socket_fd_ >= 0 ? 2 : 1, PollTimeout(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WaitResult::kClosed;
    if (socket_fd_ >= 0 && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
      absl::MutexLock l(&mu_);
      broken_ = true;
      return WaitResult::kClosed;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t r = read(event_fd_, &count, sizeof(count));
      if (closed_.load(std::memory_order_acquire)) return WaitResult::kClosed;
      absl::MutexLock l(&mu_);
      if (broken_) return WaitResult::kClosed;
      return WaitResult::kNotified;
    }
    if (n == 0) return WaitResult::kDeadline;
  }
}

int Exchange::Finish() {
  if (status_ == 0) {
    Send(500, "text/plain; charset=utf-8", "the handler sent no response\n", {});
    return 500;
  }
  absl::MutexLock l(&mu_);
  finished_ = true;
  ResumeLocked();
  return status_;
}

}  // namespace slicekeeper::http::internal
