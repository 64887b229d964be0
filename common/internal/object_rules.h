// Internal to common/validation: the per-object checks behind the public Validate*/Normalize*
// functions. Each appends its violations to an ErrorList under a lazily rendered FieldPath, so
// one request reports all of its errors (as the apiserver does) without allocating when valid.
// Rules and limits: docs/kubernetes-behaviour.md §2 (pkg/apis/discovery/validation).
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_COMMON_INTERNAL_OBJECT_RULES_H_
#define SLICEKEEPER_COMMON_INTERNAL_OBJECT_RULES_H_

#include <cstddef>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/internal/field_path.h"
#include "common/validation.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper::validation::internal {


inline constexpr char kRuleRequired[] = "required";
inline constexpr char kRuleLabel[] = "must be a DNS-1123 label";
inline constexpr char kRuleSubdomain[] = "must be a DNS-1123 subdomain";
inline constexpr char kRuleLabelValue[] = "must be a valid label value";
inline constexpr char kRuleAddressType[] = "must be IPv4, IPv6 or FQDN";

using StringMap = google::protobuf::Map<std::string, std::string>;

// "must have at most <max> items", the apiserver's TooMany text.
std::string TooMany(size_t max);

// `type` as the kAddressType* constant it equals, or "" when it is not IPv4, IPv6 or FQDN.
absl::string_view KnownAddressType(absl::string_view type);

// "" -> kRuleRequired, else kRuleLabel unless a DNS-1123 label.
void CheckRequiredLabel(absl::string_view value, const FieldPath& path, ErrorList& errors);

// The addresses of one endpoint: 1..100, each valid for `address_type` (unknown types: unchecked).
void CheckAddresses(const google::protobuf::RepeatedPtrField<std::string>& addresses,
                    absl::string_view address_type, const FieldPath& path, ErrorList& errors);
// The identity fields a REMOVE needs: addresses and hostname.
void CheckEndpointIdentity(const v1::Endpoint& endpoint, absl::string_view address_type,
                           const FieldPath& path, ErrorList& errors);
// Every field of an endpoint.
void CheckEndpoint(const v1::Endpoint& endpoint, absl::string_view address_type,
                   const FieldPath& path, ErrorList& errors);

// One port, after defaulting (unset name is "", unset protocol is TCP); not name uniqueness.
void CheckPort(const v1::EndpointPort& port, const FieldPath& path, ErrorList& errors);
// Reports names[i] that repeat an earlier name, at path[i].name.
void CheckUniquePortNames(absl::Span<const absl::string_view> names, const FieldPath& path,
                          ErrorList& errors);

// A port list (std::vector, absl::Span or RepeatedPtrField of v1::EndpointPort).
template <typename Ports>
void CheckPorts(const Ports& ports, const FieldPath& path, ErrorList& errors) {
  if (static_cast<size_t>(ports.size()) > kMaxPortsPerSlice) {
    errors.Add(path, TooMany(kMaxPortsPerSlice));
    return;
  }
  absl::InlinedVector<absl::string_view, 8> names;
  names.reserve(static_cast<size_t>(ports.size()));
  for (const v1::EndpointPort& port : ports) {
    FieldPath port_path = path.Index(names.size());
    CheckPort(port, port_path, errors);
    names.push_back(port.name());
  }
  CheckUniquePortNames(names, path, errors);
}

// Label keys are qualified names, values label values.
void CheckLabels(const StringMap& labels, const FieldPath& path, ErrorList& errors);
// Keys are qualified names (case-insensitively); total size at most 256 KiB.
void CheckAnnotations(const StringMap& annotations, const FieldPath& path, ErrorList& errors);
// name (or generateName), namespace, labels, annotations.
void CheckObjectMeta(const v1::ObjectMeta& meta, const FieldPath& path, ErrorList& errors);

}  // namespace slicekeeper::validation::internal

#endif  // SLICEKEEPER_COMMON_INTERNAL_OBJECT_RULES_H_
