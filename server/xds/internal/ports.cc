#include "server/xds/internal/ports.h"

#include <map>

#include "absl/strings/numbers.h"

namespace slicekeeper::xds::internal {

PortSelector PortSelector::ByName(std::string name, std::string protocol) {
  PortSelector s;
  s.kind_ = Kind::kName;
  s.name_ = std::move(name);
  s.protocol_ = std::move(protocol);
  return s;
}

PortSelector PortSelector::ByNumber(int32_t number) {
  PortSelector s;
  s.kind_ = Kind::kNumber;
  s.number_ = number;
  return s;
}

const v1::ServicePort* PortSelector::Find(const v1::ServiceEndpoint& e) const {
  if (kind_ == Kind::kNone) return nullptr;
  for (const v1::ServicePort& p : e.ports()) {
    if (kind_ == Kind::kNumber ? p.port() == number_
                               : p.name() == name_ &&
                                     (protocol_.empty() || p.protocol() == protocol_)) {
      return &p;
    }
  }
  return nullptr;
}

std::vector<std::pair<std::pair<std::string, std::string>, int32_t>> DistinctPorts(
    const query::MergedView& view) {
  std::map<std::pair<std::string, std::string>, int32_t> ports;
  for (const v1::ServiceEndpoint& e : view.endpoints()) {
    for (const v1::ServicePort& p : e.ports()) ports.try_emplace({p.name(), p.protocol()}, p.port());
  }
  return {ports.begin(), ports.end()};
}

std::optional<PortSelector> SelectPort(const query::MergedView& view, absl::string_view port) {
  if (!port.empty()) {
    int32_t number = 0;
    // names.h: an all-digit spec is a number (already range-checked by ParseName).
    if (absl::SimpleAtoi(port, &number)) return PortSelector::ByNumber(number);
    return PortSelector::ByName(std::string(port), "");
  }
  auto ports = DistinctPorts(view);
  if (ports.empty()) return PortSelector::None();
  if (ports.size() > 1) return std::nullopt;
  return PortSelector::ByName(ports[0].first.first, ports[0].first.second);
}

}  // namespace slicekeeper::xds::internal
