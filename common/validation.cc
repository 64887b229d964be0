#include "common/validation.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/internal/field_path.h"
#include "common/internal/ip.h"
#include "common/internal/object_rules.h"

namespace slicekeeper::validation {
namespace {

using internal::ErrorList;
using internal::FieldPath;
using internal::IpAddress;
using PortField = google::protobuf::RepeatedPtrField<v1::EndpointPort>;

// The parts of an EndpointChange / DesiredEndpoint below their common prefix.
struct EndpointInput {
  EndpointDelta::Op op;
  absl::string_view address_type;
  const v1::Endpoint& endpoint;
  const PortField& ports;
  // When set (the same object as `endpoint`), an UPSERT's endpoint is moved from here, not copied.
  v1::Endpoint* take = nullptr;
};

// The address type given, or the family of endpoint.addresses[0] when none is. Errors go to
// `path`.addressType or `path`.endpoint.addresses[0]; returns "" when unresolved.
absl::string_view ResolveAddressType(const EndpointInput& in, const FieldPath& path,
                                     ErrorList& errors) {
  if (!in.address_type.empty()) {
    absl::string_view known = internal::KnownAddressType(in.address_type);
    if (known.empty()) errors.Add(path.Field("addressType"), internal::kRuleAddressType);
    return known;
  }
  // No address: the endpoint checks report it.
  if (in.endpoint.addresses().empty()) return {};
  std::optional<IpAddress> ip = internal::ParseIp(in.endpoint.addresses(0));
  if (ip.has_value()) return ip->is_v4 ? kAddressTypeIPv4 : kAddressTypeIPv6;
  FieldPath endpoint_path = path.Field("endpoint");
  FieldPath addresses_path = endpoint_path.Field("addresses");
  errors.Add(addresses_path.Index(0),
             "must be a valid IP address (addressType is empty, so it is inferred from "
             "addresses[0]; an FQDN endpoint must say addressType FQDN)");
  return {};
}

// Rewrites valid IP addresses in canonical text, in place and only where they differ.
void CanonicalizeAddresses(absl::string_view type, v1::Endpoint& endpoint) {
  if (type != kAddressTypeIPv4 && type != kAddressTypeIPv6) return;
  char buf[internal::kMaxCanonicalIpChars];
  for (std::string& address : *endpoint.mutable_addresses()) {
    std::optional<IpAddress> ip = internal::ParseIp(address);
    if (!ip.has_value()) continue;  // Not reached: validated before.
    size_t n = internal::FormatIp(*ip, buf);
    if (absl::string_view(buf, n) != address) address.assign(buf, n);
  }
}

template <typename Entries>
void SortByName(Entries& entries) {
  if (entries.size() < 2) return;
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.name() < b.name(); });
}

EndpointPtr CanonicalEndpoint(const EndpointInput& in, absl::string_view type) {
  // A local copy only when the caller keeps its endpoint: an UPSERT taken from the stream's own
  // batch is canonicalized in place, and an empty message costs a constructor and a destructor.
  std::optional<v1::Endpoint> local;
  v1::Endpoint* endpoint = nullptr;
  if (in.op == EndpointDelta::Op::kRemove) {
    // A REMOVE keeps only the identity: addresses, hostname, targetRef.
    if (in.take != nullptr) {
      endpoint = in.take;  // cut to its identity in place: the caller gave it up
      endpoint->clear_conditions();
      endpoint->clear_node_name();
      endpoint->clear_zone();
      endpoint->clear_hints();
      endpoint->clear_deprecated_topology();
    } else {
      endpoint = &local.emplace();
      *endpoint->mutable_addresses() = in.endpoint.addresses();
      if (in.endpoint.has_hostname()) endpoint->set_hostname(in.endpoint.hostname());
      if (in.endpoint.has_target_ref()) *endpoint->mutable_target_ref() = in.endpoint.target_ref();
    }
  } else {
    if (in.take != nullptr) {
      endpoint = in.take;  // canonicalized in place: the caller gave it up
    } else {
      endpoint = &local.emplace(in.endpoint);
    }
    if (endpoint->has_hints()) {
      SortByName(*endpoint->mutable_hints()->mutable_for_zones());
      SortByName(*endpoint->mutable_hints()->mutable_for_nodes());
    }
  }
  CanonicalizeAddresses(type, *endpoint);
  return EndpointRecord::FromProto(*endpoint);
}

// Whether `in`, once defaulted, equals the canonical `out`.
bool SamePort(const v1::EndpointPort& in, const v1::EndpointPort& out) {
  return in.name() == out.name() &&
         (in.has_protocol() ? in.protocol() : absl::string_view("TCP")) == out.protocol() &&
         in.has_port() == out.has_port() && in.port() == out.port() &&
         in.has_app_protocol() == out.has_app_protocol() && in.app_protocol() == out.app_protocol();
}

