// query_load: QueryEndpoints throughput of the real `slicekeeper` binary (DESIGN §6: ">= 50 k
// queries/s, a 1 000-endpoint service with a zone filter"), driven by h2load (Debian's
// nghttp2-client), an HTTP/2 load generator written in C whose per-request cost is a fraction of a
// gRPC client's, so that on two shared cores the figure is the server's and not the client's.
//
// It starts the server (memory store) on loopback, loads bench/query_workload.h's service, checks
// the query through the generated C++ stub (OK, 300 endpoints), writes the request as one
// length-prefixed gRPC message, and runs h2load POSTing it to
// /slicekeeper.v1.EndpointDiscovery/QueryEndpoints with gRPC's headers, for each --connections
// value (each connection keeps --streams calls in flight). h2load only sees HTTP statuses, and gRPC
// puts its status in trailers, so every run is checked against the server's own count: the rise
// of slicekeeper_grpc_requests_total{method="QueryEndpoints",code="OK"} on /metrics must equal
// the requests h2load saw succeed, or the bench fails.
//
// Baseline in the same invocation: grpc.health.v1.Health/Check on the same server, connections
// and streams (gRPC's own service, an empty request and a 2-byte answer): what one gRPC call costs
// here with nothing behind it. Also reported: the server's CPU time per call (utime + stime of the
// process over the run), i.e. what one query costs the server whatever else shares the cores.
//
//   build-bench/bench/query_load [--requests=300000 --connections=1,4,16 --streams=32 --reps=3]
#include <grpcpp/grpcpp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "bench/query_workload.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/integration/http_get.h"
#include "tests/integration/prometheus_text.h"
#include "tests/integration/server_process.h"

#ifndef SK_SLICEKEEPER_BINARY
#define SK_SLICEKEEPER_BINARY ""
#endif

ABSL_FLAG(std::string, slicekeeper, SK_SLICEKEEPER_BINARY, "Path of the slicekeeper binary");
ABSL_FLAG(std::string, h2load, "h2load", "The h2load binary (Debian package nghttp2-client)");
ABSL_FLAG(int, requests, 300'000, "Calls per h2load run");
ABSL_FLAG(std::string, connections, "1,4,16", "HTTP/2 connections per run, comma-separated");
ABSL_FLAG(int, streams, 32, "Calls in flight per connection (h2load -m)");
ABSL_FLAG(int, reps, 3, "Runs of each (connections, method), interleaved");

namespace slicekeeper::bench {
namespace {

using integration::ServerProcess;

constexpr char kQueryPath[] = "/slicekeeper.v1.EndpointDiscovery/QueryEndpoints";
constexpr char kHealthPath[] = "/grpc.health.v1.Health/Check";

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "query_load: %s\n", what.c_str());
  std::exit(1);
}

// One uncompressed gRPC message: flag byte 0, 4-byte big-endian length, the bytes.
std::string Framed(const std::string& message) {
  const uint32_t n = static_cast<uint32_t>(message.size());
  std::string out = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + message;
}

// utime + stime of `pid`, in seconds.
double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command (which may hold spaces) start after the last ')': state is field 3,
  // utime 14, stime 15.
  const std::vector<std::string> f = absl::StrSplit(stat.substr(stat.rfind(')') + 2), ' ');
  double utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtod(f[11], &utime) || !absl::SimpleAtod(f[12], &stime)) {
    Fail("cannot read /proc/<pid>/stat");
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double QueriesOk(const ServerProcess& server) {
  absl::StatusOr<integration::HttpResponse> r = integration::HttpGet(server.http_port(), "/metrics");
  if (!r.ok() || r->status != 200) Fail("GET /metrics failed");
  absl::StatusOr<integration::Exposition> e = integration::ParsePrometheusText(r->body);
  if (!e.ok()) Fail(absl::StrCat("/metrics: ", e.status().ToString()));
  return e->Value("slicekeeper_grpc_requests_total", {{"method", "QueryEndpoints"}, {"code", "OK"}})
      .value_or(0);
}

struct Run {
  double calls_per_s = 0;
  int64_t succeeded = 0;
  int64_t data_bytes = 0;  // DATA frame payload received
  double server_cpu_us = 0;  // per call
};

// h2load prints "finished in 4.93s, 60851.13 req/s, 1.60GB/s" and "requests: N total, N started,
// N done, N succeeded, 0 failed, 0 errored, 0 timeout" and "traffic: ... total, ... headers
// (space savings ...), 2.86MB (3000000) data".
// Fails unless every call succeeded and the answers' bytes (`answer_bytes` each, framed) arrived.
Run H2load(const ServerProcess& server, const std::string& path, const std::string& body_file,
           int connections, size_t answer_bytes) {
  const std::string cmd = absl::StrCat(
      absl::GetFlag(FLAGS_h2load), " -n ", absl::GetFlag(FLAGS_requests), " -c ", connections,
      " -m ", absl::GetFlag(FLAGS_streams), " -t 1 --data=", body_file,
      " -H 'content-type: application/grpc' -H 'te: trailers' http://127.0.0.1:",
      server.grpc_port(), path, " 2>&1");
  const double cpu0 = CpuSeconds(server.pid());
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) Fail("cannot run h2load");
  std::string out;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  if (pclose(p) != 0) Fail(absl::StrCat("h2load failed:\n", out));
  Run run;
  run.server_cpu_us = (CpuSeconds(server.pid()) - cpu0) * 1e6;
  bool rate = false, count = false, data = false;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    if (absl::ConsumePrefix(&line, "finished in ")) {
      std::vector<absl::string_view> parts = absl::StrSplit(line, ", ");
      rate = parts.size() >= 2 && absl::ConsumeSuffix(&parts[1], " req/s") &&
             absl::SimpleAtod(parts[1], &run.calls_per_s);
    } else if (absl::ConsumePrefix(&line, "traffic: ") && absl::ConsumeSuffix(&line, ") data")) {
      data = absl::SimpleAtoi(line.substr(line.rfind('(') + 1), &run.data_bytes);
    } else if (absl::ConsumePrefix(&line, "requests: ")) {
      for (absl::string_view part : absl::StrSplit(line, ", ")) {
        if (absl::ConsumeSuffix(&part, " succeeded")) count = absl::SimpleAtoi(part, &run.succeeded);
      }
    }
  }
  if (!rate || !count || !data) Fail(absl::StrCat("cannot parse h2load's output:\n", out));
  if (run.succeeded != absl::GetFlag(FLAGS_requests)) {
    Fail(absl::StrCat("h2load: ", run.succeeded, " of ", absl::GetFlag(FLAGS_requests),
                      " requests succeeded:\n", out));
  }
  if (run.data_bytes < run.succeeded * static_cast<int64_t>(answer_bytes + 5)) {
    Fail(absl::StrCat("h2load received ", run.data_bytes, " bytes of data, expected at least ",
                      run.succeeded, " x ", answer_bytes + 5));
  }
  run.server_cpu_us /= static_cast<double>(run.succeeded);
  return run;
}

