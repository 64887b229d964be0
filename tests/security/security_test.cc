// Issue #19 end to end through gRPC: the real api::Server on a loopback port picked at run time,
// TLS/mTLS with certificates made by the test (test_certs.h), the Authorizer with a policy, a
// token file and an audit log, and libslicekeeper clients with --ca/--cert/--key/--token.
#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/api/server.h"
#include "server/auth/authorizer.h"
#include "server/store/store.h"
#include "tests/api/watch_client.h"
#include "tests/integration/http_get.h"
#include "tests/security/test_certs.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::api {
namespace {

using ::slicekeeper::store::testing::Ip;
using ::slicekeeper::store::testing::Upsert;
using ::slicekeeper::testing::TestCerts;
using ::slicekeeper::testing::WatchClient;
using ::testing::HasSubstr;
using Code = absl::StatusCode;

constexpr absl::Duration kTimeout = absl::Seconds(30);

constexpr char kPolicy[] = R"(
rules:
  - {role: writer, identities: ["spiffe://sk.test/writer"], namespaces: [team-a]}
  - {role: reader, identities: [reader], namespaces: [team-a]}
  - {role: admin, identities: [admin], namespaces: ["*"]}
  - {role: writer, groups: [deployers], namespaces: [team-a]}
)";

// Certificates shared by every test of the suite (made once: a few openssl runs).
struct Pki {
  TestCerts certs;
  TestCerts::Pair ca, other_ca, server, writer, reader, admin, stranger, expired;
  Pki() {
    ca = certs.Ca("ca");
    other_ca = certs.Ca("other-ca");
    server = certs.Server(ca, "server");
    writer = certs.Leaf(ca, "writer", "writer-cn", "URI:spiffe://sk.test/writer");
    reader = certs.Leaf(ca, "reader", "reader", "");
    admin = certs.Leaf(ca, "admin", "admin", "");
    stranger = certs.Leaf(other_ca, "stranger", "admin", "");
    expired = certs.Leaf(ca, "expired", "admin", "", -1);
  }
};

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { pki_ = new Pki(); }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }

  // Starts the server: TLS with `client_auth`, and an authorizer with the policy, the token
  // file and the audit log unless `open`.
  void Start(auth::ClientAuth client_auth, bool open = false) {
    const std::string dir = pki_->certs.dir();
    if (!open) {
      policy_file_ = dir + "/policy.yaml";
      std::ofstream(policy_file_) << kPolicy;
    }
    token_file_ = dir + "/tokens.csv";
    WriteTokens("tok-deployer,deployer,deployers\ntok-nobody,nobody\n");
    audit_file_ = absl::StrCat(dir, "/audit-", ::testing::UnitTest::GetInstance()->random_seed(),
                               "-", reinterpret_cast<uintptr_t>(this), ".log");
    auto authorizer = auth::Authorizer::Create(auth::Authorizer::Options{
        .token_file = token_file_,
        .policy_file = policy_file_,
        .audit_log = audit_file_,
        // Every request checks the files: reloads are visible at once.
        .reload_interval = absl::ZeroDuration()});
    ASSERT_OK(authorizer.status());
    authorizer_ = *std::move(authorizer);
    store_ = std::make_unique<store::Store>(store::Store::Options{});
    Server::Options o;
    o.listen_address = "127.0.0.1:0";
    o.http_listen_address = "127.0.0.1:0";
    // The server reads a copy of its certificate, which a test may rotate.
    live_ = {absl::StrCat(audit_file_, ".crt"), absl::StrCat(audit_file_, ".key")};
    TestCerts::Install(pki_->server.cert, live_.cert);
    TestCerts::Install(pki_->server.key, live_.key);
    o.tls = auth::TlsOptions{.cert_file = live_.cert,
                             .key_file = live_.key,
                             .client_ca_file = pki_->ca.cert,
                             .client_auth = client_auth,
                             .reload_interval = absl::Seconds(1)};
    o.authorizer = authorizer_.get();
    server_ = std::make_unique<Server>(store_.get(), o);
    ASSERT_OK(server_->Start());
  }

  void TearDown() override {
    for (auto& w : watchers_) w->Cancel();
    for (auto& w : watchers_) w->AwaitDone(kTimeout);
    watchers_.clear();
    clients_.clear();
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
    server_.reset();
    store_.reset();
    authorizer_.reset();
    std::filesystem::remove(audit_file_);
    std::filesystem::remove(live_.cert);
    std::filesystem::remove(live_.key);
  }

  void WriteTokens(const std::string& text) {
    std::ofstream(token_file_ + ".new") << text;
    std::filesystem::rename(token_file_ + ".new", token_file_);
  }

  // A client trusting `ca` (the test CA by default), with `pair`'s certificate and `token`.
  client::Client* Connect(const TestCerts::Pair* pair, const std::string& token = "",
                          const std::string& ca = "") {
    client::ClientOptions o;
    o.addresses = {absl::StrCat("127.0.0.1:", server_->grpc_port())};
    o.max_read_attempts = 1;
    o.deadline = absl::Seconds(10);
    o.security.ca_file = ca.empty() ? pki_->ca.cert : ca;
    if (pair != nullptr) {
      o.security.cert_file = pair->cert;
      o.security.key_file = pair->key;
    }
    o.security.token = token;
    auto c = client::Client::Create(o);
    EXPECT_OK(c.status());
    clients_.push_back(*std::move(c));
    return clients_.back().get();
  }

  WatchClient* Watch(client::Client* c, const std::string& ns) {
    v1::WatchRequest r;
    r.set_namespace_(ns);
    watchers_.push_back(std::make_unique<WatchClient>(c->discovery(), r));
    return watchers_.back().get();
  }

  static v1::ChangeBatch Batch(std::vector<std::string> namespaces) {
    v1::ChangeBatch b;
    int i = 0;
    for (const std::string& ns : namespaces) *b.add_changes() = Upsert(ns, "web", Ip(++i));
    return b;
  }

  // The audit log's lines, each parsed as JSON.
  std::vector<google::protobuf::Struct> AuditLines() const {
    std::vector<google::protobuf::Struct> out;
    for (absl::string_view line :
         absl::StrSplit(TestCerts::Read(audit_file_), '\n', absl::SkipEmpty())) {
      google::protobuf::Struct s;
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &s).ok())
          << line;
      out.push_back(std::move(s));
    }
    return out;
  }

  static Pki* pki_;
  std::string policy_file_, token_file_, audit_file_;
  TestCerts::Pair live_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<client::Client>> clients_;
  std::vector<std::unique_ptr<WatchClient>> watchers_;
};

