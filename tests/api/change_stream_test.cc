// ChangeStream against a real gRPC server on localhost:0, with a scripted `apply` instead of a
// store, so the reactor's ordering, pipelining, backpressure and shutdown are tested alone.
#include "server/api/change_stream.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/test_util.h"

namespace slicekeeper::api {
namespace {

// Serves StreamChanges with ChangeStream; `apply` is the test's.
class FakeRegistry : public v1::EndpointRegistry::CallbackService {
 public:
  FakeRegistry(ChangeStream::ApplyFn apply, int max_pending_acks)
      : apply_(std::move(apply)), max_pending_acks_(max_pending_acks) {}
  ~FakeRegistry() override {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](absl::flat_hash_set<ChangeStream*>* s) { return s->empty(); }, &streams_));
  }

  grpc::ServerBidiReactor<v1::ChangeBatch, v1::ChangeAck>* StreamChanges(
      grpc::CallbackServerContext*) override {
    auto* stream = new ChangeStream(
        apply_,
        [this](ChangeStream* s, const grpc::Status& status, absl::Duration) {
          absl::MutexLock l(&mu_);
          streams_.erase(s);
          final_codes_.push_back(status.error_code());
        },
        ChangeStream::Options{.max_pending_acks = max_pending_acks_});
    absl::MutexLock l(&mu_);
    streams_.insert(stream);
    stream->Start();
    return stream;
  }

  void ShutdownStreams() {
    absl::MutexLock l(&mu_);
    for (ChangeStream* s : streams_) s->BeginShutdown();
  }

  // Blocks until `n` streams are done; returns their final codes.
  std::vector<grpc::StatusCode> AwaitDone(size_t n) {
    absl::MutexLock l(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return final_codes_.size() >= n; };
    mu_.Await(absl::Condition(&done));
    return final_codes_;
  }

 private:
  const ChangeStream::ApplyFn apply_;
  const int max_pending_acks_;
  absl::Mutex mu_;
  absl::flat_hash_set<ChangeStream*> streams_ ABSL_GUARDED_BY(mu_);
  std::vector<grpc::StatusCode> final_codes_ ABSL_GUARDED_BY(mu_);
};

class ChangeStreamTest : public ::testing::Test {
 protected:
  void StartServer(ChangeStream::ApplyFn apply, int max_pending_acks = 64) {
    service_ = std::make_unique<FakeRegistry>(std::move(apply), max_pending_acks);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    // Without BDP probing the client's receive window stays at HTTP/2's 64 KiB, so acks the
    // client does not read really stall the server's writes (the flow-control test needs that).
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                             grpc::InsecureChannelCredentials(), args);
    stub_ = v1::EndpointRegistry::NewStub(channel);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    service_.reset();
  }

  static v1::ChangeBatch Batch(uint64_t id, bool bad = false) {
    v1::ChangeBatch b;
    b.set_batch_id(id);
    b.add_changes()->set_namespace_(bad ? "bad" : "ns");
    return b;
  }

  std::unique_ptr<FakeRegistry> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::EndpointRegistry::Stub> stub_;
};

// An `apply` that acks before it returns, computing the ack with `f`.
ChangeStream::ApplyFn Inline(std::function<v1::ChangeAck(v1::ChangeBatch*)> f) {
  return [f = std::move(f)](v1::ChangeBatch* b, ChangeStream::AckFn ack) { ack(f(b)); };
}

// Echoes the batch id; revision = number of batches applied so far (so order is visible).
ChangeStream::ApplyFn Counting(std::atomic<int>* applied) {
  return Inline([applied](v1::ChangeBatch* b) {
    v1::ChangeAck ack;
    ack.set_batch_id(b->batch_id());
    if (b->changes(0).namespace_() == "bad") {
      ack.set_code(3);
      ack.set_message("changes[0].namespace: bad");
      return ack;
    }
    ack.set_revision(applied->fetch_add(1) + 1);
    return ack;
  });
}

// Acks held back by the test: `apply` records the batch and its AckFn; the test calls them.
struct DeferredAcks {
  absl::Mutex mu;
  std::vector<std::pair<uint64_t, ChangeStream::AckFn>> pending ABSL_GUARDED_BY(mu);

