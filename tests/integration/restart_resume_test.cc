// Integration test against the real slicekeeper binary: a watcher resumes across a graceful
// restart on the same RocksDB data directory. Within the retained history it gets only what
// changed since its revision; beyond it, RESET and a full snapshot. Revisions continue above
// every revision served before the restart.
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/integration/client_util.h"
#include "tests/integration/server_process.h"

#ifndef SK_SLICEKEEPER_BINARY
#error "SK_SLICEKEEPER_BINARY must name the slicekeeper executable ($<TARGET_FILE:slicekeeper>)"
#endif

namespace slicekeeper::integration {
namespace {

constexpr int kServices = 3;
constexpr int kEndpointsPerService = 150;
constexpr char kNamespace[] = "shop";

std::string ServiceName(int s) { return absl::StrCat("svc-", s); }
std::string Ip(int s, int i) { return absl::StrCat("10.", s, ".", i / 250, ".", i % 250 + 1); }

// What one Watch stream delivered up to (and including) its first SYNCED event.
struct WatchRead {
  grpc::Status status;  // the stream's status when it ended before SYNCED; else OK
  std::vector<v1::WatchEvent> events;
};

// One server process on a fixed data directory, with stubs on a fresh channel.
struct Running {
  std::unique_ptr<ServerProcess> process;
  std::unique_ptr<Clients> clients;
};

class RestartResumeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/sk_restart_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    data_dir_ = std::filesystem::absolute(pattern).string();
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  // Starts the binary on data_dir_ (RocksDB, fsync on every commit) with `extra` flags.
  Running Start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--log_level=warn", "--shutdown_grace=2s", "--store=rocksdb",
                                     "--sync=always", absl::StrCat("--data_dir=", data_dir_)};
    for (std::string& a : extra) args.push_back(std::move(a));
    auto process = ServerProcess::Start({.binary = SK_SLICEKEEPER_BINARY, .args = args});
    EXPECT_TRUE(process.ok()) << process.status();
    if (!process.ok()) return {};
    Running r{.process = std::move(*process)};
    r.clients = std::make_unique<Clients>(r.process->grpc_address());
    return r;
  }

  // Drops the client channel, sends SIGTERM and expects a clean exit 0.
  static void Stop(Running& r) {
    r.clients.reset();
    ASSERT_TRUE(r.process->SendSignal(SIGTERM).ok());
    absl::StatusOr<int> wait_status = r.process->Wait(absl::Seconds(20));
    ASSERT_TRUE(wait_status.ok()) << wait_status.status();
    EXPECT_TRUE(WIFEXITED(*wait_status) && WEXITSTATUS(*wait_status) == 0)
        << ServerProcess::DescribeWaitStatus(*wait_status);
  }

  // Applies `changes` as one batch; returns its revision (records a failure and returns -1 on
  // error).
  static int64_t Write(Running& r, std::vector<v1::EndpointChange> changes) {
    Rpc<v1::ChangeAck> rpc =
        Call(r.clients->registry.get(), &Registry::Stub::ApplyChanges, Batch(std::move(changes)));
    EXPECT_TRUE(rpc.status.ok()) << Describe(rpc.status);
    EXPECT_EQ(rpc.response.code(), 0) << rpc.response.message();
    return rpc.status.ok() ? rpc.response.revision() : -1;
  }

  // Opens a SLICES-view Watch on every service of kNamespace (bookmarks off) and reads until the
  // first SYNCED event, then cancels the stream.
  static WatchRead WatchUntilSynced(Running& r, int64_t resume_revision) {
    v1::WatchRequest request;
    request.set_namespace_(kNamespace);
    request.set_view(v1::SLICES);
    request.set_resume_revision(resume_revision);
    request.set_bookmarks(false);
    grpc::ClientContext context;
    SetDeadline(context);
    std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
        r.clients->discovery->Watch(&context, request);
    WatchRead out;
    bool synced = false;
    for (v1::WatchResponse response; !synced && reader->Read(&response);) {
      for (const v1::WatchEvent& e : response.events()) {
        EXPECT_FALSE(synced) << "event after SYNCED in the same message";
        out.events.push_back(e);
        synced = synced || e.type() == v1::WatchEvent::SYNCED;
      }
    }
    if (synced) context.TryCancel();
    grpc::Status status = reader->Finish();
    if (!synced) out.status = status;
    return out;
  }

  std::string data_dir_;
};

// Slice name -> slice, for the slice events of `events`.
std::map<std::string, v1::EndpointSlice> SlicesOf(const std::vector<v1::WatchEvent>& events) {
  std::map<std::string, v1::EndpointSlice> out;
  for (const v1::WatchEvent& e : events) {
    if (e.type() == v1::WatchEvent::ADDED || e.type() == v1::WatchEvent::MODIFIED) {
      out[e.slice().metadata().name()] = e.slice();
    }
  }
  return out;
}

// The name of the slice holding `address`, or "".
std::string SliceHolding(const std::map<std::string, v1::EndpointSlice>& slices,
                         const std::string& address) {
  for (const auto& [name, slice] : slices) {
    for (const v1::Endpoint& e : slice.endpoints()) {
      for (const std::string& a : e.addresses()) {
        if (a == address) return name;
      }
    }
  }
  return "";
}

