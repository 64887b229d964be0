#include "server/xds/names.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
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
    "type.googleapis.com/envoy.config.endpoint.v3.LbEndpoint",
};
constexpr absl::string_view kShortNames[] = {"lds", "rds", "cds", "eds", "leds"};

constexpr absl::string_view kXdstp = "xdstp://";
constexpr absl::string_view kLbEndpointType = "envoy.config.endpoint.v3.LbEndpoint";
constexpr absl::string_view kNoZone = "_";

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

// Percent-encodes every byte but RFC 3986's unreserved ones: what Envoy leaves alone in an
// xdstp id is a superset, so Envoy's canonical form of our names is our names.
std::string PercentEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// Decodes %XX escapes; nullopt for a malformed one.
std::optional<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) || !absl::ascii_isxdigit(s[i + 2])) {
      return std::nullopt;
    }
    int value = 0;
    for (char h : s.substr(i + 1, 2)) {
      value = value * 16 + (absl::ascii_isdigit(h) ? h - '0' : absl::ascii_tolower(h) - 'a' + 10);
    }
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

absl::Status InvalidCollection(absl::string_view name, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("LEDS collection \"", name, "\": ", why));
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

std::string LedsCollectionName(const ServiceName& canonical, absl::string_view zone) {
  return absl::StrCat(kXdstp, "slicekeeper/", kLbEndpointType, "/",
                      PercentEncode(canonical.Canonical()), "/",
                      zone.empty() ? std::string(kNoZone) : PercentEncode(zone), "/*");
}

absl::StatusOr<LedsCollection> ParseLedsCollection(absl::string_view name) {
  if (!absl::StartsWith(name, kXdstp)) return InvalidCollection(name, "not an xdstp:// name");
  LedsCollection out;
  absl::string_view rest = name.substr(kXdstp.size());
  if (const size_t q = rest.find_first_of("?#"); q != absl::string_view::npos) {
    if (rest[q] == '#') return InvalidCollection(name, "directives (#) are not served");
    out.query = std::string(rest.substr(q));
    rest = rest.substr(0, q);
  }
  // authority / type / canonical / zone / *
  std::vector<absl::string_view> parts = absl::StrSplit(rest, '/');
  if (parts.size() != 5 || parts[1] != kLbEndpointType || parts[4] != "*") {
    return InvalidCollection(
        name, absl::StrCat("expected xdstp://<authority>/", kLbEndpointType,
                           "/<service>.<namespace>[:<port>]/<zone>/* (a glob collection)"));
  }
  std::optional<std::string> canonical = PercentDecode(parts[2]);
  std::optional<std::string> zone = PercentDecode(parts[3]);
  if (!canonical.has_value() || !zone.has_value()) {
    return InvalidCollection(name, "malformed percent-encoding");
  }
  absl::StatusOr<ServiceName> service = ParseName(*canonical);
  if (!service.ok()) return InvalidCollection(name, service.status().message());
  if (service->Canonical() != *canonical) {
    return InvalidCollection(
        name, "the service must be named canonically: <service>.<namespace>[:<port>]");
  }
  out.service = std::move(*service);
  out.zone = *zone == kNoZone ? "" : std::move(*zone);
  out.prefix = std::string(name.substr(0, kXdstp.size() + rest.size() - 1));
  return out;
}

std::string LedsEndpointName(const LedsCollection& collection, absl::string_view address) {
  return absl::StrCat(collection.prefix, PercentEncode(address), collection.query);
}

std::optional<std::string> LedsCollectionOf(absl::string_view name) {
  if (!absl::StartsWith(name, kXdstp)) return std::nullopt;
  const size_t end = std::min(name.find_first_of("?#"), name.size());
  const size_t slash = name.substr(0, end).rfind('/');
  if (slash == absl::string_view::npos || slash < kXdstp.size()) return std::nullopt;
  return absl::StrCat(name.substr(0, slash + 1), "*", name.substr(end));
}

}  // namespace slicekeeper::xds
