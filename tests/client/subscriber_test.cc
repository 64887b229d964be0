// The Subscriber against a real slicekeeper process: snapshot and deltas, callbacks with
// (previous, current), and convergence after the server is killed and restarted mid-watch.
#include "client/subscriber.h"

#include <signal.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace slicekeeper::client {
namespace {

using ::slicekeeper::integration::ServerProcess;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Duration kWait = absl::Seconds(20);

v1::EndpointChange Change(const std::string& service, const std::string& address, bool ready,
                          bool remove = false) {
  v1::EndpointChange c;
  c.set_op(remove ? v1::EndpointChange::REMOVE : v1::EndpointChange::UPSERT);
  c.set_namespace_("default");
  c.set_service(service);
  c.mutable_endpoint()->add_addresses(address);
  c.mutable_endpoint()->mutable_conditions()->set_ready(ready);
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_port(80);
  return c;
}

std::vector<std::string> Addresses(const EndpointList& list) {
  std::vector<std::string> out;
  for (const auto& e : list) out.push_back(e.address());
  return out;
}

// Records every callback; tests wait on it instead of sleeping.
class Recorder {
 public:
  Subscriber::ChangeCallback Callback() {
    return [this](const std::string& service, const EndpointList& previous,
                  const EndpointList& current) {
      absl::MutexLock l(&mu_);
      calls_.push_back({service, Addresses(previous), Addresses(current)});
      last_[service] = Addresses(current);
    };
  }
  // Waits until the last callback for `service` reported `addresses`.
  bool AwaitCurrent(const std::string& service, const std::vector<std::string>& addresses) {
    absl::MutexLock l(&mu_);
    auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = last_.find(service);
      return it != last_.end() && it->second == addresses;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&done), kWait);
  }
  struct Call {
    std::string service;
    std::vector<std::string> previous, current;
  };
  std::vector<Call> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<std::string>> last_ ABSL_GUARDED_BY(mu_);
};

class SubscriberTest : public ::testing::Test {
 protected:
  // Starts a server; `port` 0 picks one, else reuses the given port (a restart).
  void StartServer(std::vector<std::string> args, int port = 0) {
    if (port != 0) args.push_back(absl::StrCat("--listen=127.0.0.1:", port));
    args.push_back("--log_level=warn");
    auto server = ServerProcess::Start({.binary = SK_SLICEKEEPER_BINARY, .args = args});
    ASSERT_OK(server);
    server_ = std::move(*server);
  }

  void MakeClient() {
    ClientOptions options;
    options.addresses = {server_->grpc_address()};
    options.backoff.initial = absl::Milliseconds(20);
    options.backoff.max = absl::Milliseconds(200);
    auto c = Client::Create(options);
    ASSERT_OK(c);
    client_ = std::move(*c);
  }

  void Kill() {
    ASSERT_OK(server_->SendSignal(SIGKILL));
    ASSERT_OK(server_->Wait(kWait));
  }

  int64_t Apply(std::vector<v1::EndpointChange> changes) {
    v1::ChangeBatch batch;
    for (auto& c : changes) *batch.add_changes() = std::move(c);
    auto ack = client_->ApplyChanges(batch);
    EXPECT_OK(ack);
    if (!ack.ok()) return 0;
    EXPECT_EQ(ack->code(), 0) << ack->message();
    return ack->revision();
  }

