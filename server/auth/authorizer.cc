#include "server/auth/authorizer.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/auth/internal/read_file.h"

namespace slicekeeper::auth {
namespace {

std::string Who(const Identity& identity) {
  return absl::StrCat("identity \"", identity.name, "\"");
}

}  // namespace

Authorizer::Authorizer(Options options)
    : options_(std::move(options)),
      policy_file_empty_(options_.policy_file.empty()),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()),
      write_limiter_(options_.write_rate, options_.write_burst, options_.clock),
      stream_limiter_(options_.max_streams_per_identity) {}

absl::StatusOr<std::unique_ptr<Authorizer>> Authorizer::Create(Options options) {
  std::unique_ptr<Authorizer> a(new Authorizer(std::move(options)));
  const Options& o = a->options_;
  if (!o.token_file.empty()) {
    auto tokens = TokenFile::Load(o.token_file, o.reload_interval, o.clock);
    if (!tokens.ok()) return tokens.status();
    a->tokens_ = *std::move(tokens);
  }
  if (!o.audit_log.empty()) {
    auto audit = AuditLog::Open(AuditLog::Options{
        .path = o.audit_log, .max_bytes = o.audit_max_bytes, .max_files = o.audit_max_files});
    if (!audit.ok()) return audit.status();
    a->audit_ = *std::move(audit);
  }
  if (o.policy_file.empty()) {
    spdlog::warn(
        "authorization is OFF (no --authz_policy_file): every client that reaches the port may "
        "read and write every namespace");
    return a;
  }
  absl::MutexLock l(&a->mu_);
  a->policy_version_.size = -2;  // never a real version: the first check loads
  absl::Status status = a->ReloadPolicyLocked();
  if (!status.ok()) return status;
  spdlog::info("authorization policy {} loaded: rules={}", o.policy_file,
               a->policy_->rules().size());
  return a;
}

absl::Status Authorizer::ReloadPolicyLocked() {
  next_policy_check_ = clock_->Now() + options_.reload_interval;
  const internal::FileVersion version = internal::FileVersion::Of(options_.policy_file);
  if (version == policy_version_) return absl::OkStatus();
  const bool first = policy_ == nullptr;
  policy_version_ = version;
  absl::StatusOr<std::string> text = internal::ReadFile(options_.policy_file);
  absl::StatusOr<Policy> policy =
      text.ok() ? Policy::Parse(*text) : absl::StatusOr<Policy>(text.status());
  if (!policy.ok()) {
    absl::Status status(policy.status().code(),
                        absl::StrCat(options_.policy_file, ": ", policy.status().message()));
    if (!first) {
      spdlog::error("policy not reloaded, keeping the previous one: {}",
                    std::string(status.message()));
    }
    return status;
  }
  policy_ = std::make_shared<const Policy>(*std::move(policy));
  if (!first) spdlog::info("authorization policy {} reloaded", options_.policy_file);
  return absl::OkStatus();
}

std::shared_ptr<const Policy> Authorizer::CurrentPolicy() {
  absl::MutexLock l(&mu_);
  if (clock_->Now() >= next_policy_check_) ReloadPolicyLocked().IgnoreError();
  return policy_;
}

absl::StatusOr<Identity> Authorizer::Authenticate(const Peer& peer) {
  std::optional<Identity> token_identity;
  if (!peer.authorization.empty()) {
    constexpr absl::string_view kBearer = "Bearer ";
    if (!absl::StartsWithIgnoreCase(peer.authorization, kBearer)) {
      return absl::UnauthenticatedError("Authorization: only Bearer tokens are accepted");
    }
    if (tokens_ != nullptr) {
      token_identity =
          tokens_->Lookup(absl::string_view(peer.authorization).substr(kBearer.size()));
    }
    if (!token_identity.has_value()) {
      return absl::UnauthenticatedError(tokens_ == nullptr
                                            ? "bearer token refused: no --token_file is set"
                                            : "bearer token not valid");
    }
  }
  if (!peer.cert_spiffe_id.empty()) return Identity{peer.cert_spiffe_id, {}};
  if (!peer.cert_common_name.empty()) return Identity{peer.cert_common_name, {}};
  if (token_identity.has_value()) return *std::move(token_identity);
  return Identity{};
}

