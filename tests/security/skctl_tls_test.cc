// The real slicekeeper binary with --tls_* flags, a policy and an audit log, driven by the real
// skctl with SLICEKEEPER_CA/CERT/KEY (and --token): what a user of docs/security.md runs.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/run_command.h"
#include "tests/integration/server_process.h"
#include "tests/security/test_certs.h"
#include "tests/test_util.h"

namespace slicekeeper {
namespace {

using ::slicekeeper::integration::ServerProcess;
using ::slicekeeper::testing::CommandResult;
using ::slicekeeper::testing::RunCommand;
using ::slicekeeper::testing::TestCerts;
using ::testing::HasSubstr;

// skctl churn and get over mTLS as a writer; a reader's write and a client without a
// certificate are refused with kubectl-style messages; a bearer token works over TLS.
TEST(SkctlTlsTest, ChurnAndGetOverMutualTls) {
  TestCerts certs;
  const TestCerts::Pair ca = certs.Ca("ca");
  const TestCerts::Pair server = certs.Server(ca, "server");
  const TestCerts::Pair writer = certs.Leaf(ca, "writer", "writer", "URI:spiffe://sk.test/w");
  const TestCerts::Pair reader = certs.Leaf(ca, "reader", "reader", "");
  const std::string policy = certs.Path("policy.yaml");
  std::ofstream(policy) << "rules:\n"
                        << "  - {role: writer, identities: [\"spiffe://sk.test/w\"]}\n"
                        << "  - {role: reader, identities: [reader], groups: [bots]}\n";
  const std::string tokens = certs.Path("tokens.csv");
  std::ofstream(tokens) << "tok-bot,bot,bots\n";
  const std::string audit = certs.Path("audit.log");
  auto process = ServerProcess::Start(
      {.binary = SK_SLICEKEEPER_BINARY,
       .args = {"--store=memory", "--log_level=warn", "--tls_cert_file=" + server.cert,
                "--tls_key_file=" + server.key, "--tls_client_ca_file=" + ca.cert,
                "--client_auth=request", "--authz_policy_file=" + policy, "--token_file=" + tokens,
                "--audit_log=" + audit}});
  ASSERT_OK(process.status());
  const std::string address = (*process)->grpc_address();
  auto skctl = [&](std::vector<std::string> args, const TestCerts::Pair* pair) {
    args.insert(args.begin(), SK_SKCTL_BINARY);
    args.push_back("--server=" + address);
    std::vector<std::string> env = {"SLICEKEEPER_CA=" + ca.cert};
    if (pair != nullptr) {
      env.push_back("SLICEKEEPER_CERT=" + pair->cert);
      env.push_back("SLICEKEEPER_KEY=" + pair->key);
    }
    return RunCommand(args, "", env);
  };

  CommandResult churn =
      skctl({"churn", "--services=2", "--endpoints=10", "--changes=200", "--batch=20"}, &writer);
  ASSERT_EQ(churn.exit_code, 0) << churn.err;
  EXPECT_THAT(churn.out, HasSubstr("errors by code:   none"));
  CommandResult get = skctl({"get", "services", "-A"}, &reader);
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_THAT(get.out, HasSubstr("churn-0"));

  CommandResult denied = skctl({"delete", "service", "churn-0"}, &reader);
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.err, HasSubstr("Forbidden"));
  CommandResult anonymous = skctl({"get", "services", "-A"}, nullptr);
  EXPECT_EQ(anonymous.exit_code, 1);
  EXPECT_THAT(anonymous.err, HasSubstr("credentials required"));
  CommandResult token = skctl({"get", "services", "-A", "--token=tok-bot"}, nullptr);
  EXPECT_EQ(token.exit_code, 0) << token.err;
  EXPECT_THAT(token.out, HasSubstr("churn-1"));
  EXPECT_THAT(TestCerts::Read(audit), HasSubstr("\"identity\":\"spiffe://sk.test/w\""));
}

}  // namespace
}  // namespace slicekeeper