  ChangeStream::ApplyFn Apply() {
    return [this](v1::ChangeBatch* b, ChangeStream::AckFn ack) {
      absl::MutexLock l(&mu);
      pending.emplace_back(b->batch_id(), std::move(ack));
    };
  }
  // Waits until `n` batches were applied; returns and forgets their ack functions.
  std::vector<std::pair<uint64_t, ChangeStream::AckFn>> Take(size_t n) {
    absl::MutexLock l(&mu);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pending.size() >= n; };
    mu.Await(absl::Condition(&enough));
    return std::move(pending);
  }
  static void Ack(std::pair<uint64_t, ChangeStream::AckFn>& p) {
    v1::ChangeAck ack;
    ack.set_batch_id(p.first);
    ack.set_revision(static_cast<int64_t>(p.first) + 1000);
    p.second(std::move(ack));
  }
};

// Acks that arrive after apply returned, in any order and from other threads, are written in
// batch order; later batches are read and applied while earlier ones wait for their acks.
TEST_F(ChangeStreamTest, DeferredAcksAreWrittenInBatchOrder) {
  DeferredAcks deferred;
  StartServer(deferred.Apply());
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(stream->Write(Batch(i)));
  stream->WritesDone();
  // All ten are applied although none is acked yet: the stream pipelines.
  auto pending = deferred.Take(10);
  ASSERT_EQ(pending.size(), 10u);
  std::thread acker([&] {
    for (auto it = pending.rbegin(); it != pending.rend(); ++it) DeferredAcks::Ack(*it);
  });
  std::vector<uint64_t> ids;
  for (v1::ChangeAck ack; stream->Read(&ack);) {
    EXPECT_EQ(ack.revision(), static_cast<int64_t>(ack.batch_id()) + 1000);
    ids.push_back(ack.batch_id());
  }
  acker.join();
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(stream->Finish().ok());
}

// A cancelled stream waits for the acks still to come before it ends: their callbacks point at
// the reactor (ASan reports a use after free if it ended first).
TEST_F(ChangeStreamTest, CancelWaitsForPendingAcks) {
  DeferredAcks deferred;
  StartServer(deferred.Apply());
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(stream->Write(Batch(i)));
  auto pending = deferred.Take(3);
  ctx.TryCancel();
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (auto& p : pending) DeferredAcks::Ack(p);
  EXPECT_EQ(service_->AwaitDone(1)[0], grpc::StatusCode::CANCELLED);
}

// 100 batches in flight get 100 acks, in order, each applied in order; half-close ends with OK.
TEST_F(ChangeStreamTest, PipelinedBatchesAckedInOrder) {
  std::atomic<int> applied{0};
  StartServer(Counting(&applied));
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  std::thread writer([&] {
    for (uint64_t i = 0; i < 100; ++i) ASSERT_TRUE(stream->Write(Batch(i)));
    stream->WritesDone();
  });
  v1::ChangeAck ack;
  uint64_t n = 0;
  while (stream->Read(&ack)) {
    EXPECT_EQ(ack.batch_id(), n);
    EXPECT_EQ(ack.revision(), static_cast<int64_t>(n + 1));
    EXPECT_EQ(ack.code(), 0);
    ++n;
  }
  writer.join();
  EXPECT_EQ(n, 100u);
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(service_->AwaitDone(1)[0], grpc::StatusCode::OK);
}

// A bad batch is answered with its error code and the stream goes on with the next batch.
TEST_F(ChangeStreamTest, BadBatchGetsErrorAckAndStreamContinues) {
  std::atomic<int> applied{0};
  StartServer(Counting(&applied));
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  ASSERT_TRUE(stream->Write(Batch(1)));
  ASSERT_TRUE(stream->Write(Batch(2, /*bad=*/true)));
  ASSERT_TRUE(stream->Write(Batch(3)));
  stream->WritesDone();
  std::vector<v1::ChangeAck> acks;
  for (v1::ChangeAck ack; stream->Read(&ack);) acks.push_back(ack);
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_EQ(acks[0].code(), 0);
  EXPECT_EQ(acks[1].code(), 3);
  EXPECT_EQ(acks[1].revision(), 0);
  EXPECT_EQ(acks[1].message(), "changes[0].namespace: bad");
  EXPECT_EQ(acks[2].code(), 0);
  EXPECT_EQ(acks[2].revision(), 2);
  EXPECT_TRUE(stream->Finish().ok());
}

