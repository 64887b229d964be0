// The xDS protocol logic without gRPC (server/xds/internal/sotw_session.h, delta_session.h):
// requests in, hub marks fed as the reactor feeds them, responses out.
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "gmock/gmock.h"
#include "server/xds/internal/delta_session.h"
#include "server/xds/internal/sotw_session.h"
#include "tests/xds/xds_fixture.h"

namespace slicekeeper::xds {
namespace {

using internal::DeltaSession;
using internal::SotwSession;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testing::Ep;

constexpr ResourceType kLds = ResourceType::kListener;
constexpr ResourceType kCds = ResourceType::kCluster;
constexpr ResourceType kEds = ResourceType::kEndpoint;

class SessionTest : public testing::XdsFixture {
 protected:
  // What the reactor does between a request and the next write: mark every wanted service
  // (a wildcard stream's subscriber also marks deletions, as null versions).
  template <typename S>
  void Feed(S& session) {
    internal::WatchSet want = session.Wants();
    if (want.all) {
      absl::flat_hash_map<std::string, watch::ServiceVersion> marks = AllMarks();
      for (const std::string& key : fed_) {
        if (!marks.contains(key)) marks[key] = watch::ServiceVersion{nullptr, store_.revision()};
      }
      for (const auto& [key, version] : marks) fed_.insert(key);
      session.Apply(std::move(marks));
      return;
    }
    absl::flat_hash_map<std::string, watch::ServiceVersion> marks;
    for (const std::string& key : want.keys) {
      std::string name = key.substr(key.find('/') + 1);
      marks[key] = Version(name);
    }
    session.Apply(std::move(marks));
  }

  static SotwSession::Request Sotw(ResourceType type, std::vector<std::string> names,
                                   const std::string& nonce = "") {
    SotwSession::Request r;
    r.set_type_url(std::string(TypeUrl(type)));
    for (std::string& n : names) r.add_resource_names(std::move(n));
    r.set_response_nonce(nonce);
    r.mutable_node()->set_id("test");
    return r;
  }

  static DeltaSession::Request Delta(ResourceType type, std::vector<std::string> subscribe,
                                     std::vector<std::string> unsubscribe = {}) {
    DeltaSession::Request r;
    r.set_type_url(std::string(TypeUrl(type)));
    for (std::string& n : subscribe) r.add_resource_names_subscribe(std::move(n));
    for (std::string& n : unsubscribe) r.add_resource_names_unsubscribe(std::move(n));
    return r;
  }

  static std::vector<std::string> Names(const SotwSession::Response& r) {
    std::vector<std::string> out;
    for (const auto& any : r.resources()) {
      envoy::config::endpoint::v3::ClusterLoadAssignment cla;
      envoy::config::cluster::v3::Cluster cluster;
      if (any.Is<decltype(cla)>() && any.UnpackTo(&cla)) out.push_back(cla.cluster_name());
      if (any.Is<decltype(cluster)>() && any.UnpackTo(&cluster)) out.push_back(cluster.name());
    }
    return out;
  }
  static std::vector<std::string> Names(const DeltaSession::Response& r) {
    std::vector<std::string> out;
    for (const auto& res : r.resources()) out.push_back(res.name() + "@" + res.version());
    return out;
  }

