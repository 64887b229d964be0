// Validation and normalization of every object a client can send, following Kubernetes' API
// validation (pkg/apis/discovery/validation; docs/kubernetes-behaviour.md §2) rule for rule.
//
// Every function returns OK or INVALID_ARGUMENT whose message lists each violation as
// "<field path>: <rule>", joined by "; " (all violations, as the apiserver reports them), e.g.
//   "changes[3].endpoint.addresses[0]: must be a valid IPv4 address".
// `path` is the prefix the caller gives the object ("changes[3]", "slice", ...); an empty prefix
// yields paths like "endpoints[0].hostname". Paths use the JSON (lowerCamelCase) field names. At
// most 20 violations are listed, then "(and N more)", so no input yields a giant message.
//
// Normalization makes equal things byte-equal: canonical IP text (leading zeros accepted as
// Kubernetes' sloppy parser does), address type inferred from addresses[0], port name defaulted to
// "" and protocol to "TCP", hints sorted. Only normalized data reaches the reconciler.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef SLICEKEEPER_COMMON_VALIDATION_H_
#define SLICEKEEPER_COMMON_VALIDATION_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/slice.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "slicekeeper/v1/change.pb.h"
#include "slicekeeper/v1/registry.pb.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::validation {

// --- Limits (docs/kubernetes-behaviour.md §2), for every check and message that states them. ---
inline constexpr size_t kMaxEndpointsPerSlice = 1000;  // also the reconciler's max per slice
inline constexpr size_t kMaxAddressesPerEndpoint = 100;
inline constexpr size_t kMaxPortsPerSlice = 20000;
inline constexpr size_t kMaxHintsPerList = 8;  // forZones, forNodes
inline constexpr size_t kMaxTopologyLabels = 16;
inline constexpr size_t kMaxAnnotationBytes = 256 * 1024;

// --- Rule texts, shared by object validation and the label-selector parser. ---
inline constexpr char kRuleLabelKey[] = "key must be a qualified name";
inline constexpr char kRuleLabelValueOf[] = "value must be a valid label value";

// --- Name and value rules (Kubernetes apimachinery validation). ---
bool IsDns1123Label(absl::string_view s);      // <=63, [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool IsDns1123Subdomain(absl::string_view s);  // <=253, dot-separated labels of [-a-z0-9]
bool IsLabelValue(absl::string_view s);  // "" or <=63, [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?
bool IsQualifiedName(
    absl::string_view s);                 // [subdomain "/"] name, name as a label value, non-empty
bool IsLabelKey(absl::string_view s);     // a qualified name
bool IsFqdnAddress(absl::string_view s);  // lowercase subdomain, >=2 labels, trailing dot ok

// Parses an IP of the given family ("IPv4" or "IPv6") and returns its canonical text, or nullopt.
// Accepts IPv4 components with leading zeros ("010.1.2.3" -> "10.1.2.3"), as Kubernetes does.
// As in Go, an IPv4-mapped IPv6 text ("::ffff:1.2.3.4") is an IPv4 address ("1.2.3.4").
std::optional<std::string> CanonicalIp(absl::string_view address_type, absl::string_view text);
// "IPv4" / "IPv6" for a parseable IP, "" otherwise.
std::string InferAddressType(absl::string_view address);
// Unspecified, loopback, link-local unicast or link-local multicast (rejected by Kubernetes).
bool IsRejectedIpRange(absl::string_view canonical_ip);

// Process-wide: accept loopback endpoint addresses (127.0.0.0/8, ::1), which Kubernetes rejects.
// Lifts exactly that rule (unspecified and link-local addresses stay rejected) in every check
// below. Off by default; the server's --allow_loopback_endpoints turns it on at start, for local
// development and tests whose backends listen on loopback. Set it before serving requests.
void SetAllowLoopbackEndpoints(bool allow);
bool AllowLoopbackEndpoints();

// --- Objects. ---

// An endpoint of `address_type` (IPv4 / IPv6 / FQDN; unknown types skip address checks).
absl::Status ValidateEndpoint(const v1::Endpoint& endpoint, absl::string_view address_type,
                              absl::string_view path);
// A port list: names "" or DNS-1123 label, unique (two "" collide); protocol TCP/UDP/SCTP;
// appProtocol a qualified name; port 1..65535 or unset; at most 20000 ports.
absl::Status ValidatePorts(absl::Span<const v1::EndpointPort> ports, absl::string_view path);
// A whole EndpointSlice: metadata.name (subdomain), metadata.namespace (label, required),
// labels and annotations, addressType (required, enum), at most 1000 endpoints, ports.
absl::Status ValidateEndpointSlice(const v1::EndpointSlice& slice, absl::string_view path);
// A service record: namespace (label) and name (label), labels, address_types (IPv4 / IPv6,
// unique), traffic_distribution ("", PreferClose, PreferSameZone, PreferSameNode), topology_mode
// ("", Auto, auto, Disabled).
absl::Status ValidateServiceRecord(const v1::ServiceRecord& record, absl::string_view path);
// A node: name (subdomain), zone (label value), cpu_millis >= 0.
absl::Status ValidateNode(const v1::Node& node, absl::string_view path);

// --- Changes: validate and normalize. ---

// Validates one change (op set, namespace and service DNS-1123 labels, address type resolvable,
// endpoint and ports valid; for REMOVE only the identity fields are required) and returns it in
// canonical form.
absl::StatusOr<EndpointDelta> NormalizeChange(const v1::EndpointChange& change,
                                              absl::string_view path);
// The same for one endpoint of ReplaceEndpoints (op is UPSERT).
absl::StatusOr<EndpointDelta> NormalizeDesired(absl::string_view ns, absl::string_view service,
                                               const v1::DesiredEndpoint& desired,
                                               absl::string_view path);

// A whole batch: every change is checked (paths "<path>[i]...", e.g. path "changes"), and the
// error lists at most 20 violations followed by "(and N more)". On success, one delta per change,
// in order.
absl::StatusOr<std::vector<EndpointDelta>> NormalizeChanges(
    const google::protobuf::RepeatedPtrField<v1::EndpointChange>& changes, absl::string_view path);
absl::StatusOr<std::vector<EndpointDelta>> NormalizeChanges(
    absl::Span<const v1::EndpointChange> changes, absl::string_view path);
// NormalizeChanges for a batch the caller owns and no longer needs: each endpoint is
// canonicalized in place (a REMOVE's cut to its identity) and read into its record without a
// protobuf copy, and every change's namespace and service are moved into the deltas. `changes` is
// left altered (names moved out, addresses canonical, REMOVEs' other fields cleared), also when
// the batch is rejected.
absl::StatusOr<std::vector<EndpointDelta>> TakeNormalizedChanges(
    absl::Span<v1::EndpointChange> changes, absl::string_view path);
// The same for a parsed request's field (StreamChanges parses each batch on an arena, where
// moving the changes out would copy them).
absl::StatusOr<std::vector<EndpointDelta>> TakeNormalizedChanges(
    google::protobuf::RepeatedPtrField<v1::EndpointChange>* changes, absl::string_view path);
// A whole ReplaceEndpoints request: "namespace" and "service" checked once, then
// "endpoints[i]..." as NormalizeDesired; errors capped as NormalizeChanges.
absl::StatusOr<std::vector<EndpointDelta>> NormalizeReplace(
    const v1::ReplaceEndpointsRequest& request);

}  // namespace slicekeeper::validation

#endif  // SLICEKEEPER_COMMON_VALIDATION_H_
