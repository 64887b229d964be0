// slicekeeper: the EndpointSlice discovery server. Flags, logging and signal handling; the work is
// in server/api (gRPC and HTTP) and server/store.
//
// Exit codes: 0 after a graceful shutdown (SIGTERM / SIGINT), 1 when the server cannot start
// (e.g. a port is taken, or the data directory is locked, corrupt or of another format version),
// 2 for bad flags.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/validation.h"
#include "server/api/server.h"
#include "server/http/admission.h"
#include "server/http/http_server.h"
#include "server/metrics/ops_handler.h"
#include "server/metrics/process_metrics.h"
#include "server/security_flags.h"
#include "server/storage/etcd_storage.h"
#include "server/storage/rocksdb_storage.h"
#include "server/store/store.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "gRPC listen address host:port (port 0: any)");
ABSL_FLAG(std::string, http_listen, "127.0.0.1:9090",
          "HTTP address for /metrics, /healthz, /readyz and the Kubernetes API (port 0: any; "
          "empty: disabled)");
ABSL_FLAG(int, http_threads, 64,
          "HTTP worker threads, all started at once: the most HTTP connections served at the "
          "same time (3..65536)");
ABSL_FLAG(int, http_max_streams, 48,
          "HTTP streams (Kubernetes watches) at once, each holding a thread; at most "
          "--http_threads - 2, so short requests (/healthz, /metrics) always find one");
ABSL_FLAG(bool, k8s_api, true,
          "Serve the Kubernetes API for discovery.k8s.io/v1 EndpointSlices on the HTTP port "
          "(kubectl --server=http://<http_listen>)");
ABSL_FLAG(bool, ui, true,
          "Serve the operator page (/ui/) and its JSON API (/api/ui/v1/) on the HTTP port");
ABSL_FLAG(absl::Duration, k8s_min_watch_timeout, absl::Minutes(30),
          "Kubernetes watches without timeoutSeconds end after a random time between this and "
          "twice this (the apiserver's --min-request-timeout)");
ABSL_FLAG(std::string, port_file, "",
          "If set, write \"<grpc_port> <http_port>\" to this file once both ports are bound");
ABSL_FLAG(std::string, store, "rocksdb",
          "Storage backend: rocksdb (durable, in --data_dir), etcd (several replicas share one "
          "etcd cluster, see --etcd_endpoints) or memory (nothing survives a restart)");
ABSL_FLAG(std::string, etcd_endpoints, "127.0.0.1:2379",
          "etcd: comma-separated client URLs of the cluster's members (http://host:port, "
          "https://host:port or host:port)");
ABSL_FLAG(std::string, etcd_prefix, "/slicekeeper/",
          "etcd: the key prefix of everything slicekeeper stores (one prefix per deployment)");
ABSL_FLAG(std::string, etcd_ca_file, "", "etcd: CA bundle (PEM) to verify the members; TLS on");
ABSL_FLAG(std::string, etcd_cert_file, "", "etcd: client certificate (PEM) for mutual TLS");
ABSL_FLAG(std::string, etcd_key_file, "", "etcd: client key (PEM) for mutual TLS");
ABSL_FLAG(absl::Duration, etcd_timeout, absl::Seconds(5),
          "etcd: deadline of one request, failover across members included");
ABSL_FLAG(std::string, data_dir, "./data",
          "rocksdb: the data directory (created if missing; one server per directory)");
ABSL_FLAG(std::string, sync, "always",
          "rocksdb: when a write is fsynced. always: before its ack (no acked write is ever "
          "lost; concurrent writes share one fsync). batch: the log is fsynced every "
          "--sync_interval and acks do not wait, so a machine crash or power loss can lose the "
          "writes acked in the last interval (a process crash loses nothing). none: never "
          "fsynced by us (OS page cache only): a machine crash can lose any acked write");
ABSL_FLAG(absl::Duration, sync_interval, absl::Milliseconds(5),
          "rocksdb with --sync=batch: how often the log is fsynced");
