// PeerOf: the auth::Peer of a gRPC call (its verified client certificate, `authorization`
// metadata and peer address), for every gRPC front-end (the slicekeeper API, xDS). The only part
// of server/auth that knows gRPC; the Authorizer itself never does.
//
// Thread-safety: stateless; safe from any reaction thread.
#ifndef SLICEKEEPER_SERVER_AUTH_GRPC_PEER_H_
#define SLICEKEEPER_SERVER_AUTH_GRPC_PEER_H_

#include <grpcpp/server_context.h>

#include "server/auth/identity.h"

namespace slicekeeper::auth {

// The caller as gRPC knows it. The certificate fields are set only when the TLS handshake
// verified the client certificate against --tls_client_ca_file.
Peer PeerOf(const grpc::ServerContextBase& context);

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_GRPC_PEER_H_