  absl::flat_hash_set<std::string> fed_;
};

// SotW clusters: the first request is answered at once, an unknown name is simply left out,
// an ACK gets nothing, and the service appearing sends the full state with it.
TEST_F(SessionTest, SotwClusterAppearsLater) {
  SotwSession s(&cache_, std::nullopt, nullptr);
  ASSERT_OK(s.OnRequest(Sotw(kCds, {"web.prod:grpc", "bad name"})));
  Feed(s);
  auto first = s.Next();
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(Names(*first), IsEmpty());
  EXPECT_FALSE(s.Next().has_value());
  ASSERT_OK(s.OnRequest(Sotw(kCds, {"web.prod:grpc", "bad name"}, first->nonce())));
  Feed(s);
  EXPECT_FALSE(s.Next().has_value());  // an ACK
  int64_t rev = Apply({Change("web", {.address = "10.0.0.1"})});
  Feed(s);
  auto second = s.Next();
  ASSERT_TRUE(second.has_value());
  EXPECT_THAT(Names(*second), ElementsAre("web.prod:grpc"));
  EXPECT_EQ(second->version_info(), std::to_string(rev));
  EXPECT_NE(second->nonce(), first->nonce());
}

// SotW endpoints: only changed resources are sent; a stale nonce is ignored; a NACK is counted
// and nothing is resent for it; an unsubscribed name gets no more updates.
TEST_F(SessionTest, SotwEndpointsAckNackUnsubscribe) {
  metrics::Registry registry;
  XdsMetrics metrics(&registry, nullptr);
  Apply({Change("web", {.address = "10.0.0.1"}), Change("db", {.address = "10.0.9.1"})});
  SotwSession s(&cache_, std::nullopt, &metrics);
  ASSERT_OK(s.OnRequest(Sotw(kEds, {"web.prod:grpc", "db.prod:grpc"})));
  Feed(s);
  auto r1 = s.Next();
  ASSERT_TRUE(r1.has_value());
  EXPECT_THAT(Names(*r1), ElementsAre("db.prod:grpc", "web.prod:grpc"));
  google::rpc::Status reject;
  reject.set_message("bad endpoints");
  auto nack = Sotw(kEds, {"web.prod:grpc", "db.prod:grpc"}, r1->nonce());
  *nack.mutable_error_detail() = reject;
  ASSERT_OK(s.OnRequest(nack));
  Feed(s);
  EXPECT_FALSE(s.Next().has_value());  // the rejected version is not resent
  EXPECT_THAT(registry.Exposition(), ::testing::HasSubstr("slicekeeper_xds_nacks_total{type=\"eds\"} 1"));
  Apply({Change("web", {.address = "10.0.0.2"})});
  Feed(s);
  auto r2 = s.Next();
  ASSERT_TRUE(r2.has_value());
  EXPECT_THAT(Names(*r2), ElementsAre("web.prod:grpc"));  // only what changed
  ASSERT_OK(s.OnRequest(Sotw(kEds, {"db.prod:grpc"}, "stale")));  // ignored
  ASSERT_OK(s.OnRequest(Sotw(kEds, {"db.prod:grpc"}, r2->nonce())));
  Feed(s);
  Apply({Change("web", {.address = "10.0.0.3"})});
  Feed(s);
  EXPECT_FALSE(s.Next().has_value());
}

// SotW legacy wildcard: an empty first cluster request lists every service's clusters; a
// deleted service drops out of the next full state.
TEST_F(SessionTest, SotwWildcardFollowsServices) {
  Apply({Change("web", {.address = "10.0.0.1"})});
  SotwSession s(&cache_, std::nullopt, nullptr);
  ASSERT_OK(s.OnRequest(Sotw(kCds, {})));
  EXPECT_TRUE(s.Wants().all);
  Feed(s);
  auto r1 = s.Next();
  ASSERT_TRUE(r1.has_value());
  EXPECT_THAT(Names(*r1), ElementsAre("web.prod"));
  Apply({Change("db", {.address = "10.0.9.1", .ports = {{"sql", 5432}, {"metrics", 9100}}})});
  Feed(s);
  auto r2 = s.Next();
  ASSERT_TRUE(r2.has_value());
  EXPECT_THAT(Names(*r2), ElementsAre("db.prod:metrics", "db.prod:sql", "web.prod"));
  ASSERT_OK(store_.DeleteService("prod", "web"));
  Feed(s);
  auto r3 = s.Next();
  ASSERT_TRUE(r3.has_value());
  EXPECT_THAT(Names(*r3), ElementsAre("db.prod:metrics", "db.prod:sql"));
}

// Bad requests: no type URL ends the stream with INVALID_ARGUMENT; an unknown type URL gets one
// empty answer, and its ACK nothing.
TEST_F(SessionTest, BadRequests) {
  SotwSession s(&cache_, std::nullopt, nullptr);
  SotwSession::Request none;
  EXPECT_EQ(s.OnRequest(none).code(), absl::StatusCode::kInvalidArgument);
  SotwSession::Request unknown;
  unknown.set_type_url("type.googleapis.com/envoy.config.core.v3.Secret");
  ASSERT_OK(s.OnRequest(unknown));
  auto r = s.Next();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->type_url(), unknown.type_url());
  EXPECT_EQ(r->resources_size(), 0);
  unknown.set_response_nonce(r->nonce());
  ASSERT_OK(s.OnRequest(unknown));
  EXPECT_FALSE(s.Next().has_value());
  for (int i = 0; i < 20; ++i) {
    unknown.set_type_url("type.googleapis.com/x.Y" + std::to_string(i));
    absl::Status st = s.OnRequest(unknown);
    if (i + 1 < static_cast<int>(SotwSession::kMaxUnknownTypes)) {
      EXPECT_OK(st);
    }
  }
  EXPECT_EQ(s.OnRequest(unknown).code(), absl::StatusCode::kInvalidArgument);
}

// Delta: an unknown name is reported removed once, then sent when it appears; deletion is a
// removal; unsubscribing stops updates.
TEST_F(SessionTest, DeltaSubscribeAppearDelete) {
  DeltaSession s(&cache_, std::nullopt, nullptr);
  ASSERT_OK(s.OnRequest(Delta(kEds, {"web.prod:grpc"})));
  Feed(s);
  auto r1 = s.Next();
  ASSERT_TRUE(r1.has_value());
  EXPECT_THAT(r1->removed_resources(), ElementsAre("web.prod:grpc"));
  EXPECT_FALSE(s.Next().has_value());
  int64_t rev = Apply({Change("web", {.address = "10.0.0.1"})});
  Feed(s);
  auto r2 = s.Next();
  ASSERT_TRUE(r2.has_value());
  EXPECT_THAT(Names(*r2), ElementsAre("web.prod:grpc@" + std::to_string(rev)));
  EXPECT_THAT(r2->removed_resources(), IsEmpty());
  ASSERT_OK(store_.DeleteService("prod", "web"));
  Feed(s);
  auto r3 = s.Next();
  ASSERT_TRUE(r3.has_value());
  EXPECT_THAT(r3->removed_resources(), ElementsAre("web.prod:grpc"));
  ASSERT_OK(s.OnRequest(Delta(kEds, {}, {"web.prod:grpc"})));
  Apply({Change("web", {.address = "10.0.0.2"})});
  Feed(s);
  EXPECT_FALSE(s.Next().has_value());
}

// Delta reconnect: resources whose initial_resource_versions still match are not resent; a
// changed one is; one that no longer exists is removed; a version from the future is resent.
TEST_F(SessionTest, DeltaReconnectSendsOnlyWhatChanged) {
  int64_t v1 = Apply({Change("web", {.address = "10.0.0.1"}),
                      Change("db", {.address = "10.0.9.1"}),
                      Change("old", {.address = "10.0.8.1"})});
  int64_t v2 = Apply({Change("db", {.address = "10.0.9.2"})});
  ASSERT_OK(store_.DeleteService("prod", "old"));
  Apply({Change("api", {.address = "10.0.7.1"})});
  DeltaSession s(&cache_, std::nullopt, nullptr);
  auto req = Delta(kEds, {"web.prod:grpc", "db.prod:grpc", "old.prod:grpc", "api.prod:grpc"});
  (*req.mutable_initial_resource_versions())["web.prod:grpc"] = std::to_string(v1);
  (*req.mutable_initial_resource_versions())["db.prod:grpc"] = std::to_string(v1);
  (*req.mutable_initial_resource_versions())["old.prod:grpc"] = std::to_string(v1);
  (*req.mutable_initial_resource_versions())["api.prod:grpc"] = "999999";
  ASSERT_OK(s.OnRequest(req));
  Feed(s);
  auto r = s.Next();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(Names(*r), ElementsAre("api.prod:grpc@" + std::to_string(store_.revision()),
                                     "db.prod:grpc@" + std::to_string(v2)));
  EXPECT_THAT(r->removed_resources(), ElementsAre("old.prod:grpc"));
  EXPECT_FALSE(s.Next().has_value());
}

// Delta wildcard clusters with initial versions: nothing to resend is still answered (empty).
TEST_F(SessionTest, DeltaWildcardUpToDateGetsEmptyAnswer) {
  int64_t v1 = Apply({Change("web", {.address = "10.0.0.1"})});
  DeltaSession s(&cache_, std::nullopt, nullptr);
  auto req = Delta(kCds, {});
  (*req.mutable_initial_resource_versions())["web.prod"] = std::to_string(v1);
  ASSERT_OK(s.OnRequest(req));
  EXPECT_TRUE(s.Wants().all);
  Feed(s);
  auto r = s.Next();
  ASSERT_TRUE(r.has_value());
  EXPECT_THAT(Names(*r), IsEmpty());
  EXPECT_THAT(r->removed_resources(), IsEmpty());
  Apply({Change("db", {.address = "10.0.9.1"})});
  Feed(s);
  auto r2 = s.Next();
  ASSERT_TRUE(r2.has_value());
  ASSERT_EQ(r2->resources_size(), 1);
  EXPECT_EQ(r2->resources(0).name(), "db.prod");
}

// LDS and CDS before RDS and EDS when several types are due (make before break).
TEST_F(SessionTest, ResponseOrder) {
  Apply({Change("web", {.address = "10.0.0.1"})});
  SotwSession s(&cache_, std::nullopt, nullptr);
  ASSERT_OK(s.OnRequest(Sotw(kEds, {"web.prod:grpc"})));
  ASSERT_OK(s.OnRequest(Sotw(kCds, {"web.prod:grpc"})));
  ASSERT_OK(s.OnRequest(Sotw(kLds, {"web.prod:grpc"})));
  Feed(s);
  std::vector<std::string> order;
  while (auto r = s.Next()) order.push_back(r->type_url().substr(r->type_url().rfind('.') + 1));
  EXPECT_THAT(order, ElementsAre("Listener", "Cluster", "ClusterLoadAssignment"));
}

}  // namespace
}  // namespace slicekeeper::xds