ABSL_FLAG(int, shards, 64, "Store shards (1..4096)");
ABSL_FLAG(int, apply_threads, 32,
          "etcd: threads applying StreamChanges batches; each waits for its etcd round trip, "
          "so this bounds how many batches of different streams share one (1..1024). rocksdb "
          "needs none: batches are appended inline and one sync thread makes them durable");
ABSL_FLAG(int, max_endpoints_per_slice, 100, "Endpoints per managed slice at most (1..1000)");
ABSL_FLAG(std::string, distribution, "kubernetes",
          "How endpoints are spread over slices: kubernetes (Kubernetes' algorithm, exactly) or "
          "packed (fuller slices, writes bounded; docs/distribution.md); a service's "
          "slicekeeper.io/distribution annotation overrides it");
ABSL_FLAG(bool, packed_same_zone, false,
          "packed: keep each zone's endpoints together (slicekeeper.io/packed-same-zone "
          "overrides it)");
ABSL_FLAG(int64_t, history, 100'000,
          "Commits kept for watch resume, in memory and (rocksdb) on disk (>= 1)");
ABSL_FLAG(int64_t, history_bytes, -1,
          "Memory the commits kept for watch resume may take: their history records, which hold "
          "what each commit changed; the oldest go first (the newest always stays; >= 0). "
          "rocksdb: older ones are read from disk when a watcher resumes from before them. "
          "-1: 16 MiB with --store=rocksdb (a cache of the window on disk), else 64 MiB");
ABSL_FLAG(int64_t, history_disk_bytes, int64_t{512} << 20,
          "rocksdb: disk the history records may take (RocksDB's estimate, compressed); the "
          "oldest are dropped and compacted away first (>= 0)");
ABSL_FLAG(bool, upgrade_data_dir, false,
          "rocksdb: upgrade a data directory of an older on-disk format in place, then start "
          "(format 1 -> 2 keeps the live state and drops the watch history: watchers resuming "
          "from before the upgrade get RESET). Without it such a directory is refused");
