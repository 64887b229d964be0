// The gRPC listener's credentials from auth::TlsOptions: plaintext without a certificate, else
// TLS through grpc::experimental::FileWatcherCertificateProvider, which re-reads the key,
// certificate and client CA every TlsOptions::reload_interval, so a certificate rotated on disk
// takes effect for new handshakes without a restart (established connections keep theirs).
//
// Thread-safety: stateless.
#ifndef SLICEKEEPER_SERVER_API_INTERNAL_TLS_CREDENTIALS_H_
#define SLICEKEEPER_SERVER_API_INTERNAL_TLS_CREDENTIALS_H_

#include <memory>

#include <grpcpp/security/server_credentials.h>

#include "server/auth/tls_options.h"

namespace slicekeeper::api::internal {

// REQUIRES: options.Validate() is OK.
std::shared_ptr<grpc::ServerCredentials> ServerCredentials(const auth::TlsOptions& options);

}  // namespace slicekeeper::api::internal

#endif  // SLICEKEEPER_SERVER_API_INTERNAL_TLS_CREDENTIALS_H_
