// Integration test against the real slicekeeper binary: /readyz while a RocksDB store loads.
//
// A first server writes many small slices and stops. A second one starts on the same data
// directory with its log (stderr) on a pipe the test reads, shrunk to one page. The server cannot
// write more than that page ahead of the test, so while the test has read up to byte `o` of the
// log, the server has written at most `o + capacity` bytes: a poll made at that point, when the
// "store loaded" line starts after `o + capacity`, provably happened during the load. The test
// polls /readyz after every log line it reads, from the line saying the loading HTTP port is up,
// and asserts on what each poll observed: 503 during the load (with progress lines, percent and
// keys/s, before "store loaded"), 200 once the server listens, and every service, slice and
// endpoint back. No clock decides anything: the pipe orders the two processes.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/integration/client_util.h"
#include "tests/integration/http_get.h"
#include "tests/integration/server_process.h"

#ifndef SK_SLICEKEEPER_BINARY
#error "SK_SLICEKEEPER_BINARY must name the slicekeeper executable ($<TARGET_FILE:slicekeeper>)"
#endif

namespace slicekeeper::integration {
namespace {

constexpr char kNamespace[] = "load";
constexpr int kServices = 16;
constexpr int kBatch = 4096;

// RocksDbStorage::Load reports progress every 512 slices that the loading thread decodes itself,
// and decodes on up to 8 threads (rocksdb_storage.cc DecodeSlices). With one endpoint per slice,
// this many progress lines (about 100 bytes each) overflow a one-page pipe several times over;
// the test asserts that they did, so a change there fails it loudly instead of weakening it.
constexpr int kProgressLines = 56;
int SlicesToWrite() {
  const int threads = std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, 8);
  return 512 * threads * kProgressLines;
}

std::string Ip(int i) {
  return absl::StrCat("10.", i / 62500, ".", i / 250 % 250, ".", i % 250 + 1);
}

// A port on 127.0.0.1 that was free a moment ago, for the HTTP address both the loading probe
// server and the started server bind in turn (as --http_listen does in production).
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

// Reads a pipe line by line, counting the bytes consumed.
class LogPipe {
 public:
  explicit LogPipe(int fd) : fd_(fd) {}
  ~LogPipe() { close(fd_); }

  // The next line (without '\n'); nullopt at end of file or after `timeout` without one.
  std::optional<std::string> NextLine(absl::Duration timeout = absl::Seconds(60)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      if (size_t nl = buffer_.find('\n'); nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        consumed_ += static_cast<int64_t>(nl + 1);
        return line;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::nullopt;
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      const int ready = poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return std::nullopt;
      char chunk[512];  // small reads: the server stays at most a pipe's capacity ahead
      const ssize_t n = read(fd_, chunk, sizeof(chunk));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
      read_ += n;
    }
  }
  // Bytes of whole lines handed out so far.
  int64_t consumed() const { return consumed_; }
  // Bytes taken out of the pipe (>= consumed()).
  int64_t read_bytes() const { return read_; }

 private:
  const int fd_;
  std::string buffer_;
  int64_t consumed_ = 0;
  int64_t read_ = 0;
};

// The integer after "<key>=" in a log line, or nullopt.
std::optional<int64_t> Field(absl::string_view line, absl::string_view key) {
  const std::string needle = absl::StrCat(" ", key, "=");
  const size_t at = line.find(needle);
  if (at == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = line.substr(at + needle.size());
  rest = rest.substr(0, rest.find(' '));
  int64_t value = 0;
  if (!absl::SimpleAtoi(rest, &value)) return std::nullopt;
  return value;
}

// One /readyz poll: the HTTP status (0 when the connection failed) and how many log bytes the
// test had read out of the pipe when it sent it.
struct ReadyzPoll {
  int64_t log_read;
  int status;
};

int PollReadyz(int port) {
  absl::StatusOr<HttpResponse> r = HttpGet(port, "/readyz", absl::Seconds(10));
  return r.ok() ? r->status : 0;
}

v1::ListServicesResponse ListServices(Clients& clients) {
  auto list =
      Call(clients.discovery.get(), &Discovery::Stub::ListServices, v1::ListServicesRequest());
  EXPECT_TRUE(list.status.ok()) << Describe(list.status);
  return list.response;
}

class ReadyzLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/sk_readyz_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    data_dir_ = std::filesystem::absolute(pattern).string();
  }
  void TearDown() override { std::filesystem::remove_all(data_dir_); }