ABSL_FLAG(int64_t, max_batch_changes, 10'000, "Changes per batch at most (>= 1)");
ABSL_FLAG(int, max_recv_message_bytes, 16 << 20, "Largest gRPC message accepted, in bytes");
ABSL_FLAG(int, max_streams_per_connection, 10'000,
          "Concurrent gRPC streams one client connection may open (HTTP/2 "
          "SETTINGS_MAX_CONCURRENT_STREAMS); the client's further streams wait for one to end");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off");
ABSL_FLAG(std::string, log_format, "text", "text or json");
ABSL_FLAG(absl::Duration, bookmark_interval, absl::Seconds(10),
          "Watch: idle time before a BOOKMARK, for streams that ask for bookmarks");
ABSL_FLAG(absl::Duration, watch_max_lag, absl::Seconds(60),
          "Watch: a subscriber whose oldest unsent change is older than this is RESET (its pinned "
          "state freed); it gets RESET and a fresh snapshot when it reads again");
ABSL_FLAG(bool, allow_loopback_endpoints, false,
          "Accept loopback endpoint addresses (127.0.0.0/8, ::1), which Kubernetes validation "
          "rejects, and nothing else it rejects: for local development and tests whose backends "
          "listen on loopback. Never in production");
ABSL_FLAG(absl::Duration, load_progress_interval, absl::Seconds(1),
          "rocksdb: while the store loads, log its progress (keys, percent, keys/s) at most this "
          "often (0: at every step the storage reports, about every 512 slices decoded)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "On SIGTERM: how long in-flight calls may take to finish");

namespace {

using slicekeeper::api::Server;
using slicekeeper::store::Store;

// OK when the flags are valid, else INVALID_ARGUMENT saying which flag and what is wrong.
absl::Status CheckFlags() {
  auto bad = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  const std::string store = absl::GetFlag(FLAGS_store);
  if (store != "memory" && store != "rocksdb" && store != "etcd") {
    return bad("--store=", store, ": unsupported storage backend (rocksdb, etcd or memory)");
  }
  if (store == "etcd" && absl::GetFlag(FLAGS_etcd_endpoints).empty()) {
    return bad("--etcd_endpoints: must not be empty with --store=etcd");
  }
  if (store == "etcd" && absl::GetFlag(FLAGS_etcd_prefix).empty()) {
    return bad("--etcd_prefix: must not be empty with --store=etcd");
  }
  if (absl::GetFlag(FLAGS_etcd_timeout) <= absl::ZeroDuration()) {
    return bad("--etcd_timeout: must be positive");
  }
  const std::string sync = absl::GetFlag(FLAGS_sync);
  if (sync != "always" && sync != "batch" && sync != "none") {
    return bad("--sync=", sync, ": must be always, batch or none");
  }
  if (absl::GetFlag(FLAGS_sync_interval) <= absl::ZeroDuration()) {
    return bad("--sync_interval: must be > 0");
  }
  if (store == "rocksdb" && absl::GetFlag(FLAGS_data_dir).empty()) {
    return bad("--data_dir: must not be empty with --store=rocksdb");
  }
  const int max_eps = absl::GetFlag(FLAGS_max_endpoints_per_slice);
  const int max_allowed = static_cast<int>(slicekeeper::validation::kMaxEndpointsPerSlice);
  if (max_eps < 1 || max_eps > max_allowed) {
    return bad("--max_endpoints_per_slice=", max_eps, ": must be between 1 and ", max_allowed);
  }
  const std::string distribution = absl::GetFlag(FLAGS_distribution);
  if (distribution != "kubernetes" && distribution != "packed") {
    return bad("--distribution=", distribution, ": must be kubernetes or packed");
  }
  const int shards = absl::GetFlag(FLAGS_shards);
  if (shards < 1 || shards > 4096) {
    return bad("--shards=", shards, ": must be between 1 and 4096");
  }
  if (absl::GetFlag(FLAGS_history) < 1) return bad("--history: must be >= 1");
  if (absl::GetFlag(FLAGS_history_bytes) < -1) {
    return bad("--history_bytes: must be >= 0, or -1 for the store's default");
  }
  if (absl::GetFlag(FLAGS_history_disk_bytes) < 0) return bad("--history_disk_bytes: must be >= 0");
  if (absl::GetFlag(FLAGS_apply_threads) < 1 || absl::GetFlag(FLAGS_apply_threads) > 1024) {
    return bad("--apply_threads: must be in 1..1024");
  }
  if (absl::GetFlag(FLAGS_bookmark_interval) <= absl::ZeroDuration()) {
    return bad("--bookmark_interval: must be > 0");
  }
  if (absl::GetFlag(FLAGS_watch_max_lag) <= absl::ZeroDuration()) {
    return bad("--watch_max_lag: must be > 0");
  }
  if (absl::GetFlag(FLAGS_max_batch_changes) < 1) return bad("--max_batch_changes: must be >= 1");
  const int http_threads = absl::GetFlag(FLAGS_http_threads);
  if (http_threads < 3 || http_threads > 65536) return bad("--http_threads: must be in 3..65536");
  const int http_streams = absl::GetFlag(FLAGS_http_max_streams);
  if (http_streams < 0 || http_streams > http_threads - 2) {
    return bad("--http_max_streams: must be in 0..--http_threads - 2");
  }
  if (absl::GetFlag(FLAGS_k8s_min_watch_timeout) <= absl::ZeroDuration()) {
    return bad("--k8s_min_watch_timeout: must be > 0");
  }
  if (absl::GetFlag(FLAGS_max_recv_message_bytes) < 1024) {
    return bad("--max_recv_message_bytes: must be >= 1024");
  }
  const std::string format = absl::GetFlag(FLAGS_log_format);
  if (format != "text" && format != "json") return bad("--log_format: must be text or json");
  if (spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)) == spdlog::level::off &&
      absl::GetFlag(FLAGS_log_level) != "off") {
    return bad("--log_level=", absl::GetFlag(FLAGS_log_level), ": unknown level");
  }
  return absl::OkStatus();
}

void SetUpLogging() {
  auto logger = spdlog::stderr_logger_mt("slicekeeper");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(absl::GetFlag(FLAGS_log_level)));
  if (absl::GetFlag(FLAGS_log_format) == "json") {
    // Messages are key=value text without double quotes or backslashes, so they embed as is.
    spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","msg":"%v"})",
                        spdlog::pattern_time_type::utc);
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %L %v", spdlog::pattern_time_type::utc);
  }
}

