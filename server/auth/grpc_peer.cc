#include "server/auth/grpc_peer.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

namespace slicekeeper::auth {
namespace {

std::string FirstProperty(const grpc::AuthContext& auth, const char* name) {
  std::vector<grpc::string_ref> values = auth.FindPropertyValues(name);
  return values.empty() ? std::string() : std::string(values[0].data(), values[0].size());
}

}  // namespace

Peer PeerOf(const grpc::ServerContextBase& context) {
  Peer peer;
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

}  // namespace slicekeeper::auth
