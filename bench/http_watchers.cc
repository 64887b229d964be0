#include "bench/http_watchers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::bench {
namespace {

constexpr absl::string_view kTriggerKey =
    "\"endpoints.kubernetes.io/last-change-trigger-time\":\"";
constexpr absl::string_view kRevisionKey = "\"resourceVersion\":\"";

// The quoted string value after `key` in `line` ("" when absent).
absl::string_view ValueAfter(absl::string_view line, absl::string_view key) {
  const size_t at = line.find(key);
  if (at == absl::string_view::npos) return "";
  const size_t start = at + key.size();
  const size_t end = line.find('"', start);
  return end == absl::string_view::npos ? "" : line.substr(start, end - start);
}

HttpEvent ParseEvent(absl::string_view line) {
  HttpEvent e;
  e.type = ValueAfter(line, "{\"type\":\"");
  // The object's metadata comes before its endpoints (whose targetRefs carry no
  // resourceVersion here), so the first resourceVersion is the object's.
  int64_t rv = 0;
  if (absl::SimpleAtoi(ValueAfter(line, kRevisionKey), &rv)) e.revision = rv;
  e.trigger_time = ValueAfter(line, kTriggerKey);
  return e;
}

}  // namespace

struct HttpWatchers::Connection {
  int fd = -1;
  bool header_done = false;
  bool done = false;
  std::string buffer;
  size_t offset = 0;  // start of the unconsumed part of buffer
};

HttpWatchers::HttpWatchers(int port, std::vector<std::string> targets, OnEvent on_event)
    : port_(port),
      targets_(std::move(targets)),
      on_event_(std::move(on_event)),
      revisions_(new std::atomic<int64_t>[targets_.size()]) {
  for (size_t i = 0; i < targets_.size(); ++i) revisions_[i].store(0);
}

HttpWatchers::~HttpWatchers() { Stop(); }

absl::Status HttpWatchers::Start() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event stop{};
  stop.events = EPOLLIN;
  stop.data.u64 = UINT64_MAX;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &stop);
  for (size_t i = 0; i < targets_.size(); ++i) {
    auto c = std::make_unique<Connection>();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (c->fd < 0 || connect(c->fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      return absl::UnavailableError(absl::StrCat("connect: ", strerror(errno)));
    }
    const std::string request =
        absl::StrCat("GET ", targets_[i], " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (send(c->fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return absl::UnavailableError(absl::StrCat("send: ", strerror(errno)));
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &ev);
    connections_.push_back(std::move(c));
  }
  reader_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void HttpWatchers::Stop() {
  if (reader_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = write(stop_fd_, &one, sizeof(one));
    reader_.join();
  }
  for (auto& c : connections_) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
  }
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (stop_fd_ >= 0) close(stop_fd_);
  epoll_fd_ = stop_fd_ = -1;
}

void HttpWatchers::Run() {
  std::vector<epoll_event> events(256);
  char buf[1 << 16];
  while (true) {
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    for (int k = 0; k < n; ++k) {
      if (events[k].data.u64 == UINT64_MAX) return;
      const int index = static_cast<int>(events[k].data.u64);
      Connection& c = *connections_[index];
      const ssize_t got = read(c.fd, buf, sizeof(buf));
      if (got <= 0) {
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
        if (!c.done) ended_.fetch_add(1);
        c.done = true;
        continue;
      }
      c.buffer.append(buf, static_cast<size_t>(got));
      if (!Consume(index, c) && !c.done) {
        c.done = true;
        ended_.fetch_add(1);
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
      }
    }
  }
}

bool HttpWatchers::Consume(int index, Connection& c) {
  absl::string_view data(c.buffer);
  if (!c.header_done) {
    const size_t end = data.find("\r\n\r\n");
    if (end == absl::string_view::npos) return true;
    if (!absl::StartsWith(data, "HTTP/1.0 200") && !absl::StartsWith(data, "HTTP/1.1 200")) {
      return false;
    }
    c.header_done = true;
    c.offset = end + 4;
    streaming_.fetch_add(1);
  }
  while (true) {
    const size_t eol = data.find('\n', c.offset);
    if (eol == absl::string_view::npos) break;
    const HttpEvent e = ParseEvent(data.substr(c.offset, eol - c.offset));
    if (e.revision > revisions_[index].load(std::memory_order_relaxed)) {
      revisions_[index].store(e.revision, std::memory_order_release);
    }
    on_event_(index, e);
    c.offset = eol + 1;
  }
  // Keep only the partial line.
  c.buffer.erase(0, c.offset);
  c.offset = 0;
  return true;
}

}  // namespace slicekeeper::bench