// "host" of "host:port" ("" when there is no host part).
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? "" : address.substr(0, colon);
}

bool WritePortFile(const std::string& path, int grpc_port, int http_port) {
  // Written to a temporary name and renamed, so a reader never sees a partial file.
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << grpc_port << " " << http_port << "\n";
    if (!out.good()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// Blocks until SIGTERM or SIGINT; returns the signal. REQUIRES: both are blocked in every thread.
int WaitForSignal(const sigset_t& signals) {
  int sig = 0;
  while (sigwait(&signals, &sig) != 0) {
  }
  return sig;
}

// Logs the live state's load at most once per --load_progress_interval: keys read, of RocksDB's
// estimate, and rate.
void LogLoadProgress(int64_t keys, int64_t estimated) {
  static const absl::Time start = absl::Now();
  static const absl::Duration interval = absl::GetFlag(FLAGS_load_progress_interval);
  static absl::Time last_log = start;
  const absl::Time now = absl::Now();
  if (now - last_log < interval) return;
  last_log = now;
  const double seconds = std::max(absl::ToDoubleSeconds(now - start), 1e-3);
  spdlog::info("loading store keys={} estimated_keys={} percent={} keys_per_second={}", keys,
               estimated, estimated > 0 ? std::min<int64_t>(100 * keys / estimated, 99) : 0,
               static_cast<int64_t>(static_cast<double>(keys) / seconds));
}

// Transparent huge pages serve the load (jemalloc's thp:always, below: 4 KiB faults were a third
// of a 1 M-endpoint restart) and then stop for the process. Under churn they inflate RSS behind
// the allocator's back: jemalloc purges freed pages 4 KiB at a time inside its huge-page ranges,
// and khugepaged collapses such a range back into a huge page, filling its holes with zero pages
// (up to 511 of 512 by default), so purged pages come back resident and stay. Measured under
// 1 M-endpoint churn: RSS 350 -> 475 MiB in 5 minutes while jemalloc's own resident figure stayed
// at ~315 (BENCHMARKS.md, "The data directory and RSS over an hour"). Pages that are huge already
// stay so.
void StopHugePagesAfterLoad() {
  if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) != 0) {
    spdlog::warn("cannot disable transparent huge pages after the load: {}", std::strerror(errno));
  }
}

// While the store loads: /healthz answers (the process is alive) and /readyz is 503, on the HTTP
// address the server will use (null when HTTP is disabled or the address cannot be bound; the
// server reports that when it starts).
struct LoadingHttp {
  slicekeeper::metrics::OpsHandler ops{
      slicekeeper::metrics::OpsHandler::Options{.ready = [] { return false; }}};
  std::unique_ptr<slicekeeper::http::HttpServer> server;
};
std::unique_ptr<LoadingHttp> StartLoadingHttp(const slicekeeper::Security& security) {
  const std::string address = absl::GetFlag(FLAGS_http_listen);
  if (address.empty()) return nullptr;
  auto http = std::make_unique<LoadingHttp>();
  http->server =
      std::make_unique<slicekeeper::http::HttpServer>(slicekeeper::http::HttpServer::Options{
          .listen_address = address,
          .tls = security.tls,
          .admit = slicekeeper::http::AuthorizerAdmission(security.authorizer.get())});
  http->ops.Install(http->server.get());
  absl::StatusOr<int> port = http->server->Start();
  if (!port.ok()) return nullptr;
  spdlog::info("loading store={} http={}:{} readyz=503", absl::GetFlag(FLAGS_store),
               HostOf(address), *port);
  return http;
}

