#include "server/api/internal/grpc_auth.h"

#include <algorithm>
#include <utility>

namespace slicekeeper::api::internal {
namespace {

void SortUnique(std::vector<std::string>* v) {
  std::sort(v->begin(), v->end());
  v->erase(std::unique(v->begin(), v->end()), v->end());
}

}  // namespace

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
