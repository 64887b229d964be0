#include "common/internal/object_rules.h"

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/internal/ip.h"
#include "common/slice.h"
#include "common/validation.h"

namespace slicekeeper::validation::internal {
namespace {

constexpr char kZoneLabel[] = "topology.kubernetes.io/zone";

void CheckAddress(absl::string_view address, absl::string_view type, const FieldPath& path,
                  ErrorList& errors) {
  if (type == kAddressTypeFQDN) {
    if (!IsFqdnAddress(address)) {
      errors.Add(path, "must be a valid FQDN (a lowercase DNS subdomain of at least two labels)");
    }
    return;
  }
  const bool v4 = type == kAddressTypeIPv4;
  if (!v4 && type != kAddressTypeIPv6) return;  // Unknown types are not validated.
  std::optional<IpAddress> ip = ParseIp(address);
  if (!ip.has_value() || ip->is_v4 != v4) {
    errors.Add(path, v4 ? "must be a valid IPv4 address" : "must be a valid IPv6 address");
    return;
  }
  if (const char* rule = RejectedRangeRule(*ip)) {
    if (!(AllowLoopbackEndpoints() && IsLoopback(*ip))) errors.Add(path, rule);
  }
}

// Duplicates among a few names: quadratic below 16 (no allocation), hashed above.
template <typename Names, typename Report>
void ReportDuplicates(const Names& names, Report report) {
  if (names.size() <= 16) {
    for (size_t i = 1; i < names.size(); ++i) {
      for (size_t j = 0; j < i; ++j) {
        if (names[i] == names[j]) {
          report(i);
          break;
        }
      }
    }
    return;
  }
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    if (!seen.insert(names[i]).second) report(i);
  }
}

// forZones / forNodes: at most `max`; names unique and valid per `valid`.
template <typename Entries, typename Valid>
void CheckHintList(const Entries& entries, size_t max, Valid valid, absl::string_view rule,
                   const FieldPath& path, ErrorList& errors) {
  if (static_cast<size_t>(entries.size()) > max) {
    errors.Add(path, TooMany(max));
    return;
  }
  absl::InlinedVector<absl::string_view, 8> names;
  for (const auto& entry : entries) {
    if (!valid(entry.name())) {
      FieldPath entry_path = path.Index(names.size());
      errors.Add(entry_path.Field("name"), rule);
    }
    names.push_back(entry.name());
  }
  ReportDuplicates(names, [&](size_t i) {
    FieldPath entry_path = path.Index(i);
    errors.Add(entry_path.Field("name"), "duplicate value");
  });
}

void CheckHints(const v1::EndpointHints& hints, const FieldPath& path, ErrorList& errors) {
  CheckHintList(hints.for_zones(), kMaxHintsPerList, IsLabelValue, kRuleLabelValue,
                path.Field("forZones"), errors);
  CheckHintList(hints.for_nodes(), kMaxHintsPerList, IsDns1123Subdomain, kRuleSubdomain,
                path.Field("forNodes"), errors);
}

void CheckTopology(const StringMap& topology, const FieldPath& path, ErrorList& errors) {
  if (topology.empty()) return;
  if (topology.size() > kMaxTopologyLabels) errors.Add(path, TooMany(kMaxTopologyLabels));
  CheckLabels(topology, path, errors);
  if (topology.contains(kZoneLabel)) {
    errors.Add(path.Key(kZoneLabel), "may not be used; use the zone field instead");
  }
}

// Kubernetes' maskTrailingDash: a generateName prefix may end in '-'.
bool IsSubdomainPrefix(absl::string_view prefix) {
  if (prefix.size() > 1 && prefix.back() == '-') {
    std::string masked(prefix);
    masked.back() = 'a';
    return IsDns1123Subdomain(masked);
  }
  return IsDns1123Subdomain(prefix);
}

bool HasUpper(absl::string_view s) {
  for (char c : s) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

}  // namespace

std::string TooMany(size_t max) { return absl::StrCat("must have at most ", max, " items"); }

absl::string_view KnownAddressType(absl::string_view type) {
  if (type == kAddressTypeIPv4) return kAddressTypeIPv4;
  if (type == kAddressTypeIPv6) return kAddressTypeIPv6;
  if (type == kAddressTypeFQDN) return kAddressTypeFQDN;
  return {};
}

void CheckRequiredLabel(absl::string_view value, const FieldPath& path, ErrorList& errors) {
  if (value.empty()) {
    errors.Add(path, kRuleRequired);
  } else if (!IsDns1123Label(value)) {
    errors.Add(path, kRuleLabel);
  }
}

void CheckAddresses(const google::protobuf::RepeatedPtrField<std::string>& addresses,
                    absl::string_view address_type, const FieldPath& path, ErrorList& errors) {
  if (addresses.empty()) {
    errors.Add(path, "must contain at least 1 address");
    return;
  }
  if (static_cast<size_t>(addresses.size()) > kMaxAddressesPerEndpoint) {
    errors.Add(path, TooMany(kMaxAddressesPerEndpoint));
    return;
  }
  for (int i = 0; i < addresses.size(); ++i) {
    CheckAddress(addresses[i], address_type, path.Index(static_cast<size_t>(i)), errors);
  }
}

void CheckEndpointIdentity(const v1::Endpoint& endpoint, absl::string_view address_type,
                           const FieldPath& path, ErrorList& errors) {
  CheckAddresses(endpoint.addresses(), address_type, path.Field("addresses"), errors);
  if (endpoint.has_hostname() && !IsDns1123Label(endpoint.hostname())) {
    errors.Add(path.Field("hostname"), kRuleLabel);
  }
}

void CheckEndpoint(const v1::Endpoint& endpoint, absl::string_view address_type,
                   const FieldPath& path, ErrorList& errors) {
  CheckEndpointIdentity(endpoint, address_type, path, errors);
  if (endpoint.has_node_name() && !IsDns1123Subdomain(endpoint.node_name())) {
    errors.Add(path.Field("nodeName"), kRuleSubdomain);
  }
  if (endpoint.has_hints()) CheckHints(endpoint.hints(), path.Field("hints"), errors);
  CheckTopology(endpoint.deprecated_topology(), path.Field("deprecatedTopology"), errors);
}

void CheckPort(const v1::EndpointPort& port, const FieldPath& path, ErrorList& errors) {
  if (!port.name().empty() && !IsDns1123Label(port.name())) {
    errors.Add(path.Field("name"), kRuleLabel);
  }
  if (port.has_protocol()) {
    const std::string& p = port.protocol();
    if (p != "TCP" && p != "UDP" && p != "SCTP") {
      errors.Add(path.Field("protocol"), "must be TCP, UDP or SCTP");
    }
  }
  if (port.has_app_protocol() && !IsQualifiedName(port.app_protocol())) {
    errors.Add(path.Field("appProtocol"), "must be a qualified name");
  }
  if (port.has_port() && (port.port() < 1 || port.port() > 65535)) {
    errors.Add(path.Field("port"), "must be between 1 and 65535");
  }
}

void CheckUniquePortNames(absl::Span<const absl::string_view> names, const FieldPath& path,
                          ErrorList& errors) {
  ReportDuplicates(names, [&](size_t i) {
    FieldPath port_path = path.Index(i);
    errors.Add(port_path.Field("name"), "duplicate value");
  });
}

void CheckLabels(const StringMap& labels, const FieldPath& path, ErrorList& errors) {
  for (const auto& [key, value] : labels) {
    if (!IsLabelKey(key)) errors.Add(path.Key(key), kRuleLabelKey);
    if (!IsLabelValue(value)) errors.Add(path.Key(key), kRuleLabelValueOf);
  }
}

void CheckAnnotations(const StringMap& annotations, const FieldPath& path, ErrorList& errors) {
  size_t total = 0;
  for (const auto& [key, value] : annotations) {
    total += key.size() + value.size();
    bool valid = HasUpper(key) ? IsQualifiedName(absl::AsciiStrToLower(key)) : IsQualifiedName(key);
    if (!valid) errors.Add(path.Key(key), kRuleLabelKey);
  }
  if (total > kMaxAnnotationBytes) errors.Add(path, absl::StrCat("may not exceed ", kMaxAnnotationBytes, " bytes in total"));
}

void CheckObjectMeta(const v1::ObjectMeta& meta, const FieldPath& path, ErrorList& errors) {
  if (!meta.generate_name().empty() && !IsSubdomainPrefix(meta.generate_name())) {
    errors.Add(path.Field("generateName"), "must be a DNS-1123 subdomain prefix");
  }
  if (meta.name().empty()) {
    if (meta.generate_name().empty()) errors.Add(path.Field("name"), "required (or generateName)");
  } else if (!IsDns1123Subdomain(meta.name())) {
    errors.Add(path.Field("name"), kRuleSubdomain);
  }
  CheckRequiredLabel(meta.namespace_(), path.Field("namespace"), errors);
  CheckLabels(meta.labels(), path.Field("labels"), errors);
  CheckAnnotations(meta.annotations(), path.Field("annotations"), errors);
}

}  // namespace slicekeeper::validation::internal