// The storage of --store (null for memory). Errors: those of RocksDbStorage::Open.
absl::StatusOr<std::unique_ptr<slicekeeper::storage::Storage>> OpenStorage() {
  using slicekeeper::storage::RocksDbStorage;
  if (absl::GetFlag(FLAGS_store) == "memory") return nullptr;
  if (absl::GetFlag(FLAGS_store) == "etcd") {
    slicekeeper::storage::EtcdStorageOptions options;
    options.client.endpoints =
        absl::StrSplit(absl::GetFlag(FLAGS_etcd_endpoints), ',', absl::SkipWhitespace());
    options.client.ca_file = absl::GetFlag(FLAGS_etcd_ca_file);
    options.client.cert_file = absl::GetFlag(FLAGS_etcd_cert_file);
    options.client.key_file = absl::GetFlag(FLAGS_etcd_key_file);
    options.client.timeout = absl::GetFlag(FLAGS_etcd_timeout);
    options.prefix = absl::GetFlag(FLAGS_etcd_prefix);
    absl::StatusOr<std::unique_ptr<slicekeeper::storage::EtcdStorage>> storage =
        slicekeeper::storage::EtcdStorage::Open(std::move(options));
    if (!storage.ok()) return storage.status();
    return std::unique_ptr<slicekeeper::storage::Storage>(std::move(*storage));
  }
  RocksDbStorage::Options options;
  options.path = absl::GetFlag(FLAGS_data_dir);
  const std::string sync = absl::GetFlag(FLAGS_sync);
  options.sync = sync == "always"  ? RocksDbStorage::SyncMode::kAlways
                 : sync == "batch" ? RocksDbStorage::SyncMode::kBatch
                                   : RocksDbStorage::SyncMode::kNone;
  options.batch_sync_interval = absl::GetFlag(FLAGS_sync_interval);
  options.history_size = absl::GetFlag(FLAGS_history);
  options.history_bytes = absl::GetFlag(FLAGS_history_disk_bytes);
  options.upgrade = absl::GetFlag(FLAGS_upgrade_data_dir);
  options.progress = LogLoadProgress;
  absl::StatusOr<std::unique_ptr<RocksDbStorage>> storage = RocksDbStorage::Open(options);
  if (!storage.ok()) return storage.status();
  return std::unique_ptr<slicekeeper::storage::Storage>(std::move(*storage));
}

// --history_bytes, or its default for the store. With RocksDB the whole window (--history,
// --history_disk_bytes) is on disk and a resume from before the memory's part reads it from there,
// so memory keeps only the newest records: under a 200 k changes/s burst a 64 MiB window was 64 of
// the server's 189 MiB RSS (BENCHMARKS.md, "RSS after the peak"), 16 MiB still holds seconds of
// such a burst and minutes of ordinary churn. The memory and etcd stores serve resumes from memory
// only, so theirs stays 64 MiB.
int64_t HistoryBytes() {
  const int64_t flag = absl::GetFlag(FLAGS_history_bytes);
  if (flag >= 0) return flag;
  return absl::GetFlag(FLAGS_store) == "rocksdb" ? int64_t{16} << 20 : int64_t{64} << 20;
}

Store::Options StoreOptions() {
  Store::Options options;
  options.shards = absl::GetFlag(FLAGS_shards);
  options.reconcile.max_endpoints_per_slice = absl::GetFlag(FLAGS_max_endpoints_per_slice);
  if (absl::GetFlag(FLAGS_distribution) == "packed") {
    options.reconcile.distribution = slicekeeper::reconcile::Distribution::kPacked;
  }
  options.reconcile.packing.same_zone = absl::GetFlag(FLAGS_packed_same_zone);
  options.history_size = absl::GetFlag(FLAGS_history);
  options.history_bytes = HistoryBytes();
  return options;
}

