// The admission hook (HttpServer::Options::admit) of an HTTP port secured by the server's one
// authentication and authorization layer (server/auth/authorizer.h). The caller is who the
// request's `Authorization: Bearer` header says (the port is plaintext: there are no client
// certificates, see docs/security.md) at its peer address; what it asks is the handler's
// Handler::Access. An admitted caller is left in request->caller for the handler (the namespaces
// it may read filter its lists and watches).
//
// Thread-safety: the hook is safe to call from every worker thread at once.
#ifndef SLICEKEEPER_SERVER_HTTP_ADMISSION_H_
#define SLICEKEEPER_SERVER_HTTP_ADMISSION_H_

#include <functional>

#include "absl/status/status.h"
#include "server/auth/authorizer.h"
#include "server/http/handler.h"

namespace slicekeeper::http {

// The hook checking every request through `authorizer`, which must outlive the server; null
// for a null authorizer (everything admitted, as without security flags).
std::function<absl::Status(Request*)> AuthorizerAdmission(auth::Authorizer* authorizer);

// The auth::Peer of an HTTP request: its peer address and Authorization header.
auth::Peer PeerOf(const Request& request);

}  // namespace slicekeeper::http

#endif  // SLICEKEEPER_SERVER_HTTP_ADMISSION_H_
