// The server's security flags (TLS, tokens, policy, audit, per-identity limits) and what they
// build: the listeners' TlsOptions and the Authorizer every front-end shares. Kept out of
// main.cc so each front-end's wiring there stays a line or two. docs/security.md documents the
// flags; README.md lists them.
//
// Thread-safety: call from main's thread, after absl::ParseCommandLine.
#ifndef SLICEKEEPER_SERVER_SECURITY_FLAGS_H_
#define SLICEKEEPER_SERVER_SECURITY_FLAGS_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/auth/authorizer.h"
#include "server/auth/tls_options.h"

namespace slicekeeper {

struct Security {
  auth::TlsOptions tls;
  // Null when no flag asks for tokens, a policy, an audit log or limits (open, as before).
  std::unique_ptr<auth::Authorizer> authorizer;
};

// Reads the flags, loads the token, policy and audit files. Errors: INVALID_ARGUMENT naming the
// flag, or the file errors of auth::Authorizer::Create.
absl::StatusOr<Security> SecurityFromFlags();

}  // namespace slicekeeper

#endif  // SLICEKEEPER_SERVER_SECURITY_FLAGS_H_