Server::Options ServerOptions() {
  Server::Options options;
  options.listen_address = absl::GetFlag(FLAGS_listen);
  options.http_listen_address = absl::GetFlag(FLAGS_http_listen);
  options.http_threads = absl::GetFlag(FLAGS_http_threads);
  options.http_max_streams = absl::GetFlag(FLAGS_http_max_streams);
  options.kubernetes_api = absl::GetFlag(FLAGS_k8s_api);
  options.k8s_min_watch_timeout = absl::GetFlag(FLAGS_k8s_min_watch_timeout);
  options.operator_view = absl::GetFlag(FLAGS_ui);
  options.storage_backend = absl::GetFlag(FLAGS_store);
  options.max_endpoints_per_slice = absl::GetFlag(FLAGS_max_endpoints_per_slice);
  // Replicated writes block on an etcd round trip: give them threads so concurrent streams
  // share one. RocksDB writes do not block (the store's committer syncs them as a group), and
  // running them inline on gRPC's threads is faster: 1.6x for one stream, 1.7x for 64 streams
  // (bench/server_bench BM_StreamChangesDurable, 2026-11-25).
  options.apply_threads =
      absl::GetFlag(FLAGS_store) == "etcd" ? absl::GetFlag(FLAGS_apply_threads) : 0;
  options.max_batch_changes = absl::GetFlag(FLAGS_max_batch_changes);
  options.max_recv_message_bytes = absl::GetFlag(FLAGS_max_recv_message_bytes);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_streams_per_connection);
  options.bookmark_interval = absl::GetFlag(FLAGS_bookmark_interval);
  options.watch_max_lag = absl::GetFlag(FLAGS_watch_max_lag);
  return options;
}

int Run() {
  // Block the shutdown signals before any thread starts, so every thread inherits the mask and
  // only sigwait below receives them (no work in a signal handler).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<slicekeeper::Security> security = slicekeeper::SecurityFromFlags();
  if (!security.ok()) {
    spdlog::error("security setup failed error=\"{}\"", security.status().ToString());
    return 1;
  }
  if (absl::GetFlag(FLAGS_allow_loopback_endpoints)) {
    slicekeeper::validation::SetAllowLoopbackEndpoints(true);
    spdlog::warn(
        "*** --allow_loopback_endpoints: loopback endpoint addresses (127.0.0.0/8, ::1) "
        "are ACCEPTED, against Kubernetes validation. For local development and tests "
        "only. ***");
  }
  // RSS, descriptors and the allocator's figures: on /metrics from the load on.
  slicekeeper::metrics::AddProcessMetrics(&slicekeeper::metrics::Registry::Default());
  const absl::Time load_start = absl::Now();
  std::unique_ptr<LoadingHttp> loading_http = StartLoadingHttp(*security);
  absl::StatusOr<std::unique_ptr<slicekeeper::storage::Storage>> storage = OpenStorage();
  if (!storage.ok()) {
    spdlog::error("cannot open storage store={} data_dir={} error=\"{}\"",
                  absl::GetFlag(FLAGS_store), absl::GetFlag(FLAGS_data_dir),
                  storage.status().ToString());
    return 1;
  }
  Store::Options store_options = StoreOptions();
  store_options.storage = storage->get();
  absl::StatusOr<std::unique_ptr<Store>> opened = Store::Open(store_options);
  if (!opened.ok()) {
    spdlog::error("cannot recover store data_dir={} error=\"{}\"", absl::GetFlag(FLAGS_data_dir),
                  opened.status().ToString());
    return 1;
  }
  std::unique_ptr<Store> store = std::move(*opened);
  const slicekeeper::storage::StorageStats loaded = store->storage_stats();
  spdlog::info(
      "store loaded store={} revision={} services={} endpoints={} keys_read={} bytes_read={} "
      "history_records_read={} took={}",
      absl::GetFlag(FLAGS_store), store->revision(), store->totals().services,
      store->totals().endpoints, loaded.load_keys, loaded.load_bytes, loaded.load_history_records,
      absl::FormatDuration(absl::Now() - load_start));
  loading_http.reset();  // the server's own HTTP port takes over the address
  StopHugePagesAfterLoad();
  Server::Options server_options = ServerOptions();
  server_options.tls = security->tls;
  server_options.authorizer = security->authorizer.get();
  // The process's one registry: the process gauges registered before the load stay on /metrics.
  server_options.registry = &slicekeeper::metrics::Registry::Default();
  auto server = std::make_unique<Server>(store.get(), std::move(server_options));
  if (absl::Status s = server->Start(); !s.ok()) {
    spdlog::error("start failed error=\"{}\"", s.ToString());
    return 1;
  }
  spdlog::info("slicekeeper listening grpc={}:{} http={}:{} store={} shards={}",
               HostOf(absl::GetFlag(FLAGS_listen)), server->grpc_port(),
               HostOf(absl::GetFlag(FLAGS_http_listen)), server->http_port(),
               absl::GetFlag(FLAGS_store), absl::GetFlag(FLAGS_shards));
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty() && !WritePortFile(port_file, server->grpc_port(), server->http_port())) {
    spdlog::error("cannot write port_file={}", port_file);
    server->Shutdown(absl::ZeroDuration());
    return 1;
  }
  const int sig = WaitForSignal(signals);
  spdlog::info("stopping signal={} grace={}", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)));
  server->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  server.reset();
  const int64_t revision = store->revision();
  store.reset();
  storage->reset();  // syncs and closes the data directory
  spdlog::info("stopped revision={}", revision);
  return 0;
}

}  // namespace

