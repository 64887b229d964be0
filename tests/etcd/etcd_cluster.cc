#include "tests/etcd/etcd_cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/client/run_command.h"

namespace slicekeeper::etcd::testing {
namespace {

// Polls are this far apart: quick start-up without spinning a shared 2-core machine.
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
constexpr int kStartAttempts = 3;

absl::Status ErrnoError(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(err)));
}

// `count` distinct free loopback ports. All sockets stay bound until every port is picked, so the
// kernel cannot hand the same port out twice; another process may still take one before etcd
// binds it, which Start handles by retrying.
absl::StatusOr<std::vector<int>> PickFreePorts(int count) {
  std::vector<int> fds, ports;
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = ErrnoError("socket", errno);
      break;
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      status = ErrnoError("bind", errno);
      break;
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  for (int fd : fds) close(fd);
  if (!status.ok()) return status;
  return ports;
}

std::string ReadTail(const std::string& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  std::string text = contents.str();
  return text.size() > bytes ? text.substr(text.size() - bytes) : text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(Options options) {
  if (options.members < 1) return absl::InvalidArgumentError("EtcdCluster: members < 1");
  std::string dir = (std::filesystem::temp_directory_path() / "sk-etcd-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) return ErrnoError("mkdtemp", errno);
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster(std::move(options), std::move(dir)));
  absl::Status status;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    bool port_taken = false;
    status = cluster->StartOnce(&port_taken);
    if (status.ok() || !port_taken) break;
    cluster->KillAll();
  }
  if (!status.ok()) return status;
  return cluster;
}