absl::Status Authorizer::Authorize(const Identity& identity, const Request& request,
                                   NamespaceFilter* readable) {
  if (open()) return absl::OkStatus();
  if (identity.anonymous()) {
    return absl::UnauthenticatedError(
        "credentials required: a client certificate or an Authorization: Bearer token");
  }
  std::shared_ptr<const Policy> policy = CurrentPolicy();
  const absl::string_view role = RoleName(request.role);
  if (request.all_namespaces) {
    *readable = policy->Namespaces(identity, request.role);
    if (readable->none()) {
      return absl::PermissionDeniedError(
          absl::StrCat(Who(identity), " is not a ", role, " in any namespace (", request.rpc, ")"));
    }
    return absl::OkStatus();
  }
  if (request.namespaces.empty() && policy->RoleIn(identity, "") < request.role) {
    return absl::PermissionDeniedError(absl::StrCat(Who(identity), " is not a cluster-wide ", role,
                                                    " (", request.rpc, " needs namespaces \"*\")"));
  }
  for (const std::string& ns : request.namespaces) {
    if (policy->RoleIn(identity, ns) < request.role) {
      return absl::PermissionDeniedError(absl::StrCat(
          Who(identity), " is not a ", role, " in namespace \"", ns, "\" (", request.rpc, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Caller> Authorizer::Check(const Peer& peer, const Request& request) {
  absl::StatusOr<Identity> identity = Authenticate(peer);
  if (!identity.ok()) {
    Audit(Identity{}, peer.address, request, identity.status(), 0);
    return identity.status();
  }
  Caller caller{*std::move(identity), peer.address, NamespaceFilter()};
  absl::Status status = Authorize(caller.identity, request, &caller.readable);
  if (status.ok() && request.write) status = write_limiter_.Admit(caller.identity.name);
  if (!status.ok()) {
    Audit(caller.identity, peer.address, request, status, 0);
    return status;
  }
  return caller;
}

void Authorizer::AuditWrite(const Caller& caller, const Request& request,
                            const absl::Status& status, int64_t revision) {
  Audit(caller.identity, caller.peer, request, status, revision);
}

absl::StatusOr<std::unique_ptr<StreamLimiter::Slot>> Authorizer::AcquireStream(
    const Caller& caller, const Request& request) {
  auto slot = stream_limiter_.Acquire(caller.identity.name);
  if (!slot.ok()) Audit(caller.identity, caller.peer, request, slot.status(), 0);
  return slot;
}

void Authorizer::Audit(const Identity& identity, const std::string& peer, const Request& request,
                       const absl::Status& status, int64_t revision) {
  if (!status.ok()) {
    spdlog::debug("denied rpc={} identity=\"{}\" peer={} code={} message=\"{}\"", request.rpc,
                  identity.name, peer, absl::StatusCodeToString(status.code()),
                  std::string(status.message()));
  }
  if (audit_ == nullptr) return;
  audit_->Write(AuditRecord{.time = clock_->Now(),
                            .identity = identity,
                            .peer = peer,
                            .rpc = request.rpc,
                            .namespaces = request.namespaces,
                            .services = request.services,
                            .changes = request.changes,
                            .code = status.code(),
                            .message = std::string(status.message()),
                            .revision = revision});
}

absl::StatusOr<Caller> Admit(Authorizer* authorizer, const Peer& peer, const Request& request) {
  if (authorizer == nullptr) return Caller{Identity{}, peer.address, NamespaceFilter()};
  return authorizer->Check(peer, request);
}

void AuditWrite(Authorizer* authorizer, const Caller& caller, const Request& request,
                const absl::Status& status, int64_t revision) {
  if (authorizer != nullptr) authorizer->AuditWrite(caller, request, status, revision);
}

absl::StatusOr<std::unique_ptr<StreamLimiter::Slot>> AcquireStream(Authorizer* authorizer,
                                                                   const Caller& caller,
                                                                   const Request& request) {
  if (authorizer == nullptr) return std::unique_ptr<StreamLimiter::Slot>();
  return authorizer->AcquireStream(caller, request);
}

}  // namespace slicekeeper::auth
