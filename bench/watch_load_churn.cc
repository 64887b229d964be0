// watch_load's churn phases: peak, 10 % and 50 % of it, and --rates (see watch_load.cc), on a
// plaintext server, on one with mTLS + a policy + an audit log (--security=mtls), or on both,
// alternating (--security=both: the cost of TLS and authorization, in one invocation).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/churn.h"
#include "bench/proc_stats.h"
#include "bench/watch_load_cluster.h"
#include "common/percentile.h"
#include "tests/security/test_certs.h"

ABSL_FLAG(int, services, 1000, "Services (x 100 endpoints) in the store for the churn phases");
ABSL_FLAG(int, hot_services, 100,
          "Of those, the services that are watched and churned (watchers spread evenly)");
ABSL_FLAG(int, watchers, 1000, "Watch streams in the churn phases (one service each)");
ABSL_FLAG(double, seconds, 5, "Duration of each churn phase");
ABSL_FLAG(std::string, view, "slices", "Churn phases: the watchers' view, slices or endpoints");
ABSL_FLAG(std::string, rates, "",
          "Churn phases: extra phases at these fixed rates (changes/s, comma-separated), after the "
          "peak, 10 % and 50 % phases");

ABSL_FLAG(std::string, security, "plain",
          "Churn phases: plain; mtls (TLS, client certificates required, a policy granting the "
          "harness admin, every write audited to a file); or both, alternating --security_reps "
          "times");
ABSL_FLAG(int, security_reps, 2, "--security=both: how many times each mode runs");

