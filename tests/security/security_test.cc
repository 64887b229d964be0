// Issue #19 end to end through gRPC: the real api::Server on a loopback port picked at run time,
// TLS/mTLS with certificates made by the test (test_certs.h), the Authorizer with a policy, a
// token file and an audit log, and libslicekeeper clients with --ca/--cert/--key/--token.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "gmock/gmock.h"
#include "tests/http/http_client.h"
#include "tests/security/security_fixture.h"

namespace slicekeeper::api {
namespace {

using ::testing::HasSubstr;
using Code = absl::StatusCode;

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
      {"DeleteService a",
       [](client::Client* c) { return c->DeleteService("team-a", "ghost").status(); }},
      {"PutNodes", [](client::Client* c) { return c->PutNodes(v1::PutNodesRequest()).status(); }},
  };
  const Code kOk = Code::kOk, kDenied = Code::kPermissionDenied, kNotFound = Code::kNotFound;
  // Expected codes in the order of `rpcs`.
  const std::map<std::string, std::vector<Code>> expected = {
      {"reader",
       {kOk, kDenied, kOk, kDenied, kDenied, kDenied, kDenied, kDenied, kDenied, kDenied}},
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
  auto first =
      store_->ApplyChanges({Upsert("team-a", "web", Ip(1)), Upsert("team-b", "db", Ip(1))});
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
  EXPECT_EQ(watchers_.back()->AwaitDone(kTimeout).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
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
  auto health = ::slicekeeper::testing::Fetch(server_->http_port(), "GET", "/healthz");
  ASSERT_OK(health.status());
  EXPECT_EQ(health->status, 200);
}

// --max_streams_per_connection caps one connection's concurrent streams (HTTP/2's
// SETTINGS_MAX_CONCURRENT_STREAMS): a third watch on a connection with two waits until one ends;
// another connection is not held up.
TEST_F(SecurityTest, StreamsPerConnectionAreCapped) {
  max_streams_per_connection_ = 2;
  Start(auth::ClientAuth::kRequire);
  client::Client* admin = Connect(&pki_->admin);
  WatchClient* first = Watch(admin, "");
  WatchClient* second = Watch(admin, "");
  ASSERT_TRUE(first->AwaitEvents(v1::WatchEvent::SYNCED, 1, kTimeout));
  ASSERT_TRUE(second->AwaitEvents(v1::WatchEvent::SYNCED, 1, kTimeout));
  WatchClient* third = Watch(admin, "");
  // Cannot sync while the other two hold the connection's streams (a slow machine only makes
  // this more certain).
  EXPECT_FALSE(third->AwaitEvents(v1::WatchEvent::SYNCED, 1, absl::Milliseconds(500)));
  WatchClient* elsewhere = Watch(Connect(&pki_->admin), "");
  EXPECT_TRUE(elsewhere->AwaitEvents(v1::WatchEvent::SYNCED, 1, kTimeout));
  first->Cancel();
  EXPECT_TRUE(third->AwaitEvents(v1::WatchEvent::SYNCED, 1, kTimeout));
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