bool SamePorts(const PortField& in, const PortList& out) {
  if (static_cast<size_t>(in.size()) != out.size()) return false;
  for (int i = 0; i < in.size(); ++i) {
    if (!SamePort(in[i], out[static_cast<size_t>(i)])) return false;
  }
  return true;
}

// Consecutive changes nearly always carry the same port set: reuse the previous canonical list
// (per thread) instead of allocating a new one, which also lets slices share it.
PortListPtr CanonicalPorts(const PortField& ports) {
  thread_local PortListPtr last;
  if (last != nullptr && SamePorts(ports, *last)) return last;
  auto out = std::make_shared<PortList>(ports.begin(), ports.end());
  for (v1::EndpointPort& port : *out) {
    if (!port.has_name()) port.set_name("");
    if (!port.has_protocol()) port.set_protocol("TCP");
  }
  last = out;
  return out;
}

const PortListPtr& EmptyPorts() {
  static const PortListPtr* const kEmpty = new PortListPtr(std::make_shared<const PortList>());
  return *kEmpty;
}

// Checks `in` under `path`; when neither it nor anything before it (`errors_before`) failed,
// returns the canonical delta (namespace_ and service left to the caller).
std::optional<EndpointDelta> NormalizeEndpoint(const EndpointInput& in, const FieldPath& path,
                                               size_t errors_before, ErrorList& errors) {
  absl::string_view type = ResolveAddressType(in, path, errors);
  FieldPath endpoint_path = path.Field("endpoint");
  if (in.op == EndpointDelta::Op::kRemove) {
    internal::CheckEndpointIdentity(in.endpoint, type, endpoint_path, errors);
  } else {
    internal::CheckEndpoint(in.endpoint, type, endpoint_path, errors);
    internal::CheckPorts(in.ports, path.Field("ports"), errors);
  }
  if (errors.size() != errors_before) return std::nullopt;
  EndpointDelta delta;
  delta.op = in.op;
  delta.address_type = std::string(type);
  delta.endpoint = CanonicalEndpoint(in, type);
  delta.ports = in.op == EndpointDelta::Op::kRemove ? EmptyPorts() : CanonicalPorts(in.ports);
  return delta;
}

// `take`: when set, `change` itself, whose endpoint is canonicalized in place and whose names are
// moved into the delta.
std::optional<EndpointDelta> NormalizeChangeInto(const v1::EndpointChange& change,
                                                 const FieldPath& path, ErrorList& errors,
                                                 v1::EndpointChange* take = nullptr) {
  const size_t before = errors.size();
  EndpointDelta::Op op = EndpointDelta::Op::kUpsert;
  if (change.op() == v1::EndpointChange::REMOVE) {
    op = EndpointDelta::Op::kRemove;
  } else if (change.op() != v1::EndpointChange::UPSERT) {
    errors.Add(path.Field("op"), "must be UPSERT or REMOVE");
  }
  internal::CheckRequiredLabel(change.namespace_(), path.Field("namespace"), errors);
  internal::CheckRequiredLabel(change.service(), path.Field("service"), errors);
  EndpointInput in{op, change.address_type(), change.endpoint(), change.ports(),
                   take == nullptr ? nullptr : take->mutable_endpoint()};
  std::optional<EndpointDelta> delta = NormalizeEndpoint(in, path, before, errors);
  if (!delta.has_value()) return delta;
  if (take != nullptr) {
    delta->namespace_ = std::move(*take->mutable_namespace_());
    delta->service = std::move(*take->mutable_service());
  } else {
    delta->namespace_ = change.namespace_();
    delta->service = change.service();
  }
  return delta;
}

std::optional<EndpointDelta> NormalizeDesiredInto(absl::string_view ns, absl::string_view service,
                                                  const v1::DesiredEndpoint& desired,
                                                  const FieldPath& path, size_t errors_before,
                                                  ErrorList& errors) {
  EndpointInput in{EndpointDelta::Op::kUpsert, desired.address_type(), desired.endpoint(),
                   desired.ports()};
  std::optional<EndpointDelta> delta = NormalizeEndpoint(in, path, errors_before, errors);
  if (delta.has_value()) {
    delta->namespace_ = std::string(ns);
    delta->service = std::string(service);
  }
  return delta;
}

}  // namespace

std::optional<std::string> CanonicalIp(absl::string_view address_type, absl::string_view text) {
  const bool v4 = address_type == kAddressTypeIPv4;
  if (!v4 && address_type != kAddressTypeIPv6) return std::nullopt;
  std::optional<IpAddress> ip = internal::ParseIp(text);
  if (!ip.has_value() || ip->is_v4 != v4) return std::nullopt;
  char buf[internal::kMaxCanonicalIpChars];
  return std::string(buf, internal::FormatIp(*ip, buf));
}

