// The typed client against a real slicekeeper process: deadlines, read failover across
// addresses, and writes that are never retried.
#include "client/client.h"

#include <memory>
#include <string>

#include "client/subscriber.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace slicekeeper::client {
namespace {

using ::slicekeeper::integration::ServerProcess;
using ::slicekeeper::testing::StatusIs;
using ::testing::_;

// Nothing listens on port 1 of loopback: connections are refused at once.
constexpr char kDeadAddress[] = "127.0.0.1:1";

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start(
        {.binary = SK_SLICEKEEPER_BINARY, .args = {"--store=memory", "--log_level=warn"}});
    ASSERT_OK(server);
    server_ = std::move(*server);
  }

  std::unique_ptr<Client> Make(std::vector<std::string> addresses, int attempts = 3) {
    ClientOptions options;
    options.addresses = std::move(addresses);
    options.max_read_attempts = attempts;
    options.backoff.initial = absl::Milliseconds(10);
    options.backoff.max = absl::Milliseconds(50);
    auto c = Client::Create(options);
    EXPECT_OK(c);
    return c.ok() ? std::move(*c) : nullptr;
  }

  std::unique_ptr<ServerProcess> server_;
};

// Options are checked: no address, or fewer than one attempt, is INVALID_ARGUMENT.
TEST(ClientOptionsTest, RejectsBadOptions) {
  ClientOptions none;
  none.addresses.clear();
  EXPECT_THAT(Client::Create(none), StatusIs(absl::StatusCode::kInvalidArgument, _));
  ClientOptions zero;
  zero.max_read_attempts = 0;
  EXPECT_THAT(Client::Create(zero), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

// A read whose first address is dead is retried on the next one and succeeds; the client then
// stays on the live address.
TEST_F(ClientTest, ReadsFailOverToTheNextAddress) {
  std::unique_ptr<Client> c = Make({kDeadAddress, server_->grpc_address()});
  ASSERT_NE(c, nullptr);
  EXPECT_OK(c->ListServices(""));
  EXPECT_EQ(c->address(), server_->grpc_address());
  EXPECT_OK(c->ListServices(""));
}

// Reads give up with UNAVAILABLE after max_read_attempts when no address answers.
TEST_F(ClientTest, ReadsGiveUpAfterMaxAttempts) {
  std::unique_ptr<Client> c = Make({kDeadAddress}, /*attempts=*/2);
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(c->GetEndpointSlice("default", "x"), StatusIs(absl::StatusCode::kUnavailable, _));
}

// A write is sent once: against a dead first address it fails UNAVAILABLE (nothing retried),
// and the client moves on so the caller's own retry reaches the live server.
TEST_F(ClientTest, WritesAreNotRetried) {
  std::unique_ptr<Client> c = Make({kDeadAddress, server_->grpc_address()});
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(c->DeleteService("default", "web"), StatusIs(absl::StatusCode::kUnavailable, _));
  EXPECT_THAT(c->DeleteService("default", "web"), StatusIs(absl::StatusCode::kNotFound, _));
}

// Server errors come back with their canonical code and the server's message.
TEST_F(ClientTest, ServerErrorsKeepCodeAndMessage) {
  std::unique_ptr<Client> c = Make({server_->grpc_address()});
  ASSERT_NE(c, nullptr);
  v1::ChangeBatch batch;
  v1::EndpointChange* change = batch.add_changes();
  change->set_op(v1::EndpointChange::UPSERT);
  change->set_namespace_("default");
  change->set_service("web");
  change->mutable_endpoint()->add_addresses("not-an-ip");
  EXPECT_THAT(c->ApplyChanges(batch),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::HasSubstr("changes[0]")));
  EXPECT_THAT(c->GetEndpointSlice("default", "nope"), StatusIs(absl::StatusCode::kNotFound, _));
}

// A per-call deadline that has passed when the call starts ends it with DEADLINE_EXCEEDED. Not
// a zero deadline: gRPC rounds a deadline up to the next millisecond when it converts it to its
// own clock, and a loopback call can connect and finish within that millisecond (the test failed
// that way now and then).
TEST_F(ClientTest, PerCallDeadline) {
  std::unique_ptr<Client> c = Make({server_->grpc_address()});
  ASSERT_NE(c, nullptr);
  EXPECT_THAT(c->ListServices("", {.deadline = -absl::Seconds(1)}),
              StatusIs(absl::StatusCode::kDeadlineExceeded, _));
}

// The Subscriber fails over too: with a dead first address it still syncs from the live one.
TEST_F(ClientTest, SubscriberFailsOver) {
  std::unique_ptr<Client> c = Make({kDeadAddress, server_->grpc_address()});
  ASSERT_NE(c, nullptr);
  SubscriberOptions options;
  options.backoff.initial = absl::Milliseconds(10);
  options.backoff.max = absl::Milliseconds(50);
  Subscriber sub(c.get(), options, nullptr);
  sub.Start();
  EXPECT_TRUE(sub.AwaitSynced(absl::Seconds(20)));
  EXPECT_GE(sub.stats().connects, 2);
  sub.Stop();
}

}  // namespace
}  // namespace slicekeeper::client
