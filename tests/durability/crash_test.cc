// kill -9 at random points while a client streams batches: after each restart on the same data
// directory every acknowledged batch is fully present, no batch is half-applied, revisions
// continue above every acknowledged one, and a watch resumed from before the crash (its history
// read back from disk) gets exactly the endpoints added since, each dated after its resume point.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"

namespace slicekeeper {
namespace {

constexpr int kPerService = 4;  // endpoints per batch in each of the two services

// The server as a child process. Its port is read from its "listening" log line on a pipe
// (a blocking read, no polling); the pipe is then drained so the child never blocks on it.
class Child {
 public:
  explicit Child(const std::string& data_dir) {
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      std::vector<std::string> args = {
          SK_SLICEKEEPER_BINARY, "--listen=127.0.0.1:0", "--http_listen=",
          "--store=rocksdb",     "--sync=always",        absl::StrCat("--data_dir=", data_dir)};
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    FILE* err = fdopen(fds[0], "r");
    char line[4096];
    while (port_ == 0 && fgets(line, sizeof(line), err) != nullptr) {
      log_ += line;
      std::string s(line);
      size_t at = s.find("grpc=127.0.0.1:");
      if (at == std::string::npos) continue;
      size_t start = at + 15, end = s.find(' ', start);
      if (!absl::SimpleAtoi(s.substr(start, end - start), &port_)) port_ = 0;
    }
    drain_ = std::thread([err] {
      char buf[4096];
      while (fgets(buf, sizeof(buf), err) != nullptr) {
      }
      fclose(err);
    });
  }
  ~Child() {
    Kill();
    if (drain_.joinable()) drain_.join();
  }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  int port() const { return port_; }
  const std::string& log() const { return log_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_;
  std::thread drain_;
};

std::string Address(int64_t batch, int j) {
  return absl::StrCat("10.", (batch >> 8) & 255, ".", batch & 255, ".", j);
}

v1::ChangeBatch MakeBatch(int64_t batch) {
  v1::ChangeBatch b;
  b.set_batch_id(static_cast<uint64_t>(batch));
  for (int j = 1; j <= 2 * kPerService; ++j) {
    v1::EndpointChange* c = b.add_changes();
    c->set_op(v1::EndpointChange::UPSERT);
    c->set_namespace_("crash");
    c->set_service(j <= kPerService ? "a" : "b");
    c->mutable_endpoint()->add_addresses(Address(batch, j));
    c->mutable_endpoint()->mutable_conditions()->set_ready(true);
    v1::EndpointPort* p = c->add_ports();
    p->set_name("http");
    p->set_protocol("TCP");
    p->set_port(80);
  }
  return b;
}

// Acks seen on one stream.
struct Acks {
  absl::Mutex mu;
  absl::flat_hash_map<int64_t, int64_t> revision_by_batch ABSL_GUARDED_BY(mu);
  int64_t count ABSL_GUARDED_BY(mu) = 0;
  bool failed ABSL_GUARDED_BY(mu) = false;
};

// Every address the server holds for crash/a and crash/b, and the revision read.
std::pair<absl::flat_hash_set<std::string>, int64_t> ReadAll(v1::EndpointDiscovery::Stub& stub) {
  absl::flat_hash_set<std::string> out;
  int64_t revision = 0;
  for (const char* service : {"a", "b"}) {
    grpc::ClientContext ctx;
    v1::QueryEndpointsRequest req;
    req.set_namespace_("crash");
    req.set_service(service);
    req.set_condition(v1::ANY);
    v1::QueryEndpointsResponse resp;
    grpc::Status s = stub.QueryEndpoints(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::NOT_FOUND) continue;
    EXPECT_TRUE(s.ok()) << s.error_message();
    for (const v1::ServiceEndpoint& e : resp.endpoints()) out.insert(e.address());
    revision = std::max(revision, resp.revision());
  }
  return {out, revision};
}

// What a watch of namespace "crash" (ENDPOINTS view) resumed from `revision` sent up to SYNCED.
struct Resumed {
  bool ok = false;  // the stream reached SYNCED
  bool reset = false;
  absl::flat_hash_set<std::string> added;
  // Revisions of the endpoint events: all in (revision, synced] and never decreasing.
  bool dated = true;
  int64_t synced = 0;
};

Resumed Resume(v1::EndpointDiscovery::Stub& stub, int64_t revision) {
  Resumed out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::WatchRequest req;
  req.set_namespace_("crash");
  req.set_view(v1::ENDPOINTS);
  req.set_resume_revision(revision);
  auto reader = stub.Watch(&ctx, req);
  v1::WatchResponse resp;
  int64_t last = revision;
  while (!out.ok && reader->Read(&resp)) {
    for (const v1::WatchEvent& e : resp.events()) {
      if (e.type() == v1::WatchEvent::RESET) out.reset = true;
      if (e.type() == v1::WatchEvent::SYNCED) {
        out.ok = true;
        out.synced = e.revision();
        break;
      }
      if (e.type() == v1::WatchEvent::ADDED) out.added.insert(e.endpoint().address());
      if (e.revision() < last || e.revision() <= revision) out.dated = false;
      last = e.revision();
    }
  }
  ctx.TryCancel();
  reader->Finish().IgnoreError();
  return out;
}

// Six rounds: stream until a random number of acks, kill -9, restart, verify.
TEST(CrashTest, AckedBatchesSurviveKillNine) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/sk_crash_", getpid());
  std::filesystem::remove_all(dir);
  absl::BitGen gen;
  absl::flat_hash_map<int64_t, int64_t> acked;  // batch -> revision, over all rounds
  int64_t max_acked_revision = 0;
  int64_t next_batch = 1;
  // What the previous round read before it streamed: durable, from before its kill -9.
  int64_t previous_revision = 0;
  absl::flat_hash_set<std::string> previous;
  for (int round = 0; round < 6; ++round) {
    Child server(dir);
    ASSERT_GT(server.port(), 0) << server.log();
    auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server.port()),
                                       grpc::InsecureChannelCredentials());
    auto discovery = v1::EndpointDiscovery::NewStub(channel);
    // Verify what the previous rounds left.
    auto [present, revision] = ReadAll(*discovery);
    EXPECT_GE(revision, max_acked_revision) << "round " << round;
    for (int64_t b = 1; b < next_batch; ++b) {
      int n = 0;
      for (int j = 1; j <= 2 * kPerService; ++j) n += present.contains(Address(b, j));
      EXPECT_TRUE(n == 0 || n == 2 * kPerService) << "batch " << b << " half-applied: " << n;
      if (acked.contains(b)) {
        EXPECT_EQ(n, 2 * kPerService) << "acked batch " << b << " lost";
      }
    }
    if (round > 0 && previous_revision > 0) {
      // The history survived the crash with the live state: the resumed deltas are exactly the
      // endpoints the previous round added (acknowledged or not) that are there now.
      Resumed resumed = Resume(*discovery, previous_revision);
      ASSERT_TRUE(resumed.ok) << "round " << round;
      EXPECT_FALSE(resumed.reset) << "round " << round;
      EXPECT_TRUE(resumed.dated) << "round " << round;
      EXPECT_EQ(resumed.synced, revision) << "round " << round;
      absl::flat_hash_set<std::string> added;
      for (const std::string& a : present) {
        if (!previous.contains(a)) added.insert(a);
      }
      EXPECT_EQ(resumed.added, added) << "round " << round;
    }
    previous_revision = revision;
    previous = present;
    if (round == 5) break;

