// The gRPC front-end's side of server/auth: the auth::Peer of a call (verified client
// certificate, `authorization` metadata, peer address) and the checks every RPC makes.
// A null Authorizer allows everything (a server built without one, as in unit tests).
//
// Thread-safety: stateless; safe from any reaction thread.
#ifndef SLICEKEEPER_SERVER_API_INTERNAL_GRPC_AUTH_H_
#define SLICEKEEPER_SERVER_API_INTERNAL_GRPC_AUTH_H_

#include <grpcpp/server_context.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/authorizer.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::api::internal {

// The caller as gRPC knows it. The certificate fields are set only when the TLS handshake
// verified the client certificate against --tls_client_ca_file.
auth::Peer PeerOf(const grpc::ServerContextBase& context);

// authorizer->Check(peer, request), or an anonymous caller allowed everything without one.
absl::StatusOr<auth::Caller> Admit(auth::Authorizer* authorizer, const auth::Peer& peer,
                                   const auth::Request& request);

// authorizer->AuditWrite(...) unless null.
void AuditWrite(auth::Authorizer* authorizer, const auth::Caller& caller,
                const auth::Request& request, const absl::Status& status, int64_t revision);

// A writer's request for a batch: every namespace and service it touches (sorted, unique).
auth::Request BatchRequest(std::string rpc, const v1::ChangeBatch& batch);

// A request that names one namespace, or every namespace when `ns` is empty.
auth::Request NamespaceRequest(std::string rpc, auth::Role role, const std::string& ns);

}  // namespace slicekeeper::api::internal

#endif  // SLICEKEEPER_SERVER_API_INTERNAL_GRPC_AUTH_H_
