// The gRPC server over a group-commit store (a log the test syncs, holds or fails): StreamChanges
// acks come once a sync covered the batch, a failed sync is answered UNAVAILABLE on the stream and
// on unary calls, and the health service turns NOT_SERVING.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/server.h"
#include "server/store/store.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/fakes/gated_storage.h"
#include "tests/integration/health_check.h"
#include "tests/test_util.h"

namespace slicekeeper::api {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(30);

v1::ChangeBatch Batch(uint64_t id, int ip) {
  v1::ChangeBatch b;
  b.set_batch_id(id);
  v1::EndpointChange* c = b.add_changes();
  c->set_op(v1::EndpointChange::UPSERT);
  c->set_namespace_("default");
  c->set_service("web");
  c->set_address_type("IPv4");
  c->mutable_endpoint()->add_addresses(absl::StrCat("10.0.0.", ip));
  return b;
}

class DurableServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::Store::Options so;
    so.storage = &storage_;
    absl::StatusOr<std::unique_ptr<store::Store>> store = store::Store::Open(so);
    ASSERT_OK(store);
    store_ = std::move(*store);
    Server::Options o;
    o.listen_address = "127.0.0.1:0";
    o.http_listen_address = "";
    o.health_interval = absl::Milliseconds(20);
    server_ = std::make_unique<Server>(store_.get(), o);
    ASSERT_OK(server_->Start());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::EndpointRegistry::NewStub(channel_);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
    server_.reset();
    store_.reset();
  }

  // The health status of "" once it equals `want`, or the last one seen at the deadline.
  int AwaitHealth(int want) {
    const absl::Time deadline = absl::Now() + kTimeout;
    int status = -1;
    while (absl::Now() < deadline) {
      if (integration::HealthCheck(channel_, "", &status).ok() && status == want) break;
      absl::SleepFor(absl::Milliseconds(10));  // polling a status that changes on its own
    }
    return status;
  }

  testing::GatedStorage storage_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EndpointRegistry::Stub> stub_;
};

TEST_F(DurableServerTest, StreamAcksComeAfterTheSyncAndAFailedSyncStopsWrites) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  auto stream = stub_->StreamChanges(&ctx);
  v1::ChangeAck ack;
  ASSERT_TRUE(stream->Write(Batch(1, 1)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.code(), 0) << ack.message();
  EXPECT_EQ(ack.revision(), 1);
  EXPECT_EQ(storage_.durable()->Load()->revision, 1);  // durable before it was acked
  EXPECT_EQ(AwaitHealth(1), 1);                         // SERVING

  // Two batches pile up behind a held sync that then fails: neither is acknowledged as applied.
  storage_.Hold();
  storage_.FailNextSync();
  ASSERT_TRUE(stream->Write(Batch(2, 2)));
  ASSERT_TRUE(stream->Write(Batch(3, 3)));
  storage_.AwaitSyncsStarted(2);
  storage_.Release();
  for (uint64_t id : {2, 3}) {
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_id(), id);
    EXPECT_EQ(ack.code(), static_cast<int>(grpc::StatusCode::UNAVAILABLE));
    EXPECT_THAT(ack.message(), HasSubstr("injected sync failure"));
    EXPECT_EQ(ack.revision(), 0);
  }
  stream->WritesDone();
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_TRUE(stream->Finish().ok());

  // Later writes are refused, the health service says NOT_SERVING, nothing unsynced survives.
  grpc::ClientContext unary;
  unary.set_deadline(absl::ToChronoTime(absl::Now() + kTimeout));
  v1::ChangeAck response;
  grpc::Status status = stub_->ApplyChanges(&unary, Batch(4, 4), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("restarted"));
  EXPECT_EQ(AwaitHealth(2), 2);  // NOT_SERVING
  EXPECT_FALSE(server_->ready());
  EXPECT_EQ(storage_.durable()->Load()->revision, 1);
}

}  // namespace
}  // namespace slicekeeper::api
