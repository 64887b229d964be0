// auth::Request and auth::Caller: what a front-end asks of the authorization layer
// (authorizer.h) for one request, and what it gets back for an admitted caller. Kept apart from
// the Authorizer so that transports (the HTTP router's requests, server/http/handler.h) can carry
// them without depending on the policy, token and audit machinery.
//
// Thread-safety: plain values.
#ifndef SLICEKEEPER_SERVER_AUTH_REQUEST_H_
#define SLICEKEEPER_SERVER_AUTH_REQUEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/auth/identity.h"
#include "server/auth/policy.h"

namespace slicekeeper::auth {

// What a request asks for, as its front-end describes it.
struct Request {
  // For the audit log and error messages: "ApplyChanges", "GET /metrics", ...
  std::string rpc;
  Role role = Role::kReader;
  // The namespaces it touches (a batch: every change's). Empty with all_namespaces false: a
  // cluster-scoped request.
  std::vector<std::string> namespaces;
  // A list or watch over every namespace: filtered to what the caller may see.
  bool all_namespaces = false;
  // Writes are rate limited and always audited.
  bool write = false;
  // For the audit log only.
  std::vector<std::string> services;
  int64_t changes = 0;
};

// An admitted caller.
struct Caller {
  Identity identity;
  std::string peer;
  // What an all_namespaces request may see (everything in open mode).
  NamespaceFilter readable;
};

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_REQUEST_H_
