// SecurityTest: the fixture of the security suite (issue #19): the real api::Server on loopback
// ports picked at run time, TLS/mTLS with certificates made by the test (test_certs.h), the
// Authorizer with a policy (kPolicy), a token file and an audit log, and libslicekeeper clients
// with --ca/--cert/--key/--token.
//
// Thread-safety: gtest's main thread only.
#ifndef SLICEKEEPER_TESTS_SECURITY_SECURITY_FIXTURE_H_
#define SLICEKEEPER_TESTS_SECURITY_SECURITY_FIXTURE_H_

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/api/server.h"
#include "server/auth/authorizer.h"
#include "server/store/store.h"
#include "tests/api/watch_client.h"
#include "tests/security/test_certs.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::api {

using ::slicekeeper::store::testing::Ip;
using ::slicekeeper::store::testing::Upsert;
using ::slicekeeper::testing::TestCerts;
using ::slicekeeper::testing::WatchClient;

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
    auto authorizer = auth::Authorizer::Create(
        auth::Authorizer::Options{.token_file = token_file_,
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
    o.max_concurrent_streams = max_streams_per_connection_;
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
      EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(line), &s).ok()) << line;
      out.push_back(std::move(s));
    }
    return out;
  }

  static inline Pki* pki_ = nullptr;
  int max_streams_per_connection_ = 10'000;
  std::string policy_file_, token_file_, audit_file_;
  TestCerts::Pair live_;
  std::unique_ptr<auth::Authorizer> authorizer_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Server> server_;
  std::vector<std::unique_ptr<client::Client>> clients_;
  std::vector<std::unique_ptr<WatchClient>> watchers_;
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_TESTS_SECURITY_SECURITY_FIXTURE_H_