std::string InferAddressType(absl::string_view address) {
  std::optional<IpAddress> ip = internal::ParseIp(address);
  if (!ip.has_value()) return "";
  return ip->is_v4 ? kAddressTypeIPv4 : kAddressTypeIPv6;
}

namespace {
std::atomic<bool> allow_loopback_endpoints{false};
}  // namespace

void SetAllowLoopbackEndpoints(bool allow) {
  allow_loopback_endpoints.store(allow, std::memory_order_relaxed);
}

bool AllowLoopbackEndpoints() { return allow_loopback_endpoints.load(std::memory_order_relaxed); }

bool IsRejectedIpRange(absl::string_view canonical_ip) {
  std::optional<IpAddress> ip = internal::ParseIp(canonical_ip);
  return ip.has_value() && internal::RejectedRangeRule(*ip) != nullptr;
}

absl::Status ValidateEndpoint(const v1::Endpoint& endpoint, absl::string_view address_type,
                              absl::string_view path) {
  ErrorList errors;
  internal::CheckEndpoint(endpoint, address_type, FieldPath(path), errors);
  return errors.ToStatus();
}

absl::Status ValidatePorts(absl::Span<const v1::EndpointPort> ports, absl::string_view path) {
  ErrorList errors;
  internal::CheckPorts(ports, FieldPath(path), errors);
  return errors.ToStatus();
}

absl::Status ValidateEndpointSlice(const v1::EndpointSlice& slice, absl::string_view path) {
  ErrorList errors;
  FieldPath root(path);
  internal::CheckObjectMeta(slice.metadata(), root.Field("metadata"), errors);
  if (slice.address_type().empty()) {
    errors.Add(root.Field("addressType"), internal::kRuleRequired);
  } else if (internal::KnownAddressType(slice.address_type()).empty()) {
    errors.Add(root.Field("addressType"), internal::kRuleAddressType);
  }
  FieldPath endpoints_path = root.Field("endpoints");
  if (static_cast<size_t>(slice.endpoints_size()) > kMaxEndpointsPerSlice) {
    errors.Add(endpoints_path, internal::TooMany(kMaxEndpointsPerSlice));
  } else {
    for (int i = 0; i < slice.endpoints_size(); ++i) {
      internal::CheckEndpoint(slice.endpoints(i), slice.address_type(),
                              endpoints_path.Index(static_cast<size_t>(i)), errors);
    }
  }
  internal::CheckPorts(slice.ports(), root.Field("ports"), errors);
  return errors.ToStatus();
}

namespace {

// The distribution annotations (common/slice.h) take only the values the reconciler knows.
void CheckDistributionAnnotations(
    const google::protobuf::Map<std::string, std::string>& annotations, const FieldPath& path,
    ErrorList& errors) {
  if (auto it = annotations.find(kAnnotationDistribution);
      it != annotations.end() && it->second != "kubernetes" && it->second != "packed") {
    errors.Add(path.Key(kAnnotationDistribution), "must be kubernetes or packed");
  }
  if (auto it = annotations.find(kAnnotationPackedSameZone);
      it != annotations.end() && it->second != "true" && it->second != "false") {
    errors.Add(path.Key(kAnnotationPackedSameZone), "must be true or false");
  }
}

}  // namespace

absl::Status ValidateServiceRecord(const v1::ServiceRecord& record, absl::string_view path) {
  ErrorList errors;
  FieldPath root(path);
  internal::CheckRequiredLabel(record.namespace_(), root.Field("namespace"), errors);
  internal::CheckRequiredLabel(record.name(), root.Field("name"), errors);
  internal::CheckLabels(record.labels(), root.Field("labels"), errors);
  internal::CheckAnnotations(record.annotations(), root.Field("annotations"), errors);
  FieldPath types_path = root.Field("addressTypes");
  for (int i = 0; i < record.address_types_size(); ++i) {
    const std::string& type = record.address_types(i);
    FieldPath type_path = types_path.Index(static_cast<size_t>(i));
    if (type != kAddressTypeIPv4 && type != kAddressTypeIPv6) {
      errors.Add(type_path, "must be IPv4 or IPv6");
    } else if (i == 1 && type == record.address_types(0)) {
      errors.Add(type_path, "duplicate value");
    } else if (i >= 2) {
      errors.Add(type_path, internal::TooMany(2));  // IPv4 and IPv6
    }
  }
  const std::string& td = record.traffic_distribution();
  if (!td.empty() && td != "PreferClose" && td != "PreferSameZone" && td != "PreferSameNode") {
    errors.Add(root.Field("trafficDistribution"),
               "must be \"\", PreferClose, PreferSameZone or PreferSameNode");
  }
  const std::string& mode = record.topology_mode();
  if (!mode.empty() && mode != "Auto" && mode != "auto" && mode != "Disabled") {
    errors.Add(root.Field("topologyMode"), "must be \"\", Auto, auto or Disabled");
  }
  CheckDistributionAnnotations(record.annotations(), root.Field("annotations"), errors);
  return errors.ToStatus();
}

