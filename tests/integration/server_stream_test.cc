// Integration tests against the real slicekeeper binary: StreamChanges pipelining, and a graceful
// SIGTERM while a stream is active.
#include <signal.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/server_fixture.h"

namespace slicekeeper::integration {
namespace {

using ::testing::AnyOf;
using ::testing::SizeIs;

// Batch i (1-based) upserts one endpoint of its own, so every batch takes a revision.
v1::ChangeBatch NumberedBatch(int i) {
  return Batch({Upsert("shop", "web", absl::StrCat("10.1.", i / 250, ".", i % 250 + 1))},
               static_cast<uint64_t>(i));
}

using ServerStreamTest = ServerTest;

// 100 batches written before any ack is read get 100 acks, in order, batch ids echoed, code 0,
// revisions strictly increasing; the stream then ends OK and every endpoint is readable.
TEST_F(ServerStreamTest, HundredPipelinedBatchesAckedInOrder) {
  constexpr int kBatches = 100;
  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = registry()->StreamChanges(&context);
  for (int i = 1; i <= kBatches; ++i) ASSERT_TRUE(stream->Write(NumberedBatch(i))) << i;
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::ChangeAck> acks;
  for (v1::ChangeAck ack; stream->Read(&ack);) acks.push_back(ack);
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << Describe(status);

  ASSERT_THAT(acks, SizeIs(kBatches));
  int64_t last_revision = 0;
  for (int i = 0; i < kBatches; ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(acks[i].batch_id(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(acks[i].code(), 0) << acks[i].message();
    EXPECT_EQ(acks[i].stats().endpoints_added(), 1);
    EXPECT_GT(acks[i].revision(), last_revision);
    last_revision = acks[i].revision();
  }
  auto query = Query("shop", "web");
  ASSERT_TRUE(query.status.ok()) << Describe(query.status);
  EXPECT_THAT(query.response.endpoints(), SizeIs(kBatches));
  EXPECT_EQ(query.response.revision(), last_revision);
}

// SIGTERM with a stream mid-flight: acked batches form a gap-free prefix of what was sent, all
// OK; the stream ends OK or UNAVAILABLE (a clean finish, not a reset); the process exits 0.
TEST_F(ServerStreamTest, SigtermWithActiveStreamExitsCleanly) {
  constexpr int kAckedBeforeSignal = 20;
  constexpr int kInFlightAtSignal = 30;
  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = registry()->StreamChanges(&context);
  std::vector<v1::ChangeAck> acks;
  // Lock-step first, so the stream is known to be active when the signal arrives.
  for (int i = 1; i <= kAckedBeforeSignal; ++i) {
    ASSERT_TRUE(stream->Write(NumberedBatch(i)));
    v1::ChangeAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    acks.push_back(ack);
  }
  int sent = kAckedBeforeSignal;
  for (int i = 0; i < kInFlightAtSignal && stream->Write(NumberedBatch(sent + 1)); ++i) ++sent;
  ASSERT_TRUE(server_->SendSignal(SIGTERM).ok());
  for (v1::ChangeAck ack; stream->Read(&ack);) acks.push_back(ack);
  grpc::Status status = stream->Finish();
  EXPECT_THAT(status.error_code(), AnyOf(grpc::StatusCode::OK, grpc::StatusCode::UNAVAILABLE))
      << Describe(status);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    EXPECT_EQ(status.error_message(), "server shutting down");
  }

  ASSERT_GE(static_cast<int>(acks.size()), kAckedBeforeSignal);
  ASSERT_LE(static_cast<int>(acks.size()), sent);
  int64_t last_revision = 0;
  for (size_t i = 0; i < acks.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(acks[i].batch_id(), i + 1);  // No ack missing in the middle.
    EXPECT_EQ(acks[i].code(), 0) << acks[i].message();
    EXPECT_GT(acks[i].revision(), last_revision);
    last_revision = acks[i].revision();
  }
  absl::StatusOr<int> wait_status = server_->Wait(absl::Seconds(20));
  ASSERT_TRUE(wait_status.ok()) << wait_status.status();
  EXPECT_TRUE(WIFEXITED(*wait_status) && WEXITSTATUS(*wait_status) == 0)
      << ServerProcess::DescribeWaitStatus(*wait_status);
  RecordProperty("batches_sent", sent);
  RecordProperty("acks", static_cast<int>(acks.size()));
  RecordProperty("stream_status", static_cast<int>(status.error_code()));
}

class IdleShutdownTest : public ServerTest {
 protected:
  // gRPC 1.51 keeps an idle client connection (one that made a call) open until the shutdown
  // deadline: the server does not read the client's ACK of its graceful-GOAWAY PING before then
  // ("Graceful GOAWAY abandoned"). So an idle client makes SIGTERM take the whole grace period;
  // a short grace keeps this test fast.
  std::vector<std::string> ExtraArgs() const override { return {"--shutdown_grace=1s"}; }
};

// SIGTERM with an idle client connection exits 0, and SendSignal afterwards reports the exit.
TEST_F(IdleShutdownTest, SigtermWithIdleClientExitsZero) {
  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.1.0.1")}).status.ok());
  ASSERT_TRUE(server_->SendSignal(SIGTERM).ok());
  absl::StatusOr<int> wait_status = server_->Wait(absl::Seconds(20));
  ASSERT_TRUE(wait_status.ok()) << wait_status.status();
  EXPECT_TRUE(WIFEXITED(*wait_status) && WEXITSTATUS(*wait_status) == 0)
      << ServerProcess::DescribeWaitStatus(*wait_status);
  EXPECT_EQ(server_->SendSignal(SIGTERM).code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace slicekeeper::integration
