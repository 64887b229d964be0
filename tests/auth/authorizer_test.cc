#include "server/auth/authorizer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/fakes/fake_clock.h"
#include "tests/test_util.h"

namespace slicekeeper::auth {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sk_auth_XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) const {
    // Written beside, then renamed over: a new inode, as a secret volume update is.
    const std::string path = path_ + "/" + name;
    std::ofstream(path + ".tmp") << text;
    std::filesystem::rename(path + ".tmp", path);
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

constexpr char kPolicy[] = R"(
rules:
  - role: writer
    identities: ["spiffe://sk.test/team-a"]
    namespaces: ["team-a"]
  - role: reader
    groups: ["readers"]
    namespaces: ["team-a", "team-b"]
  - role: admin
    identities: ["root"]
    namespaces: ["*"]
)";

Peer CertPeer(const std::string& spiffe) { return Peer{"ipv4:127.0.0.1:1", spiffe, "", ""}; }
Peer TokenPeer(const std::string& token) {
  return Peer{"ipv4:127.0.0.1:2", "", "", "Bearer " + token};
}
Request Write(std::vector<std::string> namespaces) {
  return Request{
      .rpc = "ApplyChanges", .role = Role::kWriter, .namespaces = namespaces, .write = true};
}

class AuthorizerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Authorizer> Make(Authorizer::Options o = {}) {
    o.clock = &clock_;
    o.reload_interval = absl::Seconds(1);
    if (o.policy_file.empty()) o.policy_file = dir_.Write("policy.yaml", kPolicy);
    if (o.token_file.empty()) {
      o.token_file = dir_.Write("tokens.csv", "tok-reader,alice,\"readers,x\"\ntok-root,root\n");
    }
    auto a = Authorizer::Create(o);
    EXPECT_OK(a.status());
    return a.ok() ? *std::move(a) : nullptr;
  }
  slicekeeper::testing::FakeClock clock_;
  TempDir dir_;
};