int Main() {
  if (absl::GetFlag(FLAGS_slicekeeper).empty()) Fail("--slicekeeper=PATH is required");
  if (absl::GetFlag(FLAGS_requests) < 1) Fail("--requests: at least 1");
  if (absl::GetFlag(FLAGS_streams) < 1) Fail("--streams: at least 1");
  if (absl::GetFlag(FLAGS_reps) < 1) Fail("--reps: at least 1");
  auto server = ServerProcess::Start(
      {.binary = absl::GetFlag(FLAGS_slicekeeper), .args = {"--store=memory", "--log_level=warn"}});
  if (!server.ok()) Fail(absl::StrCat("cannot start the server: ", server.status().ToString()));
  auto channel = grpc::CreateChannel((*server)->grpc_address(), grpc::InsecureChannelCredentials());

  v1::ChangeBatch fill;
  for (v1::EndpointChange& c : QueriedServiceChanges()) *fill.add_changes() = std::move(c);
  {
    grpc::ClientContext ctx;
    v1::ChangeAck ack;
    const grpc::Status s = v1::EndpointRegistry::NewStub(channel)->ApplyChanges(&ctx, fill, &ack);
    if (!s.ok() || ack.code() != 0) Fail(absl::StrCat("fill failed: ", s.error_message()));
  }
  const v1::QueryEndpointsRequest query = ZoneQuery();
  size_t answer_bytes = 0;
  int endpoints = 0;
  {
    grpc::ClientContext ctx;
    v1::QueryEndpointsResponse resp;
    const grpc::Status s = v1::EndpointDiscovery::NewStub(channel)->QueryEndpoints(&ctx, query, &resp);
    if (!s.ok()) Fail(absl::StrCat("query failed: ", s.error_message()));
    answer_bytes = resp.ByteSizeLong();
    endpoints = resp.endpoints_size();
  }

  char dir[] = "/tmp/sk_query_load_XXXXXX";
  if (mkdtemp(dir) == nullptr) Fail("mkdtemp failed");
  const std::string query_file = absl::StrCat(dir, "/query.bin");
  const std::string health_file = absl::StrCat(dir, "/health.bin");
  std::ofstream(query_file, std::ios::binary) << Framed(query.SerializeAsString());
  std::ofstream(health_file, std::ios::binary) << Framed("");  // HealthCheckRequest{service: ""}

  std::vector<int> connections;
  for (absl::string_view c : absl::StrSplit(absl::GetFlag(FLAGS_connections), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(c, &n) || n < 1) Fail("--connections: positive integers");
    connections.push_back(n);
  }
  std::printf("QueryEndpoints of %d endpoints (%zu bytes per answer), %d calls per run, %d in "
              "flight per connection\n",
              endpoints, answer_bytes, absl::GetFlag(FLAGS_requests), absl::GetFlag(FLAGS_streams));
  std::printf("%-5s %-12s %16s %16s %10s %18s %18s\n", "rep", "connections", "Health/Check /s",
              "QueryEndpoints /s", "ratio", "server us/check", "server us/query");
  for (int rep = 1; rep <= absl::GetFlag(FLAGS_reps); ++rep) {
    for (int c : connections) {
      const Run health = H2load(**server, kHealthPath, health_file, c, /*answer_bytes=*/2);
      const double ok0 = QueriesOk(**server);
      const Run q = H2load(**server, kQueryPath, query_file, c, answer_bytes);
      const double ok = QueriesOk(**server) - ok0;
      if (ok != static_cast<double>(q.succeeded)) {
        Fail(absl::StrCat("the server counted ", ok, " OK queries, h2load ", q.succeeded));
      }
      std::printf("%-5d %-12d %16.0f %16.0f %10.2f %18.1f %18.1f\n", rep, c, health.calls_per_s,
                  q.calls_per_s, q.calls_per_s / health.calls_per_s, health.server_cpu_us,
                  q.server_cpu_us);
      std::fflush(stdout);
    }
  }
  std::remove(query_file.c_str());
  std::remove(health_file.c_str());
  rmdir(dir);
  return 0;
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return slicekeeper::bench::Main();
}
