// Issue #19 through the other front-ends: the Kubernetes API on the HTTP port (admitted by the
// router's one admission hook) and the xDS control plane (ADS on the gRPC port), against the same
// api::Server, policy, tokens and audit log as security_test.cc (security_fixture.h). Identities
// come from bearer tokens on HTTP and from client certificates on xDS.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/credentials.h"
#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/xds/names.h"
#include "tests/http/http_client.h"
#include "tests/security/security_fixture.h"
#include "tests/xds/ads_client.h"

namespace slicekeeper::api {
namespace {

using ::google::protobuf::Value;
using ::slicekeeper::testing::Fetch;
using ::slicekeeper::testing::HttpHeaders;
using ::slicekeeper::testing::HttpReply;
using ::slicekeeper::testing::HttpStream;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

constexpr char kAll[] = "/apis/discovery.k8s.io/v1/endpointslices";

std::string Slices(const std::string& ns) {
  return absl::StrCat("/apis/discovery.k8s.io/v1/namespaces/", ns, "/endpointslices");
}

// A foreign EndpointSlice of service "api" as kubectl would POST it.
std::string SliceBody(const std::string& name, int ip) {
  return absl::StrCat(
      R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":")", name,
      R"(","labels":{"kubernetes.io/service-name":"api"}},"addressType":"IPv4",)",
      R"("endpoints":[{"addresses":["10.9.0.)", ip, R"("]}],"ports":[{"name":"http","port":80}]})");
}

Value ParseJson(const std::string& text) {
  Value v;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &v).ok()) << text;
  return v;
}

const Value& Field(const Value& v, const std::string& key) {
  static const Value kMissing;
  auto it = v.struct_value().fields().find(key);
  return it == v.struct_value().fields().end() ? kMissing : it->second;
}

// The namespaces of a list's items.
std::set<std::string> ItemNamespaces(const std::string& list) {
  std::set<std::string> out;
  const Value parsed = ParseJson(list);
  for (const Value& item : Field(parsed, "items").list_value().values()) {
    out.insert(Field(Field(item, "metadata"), "namespace").string_value());
  }
  return out;
}

class FrontEndsTest : public SecurityTest {
 protected:
  void StartWithData() {
    Start(auth::ClientAuth::kRequest);
    WriteTokens(
        "tok-deployer,deployer,deployers\ntok-nobody,nobody\ntok-reader,reader\n"
        "tok-admin,admin\n");
    ASSERT_OK(
        store_->ApplyChanges({Upsert("team-a", "web", Ip(1)), Upsert("team-b", "web", Ip(2))}));
  }

  HttpReply Http(const std::string& method, const std::string& target, const std::string& token,
                 const std::string& body = "") {
    HttpHeaders headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    absl::StatusOr<HttpReply> r = Fetch(server_->http_port(), method, target, body, headers);
    EXPECT_OK(r.status());
    return r.ok() ? *r : HttpReply{};
  }

  // An ADS stub over mTLS with `pair`'s certificate (or `token`).
  std::unique_ptr<xds::testing::AdsStub> AdsStub(const TestCerts::Pair* pair,
                                                 const std::string& token = "") {
    client::SecurityOptions o{.ca_file = pki_->ca.cert, .token = token};
    if (pair != nullptr) {
      o.cert_file = pair->cert;
      o.key_file = pair->key;
    }
    auto creds = client::ChannelCredentials(o);
    EXPECT_OK(creds.status());
    grpc::ChannelArguments args;
    args.SetInt("grpc.channel_id", next_channel_++);  // a connection of its own
    return envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                  creds.ok() ? *creds : grpc::InsecureChannelCredentials(), args));
  }

  int next_channel_ = 0;
};

