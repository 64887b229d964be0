// xDS resource names and types: how the names a user types (Kubernetes DNS style) map to a
// slicekeeper service and one of its ports, the LEDS collection and endpoint names built from
// them, and the five resource types served. docs/xds.md.
//
//   <service>.<namespace>[.svc[.cluster.local]][:<port name or number>]
//
// The service and namespace are DNS-1123 labels; the port, when given, is a port name (a DNS-1123
// label) or a number 1..65535 and selects the endpoints' port of that name or number (required
// when the service's endpoints have more than one port; see resources.h). Every spelling of one
// (service, namespace, port) maps to one *canonical* name, `<service>.<namespace>[:<port>]`,
// which is what listeners route to and clusters name as their EDS service: a client typing
// `web.prod.svc.cluster.local:grpc` and one typing `web.prod:grpc` share the cluster and
// endpoint resources `web.prod:grpc`.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_SERVER_XDS_NAMES_H_
#define SLICEKEEPER_SERVER_XDS_NAMES_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::xds {

// The resource types served: LDS, RDS, CDS, EDS, LEDS (v3). kCount is not a type.
enum class ResourceType {
  kListener = 0,
  kRoute = 1,
  kCluster = 2,
  kEndpoint = 3,
  kLbEndpoint = 4,
  kCount = 5
};

// "type.googleapis.com/envoy.config.listener.v3.Listener", ... for each type.
absl::string_view TypeUrl(ResourceType type);
// The type of a v3 type URL; nullopt for anything else (v2 URLs, other resources).
std::optional<ResourceType> TypeFromUrl(absl::string_view type_url);
// "lds", "rds", "cds", "eds", "leds" (metric labels, logs).
absl::string_view ShortName(ResourceType type);

struct ServiceName {
  std::string namespace_;
  std::string service;
  // "" when not given; else a port name or a decimal number.
  std::string port;

  // "<namespace>/<service>": the service's key in the watch hub (NamespacedName).
  std::string Key() const;
  // "<service>.<namespace>[:<port>]".
  std::string Canonical() const;
};

// Parses a resource name. Errors: INVALID_ARGUMENT saying what is wrong ("resource name
// \"x\": ..."), for anything but the forms above (a wildcard "*" included).
absl::StatusOr<ServiceName> ParseName(absl::string_view name);

// A LEDS glob collection, parsed.
struct LedsCollection {
  ServiceName service;  // canonical: no .svc suffix
  std::string zone;     // "" for endpoints without a zone
  // The collection's name up to and including the `/` before `*`, and its query ("" or "?...").
  std::string prefix;
  std::string query;
};

// The collection of the endpoints of `canonical` (a canonical name) in `zone`, authority
// "slicekeeper".
std::string LedsCollectionName(const ServiceName& canonical, absl::string_view zone);
// Parses a glob collection name (any authority and query). Errors: INVALID_ARGUMENT saying what
// is wrong, for anything else (a single endpoint's name included).
absl::StatusOr<LedsCollection> ParseLedsCollection(absl::string_view name);
// The name of the endpoint `address` in `collection`.
std::string LedsEndpointName(const LedsCollection& collection, absl::string_view address);
// The collection an endpoint name belongs to (its last path component replaced by `*`); nullopt
// when `name` is not an xdstp:// name with a path.
std::optional<std::string> LedsCollectionOf(absl::string_view name);

}  // namespace slicekeeper::xds

#endif  // SLICEKEEPER_SERVER_XDS_NAMES_H_