absl::Status EtcdCluster::StartOnce(bool* port_taken) {
  static std::atomic<int> counter{0};
  const int n = options_.members;
  auto ports = PickFreePorts(2 * n);
  if (!ports.ok()) return ports.status();
  // A fresh token and fresh data dirs: members of a failed attempt never meet these.
  token_ = absl::StrCat("sk-test-", getpid(), "-", counter.fetch_add(1));
  const std::string scheme = options_.tls.has_value() ? "https" : "http";
  members_.assign(n, Member{});
  for (int i = 0; i < n; ++i) {
    Member& m = members_[i];
    m.name = absl::StrCat("m", i);
    m.client_port = (*ports)[2 * i];
    m.peer_port = (*ports)[2 * i + 1];
    m.client_url = absl::StrCat(scheme, "://127.0.0.1:", m.client_port);
    m.peer_url = absl::StrCat("http://127.0.0.1:", m.peer_port);
    m.data_dir = absl::StrCat(temp_dir_, "/", token_, "-", m.name);
    m.log_file = absl::StrCat(temp_dir_, "/", m.name, ".log");
    std::error_code ignored;
    std::filesystem::remove(m.log_file, ignored);
  }
  for (int i = 0; i < n; ++i) {
    if (absl::Status s = Spawn(i); !s.ok()) return s;
  }
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  for (int i = 0; i < n; ++i) {
    if (absl::Status s = AwaitReady(i, deadline); !s.ok()) {
      *port_taken = absl::StrContains(LogTail(i), "address already in use");
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Spawn(int i) {
  Member& m = members_[i];
  std::vector<std::string> initial_cluster;
  for (const Member& peer : members_) {
    initial_cluster.push_back(absl::StrCat(peer.name, "=", peer.peer_url));
  }
  std::vector<std::string> args = {
      options_.binary,
      "--name=" + m.name,
      "--data-dir=" + m.data_dir,
      "--listen-client-urls=" + m.client_url,
      "--advertise-client-urls=" + m.client_url,
      "--listen-peer-urls=" + m.peer_url,
      "--initial-advertise-peer-urls=" + m.peer_url,
      "--initial-cluster=" + absl::StrJoin(initial_cluster, ","),
      "--initial-cluster-state=new",  // ignored on a restart: the data dir says who it is
      "--initial-cluster-token=" + token_,
      "--heartbeat-interval=50",
      "--election-timeout=500",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=error",
  };
  if (options_.watch_progress_notify_interval > absl::ZeroDuration()) {
    args.push_back(absl::StrCat("--experimental-watch-progress-notify-interval=",
                                absl::ToInt64Milliseconds(options_.watch_progress_notify_interval),
                                "ms"));
  }
  if (options_.tls.has_value()) {
    args.push_back("--cert-file=" + options_.tls->server_cert_file);
    args.push_back("--key-file=" + options_.tls->server_key_file);
    args.push_back("--trusted-ca-file=" + options_.tls->ca_file);
    args.push_back("--client-cert-auth");
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  // Everything the child needs is prepared before fork: between fork and exec it may only make
  // async-signal-safe calls (the test process has gRPC threads).
  const int log_fd = open(m.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return ErrnoError(absl::StrCat("open ", m.log_file), errno);
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int err = errno;
    close(log_fd);
    close(null_fd);
    return ErrnoError("fork", err);
  }
  if (pid == 0) {
    // Die with the test: a test killed by a timeout must not leave etcd holding ports.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(log_fd);
  if (null_fd >= 0) close(null_fd);
  m.pid = pid;
  return absl::OkStatus();
}

absl::Status EtcdCluster::AwaitReady(int i, absl::Time deadline) {
  ClientOptions probe_options = member_client_options(i);
  probe_options.timeout = absl::Seconds(1);
  auto client = Client::Create(probe_options);
  if (!client.ok()) return client.status();
  etcdserverpb::RangeRequest probe;
  probe.set_key("sk-etcd-cluster-probe");
  absl::Status last;
  while (true) {
    // Linearizable, so it succeeds only once the member has joined a cluster with a leader.
    auto response = (*client)->Range(probe);
    if (response.ok()) return absl::OkStatus();
    last = response.status();
    if (Reaped(i)) {
      return absl::FailedPreconditionError(
          absl::StrCat("etcd member ", i, " exited during start-up; its log:\n", LogTail(i)));
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("etcd member ", i, " (", endpoint(i),
                                                      ") did not answer: ", last.ToString(),
                                                      "; its log:\n", LogTail(i)));
    }
    absl::SleepFor(kPollInterval);
  }
}

bool EtcdCluster::Reaped(int i) {
  Member& m = members_[i];
  if (m.pid <= 0) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(m.pid, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == m.pid) {
    m.pid = 0;
    return true;
  }
  return false;
}

absl::Status EtcdCluster::Kill(int i) {
  Member& m = members_[i];
  if (Reaped(i)) return absl::FailedPreconditionError(absl::StrCat("etcd member ", i, " is down"));
  // Not yet reaped, so the pid cannot have been recycled.
  if (kill(m.pid, SIGKILL) != 0) return ErrnoError("kill", errno);
  int status = 0;
  while (waitpid(m.pid, &status, 0) < 0 && errno == EINTR) {
  }
  m.pid = 0;
  return absl::OkStatus();
}

absl::Status EtcdCluster::Restart(int i) {
  if (!Reaped(i)) {
    return absl::FailedPreconditionError(absl::StrCat("etcd member ", i, " is running"));
  }
  if (absl::Status s = Spawn(i); !s.ok()) return s;
  return AwaitReady(i, absl::Now() + options_.start_timeout);
}

void EtcdCluster::KillAll() {
  for (int i = 0; i < size(); ++i) {
    if (running(i)) Kill(i).IgnoreError();
  }
}

EtcdCluster::~EtcdCluster() {
  KillAll();
  std::error_code ignored;
  std::filesystem::remove_all(temp_dir_, ignored);
}

std::vector<std::string> EtcdCluster::endpoints() const {
  std::vector<std::string> urls;
  for (const Member& m : members_) urls.push_back(m.client_url);
  return urls;
}

std::string EtcdCluster::endpoints_joined() const { return absl::StrJoin(endpoints(), ","); }

ClientOptions EtcdCluster::client_options() const {
  ClientOptions all;
  all.endpoints = endpoints();
  if (options_.tls.has_value()) {
    all.ca_file = options_.tls->ca_file;
    all.cert_file = options_.tls->client_cert_file;
    all.key_file = options_.tls->client_key_file;
  }
  return all;
}

ClientOptions EtcdCluster::member_client_options(int i) const {
  ClientOptions one = client_options();
  one.endpoints = {endpoint(i)};
  return one;
}

std::string EtcdCluster::LogTail(int i, size_t bytes) const {
  return ReadTail(members_[i].log_file, bytes);
}

absl::StatusOr<TlsFiles> MakeTestTlsFiles(const std::string& dir) {
  TlsFiles files{
      .ca_file = dir + "/ca.crt",
      .server_cert_file = dir + "/server.crt",
      .server_key_file = dir + "/server.key",
      .client_cert_file = dir + "/client.crt",
      .client_key_file = dir + "/client.key",
  };
  const std::string ca_key = dir + "/ca.key";
  const std::string openssl = "/usr/bin/openssl";
  const std::vector<std::string> key_args = {"-newkey", "ec", "-pkeyopt",
                                             "ec_paramgen_curve:prime256v1", "-nodes"};
  std::vector<std::vector<std::string>> steps;
  std::vector<std::string> ca = {openssl, "req", "-x509"};
  ca.insert(ca.end(), key_args.begin(), key_args.end());
  ca.insert(ca.end(), {"-keyout", ca_key, "-out", files.ca_file, "-days", "1", "-subj",
                       "/CN=slicekeeper-test-ca", "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
  steps.push_back(ca);
  // Each leaf: a key and CSR, then the CA's signature with the extensions Go's TLS checks.
  const auto leaf = [&](const std::string& name, const std::string& key, const std::string& cert,
                        const std::string& extensions) {
    const std::string csr = dir + "/" + name + ".csr", ext = dir + "/" + name + ".ext";
    std::ofstream(ext) << extensions;
    std::vector<std::string> req = {openssl, "req"};
    req.insert(req.end(), key_args.begin(), key_args.end());
    req.insert(req.end(), {"-keyout", key, "-out", csr, "-subj", "/CN=" + name});
    steps.push_back(req);
    steps.push_back({openssl, "x509", "-req", "-in", csr, "-CA", files.ca_file, "-CAkey", ca_key,
                     "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", ext});
  };
  leaf("server", files.server_key_file, files.server_cert_file,
       "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  leaf("client", files.client_key_file, files.client_cert_file, "extendedKeyUsage=clientAuth\n");
  for (const std::vector<std::string>& step : steps) {
    const slicekeeper::testing::CommandResult result = slicekeeper::testing::RunCommand(step);
    if (result.exit_code != 0) {
      return absl::InternalError(
          absl::StrCat(absl::StrJoin(step, " "), " failed (", result.exit_code, "): ", result.err));
    }
  }
  return files;
}

}  // namespace slicekeeper::etcd::testing
