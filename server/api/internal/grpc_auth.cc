#include "server/api/internal/grpc_auth.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <algorithm>
#include <utility>

namespace slicekeeper::api::internal {
namespace {

std::string FirstProperty(const grpc::AuthContext& auth, const char* name) {
  std::vector<grpc::string_ref> values = auth.FindPropertyValues(name);
  return values.empty() ? std::string() : std::string(values[0].data(), values[0].size());
}

void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

}  // namespace

auth::Peer PeerOf(const grpc::ServerContextBase& context) {
  auth::Peer peer;
  peer.address = context.peer();
  std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  // Peer identity properties exist only for a client certificate the handshake verified (the
  // "request" and "require" modes verify what is presented).
  if (auth != nullptr && auth->IsPeerAuthenticated()) {
    for (const grpc::string_ref& uri : auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
      std::string s(uri.data(), uri.size());
      if (s.rfind("spiffe://", 0) == 0) {
        peer.cert_spiffe_id = std::move(s);
        break;
      }
    }
    peer.cert_common_name = FirstProperty(*auth, GRPC_X509_CN_PROPERTY_NAME);
  }
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) peer.authorization.assign(it->second.data(), it->second.size());
  return peer;
}

absl::StatusOr<auth::Caller> Admit(auth::Authorizer* authorizer, const auth::Peer& peer,
                                   const auth::Request& request) {
  if (authorizer == nullptr) return auth::Caller{auth::Identity{}, peer.address, {}};
  return authorizer->Check(peer, request);
}

void AuditWrite(auth::Authorizer* authorizer, const auth::Caller& caller,
                const auth::Request& request, const absl::Status& status, int64_t revision) {
  if (authorizer != nullptr) authorizer->AuditWrite(caller, request, status, revision);
}

auth::Request BatchRequest(std::string rpc, const v1::ChangeBatch& batch) {
  auth::Request request{.rpc = std::move(rpc), .role = auth::Role::kWriter, .write = true};
  request.changes = batch.changes_size();
  // An empty batch touches nothing: it needs the writer role somewhere, not cluster-wide.
  request.all_namespaces = batch.changes_size() == 0;
  for (const v1::EndpointChange& c : batch.changes()) {
    // Consecutive changes mostly share a service: skip the repeats before sorting.
    if (request.namespaces.empty() || request.namespaces.back() != c.namespace_()) {
      request.namespaces.push_back(c.namespace_());
    }
    if (request.services.empty() || request.services.back() != c.service()) {
      request.services.push_back(c.service());
    }
  }
  SortUnique(&request.namespaces);
  SortUnique(&request.services);
  return request;
}

auth::Request NamespaceRequest(std::string rpc, auth::Role role, const std::string& ns) {
  auth::Request request{.rpc = std::move(rpc), .role = role};
  if (ns.empty()) {
    request.all_namespaces = true;
  } else {
    request.namespaces.push_back(ns);
  }
  return request;
}

}  // namespace slicekeeper::api::internal
