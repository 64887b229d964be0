// Channel credentials for a slicekeeper server that runs TLS, mTLS or bearer tokens
// (docs/security.md), from files the way kubectl takes --certificate-authority,
// --client-certificate, --client-key and --token.
//
//   ca_file     PEM bundle that verifies the server (TLS on when any field is set; empty: the
//               system roots)
//   cert_file   PEM client certificate (mTLS), with key_file
//   key_file    PEM private key of cert_file
//   token       bearer token, sent as `authorization: Bearer TOKEN` on every call; only over
//               TLS (gRPC never sends call credentials in plaintext)
// FromEnvironment() reads SLICEKEEPER_CA, SLICEKEEPER_CERT, SLICEKEEPER_KEY and
// SLICEKEEPER_TOKEN; flags override them field by field (skctl does this).
//
// Thread-safety: stateless functions; the credentials returned are shared by gRPC's channels.
#ifndef SLICEKEEPER_CLIENT_CREDENTIALS_H_
#define SLICEKEEPER_CLIENT_CREDENTIALS_H_

#include <memory>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"

namespace slicekeeper::client {

struct SecurityOptions {
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  std::string token;

  bool tls() const {
    return !ca_file.empty() || !cert_file.empty() || !key_file.empty() || !token.empty();
  }
};

// The SLICEKEEPER_CA/CERT/KEY/TOKEN environment variables (unset ones stay empty).
SecurityOptions SecurityFromEnvironment();

// `overrides`' non-empty fields over `base`'s.
SecurityOptions Merge(SecurityOptions base, const SecurityOptions& overrides);

// Insecure credentials when !options.tls(); else TLS (+ client certificate, + token).
// Errors: INVALID_ARGUMENT naming the field (a certificate without a key or the reverse, a
// file that cannot be read).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const SecurityOptions& options);

}  // namespace slicekeeper::client

#endif  // SLICEKEEPER_CLIENT_CREDENTIALS_H_
