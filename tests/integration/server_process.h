// ServerProcess: the real `slicekeeper` binary as a child process, for integration tests.
//
// Start() spawns the binary with `--listen=127.0.0.1:0 --http_listen=127.0.0.1:0
// --port_file=<tmp>/ports` plus the caller's extra flags, in <tmp> (a fresh directory, removed
// afterwards) as its working directory, and polls the port file in a bounded loop until the
// server has written "<grpc_port> <http_port>". It fails clearly when the process exits first or
// the file does not appear in time. The destructor SIGKILLs and reaps a child that is still
// running, so a failing test never leaks a server.
//
// Thread-safety: one thread at a time (a test's main thread).
//
// Example:
//   auto server = ServerProcess::Start(
//       {.binary = SK_SLICEKEEPER_BINARY, .args = {"--max_batch_changes=10"}});
//   ... grpc::CreateChannel((*server)->grpc_address(), ...) ...
//   ASSERT_OK((*server)->SendSignal(SIGTERM));
//   absl::StatusOr<int> wait_status = (*server)->Wait(absl::Seconds(15));
#ifndef SLICEKEEPER_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define SLICEKEEPER_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace slicekeeper::integration {

class ServerProcess {
 public:
  struct Options {
    // Absolute path of the slicekeeper executable (the child's working directory differs).
    std::string binary;
    // Extra flags, appended after the listen / port-file flags (a later flag wins).
    std::vector<std::string> args;
    // How long the server may take to write its port file.
    absl::Duration start_timeout = absl::Seconds(20);
    // When >= 0: the child's stderr (the server's log) goes to this descriptor, e.g. a pipe the
    // test reads; else the child inherits the test's stderr.
    int stderr_fd = -1;
    // When false, Start returns once the process is spawned; call AwaitPorts before using the
    // ports (a test that reads the log through a pipe must keep reading while it waits).
    bool await_ports = true;
  };

  // Spawns the server and (with await_ports) waits for its ports.
  // Errors: INTERNAL (temp dir or spawn failed), FAILED_PRECONDITION (the process exited before
  // writing its ports; the message has its exit status), DEADLINE_EXCEEDED (no port file within
  // start_timeout; the process is killed).
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(Options options);

  // Kills (SIGKILL) and reaps the process if it is still running; removes the temp dir.
  ~ServerProcess();
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  pid_t pid() const { return pid_; }
  int grpc_port() const { return grpc_port_; }
  int http_port() const { return http_port_; }
  // "127.0.0.1:<grpc_port>".
  std::string grpc_address() const;

  // Polls until the port file is complete, the process exits, or `timeout` passes.
  // Errors: as Start's.
  absl::Status AwaitPorts(absl::Duration timeout);

  // Sends `sig` to the process. Errors: FAILED_PRECONDITION when it was already reaped,
  // INTERNAL when kill(2) fails.
  absl::Status SendSignal(int sig);

  // Waits up to `timeout` for the process to exit and returns its raw wait status (use
  // WIFEXITED / WEXITSTATUS / WIFSIGNALED). Once reaped, returns the same status again.
  // Errors: DEADLINE_EXCEEDED when it is still running after `timeout`.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // A readable form of a wait status: "exited with 0", "killed by signal 9 (Killed)".
  static std::string DescribeWaitStatus(int wait_status);

 private:
  ServerProcess(pid_t pid, std::string temp_dir) : pid_(pid), temp_dir_(std::move(temp_dir)) {}

  // Reaps the process if it has exited; true when it has (then wait_status_ is set).
  bool TryReap();

  const pid_t pid_;
  const std::string temp_dir_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::optional<int> wait_status_;
};

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_SERVER_PROCESS_H_