// The Kubernetes API's authorization matrix: 401 without (or with a wrong) token, 403 outside the
// caller's role or namespaces, in the apiserver's Status format; lists over every namespace and
// the namespace list are filtered, not refused.
TEST_F(FrontEndsTest, KubernetesApiAuthorizationMatrix) {
  StartWithData();
  struct Case {
    std::string method, target, token;
    int code;
  };
  const std::vector<Case> cases = {
      {"GET", kAll, "", 401},
      {"GET", kAll, "tok-wrong", 401},
      {"GET", "/apis", "", 401},
      {"GET", kAll, "tok-nobody", 403},
      {"GET", "/apis", "tok-reader", 200},
      {"GET", kAll, "tok-reader", 200},
      {"GET", Slices("team-a"), "tok-reader", 200},
      {"GET", Slices("team-b"), "tok-reader", 403},
      {"GET", "/api/v1/namespaces/team-b", "tok-reader", 403},
      {"POST", Slices("team-a"), "tok-reader", 403},
      {"GET", Slices("team-b"), "tok-deployer", 403},
      {"GET", Slices("team-b"), "tok-admin", 200},
      {"DELETE", Slices("team-a") + "/nope", "tok-reader", 403},
      {"DELETE", Slices("team-a") + "/nope", "tok-deployer", 404},
  };
  for (const Case& c : cases) {
    HttpReply r = Http(c.method, c.target, c.token);
    EXPECT_EQ(r.status, c.code) << c.method << " " << c.target << " as " << c.token << ": "
                                << r.body;
    if (c.code == 401 || c.code == 403) {
      const Value status = ParseJson(r.body);
      EXPECT_EQ(Field(status, "kind").string_value(), "Status");
      EXPECT_EQ(Field(status, "code").number_value(), c.code);
      EXPECT_EQ(Field(status, "reason").string_value(),
                c.code == 401 ? "Unauthorized" : "Forbidden");
    }
  }
  HttpReply forbidden = Http("GET", Slices("team-b"), "tok-reader");
  EXPECT_THAT(Field(ParseJson(forbidden.body), "message").string_value(),
              HasSubstr("endpointslices.discovery.k8s.io is forbidden"));
  // Filtered, not refused.
  EXPECT_THAT(ItemNamespaces(Http("GET", kAll, "tok-reader").body), ElementsAre("team-a"));
  EXPECT_THAT(ItemNamespaces(Http("GET", kAll, "tok-admin").body), ElementsAre("team-a", "team-b"));
  std::set<std::string> namespaces;
  const Value namespace_list = ParseJson(Http("GET", "/api/v1/namespaces", "tok-reader").body);
  for (const Value& item : Field(namespace_list, "items").list_value().values()) {
    namespaces.insert(Field(Field(item, "metadata"), "name").string_value());
  }
  EXPECT_THAT(namespaces, ElementsAre("team-a"));
  // The probes stay open.
  EXPECT_EQ(Http("GET", "/readyz", "").status, 200);
}

// A Kubernetes write outside the writer's namespace is refused whole (the store's revision does
// not move); allowed and denied writes are audited with the identity, namespace and revision.
TEST_F(FrontEndsTest, KubernetesWritesAreCheckedPerNamespaceAndAudited) {
  StartWithData();
  const int64_t before = store_->revision();
  HttpReply denied = Http("POST", Slices("team-b"), "tok-deployer", SliceBody("api-x", 1));
  EXPECT_EQ(denied.status, 403) << denied.body;
  EXPECT_EQ(store_->revision(), before);
  // The body's namespace does not get around the path's.
  HttpReply smuggled =
      Http("POST", Slices("team-a"), "tok-deployer",
           absl::StrReplaceAll(SliceBody("api-x", 1),
                               {{R"("name":"api-x")", R"("name":"api-x","namespace":"team-b")"}}));
  EXPECT_EQ(smuggled.status, 400) << smuggled.body;
  EXPECT_EQ(store_->revision(), before);
  HttpReply created = Http("POST", Slices("team-a"), "tok-deployer", SliceBody("api-x", 1));
  ASSERT_EQ(created.status, 201) << created.body;
  const int64_t written = store_->revision();
  EXPECT_GT(written, before);
  EXPECT_EQ(Http("DELETE", Slices("team-a") + "/api-x", "tok-deployer").status, 200);

  bool saw_denied = false, saw_created = false, saw_deleted = false;
  for (const google::protobuf::Struct& line : AuditLines()) {
    const auto& f = line.fields();
    if (!f.contains("rpc") || !absl::StrContains(f.at("rpc").string_value(), "endpointslices")) {
      continue;
    }
    EXPECT_EQ(f.at("identity").string_value(), "deployer");
    const std::string rpc = f.at("rpc").string_value();
    const std::string code = f.at("code").string_value();
    const std::string ns = f.at("namespaces").list_value().values(0).string_value();
    if (absl::StartsWith(rpc, "POST") && ns == "team-b") {
      saw_denied = code == "PERMISSION_DENIED";
    } else if (absl::StartsWith(rpc, "POST") && code == "OK") {
      saw_created = ns == "team-a" && f.at("revision").number_value() == written;
    } else if (absl::StartsWith(rpc, "DELETE")) {
      saw_deleted = code == "OK" && f.at("revision").number_value() > written;
    }
  }
  EXPECT_TRUE(saw_denied);
  EXPECT_TRUE(saw_created);
  EXPECT_TRUE(saw_deleted);
}

