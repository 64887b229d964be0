#include "tests/integration/server_process.h"

#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace slicekeeper::integration {
namespace {

// Short enough that start-up is not slowed, long enough not to spin a shared 2-core machine.
constexpr absl::Duration kPollInterval = absl::Milliseconds(5);

absl::Status ErrnoError(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

// Reads "<grpc> <http>" from `path`; nullopt while it is absent or incomplete.
std::optional<std::pair<int, int>> ReadPorts(const std::string& path) {
  std::ifstream in(path);
  int grpc_port = 0, http_port = 0;
  if (!(in >> grpc_port >> http_port)) return std::nullopt;
  if (grpc_port <= 0 || http_port <= 0) return std::nullopt;
  return std::make_pair(grpc_port, http_port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(Options options) {
  std::string dir_template =
      (std::filesystem::temp_directory_path() / "slicekeeper-integ-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) return ErrnoError("mkdtemp", errno);

  std::vector<std::string> args = {options.binary, "--listen=127.0.0.1:0",
                                   "--http_listen=127.0.0.1:0",
                                   absl::StrCat("--port_file=", dir_template, "/ports")};
  args.insert(args.end(), options.args.begin(), options.args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // The child runs in its own temp dir, so relative defaults (such as a data directory) never
  // touch the build tree nor leak state from one server to the next; it inherits stdout/stderr,
  // so the server's log lands in the test's output.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addchdir_np(&actions, dir_template.c_str());
  if (options.stderr_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, options.stderr_fd, STDERR_FILENO);
  }
  pid_t pid = 0;
  const int err =
      posix_spawn(&pid, options.binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    std::filesystem::remove_all(dir_template);
    return ErrnoError(absl::StrCat("posix_spawn ", options.binary), err);
  }
  std::unique_ptr<ServerProcess> process(new ServerProcess(pid, std::move(dir_template)));
  if (!options.await_ports) return process;
  if (absl::Status s = process->AwaitPorts(options.start_timeout); !s.ok()) return s;
  return process;
}

ServerProcess::~ServerProcess() {
  if (!TryReap()) {
    kill(pid_, SIGKILL);
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(temp_dir_, ignored);
}

std::string ServerProcess::grpc_address() const { return absl::StrCat("127.0.0.1:", grpc_port_); }

absl::Status ServerProcess::AwaitPorts(absl::Duration timeout) {
  const std::string path = temp_dir_ + "/ports";
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    // The server renames a complete file into place, so a parse either fails or is whole.
    if (std::optional<std::pair<int, int>> ports = ReadPorts(path)) {
      grpc_port_ = ports->first;
      http_port_ = ports->second;
      return absl::OkStatus();
    }
    if (TryReap()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "slicekeeper exited before writing its ports: ", DescribeWaitStatus(*wait_status_)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("slicekeeper wrote no port file within ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPollInterval);
  }
}

bool ServerProcess::TryReap() {
  if (wait_status_.has_value()) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    wait_status_ = status;
    return true;
  }
  return false;
}

absl::Status ServerProcess::SendSignal(int sig) {
  if (wait_status_.has_value()) {
    return absl::FailedPreconditionError("slicekeeper has already exited");
  }
  // Not yet reaped, so the pid cannot have been recycled.
  if (kill(pid_, sig) != 0) return ErrnoError("kill", errno);
  return absl::OkStatus();
}

absl::StatusOr<int> ServerProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!TryReap()) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("slicekeeper still running after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(kPollInterval);
  }
  return *wait_status_;
}

std::string ServerProcess::DescribeWaitStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return absl::StrCat("exited with ", WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) {
    const int sig = WTERMSIG(wait_status);
    return absl::StrCat("killed by signal ", sig, " (", strsignal(sig), ")");
  }
  return absl::StrCat("wait status ", wait_status);
}

}  // namespace slicekeeper::integration