Pki* SecurityTest::pki_ = nullptr;

// With client_auth=require only a certificate of the client CA, still valid, gets through the
// handshake; the rest fail before any RPC runs.
TEST_F(SecurityTest, MutualTlsRefusesMissingForeignAndExpiredCertificates) {
  Start(auth::ClientAuth::kRequire);
  EXPECT_OK(Connect(&pki_->admin)->ListServices("").status());
  EXPECT_EQ(Connect(nullptr)->ListServices("").status().code(), Code::kUnavailable);
  EXPECT_EQ(Connect(&pki_->stranger)->ListServices("").status().code(), Code::kUnavailable);
  EXPECT_EQ(Connect(&pki_->expired)->ListServices("").status().code(), Code::kUnavailable);
  // A client that does not trust the server's CA refuses the server.
  EXPECT_EQ(Connect(&pki_->admin, "", pki_->other_ca.cert)->ListServices("").status().code(),
            Code::kUnavailable);
  // Plaintext gets nothing from a TLS port.
  auto plain = v1::EndpointDiscovery::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  v1::ListServicesResponse out;
  EXPECT_EQ(plain->ListServices(&ctx, v1::ListServicesRequest(), &out).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// Role x RPC x namespace in and out of scope, through gRPC with certificate identities.
TEST_F(SecurityTest, AuthorizationMatrix) {
  Start(auth::ClientAuth::kRequire);
  ASSERT_OK(store_->ApplyChanges({Upsert("team-a", "web", Ip(1)), Upsert("team-b", "web", Ip(1))})
                .status());
  struct Rpc {
    std::string name;
    std::function<absl::Status(client::Client*)> call;
  };
  auto replace = [](const std::string& ns) {
    return [ns](client::Client* c) {
      v1::ReplaceEndpointsRequest r;
      r.set_namespace_(ns);
      r.set_service("web");
      return c->ReplaceEndpoints(r).status();
    };
  };
  auto query = [](const std::string& ns) {
    return [ns](client::Client* c) {
      v1::QueryEndpointsRequest r;
      r.set_namespace_(ns);
      r.set_service("web");
      return c->QueryEndpoints(r).status();
    };
  };
  const std::vector<Rpc> rpcs = {
      {"Query a", query("team-a")},
      {"Query b", query("team-b")},
      {"ListServices all", [](client::Client* c) { return c->ListServices("").status(); }},
      {"ListServices b", [](client::Client* c) { return c->ListServices("team-b").status(); }},
      {"Apply a", [](client::Client* c) { return c->ApplyChanges(Batch({"team-a"})).status(); }},
      {"Apply b", [](client::Client* c) { return c->ApplyChanges(Batch({"team-b"})).status(); }},
      {"Replace a", replace("team-a")},
      {"Replace b", replace("team-b")},
      {"DeleteService a", [](client::Client* c) { return c->DeleteService("team-a", "ghost").status(); }},
      {"PutNodes", [](client::Client* c) { return c->PutNodes(v1::PutNodesRequest()).status(); }},
  };
  const Code kOk = Code::kOk, kDenied = Code::kPermissionDenied, kNotFound = Code::kNotFound;
  // Expected codes in the order of `rpcs`.
  const std::map<std::string, std::vector<Code>> expected = {
      {"reader", {kOk, kDenied, kOk, kDenied, kDenied, kDenied, kDenied, kDenied, kDenied, kDenied}},
      {"writer", {kOk, kDenied, kOk, kDenied, kOk, kDenied, kOk, kDenied, kDenied, kDenied}},
      {"admin", {kOk, kOk, kOk, kOk, kOk, kOk, kOk, kOk, kNotFound, kOk}},
  };
  const std::map<std::string, const TestCerts::Pair*> who = {
      {"reader", &pki_->reader}, {"writer", &pki_->writer}, {"admin", &pki_->admin}};
  for (const auto& [role, codes] : expected) {
    client::Client* c = Connect(who.at(role));
    for (size_t i = 0; i < rpcs.size(); ++i) {
      const absl::Status s = rpcs[i].call(c);
      EXPECT_EQ(s.code(), codes[i]) << role << " " << rpcs[i].name << ": " << s;
      if (s.code() == kDenied) {
        EXPECT_THAT(s.message(), HasSubstr("is not a")) << s;
      }
    }
  }
}

// A batch touching one namespace its writer may not write is refused whole, naming the
// namespace: the revision does not move and the allowed half is not applied. Both the refusal
// and the allowed write are audited with identity, peer, namespaces, code and revision.
TEST_F(SecurityTest, DeniedBatchAppliesNothingAndIsAudited) {
  Start(auth::ClientAuth::kRequire);
  client::Client* writer = Connect(&pki_->writer);
  const int64_t before = store_->revision();
  absl::Status denied = writer->ApplyChanges(Batch({"team-a", "team-b"})).status();
  EXPECT_EQ(denied.code(), Code::kPermissionDenied);
  EXPECT_THAT(denied.message(), HasSubstr("namespace \"team-b\""));
  EXPECT_EQ(store_->revision(), before);
  EXPECT_EQ(store_->GetService("team-a", "web"), nullptr);

  absl::StatusOr<v1::ChangeAck> ok = writer->ApplyChanges(Batch({"team-a"}));
  ASSERT_OK(ok.status());

  std::vector<google::protobuf::Struct> lines = AuditLines();
  ASSERT_EQ(lines.size(), 2u);
  const auto& f0 = lines[0].fields();
  EXPECT_EQ(f0.at("identity").string_value(), "spiffe://sk.test/writer");
  EXPECT_EQ(f0.at("rpc").string_value(), "ApplyChanges");
  EXPECT_EQ(f0.at("code").string_value(), "PERMISSION_DENIED");
  EXPECT_EQ(f0.at("namespaces").list_value().values_size(), 2);
  EXPECT_EQ(f0.at("changes").number_value(), 2);
  EXPECT_EQ(f0.at("revision").number_value(), 0);
  EXPECT_THAT(f0.at("peer").string_value(), HasSubstr("127.0.0.1"));
  const auto& f1 = lines[1].fields();
  EXPECT_EQ(f1.at("code").string_value(), "OK");
  EXPECT_EQ(f1.at("services").list_value().values(0).string_value(), "web");
  EXPECT_EQ(f1.at("revision").number_value(), static_cast<double>(ok->revision()));
  EXPECT_GT(f1.at("time").string_value().size(), 20u);
}

// A reader limited to team-a watching every namespace sees team-a's events and never team-b's
// (team-b's write comes first, so it would have arrived before team-a's), and lists are
// filtered the same way.
TEST_F(SecurityTest, NamespaceLimitedWatcherSeesOnlyItsNamespaces) {
  Start(auth::ClientAuth::kRequire);
  client::Client* reader = Connect(&pki_->reader);
  auto first = store_->ApplyChanges({Upsert("team-a", "web", Ip(1)), Upsert("team-b", "db", Ip(1))});
  ASSERT_OK(first.status());
  WatchClient* w = Watch(reader, "");
  // Synced: the snapshot (filtered) is in, what follows is live.
  ASSERT_TRUE(w->AwaitRevision(first->revision, kTimeout));
  ASSERT_OK(store_->ApplyChanges({Upsert("team-b", "cache", Ip(2))}).status());
  ASSERT_OK(store_->ApplyChanges({Upsert("team-a", "api", Ip(3))}).status());
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::ADDED, 2, kTimeout));
  for (const auto& [key, slice] : w->slices()) {
    EXPECT_EQ(slice.metadata().namespace_(), "team-a") << key;
  }
  EXPECT_EQ(w->slices().size(), 2u);
  auto listed = reader->ListServices("");
  ASSERT_OK(listed.status());
  ASSERT_EQ(listed->services_size(), 2);
  EXPECT_EQ(listed->services(0).namespace_(), "team-a");
  EXPECT_EQ(listed->services(1).namespace_(), "team-a");
  v1::ListEndpointSlicesRequest all;
  auto slices = reader->ListAllEndpointSlices(all);
  ASSERT_OK(slices.status());
  ASSERT_EQ(slices->slices_size(), 2);
  EXPECT_EQ(slices->slices(0).metadata().namespace_(), "team-a");
  // Naming a namespace outside its scope is refused, not filtered.
  v1::WatchRequest b;
  b.set_namespace_("team-b");
  watchers_.push_back(std::make_unique<WatchClient>(reader->discovery(), b));
  EXPECT_EQ(watchers_.back()->AwaitDone(kTimeout).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// Bearer tokens over TLS (client_auth=request, no client certificate): no credentials and a
// wrong token are UNAUTHENTICATED; rewriting the token file adds and removes access.
TEST_F(SecurityTest, BearerTokensAndTokenFileReload) {
  Start(auth::ClientAuth::kRequest);
  EXPECT_OK(Connect(nullptr, "tok-deployer")->ApplyChanges(Batch({"team-a"})).status());
  EXPECT_EQ(Connect(nullptr)->ListServices("").status().code(), Code::kUnauthenticated);
  EXPECT_EQ(Connect(nullptr, "tok-wrong")->ListServices("").status().code(),
            Code::kUnauthenticated);
  client::Client* newcomer = Connect(nullptr, "tok-new");
  client::Client* deployer = Connect(nullptr, "tok-deployer");
  WriteTokens("tok-new,deployer,deployers\n");
  EXPECT_OK(newcomer->ApplyChanges(Batch({"team-a"})).status());
  EXPECT_EQ(deployer->ApplyChanges(Batch({"team-a"})).status().code(), Code::kUnauthenticated);
  // No token value ever reaches the audit log.
  const std::string audit = TestCerts::Read(audit_file_);
  EXPECT_THAT(audit, HasSubstr("\"identity\":\"deployer\""));
  EXPECT_THAT(audit, ::testing::Not(HasSubstr("tok-")));
}

// /metrics goes through the same authorizer (bearer tokens): 401 without credentials, 403 for
// an identity with no role, 200 for a reader of any namespace; /healthz stays open for probes.
TEST_F(SecurityTest, MetricsNeedsAReader) {
  Start(auth::ClientAuth::kRequest);
  auto get = [&](const std::string& token) {
    ::slicekeeper::testing::HttpHeaders headers;
    if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
    auto r = ::slicekeeper::testing::Fetch(server_->http_port(), "GET", "/metrics", "", headers,
                                           kTimeout);
    EXPECT_OK(r.status());
    return r.ok() ? r->status : 0;
  };
  EXPECT_EQ(get(""), 401);
  EXPECT_EQ(get("tok-wrong"), 401);
  EXPECT_EQ(get("tok-nobody"), 403);
  EXPECT_EQ(get("tok-deployer"), 200);
  auto health = integration::HttpGet(server_->http_port(), "/healthz", kTimeout);
  ASSERT_OK(health.status());
  EXPECT_EQ(health->status, 200);
}

// The server certificate rotated on disk is served to new connections without a restart, and
// a watch established before keeps receiving events.
TEST_F(SecurityTest, ServerCertificateRotationKeepsEstablishedWatches) {
  Start(auth::ClientAuth::kNone, /*open=*/true);
  client::Client* before = Connect(nullptr);
  WatchClient* w = Watch(before, "");
  ASSERT_TRUE(w->AwaitRevision(store_->revision(), kTimeout));

  TestCerts::Pair new_ca = pki_->certs.Ca("rotated-ca");
  TestCerts::Pair rotated = pki_->certs.Server(new_ca, "rotated");
  // A client trusting only the new CA is refused until the server serves the new certificate.
  EXPECT_EQ(Connect(nullptr, "", new_ca.cert)->ListServices("").status().code(),
            Code::kUnavailable);
  TestCerts::Install(rotated.key, live_.key);
  TestCerts::Install(rotated.cert, live_.cert);
  // The file watcher checks every second: poll with fresh connections until it took effect.
  absl::Status after = absl::UnavailableError("not tried");
  for (absl::Time end = absl::Now() + kTimeout; !after.ok() && absl::Now() < end;) {
    after = Connect(nullptr, "", new_ca.cert)->ListServices("").status();
    if (!after.ok()) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_OK(after);
  auto write = store_->ApplyChanges({Upsert("team-a", "web", Ip(7))});
  ASSERT_OK(write.status());
  EXPECT_TRUE(w->AwaitEvents(v1::WatchEvent::ADDED, 1, kTimeout));
  EXPECT_EQ(w->slices().size(), 1u);
}

}  // namespace
}  // namespace slicekeeper::api
