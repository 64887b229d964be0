#include "server/http/admission.h"

#include <string>

namespace slicekeeper::http {

auth::Peer PeerOf(const Request& request) {
  return auth::Peer{.address = request.remote,
                    .authorization = std::string(request.Header("Authorization").value_or(""))};
}

std::function<absl::Status(Request*)> AuthorizerAdmission(auth::Authorizer* authorizer) {
  if (authorizer == nullptr) return nullptr;
  return [authorizer](Request* request) -> absl::Status {
    absl::StatusOr<auth::Caller> caller = authorizer->Check(PeerOf(*request), *request->access);
    if (!caller.ok()) return caller.status();
    request->caller = *std::move(caller);
    return absl::OkStatus();
  };
}

}  // namespace slicekeeper::http