// A reader limited to team-a watching every namespace over the Kubernetes API gets team-a's
// events only: a team-b write in between never shows up.
TEST_F(FrontEndsTest, KubernetesWatchOfEveryNamespaceIsFiltered) {
  StartWithData();
  absl::StatusOr<std::unique_ptr<HttpStream>> w =
      HttpStream::Open(server_->http_port(), absl::StrCat(kAll, "?watch=true"),
                       {{"Authorization", "Bearer tok-reader"}});
  ASSERT_OK(w.status());
  ASSERT_EQ((*w)->status(), 200);
  auto next_namespace = [&]() -> std::string {
    absl::StatusOr<std::string> line = (*w)->ReadLine(kTimeout);
    EXPECT_OK(line.status());
    if (!line.ok()) return "";
    return Field(Field(Field(ParseJson(*line), "object"), "metadata"), "namespace").string_value();
  };
  EXPECT_EQ(next_namespace(), "team-a");  // the initial ADDED
  ASSERT_OK(store_->ApplyChanges({Upsert("team-b", "web", Ip(3))}));
  ASSERT_OK(store_->ApplyChanges({Upsert("team-a", "web", Ip(4))}));
  EXPECT_EQ(next_namespace(), "team-a");
  // A namespaced watch of team-b is refused outright.
  absl::StatusOr<std::unique_ptr<HttpStream>> b =
      HttpStream::Open(server_->http_port(), Slices("team-b") + "?watch=true",
                       {{"Authorization", "Bearer tok-reader"}});
  ASSERT_OK(b.status());
  EXPECT_EQ((*b)->status(), 403);
}

// xDS needs a reader: no credentials is UNAUTHENTICATED, an identity without a role
// PERMISSION_DENIED. A reader limited to team-a gets team-a's clusters from a wildcard, and a
// team-b name is absent exactly like a name that does not exist.
TEST_F(FrontEndsTest, XdsServesOnlyTheReadersNamespaces) {
  StartWithData();
  auto nobody = AdsStub(nullptr);
  {
    xds::testing::SotwStream s(nobody.get());
    grpc::Status status;
    ASSERT_TRUE(s.AwaitDone(kTimeout, &status));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  auto stranger = AdsStub(nullptr, "tok-nobody");
  {
    xds::testing::SotwStream s(stranger.get());
    grpc::Status status;
    ASSERT_TRUE(s.AwaitDone(kTimeout, &status));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }

  auto reader = AdsStub(&pki_->reader);
  xds::testing::SotwStream cds(reader.get());
  xds::testing::SotwRequest wildcard;
  wildcard.mutable_node()->set_id("security-test");
  wildcard.set_type_url(std::string(xds::TypeUrl(xds::ResourceType::kCluster)));
  cds.Send(wildcard);
  ASSERT_TRUE(cds.Await([](const auto& rs) { return !rs.empty(); }, kTimeout));
  std::vector<std::string> clusters;
  const xds::testing::SotwResponse listed = cds.Responses()[0];
  for (const auto& any : listed.resources()) {
    envoy::config::cluster::v3::Cluster c;
    ASSERT_TRUE(any.UnpackTo(&c));
    clusters.push_back(c.name());
  }
  EXPECT_THAT(clusters, ElementsAre("web.team-a"));  // not web.team-b

  xds::testing::DeltaStream eds(reader.get());
  xds::testing::DeltaRequest subscribe;
  subscribe.mutable_node()->set_id("security-test");
  subscribe.set_type_url(std::string(xds::TypeUrl(xds::ResourceType::kEndpoint)));
  for (const char* name : {"web.team-a:http", "web.team-b:http", "ghost.team-a:http"}) {
    subscribe.add_resource_names_subscribe(name);
  }
  eds.Send(subscribe);
  ASSERT_TRUE(eds.Await([](const auto& rs) { return !rs.empty(); }, kTimeout));
  const xds::testing::DeltaResponse first = eds.Responses()[0];
  std::vector<std::string> present;
  for (const auto& r : first.resources()) present.push_back(r.name());
  EXPECT_THAT(present, ElementsAre("web.team-a:http"));
  EXPECT_THAT(first.removed_resources(),
              UnorderedElementsAre("web.team-b:http", "ghost.team-a:http"));
  // team-b keeps changing; the reader hears only of team-a.
  ASSERT_OK(store_->ApplyChanges({Upsert("team-b", "web", Ip(5))}));
  ASSERT_OK(store_->ApplyChanges({Upsert("team-a", "web", Ip(6))}));
  ASSERT_TRUE(eds.Await([](const auto& rs) { return rs.size() >= 2; }, kTimeout));
  for (const auto& r : eds.Responses()) {
    for (const auto& res : r.resources()) EXPECT_EQ(res.name(), "web.team-a:http");
  }
}

}  // namespace
}  // namespace slicekeeper::api