absl::Status ValidateNode(const v1::Node& node, absl::string_view path) {
  ErrorList errors;
  FieldPath root(path);
  if (node.name().empty()) {
    errors.Add(root.Field("name"), internal::kRuleRequired);
  } else if (!IsDns1123Subdomain(node.name())) {
    errors.Add(root.Field("name"), internal::kRuleSubdomain);
  }
  if (!IsLabelValue(node.zone())) errors.Add(root.Field("zone"), internal::kRuleLabelValue);
  if (node.cpu_millis() < 0) errors.Add(root.Field("cpuMillis"), "must be >= 0");
  internal::CheckLabels(node.labels(), root.Field("labels"), errors);
  return errors.ToStatus();
}

absl::StatusOr<EndpointDelta> NormalizeChange(const v1::EndpointChange& change,
                                              absl::string_view path) {
  ErrorList errors;
  std::optional<EndpointDelta> delta = NormalizeChangeInto(change, FieldPath(path), errors);
  if (!delta.has_value()) return errors.ToStatus();
  return std::move(*delta);
}

absl::StatusOr<EndpointDelta> NormalizeDesired(absl::string_view ns, absl::string_view service,
                                               const v1::DesiredEndpoint& desired,
                                               absl::string_view path) {
  ErrorList errors;
  internal::CheckRequiredLabel(ns, FieldPath("namespace"), errors);
  internal::CheckRequiredLabel(service, FieldPath("service"), errors);
  std::optional<EndpointDelta> delta =
      NormalizeDesiredInto(ns, service, desired, FieldPath(path), 0, errors);
  if (!delta.has_value()) return errors.ToStatus();
  return std::move(*delta);
}

namespace {

// NormalizeChanges over any sequence of changes; `Take` moves the endpoint out of each change.
template <bool Take, typename Changes>
absl::StatusOr<std::vector<EndpointDelta>> NormalizeAll(Changes& changes, absl::string_view path) {
  ErrorList errors;
  FieldPath root(path);
  std::vector<EndpointDelta> deltas;
  deltas.reserve(static_cast<size_t>(changes.size()));
  size_t i = 0;
  for (auto& change : changes) {
    v1::EndpointChange* take = nullptr;
    if constexpr (Take) take = &change;
    std::optional<EndpointDelta> delta = NormalizeChangeInto(change, root.Index(i++), errors, take);
    if (delta.has_value() && errors.ok()) deltas.push_back(std::move(*delta));
  }
  if (!errors.ok()) return errors.ToStatus();
  return deltas;
}

}  // namespace

absl::StatusOr<std::vector<EndpointDelta>> NormalizeChanges(
    const google::protobuf::RepeatedPtrField<v1::EndpointChange>& changes, absl::string_view path) {
  return NormalizeAll<false>(changes, path);
}

absl::StatusOr<std::vector<EndpointDelta>> NormalizeChanges(
    absl::Span<const v1::EndpointChange> changes, absl::string_view path) {
  return NormalizeAll<false>(changes, path);
}

absl::StatusOr<std::vector<EndpointDelta>> TakeNormalizedChanges(
    absl::Span<v1::EndpointChange> changes, absl::string_view path) {
  return NormalizeAll<true>(changes, path);
}

absl::StatusOr<std::vector<EndpointDelta>> TakeNormalizedChanges(
    google::protobuf::RepeatedPtrField<v1::EndpointChange>* changes, absl::string_view path) {
  return NormalizeAll<true>(*changes, path);
}

absl::StatusOr<std::vector<EndpointDelta>> NormalizeReplace(
    const v1::ReplaceEndpointsRequest& request) {
  ErrorList errors;
  internal::CheckRequiredLabel(request.namespace_(), FieldPath("namespace"), errors);
  internal::CheckRequiredLabel(request.service(), FieldPath("service"), errors);
  FieldPath root("endpoints");
  std::vector<EndpointDelta> deltas;
  deltas.reserve(static_cast<size_t>(request.endpoints_size()));
  for (int i = 0; i < request.endpoints_size(); ++i) {
    std::optional<EndpointDelta> delta =
        NormalizeDesiredInto(request.namespace_(), request.service(), request.endpoints(i),
                             root.Index(static_cast<size_t>(i)), errors.size(), errors);
    if (delta.has_value() && errors.ok()) deltas.push_back(std::move(*delta));
  }
  if (!errors.ok()) return errors.ToStatus();
  return deltas;
}

}  // namespace slicekeeper::validation
