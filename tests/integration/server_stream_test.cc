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

// The server parses each batch of a stream on one arena, reset between batches, and reads the
// changes in place: a field set in one batch must not survive into the next.
// Batch 1's endpoint has every optional field and two ports; batch 2's, on the same stream,
// has none of them and one port; batch 3 is rejected after its endpoint was half read, and
// batch 4 (same shape as 2) must not inherit from it either.
TEST_F(ServerStreamTest, FieldsOfOneBatchNeverLeakIntoTheNext) {
  v1::EndpointChange full = Upsert("shop", "web", "10.1.0.1");
  v1::Endpoint* e = full.mutable_endpoint();
  e->set_hostname("full");
  e->set_node_name("node-a");
  e->set_zone("zone-a");
  e->mutable_conditions()->set_serving(true);
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_name("full-pod");
  e->mutable_hints()->add_for_zones()->set_name("zone-a");
  *full.add_ports() = Port("metrics", 9090);
  v1::EndpointChange bad = Upsert("shop", "web", "10.1.0.3");
  bad.mutable_endpoint()->set_node_name("node-c");
  bad.mutable_endpoint()->set_hostname("Not_A_Label");
  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = registry()->StreamChanges(&context);
  ASSERT_TRUE(stream->Write(Batch({full}, 1)));
  ASSERT_TRUE(stream->Write(Batch({Upsert("shop", "web", "10.1.0.2")}, 2)));
  ASSERT_TRUE(stream->Write(Batch({bad}, 3)));
  ASSERT_TRUE(stream->Write(Batch({Upsert("shop", "web", "10.1.0.4")}, 4)));
  ASSERT_TRUE(stream->WritesDone());
  std::vector<v1::ChangeAck> acks;
  for (v1::ChangeAck ack; stream->Read(&ack);) acks.push_back(ack);
  grpc::Status status = stream->Finish();
  ASSERT_TRUE(status.ok()) << Describe(status);
  ASSERT_THAT(acks, SizeIs(4));
  EXPECT_EQ(acks[0].code(), 0) << acks[0].message();
  EXPECT_EQ(acks[1].code(), 0) << acks[1].message();
  EXPECT_EQ(acks[2].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(acks[3].code(), 0) << acks[3].message();

  auto listed = List("shop", "web");
  ASSERT_TRUE(listed.status.ok()) << Describe(listed.status);
  int seen = 0;
  for (const v1::EndpointSlice& slice : listed.response.slices()) {
    for (const v1::Endpoint& ep : slice.endpoints()) {
      const std::string& address = ep.addresses(0);
      SCOPED_TRACE(address);
      ++seen;
      if (address == "10.1.0.1") {
        EXPECT_EQ(ep.hostname(), "full");
        EXPECT_EQ(ep.node_name(), "node-a");
        EXPECT_EQ(ep.target_ref().name(), "full-pod");
        EXPECT_EQ(slice.ports_size(), 2);
        continue;
      }
      EXPECT_FALSE(ep.has_hostname());
      EXPECT_FALSE(ep.has_node_name());
      EXPECT_FALSE(ep.has_zone());
      EXPECT_FALSE(ep.has_target_ref());
      EXPECT_FALSE(ep.has_hints());
      EXPECT_FALSE(ep.conditions().has_serving());
      ASSERT_EQ(slice.ports_size(), 1);
      EXPECT_EQ(slice.ports(0).name(), "http");
    }
  }
  EXPECT_EQ(seen, 3);
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
