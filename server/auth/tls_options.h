// TlsOptions: the TLS settings of the server's listeners (--tls_cert_file, --tls_key_file,
// --tls_client_ca_file, --client_auth), shared by every front-end so one set of flags secures
// every port. Transport libraries turn them into their own credentials (the gRPC listener:
// server/api/internal/tls_credentials.h; the HTTP port: server/http/http_server.h).
//
// Client authentication modes (the client certificate is verified against client_ca_file
// whenever one is presented):
//   none     no client certificate is asked for;
//   request  one is asked for, and a client without one may still connect (it may then
//            authenticate with a bearer token);
//   require  a connection without a valid client certificate is refused in the handshake.
// TLS 1.2 is the minimum (gRPC's and civetweb's defaults); there is no plaintext fallback on a
// port once TLS is on.
//
// Thread-safety: plain values.
#ifndef SLICEKEEPER_SERVER_AUTH_TLS_OPTIONS_H_
#define SLICEKEEPER_SERVER_AUTH_TLS_OPTIONS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace slicekeeper::auth {

enum class ClientAuth { kNone, kRequest, kRequire };

// "none" | "request" | "require", else INVALID_ARGUMENT naming --client_auth.
absl::StatusOr<ClientAuth> ParseClientAuth(absl::string_view text);

struct TlsOptions {
  // PEM files. Both empty: plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle verifying client certificates; needed for request and require.
  std::string client_ca_file;
  ClientAuth client_auth = ClientAuth::kNone;
  // How often the files are checked for changes (certificate rotation without restart).
  absl::Duration reload_interval = absl::Seconds(10);

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
  // OK, or INVALID_ARGUMENT naming the flag: a certificate without a key (or the reverse), a
  // client_auth mode without a CA, a CA without TLS, or a file that cannot be read.
  absl::Status Validate() const;
};

// True for loopback hosts ("127.x.y.z", "[::1]", "localhost") in a "host:port" address; an
// empty host or 0.0.0.0 / [::] is every interface, not loopback.
bool IsLoopbackAddress(absl::string_view host_port);

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_TLS_OPTIONS_H_
