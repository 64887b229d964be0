// XdsFixture: a real store, merged views and resource cache for the xDS unit tests, with
// builders for endpoint changes and typed accessors for built resources.
//
// Thread-safety: gtest's main thread only.
#ifndef SLICEKEEPER_TESTS_XDS_XDS_FIXTURE_H_
#define SLICEKEEPER_TESTS_XDS_XDS_FIXTURE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "gtest/gtest.h"
#include "server/query/merged_views.h"
#include "server/store/store.h"
#include "server/xds/resource_cache.h"
#include "tests/test_util.h"

namespace slicekeeper::xds::testing {

// One endpoint of a change, built fluently.
struct Ep {
  std::string address;
  std::string zone = "zone-a";
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  std::string pod;  // targetRef name; "" none
  std::vector<std::pair<std::string, int>> ports = {{"grpc", 9000}};
};

class XdsFixture : public ::testing::Test {
 protected:
  XdsFixture() : store_(store::Store::Options{}), cache_(&store_, &views_, {}) {}

  v1::EndpointChange Change(const std::string& service, const Ep& ep,
                            v1::EndpointChange::Op op = v1::EndpointChange::UPSERT) {
    v1::EndpointChange c;
    c.set_op(op);
    c.set_namespace_("prod");
    c.set_service(service);
    v1::Endpoint* e = c.mutable_endpoint();
    e->add_addresses(ep.address);
    e->set_zone(ep.zone);
    e->mutable_conditions()->set_ready(ep.ready);
    e->mutable_conditions()->set_serving(ep.serving);
    e->mutable_conditions()->set_terminating(ep.terminating);
    if (!ep.pod.empty()) {
      e->mutable_target_ref()->set_kind("Pod");
      e->mutable_target_ref()->set_namespace_("prod");
      e->mutable_target_ref()->set_name(ep.pod);
    }
    for (const auto& [name, number] : ep.ports) {
      v1::EndpointPort* p = c.add_ports();
      p->set_name(name);
      p->set_port(number);
    }
    return c;
  }

  int64_t Apply(std::vector<v1::EndpointChange> changes) {
    absl::StatusOr<store::WriteResult> r = store_.ApplyChanges(changes);
    EXPECT_OK(r);
    return r.ok() ? r->revision : 0;
  }

  void SetTrafficDistribution(const std::string& service, const std::string& value,
                              std::vector<std::string> families = {}) {
    v1::ServiceRecord record;
    record.set_namespace_("prod");
    record.set_name(service);
    record.set_traffic_distribution(value);
    for (std::string& f : families) record.add_address_types(std::move(f));
    EXPECT_OK(store_.UpsertService(record));
  }

  // The service's current version, as the hub would mark it.
  watch::ServiceVersion Version(const std::string& service) {
    store::ServiceSnapshotPtr s = store_.GetService("prod", service);
    return watch::ServiceVersion{s, s != nullptr ? s->mod_revision : store_.revision()};
  }
  // Marks for every service of namespace prod (what a wildcard subscriber starts with).
  absl::flat_hash_map<std::string, watch::ServiceVersion> AllMarks() {
    absl::flat_hash_map<std::string, watch::ServiceVersion> out;
    store::CatalogPtr cat = store_.Snapshot("");
    for (const auto& s : cat->services) {
      out[s->namespace_ + "/" + s->name] = watch::ServiceVersion{s, cat->revision};
    }
    return out;
  }

  ResourcePtr Get(ResourceType type, const std::string& name, ClientInfo client = {}) {
    absl::StatusOr<ServiceName> parsed = ParseName(name);
    EXPECT_OK(parsed);
    return cache_.Get(type, name, *parsed, client, Version(parsed->service));
  }

  template <typename T>
  static T Parse(const ResourcePtr& r) {
    T out;
    EXPECT_NE(r, nullptr);
    if (r != nullptr) {
      EXPECT_TRUE(out.ParseFromString(r->bytes));
    }
    return out;
  }

  // "zone: address:port/HEALTH ..." per locality, for compact assertions.
  static std::vector<std::string> Describe(
      const envoy::config::endpoint::v3::ClusterLoadAssignment& cla);

  store::Store store_;
  query::MergedViews views_;
  ResourceCache cache_;
};

inline std::vector<std::string> XdsFixture::Describe(
    const envoy::config::endpoint::v3::ClusterLoadAssignment& cla) {
  std::vector<std::string> out;
  for (const auto& locality : cla.endpoints()) {
    std::string line = locality.locality().zone() + " w" +
                       std::to_string(locality.load_balancing_weight().value()) + ":";
    for (const auto& lb : locality.lb_endpoints()) {
      const auto& sa = lb.endpoint().address().socket_address();
      line += " " + sa.address() + ":" + std::to_string(sa.port_value()) + "/" +
              envoy::config::core::v3::HealthStatus_Name(lb.health_status());
      for (const auto& extra : lb.endpoint().additional_addresses()) {
        line += "+" + extra.address().socket_address().address();
      }
    }
    out.push_back(line);
  }
  return out;
}

}  // namespace slicekeeper::xds::testing

#endif  // SLICEKEEPER_TESTS_XDS_XDS_FIXTURE_H_