  SubscriberOptions Options() {
    SubscriberOptions o;
    o.namespace_ = "default";
    o.backoff.initial = absl::Milliseconds(20);
    o.backoff.max = absl::Milliseconds(200);
    return o;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

// The snapshot, then deltas: the cache and the callbacks follow every change.
TEST_F(SubscriberTest, SnapshotThenDeltas) {
  StartServer({"--store=memory"});
  MakeClient();
  Apply({Change("web", "10.0.0.1", true), Change("web", "10.0.0.2", false)});
  Recorder recorder;
  Subscriber sub(client_.get(), Options(), recorder.Callback());
  sub.Start();
  ASSERT_TRUE(recorder.AwaitCurrent("default/web", {"10.0.0.1", "10.0.0.2"}));
  EXPECT_THAT(Addresses(sub.Endpoints("web")), ElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_THAT(Addresses(sub.Routable("web")), ElementsAre("10.0.0.1"));

  const int64_t rev =
      Apply({Change("web", "10.0.0.1", false, /*remove=*/true), Change("api", "10.1.0.1", true)});
  ASSERT_TRUE(recorder.AwaitCurrent("default/web", {"10.0.0.2"}));
  ASSERT_TRUE(recorder.AwaitCurrent("default/api", {"10.1.0.1"}));
  ASSERT_TRUE(sub.AwaitRevision(rev - 1, kWait));
  // Nothing ready: Routable has no terminating endpoint to fall back on.
  EXPECT_THAT(Addresses(sub.Routable("web")), IsEmpty());
  EXPECT_THAT(sub.Services(), ElementsAre("default/api", "default/web"));
  // Each change of the service produced exactly one callback with the right (previous, current).
  std::vector<Recorder::Call> calls = recorder.calls();
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls[0].previous, std::vector<std::string>());
  const auto& web = calls.back().service == "default/web" ? calls.back() : calls[calls.size() - 2];
  EXPECT_EQ(web.previous, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  sub.Stop();
}

// A memory server killed and restarted mid-watch comes back empty: the Subscriber is RESET,
// drops its state (the callback reports the services emptied), and then follows the new server.
TEST_F(SubscriberTest, RestartedMemoryServerResetsCache) {
  StartServer({"--store=memory"});
  MakeClient();
  Apply({Change("web", "10.0.0.1", true), Change("web", "10.0.0.2", true),
         Change("old", "10.2.0.1", true)});
  Recorder recorder;
  Subscriber sub(client_.get(), Options(), recorder.Callback());
  sub.Start();
  ASSERT_TRUE(recorder.AwaitCurrent("default/web", {"10.0.0.1", "10.0.0.2"}));
  ASSERT_TRUE(sub.AwaitSnapshots(1, kWait));
  const int port = server_->grpc_port();

  Kill();
  StartServer({"--store=memory"}, port);
  // The new store is empty and behind the subscriber's revision: RESET and an empty snapshot.
  ASSERT_TRUE(sub.AwaitSnapshots(2, kWait));
  EXPECT_GE(sub.stats().resets, 1);
  EXPECT_TRUE(recorder.AwaitCurrent("default/web", {}));
  EXPECT_TRUE(recorder.AwaitCurrent("default/old", {}));
  EXPECT_THAT(sub.Services(), IsEmpty());

  // Then it follows the new server's changes.
  const int64_t rev = Apply({Change("web", "10.0.0.3", true)});
  ASSERT_TRUE(recorder.AwaitCurrent("default/web", {"10.0.0.3"}));
  ASSERT_TRUE(sub.AwaitRevision(rev - 1, kWait));
  EXPECT_THAT(Addresses(sub.Endpoints("web")), ElementsAre("10.0.0.3"));
  EXPECT_THAT(sub.Services(), ElementsAre("default/web"));
  EXPECT_GE(sub.stats().connects, 2);
  sub.Stop();
}

// With a durable store the restarted server still has the history: the Subscriber resumes from
// its revision without a RESET or a new snapshot, and receives each later change exactly once.
TEST_F(SubscriberTest, DurableServerRestartResumesWithoutDuplicates) {
  const std::string data_dir =
      ::testing::TempDir() + "/sk_client_durable_" + std::to_string(::getpid());
  std::vector<std::string> args = {"--store=rocksdb", "--data_dir=" + data_dir, "--log_level=warn"};
  struct Cleanup {
    std::string dir;
    ~Cleanup() { std::filesystem::remove_all(dir); }
  } cleanup{data_dir};
  auto probe = ServerProcess::Start({.binary = SK_SLICEKEEPER_BINARY, .args = args});
  if (!probe.ok()) GTEST_SKIP() << "no durable store in this build: " << probe.status();
  server_ = std::move(*probe);
  MakeClient();
  Apply({Change("web", "10.0.0.1", true), Change("web", "10.0.0.2", true)});
  Recorder recorder;
  Subscriber sub(client_.get(), Options(), recorder.Callback());
  sub.Start();
  ASSERT_TRUE(recorder.AwaitCurrent("default/web", {"10.0.0.1", "10.0.0.2"}));
  ASSERT_TRUE(sub.AwaitSnapshots(1, kWait));
  const int port = server_->grpc_port();
  const SubscriberStats before = sub.stats();
  const size_t calls_before = recorder.calls().size();

  Kill();
  StartServer(args, port);
  // Back in sync on a new stream: resumed, with nothing new to send.
  ASSERT_TRUE(
      sub.AwaitStats([&](const SubscriberStats& s) { return s.syncs > before.syncs; }, kWait));
  EXPECT_EQ(sub.stats().events, before.events);
  const int64_t rev = Apply({Change("web", "10.0.0.3", true)});
  ASSERT_TRUE(recorder.AwaitCurrent("default/web", {"10.0.0.1", "10.0.0.2", "10.0.0.3"}));
  ASSERT_TRUE(sub.AwaitRevision(rev - 1, kWait));
  const SubscriberStats stats = sub.stats();
  EXPECT_EQ(stats.resets, 0);
  EXPECT_EQ(stats.snapshots, 1);
  EXPECT_GT(stats.last_resume, 0);
  // One slice changed once: one event, one callback.
  EXPECT_EQ(stats.events - before.events, 1);
  EXPECT_EQ(recorder.calls().size() - calls_before, 1u);
  sub.Stop();
}

}  // namespace
}  // namespace slicekeeper::client
