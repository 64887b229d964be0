// Builders for service snapshots in the query tests: fluent slice endpoints, ports and slices.
//
// Thread-safety: plain functions over values.
#ifndef SLICEKEEPER_TESTS_QUERY_SNAPSHOT_BUILDER_H_
#define SLICEKEEPER_TESTS_QUERY_SNAPSHOT_BUILDER_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "server/query/filter.h"

namespace slicekeeper::query::testing {

// A slice endpoint, built fluently.
class E {
 public:
  explicit E(const std::string& address) { e_.add_addresses(address); }
  E& Addr(const std::string& a) {
    e_.add_addresses(a);
    return *this;
  }
  E& Ready(bool v) {
    e_.mutable_conditions()->set_ready(v);
    return *this;
  }
  E& Serving(bool v) {
    e_.mutable_conditions()->set_serving(v);
    return *this;
  }
  E& Terminating(bool v) {
    e_.mutable_conditions()->set_terminating(v);
    return *this;
  }
  // A pod being deleted that still passes its readiness probe.
  E& Term() { return Ready(false).Serving(true).Terminating(true); }
  E& Zone(const std::string& z) {
    e_.set_zone(z);
    return *this;
  }
  E& Node(const std::string& n) {
    e_.set_node_name(n);
    return *this;
  }
  E& ZoneHint(const std::string& z) {
    e_.mutable_hints()->add_for_zones()->set_name(z);
    return *this;
  }
  E& NodeHint(const std::string& n) {
    e_.mutable_hints()->add_for_nodes()->set_name(n);
    return *this;
  }
  operator v1::Endpoint() const { return e_; }  // NOLINT: builder

 private:
  v1::Endpoint e_;
};

inline v1::EndpointPort Port(std::optional<std::string> name, std::optional<int> number,
                             std::optional<std::string> protocol = std::nullopt) {
  v1::EndpointPort p;
  if (name) p.set_name(*name);
  if (number) p.set_port(*number);
  if (protocol) p.set_protocol(*protocol);
  return p;
}

struct SliceSpec {
  std::string name;
  std::vector<v1::Endpoint> endpoints;
  std::vector<v1::EndpointPort> ports = {Port("http", 80)};
  std::string address_type = kAddressTypeIPv4;
  bool service_label = true;
};

inline SlicePtr MakeSlice(const SliceSpec& spec) {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name(spec.name);
  s.mutable_metadata()->set_namespace_("ns");
  if (spec.service_label) (*s.mutable_metadata()->mutable_labels())[kLabelServiceName] = "web";
  s.set_address_type(spec.address_type);
  for (const auto& e : spec.endpoints) *s.add_endpoints() = e;
  for (const auto& p : spec.ports) *s.add_ports() = p;
  return SliceFromProto(s);
}

inline store::ServiceSnapshot Snap(const std::vector<SliceSpec>& specs) {
  store::ServiceSnapshot snap;
  snap.namespace_ = "ns";
  snap.name = "web";
  snap.mod_revision = 42;
  for (const auto& spec : specs) snap.slices.push_back(MakeSlice(spec));
  return snap;
}

inline std::vector<std::string> Addresses(const std::vector<v1::ServiceEndpoint>& eps) {
  std::vector<std::string> out;
  for (const auto& e : eps) out.push_back(e.address());
  return out;
}

inline std::vector<std::string> Query(const store::ServiceSnapshot& snap,
                                      const v1::QueryEndpointsRequest& req) {
  absl::StatusOr<std::vector<v1::ServiceEndpoint>> r = QueryEndpoints(snap, req);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? Addresses(*r) : std::vector<std::string>{"<error>"};
}
}  // namespace slicekeeper::query::testing

#endif  // SLICEKEEPER_TESTS_QUERY_SNAPSHOT_BUILDER_H_
