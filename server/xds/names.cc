#include "server/xds/names.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/namespaced_name.h"
#include "common/validation.h"

namespace slicekeeper::xds {
namespace {

constexpr absl::string_view kTypeUrls[] = {
    "type.googleapis.com/envoy.config.listener.v3.Listener",
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
};
constexpr absl::string_view kShortNames[] = {"lds", "rds", "cds", "eds"};

absl::Status Invalid(absl::string_view name, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("resource name \"", name, "\": ", why));
}

// All digits: a number (Kubernetes port names have a letter, IANA_SVC_NAME); else a name.
bool IsPort(absl::string_view port) {
  if (!port.empty() && std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) {
    int number = 0;
    return absl::SimpleAtoi(port, &number) && number >= 1 && number <= 65535;
  }
  return validation::IsDns1123Label(port);
}

}  // namespace

absl::string_view TypeUrl(ResourceType type) { return kTypeUrls[static_cast<int>(type)]; }

absl::string_view ShortName(ResourceType type) { return kShortNames[static_cast<int>(type)]; }

std::optional<ResourceType> TypeFromUrl(absl::string_view type_url) {
  for (int i = 0; i < static_cast<int>(ResourceType::kCount); ++i) {
    if (type_url == kTypeUrls[i]) return static_cast<ResourceType>(i);
  }
  return std::nullopt;
}

std::string ServiceName::Key() const { return NamespacedName(namespace_, service); }

std::string ServiceName::Canonical() const {
  return port.empty() ? absl::StrCat(service, ".", namespace_)
                      : absl::StrCat(service, ".", namespace_, ":", port);
}

absl::StatusOr<ServiceName> ParseName(absl::string_view name) {
  ServiceName out;
  absl::string_view host = name;
  const size_t colon = name.rfind(':');
  if (colon != absl::string_view::npos) {
    host = name.substr(0, colon);
    out.port = std::string(name.substr(colon + 1));
    if (!IsPort(out.port)) {
      return Invalid(name, "the port must be a port name (DNS-1123 label) or 1..65535");
    }
  }
  std::vector<absl::string_view> labels = absl::StrSplit(host, '.');
  const bool suffix_ok =
      labels.size() == 2 || (labels.size() == 3 && labels[2] == "svc") ||
      (labels.size() == 5 && labels[2] == "svc" && labels[3] == "cluster" && labels[4] == "local");
  if (!suffix_ok) {
    return Invalid(name, "expected <service>.<namespace>[.svc[.cluster.local]][:<port>]");
  }
  if (!validation::IsDns1123Label(labels[0]) || !validation::IsDns1123Label(labels[1])) {
    return Invalid(name, "service and namespace must be DNS-1123 labels");
  }
  out.service = std::string(labels[0]);
  out.namespace_ = std::string(labels[1]);
  return out;
}

}  // namespace slicekeeper::xds