std::vector<v1::WatchEvent::Type> Types(const std::vector<v1::WatchEvent>& events) {
  std::vector<v1::WatchEvent::Type> out;
  for (const v1::WatchEvent& e : events) out.push_back(e.type());
  return out;
}

// After a SIGTERM and a restart on the same data dir, a resume from the last revision seen gets
// exactly the one slice that changed (MODIFIED, then SYNCED); a resume from beyond the retained
// history gets RESET, a full snapshot and SYNCED; revisions continue above the pre-restart ones.
TEST_F(RestartResumeTest, WatchResumesAcrossGracefulRestart) {
  // --- First run: fill, watch to SYNCED at R, stop. ---
  int64_t r = 0;
  std::map<std::string, v1::EndpointSlice> before;
  {
    Running first = Start();
    ASSERT_NE(first.process, nullptr);
    int64_t last_write = 0;
    for (int s = 0; s < kServices; ++s) {
      std::vector<v1::EndpointChange> changes;
      for (int i = 0; i < kEndpointsPerService; ++i) {
        changes.push_back(Upsert(kNamespace, ServiceName(s), Ip(s, i)));
      }
      last_write = Write(first, std::move(changes));
      ASSERT_GT(last_write, 0);
    }
    WatchRead snapshot = WatchUntilSynced(first, /*resume_revision=*/0);
    ASSERT_TRUE(snapshot.status.ok()) << Describe(snapshot.status);
    ASSERT_FALSE(snapshot.events.empty());
    ASSERT_EQ(snapshot.events.back().type(), v1::WatchEvent::SYNCED);
    r = snapshot.events.back().revision();
    EXPECT_EQ(r, last_write);
    before = SlicesOf(snapshot.events);
    // 150 endpoints at 100 per slice: at least two slices per service.
    EXPECT_GE(before.size(), 2u * kServices);
    EXPECT_EQ(snapshot.events.size(), before.size() + 1) << "only ADDED, then SYNCED";
    Stop(first);
  }
  ASSERT_FALSE(HasFatalFailure());

  // --- Second run on the same directory, with a history of two commits. ---
  Running second = Start({"--history=2"});
  ASSERT_NE(second.process, nullptr);
  // One endpoint of one service turns not-ready: exactly one slice changes.
  const std::string changed_ip = Ip(1, 7);
  const std::string changed_slice = SliceHolding(before, changed_ip);
  ASSERT_FALSE(changed_slice.empty());
  const int64_t r2 =
      Write(second,
            {WithConditions(Upsert(kNamespace, ServiceName(1), changed_ip), false, false, false)});
  EXPECT_GT(r2, r) << "revisions must continue above the pre-restart revision";

  WatchRead resumed = WatchUntilSynced(second, r);
  ASSERT_TRUE(resumed.status.ok()) << Describe(resumed.status);
  ASSERT_EQ(Types(resumed.events),
            (std::vector<v1::WatchEvent::Type>{v1::WatchEvent::MODIFIED, v1::WatchEvent::SYNCED}));
  const v1::WatchEvent& modified = resumed.events[0];
  EXPECT_EQ(modified.slice().metadata().name(), changed_slice);
  EXPECT_EQ(modified.revision(), r2);
  EXPECT_EQ(resumed.events[1].revision(), r2);
  bool found_not_ready = false;
  for (const v1::Endpoint& e : modified.slice().endpoints()) {
    if (e.addresses_size() > 0 && e.addresses(0) == changed_ip) {
      found_not_ready = !e.conditions().ready();
    }
  }
  EXPECT_TRUE(found_not_ready) << modified.slice().ShortDebugString();

  // Five more commits push R out of the two-commit history.
  int64_t last = r2;
  for (int i = 0; i < 5; ++i) {
    const int64_t rev = Write(second, {Upsert(kNamespace, ServiceName(2), Ip(2, 1000 + i))});
    EXPECT_GT(rev, last);
    last = rev;
  }
  WatchRead reset = WatchUntilSynced(second, r);
  ASSERT_TRUE(reset.status.ok()) << Describe(reset.status);
  ASSERT_GE(reset.events.size(), 2u);
  EXPECT_EQ(reset.events.front().type(), v1::WatchEvent::RESET);
  EXPECT_EQ(reset.events.back().type(), v1::WatchEvent::SYNCED);
  EXPECT_EQ(reset.events.back().revision(), last);
  std::set<std::string> snapshot_names;
  for (size_t i = 1; i + 1 < reset.events.size(); ++i) {
    EXPECT_EQ(reset.events[i].type(), v1::WatchEvent::ADDED) << i;
    snapshot_names.insert(reset.events[i].slice().metadata().name());
  }
  // The full snapshot: every slice of every service (new endpoints fit in existing slices, or
  // make new ones; either way no slice of the first run is missing).
  EXPECT_EQ(snapshot_names.size(), reset.events.size() - 2) << "a slice sent twice";
  for (const auto& [name, slice] : before) EXPECT_TRUE(snapshot_names.contains(name)) << name;
  std::set<std::string> services;
  for (const auto& [name, slice] : SlicesOf(reset.events)) {
    auto label = slice.metadata().labels().find("kubernetes.io/service-name");
    if (label != slice.metadata().labels().end()) services.insert(label->second);
  }
  EXPECT_EQ(services.size(), static_cast<size_t>(kServices));
  Stop(second);
}

}  // namespace
}  // namespace slicekeeper::integration