namespace slicekeeper::bench {
namespace {

// mTLS with everything the issue #19 server does per request: certificates made with openssl
// in `certs`, client_auth=require, a policy (the harness's certificate is an admin), an audit
// log. The clients present the harness's certificate.
Security MutualTls(testing::TestCerts& certs) {
  const testing::TestCerts::Pair ca = certs.Ca("ca");
  const testing::TestCerts::Pair server = certs.Server(ca, "server");
  const testing::TestCerts::Pair client = certs.Leaf(ca, "bench", "bench", "");
  const std::string policy = certs.Path("policy.yaml");
  std::FILE* f = std::fopen(policy.c_str(), "w");
  std::fputs("rules:\n  - {role: admin, identities: [bench], namespaces: [\"*\"]}\n", f);
  std::fclose(f);
  Security s;
  s.name = "mtls";
  s.server_args = {"--tls_cert_file=" + server.cert,  "--tls_key_file=" + server.key,
                   "--tls_client_ca_file=" + ca.cert, "--client_auth=require",
                   "--authz_policy_file=" + policy,   "--audit_log=" + certs.Path("audit.log")};
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = testing::TestCerts::Read(ca.cert);
  o.pem_cert_chain = testing::TestCerts::Read(client.cert);
  o.pem_private_key = testing::TestCerts::Read(client.key);
  s.credentials = grpc::SslCredentials(o);
  return s;
}

struct ChurnResult {
  double changes_per_s = 0;  // acked
  int64_t changes = 0;       // acked
  absl::Time end;            // when the last ack arrived
  // Per service: the highest revision of an acked batch that changed something (0: none).
  std::vector<int64_t> last_revision;
  // When the writer held the ack of each revision.
  absl::flat_hash_map<int64_t, absl::Time> acked_at;
};

// Streams 100-change batches for `seconds`, at most `rate` changes/s (0: as fast as acks allow),
// batch i to service i % services.
ChurnResult Churn100(Cluster& c, Churn& churn, int services, double seconds, double rate) {
  grpc::ClientContext ctx;
  auto stream = c.registry->StreamChanges(&ctx);
  std::atomic<int64_t> acked{0};
  ChurnResult result;
  result.last_revision.assign(services, 0);
  std::thread reader([&] {
    v1::ChangeAck ack;
    while (stream->Read(&ack)) {
      if (ack.code() != 0) continue;
      const absl::Time now = absl::Now();
      const v1::BatchStats& st = ack.stats();
      if (st.endpoints_added() + st.endpoints_updated() + st.endpoints_removed() > 0) {
        int64_t& last = result.last_revision[ack.batch_id() % services];
        last = std::max(last, ack.revision());
        result.acked_at.emplace(ack.revision(), now);
      }
      acked.fetch_add(100);
    }
  });
  const absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
  int64_t sent = 0;
  for (int i = 0; absl::Now() < end; ++i) {
    if (rate > 0) {
      const absl::Time due = start + absl::Seconds(sent / rate);
      if (due > absl::Now()) absl::SleepFor(due - absl::Now());  // pacing, not synchronization
    } else if (sent - acked.load() > 64 * 100) {
      absl::SleepFor(absl::Microseconds(50));  // bound what is in flight
      continue;
    }
    v1::ChangeBatch b;
    b.set_batch_id(i);
    for (v1::EndpointChange& ch : churn.Batch(i % services, 100, false)) {
      *b.add_changes() = std::move(ch);
    }
    if (!stream->Write(b)) break;
    sent += 100;
  }
  stream->WritesDone();
  reader.join();
  stream->Finish();
  result.end = absl::Now();
  result.changes = acked.load();
  result.changes_per_s = result.changes / absl::ToDoubleSeconds(result.end - start);
  return result;
}

// Waits until every watcher holds an event at or past its service's last changing revision;
// returns when that was (or, after `timeout`, nullopt).
std::optional<absl::Time> AwaitCaughtUp(const std::vector<std::unique_ptr<Watcher>>& watchers,
                                        const std::vector<int64_t>& last_revision,
                                        absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (const auto& w : watchers) {
    while (w->revision() < last_revision[w->service()]) {
      if (absl::Now() > deadline) return std::nullopt;
      absl::SleepFor(absl::Microseconds(200));  // polling the watchers' progress, bounded
    }
  }
  return absl::Now();
}

void ChurnOn(const std::string& binary, const Security& security) {
  const int services = absl::GetFlag(FLAGS_services), n = absl::GetFlag(FLAGS_watchers);
  const int hot = std::min(services, absl::GetFlag(FLAGS_hot_services));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const bool endpoints_view = absl::GetFlag(FLAGS_view) == "endpoints";
  if (!endpoints_view && absl::GetFlag(FLAGS_view) != "slices") {
    std::fprintf(stderr, "--view: slices or endpoints\n");
    std::exit(2);
  }
  Cluster c = StartCluster(binary, {}, security);
  Fill(c, services);
  Recorder rec;
  std::vector<std::unique_ptr<Watcher>> watchers =
      OpenWatchers(c, n, hot, &rec, endpoints_view ? v1::ENDPOINTS : v1::SLICES);
  Churn churn(hot, kEndpoints, 7);
  std::printf("%d watchers, %s view, %d hot services, %s\n", n,
              endpoints_view ? "ENDPOINTS" : "SLICES", hot, security.name.c_str());
  // us/change and us/event: the server's CPU (user + system, /proc) from the first batch to the
  // watchers' catching up, per endpoint change acked and per watch event delivered; cs/batch: its
  // context switches (voluntary + involuntary, every thread) per 100-change batch.
  std::printf("%-6s %10s %12s %14s %10s %9s %9s %9s %9s %9s %9s %9s\n", "phase", "changes/s",
              "events/s", "endpoints/s", "drain ms", "p50 ms", "p99 ms", "p999 ms", "us/change",
              "us/event", "cs/batch", "rss MiB");
  double peak = 0;
  // Phases: a fraction of the peak (<= 1; 1 = the peak itself) or a fixed rate (> 1, changes/s).
  std::vector<double> phases = {1.0, 0.1, 0.5};
  for (absl::string_view r : absl::StrSplit(absl::GetFlag(FLAGS_rates), ',', absl::SkipEmpty())) {
    double rate = 0;
    if (!absl::SimpleAtod(r, &rate) || rate <= 1) {
      std::fprintf(stderr, "--rates: changes/s above 1, comma-separated\n");
      std::exit(2);
    }
    phases.push_back(rate);
  }
  for (double fraction : phases) {
    {
      absl::MutexLock l(&rec.mu);
      rec.latencies_ms.clear();
    }
    for (auto& w : watchers) w->TakeArrivals();
    rec.measuring = true;
    const int64_t events0 = rec.events.load(), endpoints0 = rec.endpoints.load();
    const absl::Time t0 = absl::Now();
    const ProcStats cost0 = ReadProcStats(c.server->pid());
    const ChurnResult churned = Churn100(c, churn, hot, seconds,
                                         fraction < 1   ? peak * fraction
                                         : fraction > 1 ? fraction
                                                        : 0);
    const std::optional<absl::Time> caught_up =
        AwaitCaughtUp(watchers, churned.last_revision, absl::Seconds(60));
    rec.measuring = false;
    const ProcStats cost1 = ReadProcStats(c.server->pid());
    const double elapsed = absl::ToDoubleSeconds(caught_up.value_or(absl::Now()) - t0);
    const double changes = static_cast<double>(churned.changes);
    const double events = static_cast<double>(rec.events.load() - events0);
    const double cpu_us = (cost1.cpu_seconds() - cost0.cpu_seconds()) * 1e6;
    const double switches =
        static_cast<double>(cost1.voluntary_switches + cost1.involuntary_switches -
                            cost0.voluntary_switches - cost0.involuntary_switches);
    const double events_per_s = (rec.events.load() - events0) / elapsed;
    const double endpoints_per_s = (rec.endpoints.load() - endpoints0) / elapsed;
    if (fraction == 1.0) peak = churned.changes_per_s;
    std::vector<double> latencies;
    {
      absl::MutexLock l(&rec.mu);
      latencies.swap(rec.latencies_ms);
    }
    for (auto& w : watchers) {
      for (const auto& [revision, at] : w->TakeArrivals()) {
        auto it = churned.acked_at.find(revision);
        if (it != churned.acked_at.end()) {
          latencies.push_back(absl::ToDoubleMilliseconds(at - it->second));
        }
      }
    }
    std::printf(
        "%-6s %10.0f %12.0f %14.0f %10s %9.2f %9.2f %9.2f %9.2f %9.3f %9.2f %9.1f\n",
        fraction == 1.0  ? "peak"
        : fraction > 1.0 ? absl::StrCat(static_cast<int64_t>(fraction), "/s").c_str()
                         : absl::StrCat(static_cast<int>(fraction * 100), "%").c_str(),
        churned.changes_per_s, events_per_s, endpoints_per_s,
        caught_up
            ? absl::StrFormat("%.0f", absl::ToDoubleMilliseconds(*caught_up - churned.end)).c_str()
            : "timeout",
        Percentile(absl::MakeSpan(latencies), 0.5), Percentile(absl::MakeSpan(latencies), 0.99),
        Percentile(absl::MakeSpan(latencies), 0.999), cpu_us / std::max(1.0, changes),
        cpu_us / std::max(1.0, events), switches * 100 / std::max(1.0, changes),
        cost1.rss_kib / 1024.0);
    std::fflush(stdout);
  }
  for (auto& w : watchers) w->Stop();
}

}  // namespace

void ChurnPhases(const std::string& binary) {
  const std::string mode = absl::GetFlag(FLAGS_security);
  if (mode == "plain") return ChurnOn(binary, Security{});
  testing::TestCerts certs;
  const Security mtls = MutualTls(certs);
  if (mode == "mtls") return ChurnOn(binary, mtls);
  if (mode != "both") {
    std::fprintf(stderr, "--security: plain, mtls or both\n");
    std::exit(2);
  }
  for (int rep = 0; rep < absl::GetFlag(FLAGS_security_reps); ++rep) {
    ChurnOn(binary, Security{});
    ChurnOn(binary, mtls);
  }
}

}  // namespace slicekeeper::bench
