#include "server/http/internal/exchange.h"

#include <civetweb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/http/http_server.h"
#include "server/http/internal/peer_socket.h"

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

}  // namespace

Exchange::Exchange(HttpServer* server, mg_connection* conn, bool head_only, bool http10,
                   absl::Duration io_timeout)
    : server_(server),
      conn_(conn),
      head_only_(head_only),
      http10_(http10),
      io_timeout_(io_timeout) {}

Exchange::~Exchange() {
  if (streaming_) server_->ReleaseStream(this);
  if (event_fd_ >= 0) close(event_fd_);
}

void Exchange::WriteHead(int status, absl::string_view content_type, const HeaderList& headers,
                         absl::string_view framing) {
  std::string head = absl::StrCat(http10_ ? "HTTP/1.0 " : "HTTP/1.1 ", status, " ",
                                  ReasonPhrase(status), "\r\nContent-Type: ", content_type,
                                  "\r\n", framing, "Cache-Control: no-cache, private\r\n");
  for (const auto& [name, value] : headers) absl::StrAppend(&head, name, ": ", value, "\r\n");
  absl::StrAppend(&head, "Connection: close\r\n\r\n");
  status_ = status;
  if (mg_write(conn_, head.data(), head.size()) != static_cast<int>(head.size())) broken_ = true;
}

void Exchange::Send(int status, absl::string_view content_type, absl::string_view body,
                    const HeaderList& headers) {
  if (status_ != 0) return;
  WriteHead(status, content_type, headers, absl::StrCat("Content-Length: ", body.size(), "\r\n"));
  if (head_only_ || broken_ || body.empty()) return;
  if (mg_write(conn_, body.data(), body.size()) != static_cast<int>(body.size())) broken_ = true;
}

absl::StatusOr<ResponseStream*> Exchange::StartStream(int status, absl::string_view content_type,
                                                      const HeaderList& headers) {
  if (status_ != 0) return absl::FailedPreconditionError("a response was already sent");
  if (!server_->AcquireStream(this)) {
    return absl::ResourceExhaustedError("every stream slot of the HTTP port is taken");
  }
  streaming_ = true;
  event_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  const mg_request_info* info = mg_get_request_info(conn_);
  socket_fd_ = FindPeerSocket(info->remote_addr, info->remote_port, info->server_port);
  direct_ = socket_fd_ >= 0 && !info->is_ssl;
  if (direct_) {
    // A stream's writes are whole batches: send each at once rather than waiting for the ACK of
    // the previous one (Nagle), which with delayed ACKs stalls a watch by up to 40 ms.
    const int one = 1;
    setsockopt(socket_fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  WriteHead(status, content_type, headers, http10_ ? "" : "Transfer-Encoding: chunked\r\n");
  return this;
}

bool Exchange::WriteGather(absl::Span<const absl::string_view> pieces) {
  if (broken_ || closed_.load(std::memory_order_acquire)) return false;
  size_t size = 0;
  for (absl::string_view p : pieces) size += p.size();
  if (size == 0 || head_only_) return true;
  char head[24];
  const int head_size = http10_ ? 0 : absl::SNPrintF(head, sizeof(head), "%x\r\n", size);
  absl::InlinedVector<absl::string_view, 16> framed;
  framed.reserve(pieces.size() + 2);
  if (head_size > 0) framed.emplace_back(head, static_cast<size_t>(head_size));
  framed.insert(framed.end(), pieces.begin(), pieces.end());
  if (!http10_) framed.emplace_back("\r\n", 2);
  if (!(direct_ ? SendDirect(framed) : SendCopied(framed))) broken_ = true;
  return !broken_;
}

bool Exchange::SendDirect(absl::Span<const absl::string_view> pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (absl::string_view p : pieces) {
    if (!p.empty()) iov.push_back({const_cast<char*>(p.data()), p.size()});
  }
  const absl::Time deadline = absl::Now() + io_timeout_;
  for (size_t first = 0; first < iov.size();) {
    msghdr msg{};
    msg.msg_iov = &iov[first];
    msg.msg_iovlen = std::min<size_t>(iov.size() - first, IOV_MAX);
    ssize_t sent = sendmsg(socket_fd_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The peer reads slower than we write: wait for room, or for it to go.
      pollfd p = {socket_fd_, POLLOUT, 0};
      if (poll(&p, 1, PollTimeout(deadline)) <= 0 || (p.revents & (POLLERR | POLLHUP))) {
        return false;
      }
      continue;
    }
    if (sent <= 0) return false;
    // Skip what was sent: whole iovecs, then part of the next.
    for (size_t left = static_cast<size_t>(sent); left > 0;) {
      if (left >= iov[first].iov_len) {
        left -= iov[first].iov_len;
        ++first;
      } else {
        iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
        iov[first].iov_len -= left;
        left = 0;
      }
    }
  }
  return true;
}

bool Exchange::SendCopied(absl::Span<const absl::string_view> pieces) {
  chunk_.clear();
  for (absl::string_view p : pieces) chunk_.append(p.data(), p.size());
  const bool ok = mg_write(conn_, chunk_.data(), chunk_.size()) == static_cast<int>(chunk_.size());
  // A large chunk (a snapshot) should not stay allocated for the life of an idle stream.
  if (chunk_.capacity() > (64 << 10)) std::string().swap(chunk_);
  return ok;
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
    if (closed_.load(std::memory_order_acquire) || broken_) return WaitResult::kClosed;
    pollfd fds[2] = {{event_fd_, POLLIN, 0}, {socket_fd_, POLLRDHUP, 0}};
    const int n = poll(fds, socket_fd_ >= 0 ? 2 : 1, PollTimeout(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return WaitResult::kClosed;
    if (socket_fd_ >= 0 && (fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))) {
      broken_ = true;
      return WaitResult::kClosed;
    }
    if (fds[0].revents & POLLIN) {
      uint64_t count = 0;
      [[maybe_unused]] ssize_t r = read(event_fd_, &count, sizeof(count));
      if (closed_.load(std::memory_order_acquire)) return WaitResult::kClosed;
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
  if (streaming_ && !http10_ && !broken_ && !head_only_) mg_write(conn_, "0\r\n\r\n", 5);
  return status_;
}

}  // namespace slicekeeper::http::internal
