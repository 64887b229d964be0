// The gRPC API's side of server/auth: the auth::Request of each RPC (the caller comes from
// auth::PeerOf, server/auth/grpc_peer.h; the checks are auth::Admit and friends).
//
// Thread-safety: stateless; safe from any reaction thread.
#ifndef SLICEKEEPER_SERVER_API_INTERNAL_GRPC_AUTH_H_
#define SLICEKEEPER_SERVER_API_INTERNAL_GRPC_AUTH_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/auth/authorizer.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::api::internal {

// A writer's request for a batch: every namespace and service it touches (sorted, unique).
auth::Request BatchRequest(std::string rpc, const v1::ChangeBatch& batch);

// A request that names one namespace, or every namespace when `ns` is empty.
auth::Request NamespaceRequest(std::string rpc, auth::Role role, const std::string& ns);

}  // namespace slicekeeper::api::internal

#endif  // SLICEKEEPER_SERVER_API_INTERNAL_GRPC_AUTH_H_
