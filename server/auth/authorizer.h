// Authorizer: the one authentication and authorization layer every front-end uses (gRPC, xDS,
// Kubernetes REST, the web page). A front-end describes the caller (`Peer`: its verified
// certificate identity, Authorization header and address, see identity.h) and the request
// (`Request`: the RPC, the role it needs, the namespaces it touches) and calls Check(); after an
// admitted write it calls AuditWrite() with the outcome; a long-lived stream holds a slot from
// AcquireStream(). That is all a front-end does; docs/security.md has the user's view.
//
// Decisions, in order:
//   1. Authentication. An Authorization header that is not `Bearer <token of --token_file>` is
//      UNAUTHENTICATED. Else the identity is the certificate's (SPIFFE ID, else CN), else the
//      token's, else anonymous.
//   2. Without a policy (open mode, logged loudly at Create) everything is allowed.
//   3. With a policy, anonymous is UNAUTHENTICATED. A request naming namespaces needs the role in
//      every one of them, else PERMISSION_DENIED naming the first namespace refused (a batch is
//      refused whole: the front-end applies nothing). A request over all namespaces (a list or
//      watch without a namespace) needs the role in at least one and gets the NamespaceFilter of
//      the namespaces it may see in `Caller::readable`: it is filtered, not refused. A
//      cluster-scoped request (no namespaces, not over all) needs the role in "*".
//   4. A write (Request::write) then takes a token of the identity's write rate limit:
//      RESOURCE_EXHAUSTED when empty.
// Every refused request and every write outcome is written to the audit log (if any).
// The token file and the policy file are re-read when they change on disk (checked at most
// once per Options::reload_interval, on a request; no thread). A policy that no longer parses
// keeps the previous one, and says so in the log.
//
// Thread-safety: every method may be called concurrently from any thread.
//
// Example (a front-end's write):
//   SK_ASSIGN_OR_RETURN(auth::Caller caller, authorizer->Check(peer, request));
//   absl::StatusOr<int64_t> revision = store->Apply(...);
//   authorizer->AuditWrite(caller, request, revision.status(), revision.value_or(0));
#ifndef SLICEKEEPER_SERVER_AUTH_AUTHORIZER_H_
#define SLICEKEEPER_SERVER_AUTH_AUTHORIZER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/auth/audit_log.h"
#include "server/auth/identity.h"
#include "server/auth/internal/file_version.h"
#include "server/auth/limits.h"
#include "server/auth/policy.h"
#include "server/auth/request.h"
#include "server/auth/token_file.h"

namespace slicekeeper::auth {

class Authorizer {
 public:
  struct Options {
    // "": no bearer tokens.
    std::string token_file;
    // "": open mode, everything allowed.
    std::string policy_file;
    // "": no audit log.
    std::string audit_log;
    int64_t audit_max_bytes = 100 << 20;
    int audit_max_files = 5;
    absl::Duration reload_interval = absl::Seconds(1);
    // Writes per second per identity (0: unlimited) and the bucket size.
    double write_rate = 0;
    double write_burst = 0;
    // Open streams per identity (0: unlimited).
    int max_streams_per_identity = 0;
    // Null: the real clock; else must outlive the authorizer.
    Clock* clock = nullptr;
  };

  // Loads the files. Errors: those of TokenFile::Load, Policy::Parse (INVALID_ARGUMENT with the
  // file name) and AuditLog::Open.
  static absl::StatusOr<std::unique_ptr<Authorizer>> Create(Options options);

  // True without a policy.
  bool open() const { return policy_file_empty_; }

  // Steps 1-4 of the banner. Returns the admitted caller, or UNAUTHENTICATED,
  // PERMISSION_DENIED or RESOURCE_EXHAUSTED (audited).
  absl::StatusOr<Caller> Check(const Peer& peer, const Request& request) ABSL_LOCKS_EXCLUDED(mu_);

  // Audits the outcome of an admitted write (`revision` 0 when it failed).
  void AuditWrite(const Caller& caller, const Request& request, const absl::Status& status,
                  int64_t revision);

  // A place for one more long-lived stream of `caller`, or RESOURCE_EXHAUSTED (audited).
  // The slot must be destroyed before the authorizer.
  absl::StatusOr<std::unique_ptr<StreamLimiter::Slot>> AcquireStream(const Caller& caller,
                                                                     const Request& request);

 private:
  explicit Authorizer(Options options);
  absl::StatusOr<Identity> Authenticate(const Peer& peer);
  absl::Status Authorize(const Identity& identity, const Request& request,
                         NamespaceFilter* readable) ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const Policy> CurrentPolicy() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status ReloadPolicyLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Audit(const Identity& identity, const std::string& peer, const Request& request,
             const absl::Status& status, int64_t revision);

  // Immutable after Create.
  const Options options_;
  const bool policy_file_empty_;
  Clock* const clock_;
  std::unique_ptr<TokenFile> tokens_;
  std::unique_ptr<AuditLog> audit_;
  WriteLimiter write_limiter_;
  StreamLimiter stream_limiter_;

  absl::Mutex mu_;
  std::shared_ptr<const Policy> policy_ ABSL_GUARDED_BY(mu_);
  internal::FileVersion policy_version_ ABSL_GUARDED_BY(mu_);
  absl::Time next_policy_check_ ABSL_GUARDED_BY(mu_);
};

// authorizer->Check(peer, request); without an authorizer (a server built without security, as
// in unit tests), an anonymous caller who may read everything.
absl::StatusOr<Caller> Admit(Authorizer* authorizer, const Peer& peer, const Request& request);

// authorizer->AuditWrite(...) unless `authorizer` is null.
void AuditWrite(Authorizer* authorizer, const Caller& caller, const Request& request,
                const absl::Status& status, int64_t revision);

// authorizer->AcquireStream(...); without an authorizer, an empty slot (no limit).
absl::StatusOr<std::unique_ptr<StreamLimiter::Slot>> AcquireStream(Authorizer* authorizer,
                                                                   const Caller& caller,
                                                                   const Request& request);

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_AUTHORIZER_H_