// A client that does not read its acks makes the server stop reading: at most
// max_pending_acks (+1 being written) batches are applied; then every ack arrives once it reads.
TEST_F(ChangeStreamTest, ReadingPausesWhenAckQueueIsFull) {
  std::atomic<int> applied{0};
  absl::Notification queue_full;
  const std::string big(256 << 10, 'x');  // larger than the HTTP/2 window: writes stall
  StartServer(Inline([&](v1::ChangeBatch* b) {
                v1::ChangeAck ack;
                ack.set_batch_id(b->batch_id());
                ack.set_message(big);
                if (applied.fetch_add(1) + 1 == 4) queue_full.Notify();
                return ack;
              }),
              /*max_pending_acks=*/4);
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  for (uint64_t i = 0; i < 30; ++i) ASSERT_TRUE(stream->Write(Batch(i)));
  queue_full.WaitForNotification();
  // Negative check: give the server time to (wrongly) read on; a bounded wait, not a sync.
  absl::Notification never;
  never.WaitForNotificationWithTimeout(absl::Milliseconds(300));
  EXPECT_LE(applied.load(), 5);
  stream->WritesDone();
  v1::ChangeAck ack;
  uint64_t n = 0;
  while (stream->Read(&ack)) EXPECT_EQ(ack.batch_id(), n++);
  EXPECT_EQ(n, 30u);
  EXPECT_EQ(applied.load(), 30);
  EXPECT_TRUE(stream->Finish().ok());
}

// Shutdown ends an open stream with UNAVAILABLE "server shutting down" after its acks.
TEST_F(ChangeStreamTest, ShutdownEndsStreamWithUnavailable) {
  std::atomic<int> applied{0};
  StartServer(Counting(&applied));
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  v1::ChangeAck ack;
  for (uint64_t i = 0; i < 10; ++i) {
    ASSERT_TRUE(stream->Write(Batch(i)));
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.batch_id(), i);
  }
  service_->ShutdownStreams();
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "server shutting down");
  EXPECT_EQ(service_->AwaitDone(1)[0], grpc::StatusCode::UNAVAILABLE);
}

// A batch being applied when shutdown starts is still acked before the stream ends.
TEST_F(ChangeStreamTest, ShutdownAcksTheBatchBeingApplied) {
  absl::Notification entered, release;
  StartServer(Inline([&](v1::ChangeBatch* b) {
    if (b->batch_id() == 5) {
      entered.Notify();
      release.WaitForNotification();
    }
    v1::ChangeAck ack;
    ack.set_batch_id(b->batch_id());
    ack.set_revision(static_cast<int64_t>(b->batch_id()) + 100);
    return ack;
  }));
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  for (uint64_t i = 0; i <= 5; ++i) ASSERT_TRUE(stream->Write(Batch(i)));
  entered.WaitForNotification();
  service_->ShutdownStreams();
  release.Notify();
  std::vector<uint64_t> ids;
  for (v1::ChangeAck ack; stream->Read(&ack);) {
    EXPECT_EQ(ack.revision(), static_cast<int64_t>(ack.batch_id()) + 100);
    ids.push_back(ack.batch_id());
  }
  EXPECT_EQ(ids, (std::vector<uint64_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A client cancel ends the reactor (OnDone runs, with CANCELLED).
TEST_F(ChangeStreamTest, ClientCancelEndsReactor) {
  std::atomic<int> applied{0};
  StartServer(Counting(&applied));
  grpc::ClientContext ctx;
  auto stream = stub_->StreamChanges(&ctx);
  v1::ChangeAck ack;
  ASSERT_TRUE(stream->Write(Batch(0)));
  ASSERT_TRUE(stream->Read(&ack));
  ctx.TryCancel();
  EXPECT_EQ(service_->AwaitDone(1)[0], grpc::StatusCode::CANCELLED);
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

}  // namespace
}  // namespace slicekeeper::api