  std::vector<std::string> Flags() const {
    // One endpoint per slice: many slices for few bytes, so the load has many steps.
    return {"--store=rocksdb", absl::StrCat("--data_dir=", data_dir_),
            "--max_endpoints_per_slice=1", "--shutdown_grace=2s"};
  }

  std::string data_dir_;
};

TEST_F(ReadyzLoadTest, NotReadyWhileTheStoreLoadsThenReadyWithEverything) {
  const int slices = SlicesToWrite();
  v1::ListServicesResponse before;
  {
    std::vector<std::string> args = Flags();
    for (const char* a : {"--log_level=warn", "--sync=none", "--history=8"}) args.push_back(a);
    auto writer = ServerProcess::Start({.binary = SK_SLICEKEEPER_BINARY, .args = args});
    ASSERT_TRUE(writer.ok()) << writer.status();
    Clients clients((*writer)->grpc_address());
    for (int first = 0; first < slices; first += kBatch) {
      std::vector<v1::EndpointChange> changes;
      for (int i = first; i < std::min(first + kBatch, slices); ++i) {
        changes.push_back(Upsert(kNamespace, absl::StrCat("svc-", i % kServices), Ip(i)));
      }
      auto ack = Call(clients.registry.get(), &Registry::Stub::ApplyChanges, Batch(changes));
      ASSERT_TRUE(ack.status.ok()) << Describe(ack.status);
    }
    before = ListServices(clients);
    ASSERT_TRUE((*writer)->SendSignal(SIGTERM).ok());
    absl::StatusOr<int> exit = (*writer)->Wait(absl::Seconds(30));
    ASSERT_TRUE(exit.ok()) << exit.status();
    ASSERT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0)
        << ServerProcess::DescribeWaitStatus(*exit);
  }
  ASSERT_EQ(before.services_size(), kServices);

  int fds[2];
  ASSERT_EQ(pipe2(fds, O_CLOEXEC), 0);
  const int capacity = fcntl(fds[0], F_SETPIPE_SZ, 4096);  // rounds up to a page at least
  ASSERT_GT(capacity, 0) << "F_SETPIPE_SZ: " << strerror(errno);
  LogPipe log(fds[0]);
  const int http_port = FreePort();
  ASSERT_GT(http_port, 0);
  std::vector<std::string> args = Flags();
  for (std::string a : {std::string("--log_level=info"), std::string("--load_progress_interval=0"),
                        absl::StrCat("--http_listen=127.0.0.1:", http_port)}) {
    args.push_back(std::move(a));
  }
  auto server = ServerProcess::Start(
      {.binary = SK_SLICEKEEPER_BINARY, .args = args, .stderr_fd = fds[1], .await_ports = false});
  close(fds[1]);  // the child has its copy: end of file when it exits
  ASSERT_TRUE(server.ok()) << server.status();

  // Read the log a line at a time; once the loading HTTP port is up, poll /readyz after each.
  std::vector<ReadyzPoll> polls;
  std::vector<std::string> progress;
  std::optional<int64_t> loaded_at, loaded_endpoints;
  bool http_up = false, listening = false;
  while (!listening) {
    const std::optional<std::string> line = log.NextLine();
    ASSERT_TRUE(line.has_value()) << "the server's log ended or stalled before it listened";
    const int64_t line_start = log.consumed() - static_cast<int64_t>(line->size()) - 1;
    if (absl::StrContains(*line, "loading store=") && absl::StrContains(*line, "readyz=503")) {
      ASSERT_TRUE(absl::StrContains(*line, absl::StrCat(":", http_port, " ")))
          << "the loading server did not bind --http_listen: " << *line;
      http_up = true;
    } else if (absl::StrContains(*line, "loading store keys=")) {
      progress.push_back(*line);
    } else if (absl::StrContains(*line, "store loaded")) {
      loaded_at = line_start;
      loaded_endpoints = Field(*line, "endpoints");
    } else if (absl::StrContains(*line, "slicekeeper listening")) {
      listening = true;
      continue;  // polled below, once the port file is there too
    }
    if (http_up) polls.push_back({log.read_bytes(), PollReadyz(http_port)});
  }
  ASSERT_TRUE(loaded_at.has_value()) << "no \"store loaded\" line before \"listening\"";

  // During the load: every poll made while the loaded line was still more than a pipe's
  // capacity ahead of what the test had read found the server not ready.
  int during_load = 0;
  for (const ReadyzPoll& p : polls) {
    if (p.log_read + capacity > *loaded_at) continue;  // the load may have ended: any answer
    ++during_load;
    EXPECT_EQ(p.status, 503) << "poll at log byte " << p.log_read << ", loaded line at "
                             << *loaded_at << ", pipe " << capacity;
  }
  // The pipe ordered at least one poll before the end of the load (asserted, not assumed: a
  // store too small for the pipe would make this test prove nothing).
  EXPECT_GE(during_load, 1) << "the load logged " << *loaded_at << " bytes for a pipe of "
                            << capacity << ": write more slices";
  RecordProperty("polls_during_load", during_load);
  RecordProperty("polls", static_cast<int>(polls.size()));
  RecordProperty("load_log_bytes", static_cast<int>(*loaded_at));
  // Progress while loading: keys, percent and keys/s, keys never going back.
  ASSERT_FALSE(progress.empty()) << "no load progress in the log";
  int64_t last_keys = 0;
  for (const std::string& line : progress) {
    const std::optional<int64_t> keys = Field(line, "keys"), percent = Field(line, "percent"),
                                 rate = Field(line, "keys_per_second");
    ASSERT_TRUE(keys && percent && rate) << line;
    EXPECT_GE(*keys, last_keys) << line;
    EXPECT_GE(*percent, 0) << line;
    EXPECT_LE(*percent, 99) << line;
    EXPECT_GT(*rate, 0) << line;
    last_keys = *keys;
  }
  EXPECT_GE(last_keys, slices / 2) << "progress never passed half the slices";

  // Listening: ready, on the same address, with everything that was written.
  ASSERT_TRUE((*server)->AwaitPorts(absl::Seconds(20)).ok());
  EXPECT_EQ((*server)->http_port(), http_port);
  EXPECT_EQ(PollReadyz(http_port), 200);
  EXPECT_EQ(loaded_endpoints, slices);
  {
    Clients clients((*server)->grpc_address());
    const v1::ListServicesResponse after = ListServices(clients);
    EXPECT_EQ(after.revision(), before.revision());
    ASSERT_EQ(after.services_size(), before.services_size());
    int64_t endpoints = 0;
    for (int s = 0; s < after.services_size(); ++s) {
      const v1::ServiceSummary &a = after.services(s), &b = before.services(s);
      EXPECT_EQ(a.name(), b.name());
      EXPECT_EQ(a.slices(), b.slices()) << a.name();
      EXPECT_EQ(a.endpoints().total(), b.endpoints().total()) << a.name();
      EXPECT_EQ(a.endpoints().ready(), b.endpoints().ready()) << a.name();
      EXPECT_EQ(a.mod_revision(), b.mod_revision()) << a.name();
      endpoints += a.endpoints().total();
    }
    EXPECT_EQ(endpoints, slices);
  }
  ASSERT_TRUE((*server)->SendSignal(SIGTERM).ok());
  while (log.NextLine(absl::Seconds(30))) {  // drain, so the server never blocks on its log
  }
  absl::StatusOr<int> exit = (*server)->Wait(absl::Seconds(30));
  ASSERT_TRUE(exit.ok()) << exit.status();
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0)
      << ServerProcess::DescribeWaitStatus(*exit);
}

}  // namespace
}  // namespace slicekeeper::integration
