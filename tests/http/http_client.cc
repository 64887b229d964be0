#include "tests/http/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <gnutls/gnutls.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace slicekeeper::testing {
namespace {

absl::Mutex tls_mu;
std::optional<HttpClientTls>* tls_config ABSL_GUARDED_BY(tls_mu) = nullptr;

absl::Status SocketError(absl::string_view what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", strerror(errno)));
}

absl::StatusOr<int> Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return SocketError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    absl::Status s = SocketError(absl::StrCat("connect 127.0.0.1:", port));
    close(fd);
    return s;
  }
  return fd;
}

absl::Status SendAll(int fd, absl::string_view data) {
  for (size_t sent = 0; sent < data.size();) {
    ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SocketError("send");
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

std::string RequestText(absl::string_view method, absl::string_view target, absl::string_view body,
                        const HttpHeaders& headers) {
  std::string out = absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (const auto& [k, v] : headers) absl::StrAppend(&out, k, ": ", v, "\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    absl::StrAppend(&out, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&out, "Connection: close\r\n\r\n", body);
  return out;
}

}  // namespace

struct HttpStream::Tls {
  gnutls_certificate_credentials_t cred = nullptr;
  gnutls_session_t session = nullptr;
  ~Tls() {
    if (session != nullptr) gnutls_deinit(session);
    if (cred != nullptr) gnutls_certificate_free_credentials(cred);
  }
};

void SetClientTls(std::optional<HttpClientTls> tls) {
  absl::MutexLock l(&tls_mu);
  delete tls_config;
  tls_config = new std::optional<HttpClientTls>(std::move(tls));
}

HttpStream::~HttpStream() { Close(); }

void HttpStream::Close() {
  delete tls_;
  tls_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

absl::Status HttpStream::Send(absl::string_view data) {
  if (tls_ == nullptr) return SendAll(fd_, data);
  for (size_t sent = 0; sent < data.size();) {
    ssize_t n = gnutls_record_send(tls_->session, data.data() + sent, data.size() - sent);
    if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED) continue;
    if (n <= 0) return absl::UnavailableError(absl::StrCat("TLS send: ", gnutls_strerror(n)));
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status HttpStream::Receive(absl::Time deadline) {
  if (fd_ < 0) return absl::UnavailableError("closed");
  if (tls_ == nullptr || gnutls_record_check_pending(tls_->session) == 0) {
    pollfd p{fd_, POLLIN, 0};
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    int n = poll(&p, 1, ms < 0 ? 0 : static_cast<int>(ms));
    if (n == 0) return absl::DeadlineExceededError("no data in time");
    if (n < 0) return SocketError("poll");
  }
  char buf[65536];
  if (tls_ != nullptr) {
    ssize_t got = gnutls_record_recv(tls_->session, buf, sizeof(buf));
    if (got == GNUTLS_E_AGAIN || got == GNUTLS_E_INTERRUPTED) return absl::OkStatus();
    if (got == 0 || got == GNUTLS_E_PREMATURE_TERMINATION) {
      return absl::OutOfRangeError("connection closed");
    }
    if (got < 0) return absl::UnavailableError(absl::StrCat("TLS recv: ", gnutls_strerror(got)));
    raw_.append(buf, static_cast<size_t>(got));
    return absl::OkStatus();
  }
  ssize_t got = recv(fd_, buf, sizeof(buf), 0);
  if (got < 0) return SocketError("recv");
  if (got == 0) return absl::OutOfRangeError("connection closed");
  raw_.append(buf, static_cast<size_t>(got));
  return absl::OkStatus();
}

absl::StatusOr<bool> HttpStream::Pump(absl::Time deadline) {
  while (!ended_) {
    if (!chunked_) {
      body_ += raw_;
      raw_.clear();
    } else {
      size_t eol = raw_.find("\r\n");
      if (eol != std::string::npos) {
        size_t size = 0;
        if (!absl::SimpleHexAtoi(raw_.substr(0, eol), &size)) {
          return absl::DataLossError(absl::StrCat("bad chunk header: ", raw_.substr(0, eol)));
        }
        if (raw_.size() >= eol + 2 + size + 2) {
          body_.append(raw_, eol + 2, size);
          raw_.erase(0, eol + 2 + size + 2);
          if (size == 0) ended_ = true;
          return true;
        }
      }
    }
    absl::Status s = Receive(deadline);
    if (absl::IsOutOfRange(s)) {
      if (!chunked_) body_ += raw_;
      raw_.clear();
      ended_ = true;
      return true;
    }
    if (!s.ok()) return s;
    if (!chunked_) return true;
  }
  return false;
}

absl::StatusOr<std::string> HttpStream::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    size_t eol = body_.find('\n');
    if (eol != std::string::npos) {
      std::string line = body_.substr(0, eol);
      body_.erase(0, eol + 1);
      return line;
    }
    if (ended_) return absl::OutOfRangeError(absl::StrCat("body ended; left: ", body_));
    absl::StatusOr<bool> more = Pump(deadline);
    if (!more.ok()) return more.status();
  }
}

absl::StatusOr<std::string> HttpStream::ReadToEnd(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!ended_) {
    absl::StatusOr<bool> more = Pump(deadline);
    if (!more.ok()) return more.status();
  }
  std::string out;
  out.swap(body_);
  return out;
}

absl::Status HttpStream::ReadHead(absl::Time deadline) {
  size_t end = std::string::npos;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos) {
    absl::Status s = Receive(deadline);
    if (!s.ok()) return s;
  }
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(raw_).substr(0, end), "\r\n");
  std::vector<absl::string_view> status_line = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  if (status_line.size() < 2 || !absl::StartsWith(status_line[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status_line[1], &status_)) {
    return absl::DataLossError(absl::StrCat("bad status line: ", lines[0]));
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    headers_[absl::AsciiStrToLower(kv.first)] = std::string(absl::StripAsciiWhitespace(kv.second));
  }
  auto te = headers_.find("transfer-encoding");
  chunked_ = te != headers_.end() && absl::EqualsIgnoreCase(te->second, "chunked");
  raw_.erase(0, end + 4);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HttpStream>> HttpStream::Start(int port, absl::string_view method,
                                                              absl::string_view target,
                                                              absl::string_view body,
                                                              const HttpHeaders& headers,
                                                              absl::Duration timeout) {
  absl::StatusOr<int> fd = Connect(port);
  if (!fd.ok()) return fd.status();
  std::unique_ptr<HttpStream> stream(new HttpStream(*fd));
  std::optional<HttpClientTls> tls;
  {
    absl::MutexLock l(&tls_mu);
    if (tls_config != nullptr) tls = *tls_config;
  }
  if (tls.has_value()) {
    stream->tls_ = new Tls;
    Tls& t = *stream->tls_;
    int err = gnutls_certificate_allocate_credentials(&t.cred);
    if (err >= 0) {
      err =
          gnutls_certificate_set_x509_trust_file(t.cred, tls->ca_file.c_str(), GNUTLS_X509_FMT_PEM);
    }
    if (err >= 0 && !tls->cert_file.empty()) {
      err = gnutls_certificate_set_x509_key_file(t.cred, tls->cert_file.c_str(),
                                                 tls->key_file.c_str(), GNUTLS_X509_FMT_PEM);
    }
    if (err >= 0) err = gnutls_init(&t.session, GNUTLS_CLIENT);
    if (err >= 0) err = gnutls_set_default_priority(t.session);
    if (err >= 0) err = gnutls_credentials_set(t.session, GNUTLS_CRD_CERTIFICATE, t.cred);
    if (err >= 0) {
      gnutls_session_set_verify_cert(t.session, nullptr, 0);
      gnutls_transport_set_int(t.session, *fd);
      gnutls_handshake_set_timeout(t.session,
                                   static_cast<unsigned>(absl::ToInt64Milliseconds(timeout)));
      do {
        err = gnutls_handshake(t.session);
      } while (err < 0 && gnutls_error_is_fatal(err) == 0);
    }
    if (err < 0) return absl::UnavailableError(absl::StrCat("TLS: ", gnutls_strerror(err)));
  }
  absl::Status s = stream->Send(RequestText(method, target, body, headers));
  if (s.ok()) s = stream->ReadHead(absl::Now() + timeout);
  if (!s.ok()) return s;
  return stream;
}

absl::StatusOr<std::unique_ptr<HttpStream>> HttpStream::Open(int port, absl::string_view target,
                                                             const HttpHeaders& headers,
                                                             absl::Duration timeout) {
  return Start(port, "GET", target, "", headers, timeout);
}

absl::StatusOr<HttpReply> Fetch(int port, absl::string_view method, absl::string_view target,
                                absl::string_view body, const HttpHeaders& headers,
                                absl::Duration timeout) {
  absl::StatusOr<std::unique_ptr<HttpStream>> stream =
      HttpStream::Start(port, method, target, body, headers, timeout);
  if (!stream.ok()) return stream.status();
  HttpReply reply;
  reply.status = (*stream)->status();
  reply.headers = (*stream)->headers();
  absl::StatusOr<std::string> rest = (*stream)->ReadToEnd(timeout);
  if (!rest.ok()) return rest.status();
  reply.body = std::move(*rest);
  if (auto it = reply.headers.find("content-length"); it != reply.headers.end()) {
    size_t length = 0;
    if (method != "HEAD" &&
        (!absl::SimpleAtoi(it->second, &length) || reply.body.size() != length)) {
      return absl::DataLossError(
          absl::StrCat("body has ", reply.body.size(), " bytes, Content-Length says ", it->second));
    }
  }
  return reply;
}

}  // namespace slicekeeper::testing
