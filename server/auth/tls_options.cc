#include "server/auth/tls_options.h"

#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::auth {
namespace {

absl::Status Readable(absl::string_view flag, const std::string& path) {
  if (::access(path.c_str(), R_OK) == 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": cannot read ", path));
}

}  // namespace

absl::StatusOr<ClientAuth> ParseClientAuth(absl::string_view text) {
  if (text == "none") return ClientAuth::kNone;
  if (text == "request") return ClientAuth::kRequest;
  if (text == "require") return ClientAuth::kRequire;
  return absl::InvalidArgumentError(
      absl::StrCat("--client_auth: must be none, request or require, not \"", text, "\""));
}

absl::Status TlsOptions::Validate() const {
  if (!enabled()) {
    if (!client_ca_file.empty() || client_auth != ClientAuth::kNone) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file, --client_auth: need --tls_cert_file and --tls_key_file");
    }
    return absl::OkStatus();
  }
  if (cert_file.empty() || key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file, --tls_key_file: set both or neither");
  }
  if (client_auth != ClientAuth::kNone && client_ca_file.empty()) {
    return absl::InvalidArgumentError(
        "--client_auth: request and require need --tls_client_ca_file");
  }
  if (absl::Status s = Readable("tls_cert_file", cert_file); !s.ok()) return s;
  if (absl::Status s = Readable("tls_key_file", key_file); !s.ok()) return s;
  if (!client_ca_file.empty()) return Readable("tls_client_ca_file", client_ca_file);
  return absl::OkStatus();
}

bool IsLoopbackAddress(absl::string_view host_port) {
  absl::string_view host = host_port;
  if (absl::StartsWith(host, "[")) {
    host = host.substr(1, host.find(']') == absl::string_view::npos ? 0 : host.find(']') - 1);
  } else if (const size_t colon = host.rfind(':'); colon != absl::string_view::npos) {
    host = host.substr(0, colon);
  }
  return absl::StartsWith(host, "127.") || host == "::1" || host == "localhost";
}

}  // namespace slicekeeper::auth
