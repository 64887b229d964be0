#include "tests/integration/http_get.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace slicekeeper::integration {
namespace {

absl::Status SocketError(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

// Closes the descriptor on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<std::string> Exchange(int port, const std::string& request, absl::Duration timeout) {
  Fd fd(socket(AF_INET, SOCK_STREAM, 0));
  if (fd.get() < 0) return SocketError("socket");
  // Both directions time out, so a hung server fails the test instead of stalling it.
  timeval tv = absl::ToTimeval(timeout);
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return SocketError(absl::StrCat("connect 127.0.0.1:", port));
  }
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SocketError("send");
    sent += static_cast<size_t>(n);
  }
  std::string response;
  char buf[16384];
  while (true) {
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SocketError("recv");
    if (n == 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  return response;
}

}  // namespace

absl::StatusOr<HttpResponse> HttpGet(int port, absl::string_view path, absl::Duration timeout,
                                     absl::string_view headers) {
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n",
                   headers, "\r\n");
  absl::StatusOr<std::string> raw = Exchange(port, request, timeout);
  if (!raw.ok()) return raw.status();
  const size_t head_end = raw->find("\r\n\r\n");
  if (head_end == std::string::npos) return absl::DataLossError("no end of HTTP headers");
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(*raw).substr(0, head_end), "\r\n");
  HttpResponse response;
  // "HTTP/1.1 200 OK"
  std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status_line[1], &response.status)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(lines[i], ':');
    response.headers[absl::AsciiStrToLower(kv.first)] =
        std::string(absl::StripAsciiWhitespace(kv.second));
  }
  response.body = raw->substr(head_end + 4);
  if (auto it = response.headers.find("content-length"); it != response.headers.end()) {
    size_t length = 0;
    if (!absl::SimpleAtoi(it->second, &length) || response.body.size() != length) {
      return absl::DataLossError(absl::StrCat("body has ", response.body.size(),
                                              " bytes, Content-Length says ", it->second));
    }
  }
  return response;
}

}  // namespace slicekeeper::integration