// No credentials with a policy set is UNAUTHENTICATED; a wrong token too, even in open mode.
TEST_F(AuthorizerTest, CredentialsRequired) {
  auto a = Make();
  EXPECT_EQ(a->Check(Peer{}, Write({"team-a"})).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->Check(TokenPeer("nope"), Write({"team-a"})).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(a->Check(Peer{.authorization = "Basic abc"}, Write({"team-a"})).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto open = Authorizer::Create(
      Authorizer::Options{.token_file = dir_.Write("t2.csv", "good,bob\n"), .clock = &clock_});
  ASSERT_OK(open.status());
  EXPECT_TRUE((*open)->open());
  EXPECT_OK((*open)->Check(Peer{}, Write({"x"})).status());
  EXPECT_EQ((*open)->Check(TokenPeer("bad"), Write({"x"})).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto bob = (*open)->Check(TokenPeer("good"), Write({"x"}));
  ASSERT_OK(bob.status());
  EXPECT_EQ(bob->identity.name, "bob");
}

// Roles nest and are limited to their namespaces; a batch touching one forbidden namespace is
// refused naming it.
TEST_F(AuthorizerTest, RoleMatrix) {
  auto a = Make();
  const Peer writer = CertPeer("spiffe://sk.test/team-a");
  const Peer reader = TokenPeer("tok-reader");
  const Peer root = TokenPeer("tok-root");
  const Request read_a{.rpc = "Get", .role = Role::kReader, .namespaces = {"team-a"}};
  const Request read_b{.rpc = "Get", .role = Role::kReader, .namespaces = {"team-b"}};
  const Request del_a{
      .rpc = "DeleteService", .role = Role::kAdmin, .namespaces = {"team-a"}, .write = true};
  const Request nodes{.rpc = "PutNodes", .role = Role::kAdmin, .write = true};

  EXPECT_OK(a->Check(writer, read_a).status());
  EXPECT_OK(a->Check(writer, Write({"team-a"})).status());
  EXPECT_EQ(a->Check(writer, read_b).status().code(), absl::StatusCode::kPermissionDenied);
  absl::Status mixed = a->Check(writer, Write({"team-a", "team-b"})).status();
  EXPECT_EQ(mixed.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(mixed.message(), HasSubstr("namespace \"team-b\""));
  EXPECT_EQ(a->Check(writer, del_a).status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(a->Check(writer, nodes).status().code(), absl::StatusCode::kPermissionDenied);

  EXPECT_OK(a->Check(reader, read_a).status());
  EXPECT_OK(a->Check(reader, read_b).status());
  EXPECT_EQ(a->Check(reader, Write({"team-a"})).status().code(),
            absl::StatusCode::kPermissionDenied);

  EXPECT_OK(a->Check(root, del_a).status());
  EXPECT_OK(a->Check(root, nodes).status());
}

// A list over every namespace is filtered to the caller's namespaces, not refused; a caller
// with no namespace at all is refused.
TEST_F(AuthorizerTest, AllNamespacesAreFiltered) {
  auto a = Make();
  const Request list{.rpc = "ListServices", .role = Role::kReader, .all_namespaces = true};
  auto reader = a->Check(TokenPeer("tok-reader"), list);
  ASSERT_OK(reader.status());
  EXPECT_FALSE(reader->readable.all());
  EXPECT_TRUE(reader->readable.Allows("team-b"));
  EXPECT_FALSE(reader->readable.Allows("team-c"));
  auto root = a->Check(TokenPeer("tok-root"), list);
  ASSERT_OK(root.status());
  EXPECT_TRUE(root->readable.all());
  EXPECT_EQ(a->Check(CertPeer("spiffe://sk.test/other"), list).status().code(),
            absl::StatusCode::kPermissionDenied);
}

// The certificate's SPIFFE ID wins over its CN; the CN is the identity without one.
TEST_F(AuthorizerTest, CertificateIdentity) {
  auto a = Make();
  auto by_cn = a->Check(Peer{.cert_common_name = "root"}, Write({"team-z"}));
  ASSERT_OK(by_cn.status());
  EXPECT_EQ(by_cn->identity.name, "root");
  EXPECT_EQ(a->Check(Peer{.cert_spiffe_id = "spiffe://sk.test/x", .cert_common_name = "root"},
                     Write({"team-z"}))
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
}

// Rewriting the token file adds and removes access once the reload interval passed.
TEST_F(AuthorizerTest, TokenFileReload) {
  const std::string tokens = dir_.Write("tokens.csv", "tok-root,root\n");
  auto a = Make(Authorizer::Options{.token_file = tokens});
  EXPECT_OK(a->Check(TokenPeer("tok-root"), Write({"team-a"})).status());
  dir_.Write("tokens.csv", "tok-new,root\n");
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(a->Check(TokenPeer("tok-root"), Write({"team-a"})).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_OK(a->Check(TokenPeer("tok-new"), Write({"team-a"})).status());
  // A broken rewrite keeps the previous tokens.
  dir_.Write("tokens.csv", ",nobody\n");
  clock_.Advance(absl::Seconds(2));
  EXPECT_OK(a->Check(TokenPeer("tok-new"), Write({"team-a"})).status());
}

// The policy file reloads the same way.
TEST_F(AuthorizerTest, PolicyReload) {
  auto a = Make();
  const Peer writer = CertPeer("spiffe://sk.test/team-a");
  EXPECT_EQ(a->Check(writer, Write({"team-b"})).status().code(),
            absl::StatusCode::kPermissionDenied);
  dir_.Write("policy.yaml", R"(
rules:
  - {role: writer, identities: ["spiffe://sk.test/team-a"], namespaces: ["team-b"]}
)");
  clock_.Advance(absl::Seconds(2));
  EXPECT_OK(a->Check(writer, Write({"team-b"})).status());
  EXPECT_EQ(a->Check(writer, Write({"team-a"})).status().code(),
            absl::StatusCode::kPermissionDenied);
}

// Parse errors name the rule and field; token file errors never show a token.
TEST_F(AuthorizerTest, ParseErrors) {
  EXPECT_THAT(Policy::Parse("rules:\n  - {role: owner, groups: [g]}").status().message(),
              HasSubstr("rules[0].role"));
  EXPECT_THAT(Policy::Parse("rules:\n  - {role: reader}").status().message(),
              HasSubstr("rules[0]: needs identities or groups"));
  EXPECT_THAT(Policy::Parse("rules:\n  - {role: reader, users: [a]}").status().message(),
              HasSubstr("rules[0].users: unknown field"));
  EXPECT_EQ(Policy::Parse("[").status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status dup = TokenFile::Parse("secret1,a\nsecret1,b\n").status();
  EXPECT_THAT(dup.message(), HasSubstr("line 2: duplicate token"));
  EXPECT_THAT(dup.message(), ::testing::Not(HasSubstr("secret1")));
  // Loading a broken file names the file and the line.
  const std::string broken = dir_.Write("broken.csv", "tok-a,alice\n,nobody\n");
  absl::Status load = TokenFile::Load(broken, absl::Seconds(1), &clock_).status();
  EXPECT_EQ(load.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(load.message(), HasSubstr(broken + ": token file line 2"));
  EXPECT_THAT(load.message(), ::testing::Not(HasSubstr("tok-a")));
  auto groups = TokenFile::Parse("# comment\n\nt,id,\"g1, g2\"\n");
  ASSERT_OK(groups.status());
  ASSERT_EQ(groups->size(), 1u);
  EXPECT_THAT((*groups)[0].identity.groups, ::testing::ElementsAre("g1", "g2"));
}

// The write bucket refills at its rate; other identities have their own.
TEST_F(AuthorizerTest, WriteRateLimit) {
  auto a = Make(Authorizer::Options{.write_rate = 2, .write_burst = 2});
  const Peer root = TokenPeer("tok-root");
  EXPECT_OK(a->Check(root, Write({"team-a"})).status());
  EXPECT_OK(a->Check(root, Write({"team-a"})).status());
  absl::Status over = a->Check(root, Write({"team-a"})).status();
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.message(), HasSubstr("identity root"));
  EXPECT_OK(a->Check(CertPeer("spiffe://sk.test/team-a"), Write({"team-a"})).status());
  // Reads are not limited.
  EXPECT_OK(a->Check(root, Request{.rpc = "Get", .namespaces = {"team-a"}}).status());
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_OK(a->Check(root, Write({"team-a"})).status());
}

// Streams per identity are capped; a slot gives its place back.
TEST_F(AuthorizerTest, StreamLimit) {
  auto a = Make(Authorizer::Options{.max_streams_per_identity = 1});
  auto caller = a->Check(TokenPeer("tok-root"), Request{.rpc = "Watch", .all_namespaces = true});
  ASSERT_OK(caller.status());
  const Request watch{.rpc = "Watch", .all_namespaces = true};
  auto first = a->AcquireStream(*caller, watch);
  ASSERT_OK(first.status());
  EXPECT_EQ(a->AcquireStream(*caller, watch).status().code(), absl::StatusCode::kResourceExhausted);
  first->reset();
  EXPECT_OK(a->AcquireStream(*caller, watch).status());
}

}  // namespace
}  // namespace slicekeeper::auth
