// skctl delete service|slice NAME.
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client/skctl/commands.h"
#include "client/skctl/flags.h"

namespace slicekeeper::skctl {
namespace {

// NotFound worded as kubectl words it: `services "web" not found`.
absl::Status Kubectlish(const absl::Status& status, const std::string& resource,
                        const std::string& name) {
  if (status.code() != absl::StatusCode::kNotFound) return status;
  return absl::NotFoundError(absl::StrCat(resource, " \"", name, "\" not found"));
}

}  // namespace

int RunDelete(const Args& args) {
  if (args.size() != 2) return UsageError("usage: skctl delete service|slice NAME [-n NS]");
  const std::string& kind = args[0];
  const std::string& name = args[1];
  std::unique_ptr<client::Client> c = MakeClient();
  if (kind == "service" || kind == "services" || kind == "svc") {
    auto r = c->DeleteService(Namespace(), name);
    if (!r.ok()) return ServerError(Kubectlish(r.status(), "services", name));
    std::printf("service \"%s\" deleted\n", name.c_str());
    return kExitOk;
  }
  if (kind == "slice" || kind == "slices" || kind == "endpointslice" || kind == "endpointslices") {
    auto r = c->DeleteEndpointSlice(Namespace(), name);
    if (!r.ok())
      return ServerError(Kubectlish(r.status(), "endpointslices.discovery.k8s.io", name));
    std::printf("endpointslice.discovery.k8s.io \"%s\" deleted\n", name.c_str());
    return kExitOk;
  }
  return UsageError(absl::StrCat("the server doesn't have a resource type \"", kind, "\""));
}

}  // namespace slicekeeper::skctl
