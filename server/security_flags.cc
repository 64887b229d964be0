#include "server/security_flags.h"

#include <string>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/flags/flag.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, tls_cert_file, "",
          "PEM certificate (chain) of the gRPC listener; with --tls_key_file turns TLS on");
ABSL_FLAG(std::string, tls_key_file, "", "PEM private key of --tls_cert_file");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA bundle that verifies client certificates (mTLS)");
ABSL_FLAG(std::string, client_auth, "none",
          "Client certificates: none, request (verified if presented) or require");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Seconds(10),
          "How often the TLS files are checked for a rotated certificate");
ABSL_FLAG(std::string, token_file, "",
          "Bearer tokens: token,identity,groups lines (Kubernetes static token file format)");
ABSL_FLAG(std::string, authz_policy_file, "",
          "YAML rules granting reader/writer/admin per namespace; unset: open to every client");
ABSL_FLAG(std::string, audit_log, "", "JSON-lines audit log of every write and every denial");
ABSL_FLAG(int64_t, audit_log_max_bytes, int64_t{100} << 20, "Audit log size before rotation");
ABSL_FLAG(int, audit_log_max_files, 5, "Rotated audit logs kept (PATH.1 ... PATH.N)");
ABSL_FLAG(double, write_rate_per_identity, 0,
          "Write RPCs (and stream batches) per second per identity; 0: unlimited");
ABSL_FLAG(double, write_burst_per_identity, 0,
          "Token bucket size of --write_rate_per_identity (at least 1)");
ABSL_FLAG(int, max_streams_per_identity, 0,
          "Open Watch and StreamChanges streams per identity; 0: unlimited");

namespace slicekeeper {

absl::StatusOr<Security> SecurityFromFlags() {
  Security security;
  auth::TlsOptions& tls = security.tls;
  tls.cert_file = absl::GetFlag(FLAGS_tls_cert_file);
  tls.key_file = absl::GetFlag(FLAGS_tls_key_file);
  tls.client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  tls.reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  absl::StatusOr<auth::ClientAuth> mode = auth::ParseClientAuth(absl::GetFlag(FLAGS_client_auth));
  if (!mode.ok()) return mode.status();
  tls.client_auth = *mode;
  if (absl::Status s = tls.Validate(); !s.ok()) return s;
  const auth::Authorizer::Options options{
      .token_file = absl::GetFlag(FLAGS_token_file),
      .policy_file = absl::GetFlag(FLAGS_authz_policy_file),
      .audit_log = absl::GetFlag(FLAGS_audit_log),
      .audit_max_bytes = absl::GetFlag(FLAGS_audit_log_max_bytes),
      .audit_max_files = absl::GetFlag(FLAGS_audit_log_max_files),
      .write_rate = absl::GetFlag(FLAGS_write_rate_per_identity),
      .write_burst = absl::GetFlag(FLAGS_write_burst_per_identity),
      .max_streams_per_identity = absl::GetFlag(FLAGS_max_streams_per_identity)};
  if (options.token_file.empty() && options.policy_file.empty() && options.audit_log.empty() &&
      options.write_rate <= 0 && options.max_streams_per_identity <= 0) {
    // Nothing to check, audit or limit: no authorizer at all, so the RPCs skip building the
    // peer (its address and auth context cost an allocation or two per call).
    spdlog::warn(
        "authorization is OFF (no --authz_policy_file): every client that reaches the port may "
        "read and write every namespace");
    return security;
  }
  auto authorizer = auth::Authorizer::Create(options);
  if (!authorizer.ok()) return authorizer.status();
  security.authorizer = *std::move(authorizer);
  return security;
}

}  // namespace slicekeeper
