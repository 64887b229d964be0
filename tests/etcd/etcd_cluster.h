// EtcdCluster: a real etcd cluster (Debian's /usr/bin/etcd) of one or more members on loopback,
// for tests of the etcd client and the etcd storage backend.
//
// Start() picks free loopback ports (etcd cannot bind port 0: each port is found by binding a
// socket to port 0 and closing it), gives every member its own data dir under a fresh temp dir,
// starts all members with --initial-cluster naming all of them, and waits until each member
// answers a linearizable Range (so it is up and the cluster has a leader). When a member fails to
// start because a port was taken in the meantime, the whole start is retried with new ports.
// Members run with short raft timings (heartbeat 50 ms, election 500 ms) and log errors only, to
// <temp>/m<i>.log (LogTail). The destructor SIGKILLs every member and removes the temp dir.
// Members die with the test process too (PR_SET_PDEATHSIG), so a test killed by ctest's timeout
// leaks no etcd.
//
// Thread-safety: one thread at a time (the test's main thread). PR_SET_PDEATHSIG ties a member to
// the thread that started it: start and restart members from a thread that outlives them.
//
// Example:
//   auto cluster = EtcdCluster::Start({.members = 3});
//   ASSERT_OK(cluster);
//   auto client = etcd::Client::Create({.endpoints = (*cluster)->endpoints()});
//   ASSERT_OK((*cluster)->Kill(0));
//   ASSERT_OK((*cluster)->Restart(0));
#ifndef SLICEKEEPER_TESTS_ETCD_ETCD_CLUSTER_H_
#define SLICEKEEPER_TESTS_ETCD_ETCD_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/storage/etcd/etcd_client.h"

namespace slicekeeper::etcd::testing {

// PEM files of a throwaway CA, a server certificate for 127.0.0.1 / localhost and a client
// certificate, all signed by that CA.
struct TlsFiles {
  std::string ca_file;
  std::string server_cert_file, server_key_file;
  std::string client_cert_file, client_key_file;
};

// Generates TlsFiles into `dir` (which must exist) with the openssl command-line tool (P-256 keys,
// valid for a day). Errors: INTERNAL with openssl's output when a step fails.
absl::StatusOr<TlsFiles> MakeTestTlsFiles(const std::string& dir);

class EtcdCluster {
 public:
  struct Options {
    // 1 or 3 in practice; anything >= 1 works.
    int members = 1;
    std::string binary = "/usr/bin/etcd";
    // How long Start (and Restart) may take until every member answers.
    absl::Duration start_timeout = absl::Seconds(30);
    // etcd's --experimental-watch-progress-notify-interval; zero keeps etcd's default (10 min).
    absl::Duration watch_progress_notify_interval = absl::ZeroDuration();
    // When set, client URLs are https:// with the server certificate, and clients must present a
    // certificate signed by the CA (--client-cert-auth). Peers talk plain HTTP.
    std::optional<TlsFiles> tls;
    // Appended to every member's command line.
    std::vector<std::string> extra_args;
  };

  // Errors: INTERNAL (temp dir, fork), FAILED_PRECONDITION (a member exited during start-up for a
  // reason other than a taken port; the message has its log), DEADLINE_EXCEEDED (not every member
  // answered within start_timeout).
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(Options options);

  // SIGKILLs and reaps every running member; removes the temp dir.
  ~EtcdCluster();
  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;

  int size() const { return static_cast<int>(members_.size()); }
  // Member i's client URL ("http://127.0.0.1:<port>", or https://).
  const std::string& endpoint(int i) const { return members_[i].client_url; }
  // Every member's client URL, in member order.
  std::vector<std::string> endpoints() const;
  // The same, comma-joined, as etcdctl's --endpoints takes them.
  std::string endpoints_joined() const;
  // ClientOptions for every member (or only member i), with the TLS client files when TLS is on.
  ClientOptions client_options() const;
  ClientOptions member_client_options(int i) const;

  // Member i's --data-dir (it survives Kill and Restart).
  const std::string& data_dir(int i) const { return members_[i].data_dir; }
  bool running(int i) const { return members_[i].pid > 0; }
  pid_t pid(int i) const { return members_[i].pid; }

  // SIGKILLs member i and reaps it. Errors: FAILED_PRECONDITION when it is not running.
  absl::Status Kill(int i);
  // Starts member i again with its data dir and ports, and waits until it answers.
  // Errors: FAILED_PRECONDITION when it is running or exits; DEADLINE_EXCEEDED as Start.
  absl::Status Restart(int i);

  // The last `bytes` of member i's log, for a failure message.
  std::string LogTail(int i, size_t bytes = 4000) const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string client_url;
    std::string peer_url;
    std::string data_dir;
    std::string log_file;
    pid_t pid = 0;  // 0 when not running
  };

  EtcdCluster(Options options, std::string temp_dir)
      : options_(std::move(options)), temp_dir_(std::move(temp_dir)) {}

  // One attempt at starting every member on freshly picked ports. Sets *port_taken when a member
  // exited because its port was taken (the caller retries).
  absl::Status StartOnce(bool* port_taken);
  absl::Status Spawn(int i);
  // Polls until member i answers a linearizable Range, or exits, or `deadline` passes.
  absl::Status AwaitReady(int i, absl::Time deadline);
  // Reaps member i if it has exited; true when it has.
  bool Reaped(int i);
  void KillAll();

  const Options options_;
  const std::string temp_dir_;
  std::string token_;
  std::vector<Member> members_;
};

}  // namespace slicekeeper::etcd::testing

#endif  // SLICEKEEPER_TESTS_ETCD_ETCD_CLUSTER_H_
