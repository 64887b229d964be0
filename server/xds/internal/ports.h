// Internal to server/xds: which port of a service's endpoints a resource name selects.
//
// Thread-safety: immutable values and stateless functions.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_PORTS_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_PORTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/query/merged_views.h"

namespace slicekeeper::xds::internal {

// Selects one port of an endpoint: by name (and protocol, when resolved from a single-port
// service), by number, or none at all (a service whose endpoints have no port).
class PortSelector {
 public:
  static PortSelector None() { return PortSelector(); }
  static PortSelector ByName(std::string name, std::string protocol);
  static PortSelector ByNumber(int32_t number);

  // The selected port of `e`, or null when it has none.
  const v1::ServicePort* Find(const v1::ServiceEndpoint& e) const;

 private:
  enum class Kind { kNone, kName, kNumber };
  Kind kind_ = Kind::kNone;
  std::string name_;
  std::string protocol_;  // "" = any
  int32_t number_ = 0;
};

// The distinct (name, protocol) ports over the view's endpoints, sorted, each with the number of
// the first endpoint that has it.
std::vector<std::pair<std::pair<std::string, std::string>, int32_t>> DistinctPorts(
    const query::MergedView& view);

// The selector of port spec `port` ("" = the only port); nullopt when `port` is "" and the
// endpoints have two or more ports (the name does not say which).
std::optional<PortSelector> SelectPort(const query::MergedView& view, absl::string_view port);

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_PORTS_H_