    auto registry = v1::EndpointRegistry::NewStub(channel);
    grpc::ClientContext ctx;
    auto stream = registry->StreamChanges(&ctx);
    Acks acks;
    const int64_t first_batch = next_batch;
    std::thread reader([&] {
      v1::ChangeAck ack;
      while (stream->Read(&ack)) {
        absl::MutexLock l(&acks.mu);
        if (ack.code() != 0) acks.failed = true;
        acks.revision_by_batch[static_cast<int64_t>(ack.batch_id())] = ack.revision();
        ++acks.count;
      }
    });
    std::atomic<int64_t> sent{first_batch};
    std::thread writer([&] {
      for (int64_t b = first_batch; b < first_batch + 20'000; ++b) {
        sent.store(b + 1);
        if (!stream->Write(MakeBatch(b))) break;
      }
    });
    const int64_t target = absl::Uniform<int64_t>(gen, 10, 200);
    {
      absl::MutexLock l(&acks.mu);
      std::pair<Acks*, int64_t> want{&acks, target};
      // Opt-out: Await evaluates the condition with acks.mu held, which the analysis cannot see
      // through a function pointer.
      acks.mu.Await(absl::Condition(
          +[](std::pair<Acks*, int64_t>* a)
               ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->first->count >= a->second; },
          &want));
    }
    server.Kill();  // kill -9 with batches in flight
    ctx.TryCancel();
    writer.join();
    reader.join();
    stream->Finish().IgnoreError();
    next_batch = sent.load();
    absl::MutexLock l(&acks.mu);
    EXPECT_FALSE(acks.failed);
    int64_t round_max = 0;
    for (const auto& [b, rev] : acks.revision_by_batch) {
      EXPECT_GT(rev, max_acked_revision) << "revision went back in round " << round;
      round_max = std::max(round_max, rev);
      acked[b] = rev;
    }
    max_acked_revision = std::max(max_acked_revision, round_max);
  }
  EXPECT_GE(acked.size(), 5u * 10u);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace slicekeeper