// jemalloc's compiled-in options (MALLOC_CONF in the environment still wins; glibc malloc and the
// sanitizers' allocators ignore the symbol). thp:always backs jemalloc's arenas with transparent
// huge pages where the kernel leaves that to madvise (Debian's default): loading 1 M endpoints
// first-touches ~700 MB, and 4 KiB page faults were a third of the restart's CPU (3.1 s -> 2.1 s,
// RSS +5 %); the same pages then cost fewer TLB misses under churn. narenas:1: jemalloc's default
// of four arenas per core spreads the store's long-lived records over as many arenas as there
// are gRPC threads that wrote them, each with its own part-filled slabs and retained pages. One
// arena took the RSS that 1 M loaded endpoints add from 196-204 to 170-172 MiB and the RSS after
// etcd_baseline's peak from ~125 to ~90 MiB, throughput within the runs' noise (BENCHMARKS.md,
// "Allocator arenas"): the thread caches take the small allocations, and the write path is
// serialized per shard anyway. On many cores, if a profile shows arena lock contention,
// MALLOC_CONF=narenas:N gives more.
// (A braced extern "C" block: g++ warns on an initialized `extern "C"` declaration, which
// -DSK_WERROR=ON, as scripts/test.sh builds, turns into an error.)
extern "C" {
__attribute__((visibility("default"), used)) const char* malloc_conf = "thp:always,narenas:1";
}

// RocksDB holds a descriptor per table file (over a thousand in a churned 1 M-endpoint store's
// history) beside the gRPC and HTTP sockets, and a login shell's soft limit is often 1 024. The
// soft limit is raised to the hard one at start, as Go programs (etcd, the Kubernetes binaries)
// do; RocksDB then keeps at most half of it open (storage/rocksdb_storage.cc).
void RaiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  const rlim_t before = limit.rlim_cur;
  // An unlimited hard limit is not a valid soft one for descriptors: the kernel caps them at
  // fs.nr_open, 1 048 576 by default.
  const rlim_t target = limit.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_max;
  if (before == RLIM_INFINITY || before >= target) return;
  limit.rlim_cur = target;
  if (setrlimit(RLIMIT_NOFILE, &limit) == 0) {
    spdlog::info("open file limit raised from={} to={}", before, target);
  } else {
    spdlog::warn("open file limit stays at {}: cannot raise it to {}", before, target);
  }
}

int main(int argc, char** argv) {
  // Debian builds Abseil without NDEBUG, so by default every absl::Mutex acquisition (ours and
  // gRPC's) is checked for lock-order cycles: 4 % of a QueryEndpoints profile. The tests keep
  // the check; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::SetProgramUsageMessage("slicekeeper: an EndpointSlice discovery server over gRPC");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status flags = CheckFlags(); !flags.ok()) {
    std::fprintf(stderr, "slicekeeper: %s\n", std::string(flags.message()).c_str());
    return 2;
  }
  SetUpLogging();
  RaiseOpenFileLimit();
  return Run();
}
