#include "bench/baseline_report.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace slicekeeper::bench {
namespace {

std::string DisplayName(const std::string& system) {
  if (system == "memory") return "slicekeeper, memory";
  if (system == "rocksdb") return "slicekeeper, rocksdb sync=always";
  if (system == "sk-etcd") return "slicekeeper, etcd backend";
  if (system == "etcd") return "raw etcd";
  if (system == "null") return "null server (transport floor)";
  return system;
}

std::string Rss(const PhaseResult& p) {
  std::vector<std::string> parts;
  for (const ProcessCost& c : p.processes) {
    parts.push_back(absl::StrFormat("%s %.0f", c.name, c.rss_kib / 1024.0));
  }
  return absl::StrJoin(parts, " + ");
}

std::string CostTable(const Report& r) {
  const double endpoints = static_cast<double>(r.workload.services) * r.workload.endpoints;
  std::string out =
      "\nCost per process (/proc, from the first batch to the watchers' catching up; load: per "
      "endpoint written):\n\n| system | phase | process | CPU µs/change | voluntary cs/batch | "
      "involuntary cs/batch | minor faults/batch | RSS MiB | RSS B/endpoint |\n"
      "|---|---|---|---|---|---|---|---|---|\n";
  for (const PhaseResult& p : r.phases) {
    for (const ProcessCost& c : p.processes) {
      if (!c.ok) {
        absl::StrAppendFormat(&out, "| %s | %s | %s | gone | | | | | |\n", DisplayName(p.system),
                              p.phase, c.name);
        continue;
      }
      absl::StrAppendFormat(&out, "| %s | %s | %s | %.2f | %.2f | %.2f | %.1f | %.0f | %.0f |\n",
                            DisplayName(p.system), p.phase, c.name, c.cpu_us_per_change,
                            c.voluntary_switches_per_batch, c.involuntary_switches_per_batch,
                            c.minor_faults_per_batch, c.rss_kib / 1024.0,
                            c.rss_kib * 1024.0 / endpoints);
    }
  }
  return out;
}

const PhaseResult* Find(const Report& r, const std::string& system, const std::string& phase) {
  for (const PhaseResult& p : r.phases) {
    if (p.system == system && p.phase == phase) return &p;
  }
  return nullptr;
}

// num / den; 0 when either is not positive (a ratio of such figures means nothing).
double Ratio(double num, double den) { return num > 0 && den > 0 ? num / den : 0; }

std::string Times(double ratio) {
  return ratio > 0 ? absl::StrFormat("%.2f×", ratio) : std::string("n/a");
}

// `system` against raw etcd, from the same run. Each figure is "bigger is better for system".
struct Comparison {
  std::string system;
  double throughput = 0;  // system's peak / raw etcd's peak
  double p99_ack = 0;     // raw etcd's ack->ev p99 / system's, at the common rate
  double p99_send = 0;    // the same, send->ev
  const PhaseResult *peak, *etcd_peak, *common, *etcd_common;
};

// CPU per change against the null server's (the transport floor: bigger is worse) in each
// phase both ran, and RSS after the peak against raw etcd's.
std::string CostRatios(const Report& r) {
  std::string out;
  const PhaseResult* etcd_peak = Find(r, "etcd", "peak");
  for (const char* system : {"memory", "rocksdb", "sk-etcd", "etcd"}) {
    std::vector<std::string> parts;
    for (const char* phase : {"common", "target", "peak"}) {
      const PhaseResult *p = Find(r, system, phase), *floor = Find(r, "null", phase);
      if (p == nullptr || floor == nullptr) continue;
      parts.push_back(absl::StrFormat("%s %s (%.2f / %.2f µs)", phase,
                                      Times(Ratio(CpuUsPerChange(*p), CpuUsPerChange(*floor))),
                                      CpuUsPerChange(*p), CpuUsPerChange(*floor)));
    }
    const PhaseResult* peak = Find(r, system, "peak");
    if (peak != nullptr && etcd_peak != nullptr && std::string(system) != "etcd") {
      parts.push_back(absl::StrFormat("RSS after peak %s raw etcd's (%.0f / %.0f MiB)",
                                      Times(Ratio(RssKiBTotal(*peak), RssKiBTotal(*etcd_peak))),
                                      RssKiBTotal(*peak) / 1024.0,
                                      RssKiBTotal(*etcd_peak) / 1024.0));
    }
    if (parts.empty()) continue;
    absl::StrAppendFormat(&out, "- %s: CPU per change vs the null server: %s\n",
                          DisplayName(system), absl::StrJoin(parts, "; "));
  }
  return out.empty() ? out : absl::StrCat("\nCost ratios (same run):\n", out);
}

std::vector<Comparison> Compare(const Report& r) {
  std::vector<Comparison> out;
  const PhaseResult *epeak = Find(r, "etcd", "peak"), *ecom = Find(r, "etcd", "common");
  for (const char* system : {"rocksdb", "memory", "sk-etcd", "null"}) {
    const PhaseResult *peak = Find(r, system, "peak"), *com = Find(r, system, "common");
    if (peak == nullptr || epeak == nullptr || com == nullptr || ecom == nullptr) continue;
    out.push_back({.system = system,
                   .throughput = Ratio(peak->achieved, epeak->achieved),
                   .p99_ack = Ratio(ecom->ack_p99, com->ack_p99),
                   .p99_send = Ratio(ecom->send_p99, com->send_p99),
                   .peak = peak,
                   .etcd_peak = epeak,
                   .common = com,
                   .etcd_common = ecom});
  }
  return out;
}

std::string Ratios(const Report& r) {
  std::string out =
      "\nRatios against raw etcd (same run; DESIGN §6 target: throughput >= 10×, p99 <= 1/10, "
      "i.e. every figure below >= 10×):\n";
  for (const Comparison& c : Compare(r)) {
    absl::StrAppendFormat(
        &out,
        "- %s: peak throughput %s (%.0f / %.0f changes/s); at %.0f changes/s, raw etcd p99 / "
        "this p99: ack->ev %s (%.2f / %.2f ms), send->ev %s (%.2f / %.2f ms)\n",
        DisplayName(c.system), Times(c.throughput), c.peak->achieved, c.etcd_peak->achieved,
        r.common_rate, Times(c.p99_ack), c.etcd_common->ack_p99, c.common->ack_p99,
        Times(c.p99_send), c.etcd_common->send_p99, c.common->send_p99);
  }
  return out;
}

std::string RatiosJson(const Report& r) {
  std::vector<std::string> out;
  for (const Comparison& c : Compare(r)) {
    out.push_back(absl::StrFormat(
        "\"%s\":{\"peak_throughput_vs_etcd\":%.3f,\"etcd_p99_over_p99_ack_to_event\":%.3f,"
        "\"etcd_p99_over_p99_send_to_event\":%.3f}",
        c.system, c.throughput, c.p99_ack, c.p99_send));
  }
  return absl::StrCat("{", absl::StrJoin(out, ","), "}");
}

}  // namespace

std::string ToTable(const Report& r) {
  const Workload& wl = r.workload;
  std::string out = absl::StrFormat(
      "%d services x %d endpoints, batches of %d changes (one service each), <= %d in flight, "
      "%d slicekeeper stream(s); %d watchers x %d services (slicekeeper: one Watch stream each, "
      "%s view; raw etcd: one watch per service); %s per phase; common rate %.0f, target rate "
      "%.0f changes/s\n\n",
      wl.services, wl.endpoints, wl.batch, wl.max_inflight, r.streams,
      static_cast<int>(wl.watch.size()),
      wl.watch.empty() ? 0 : static_cast<int>(wl.watch[0].size()), absl::AsciiStrToUpper(r.view),
      absl::FormatDuration(wl.duration), r.common_rate, r.rate);
  absl::StrAppend(&out,
                  "| system | phase | target/s | acked/s | saturated | batches ok/failed | "
                  "deliveries (missing) | ack->ev p50 / p99 / p999 ms | send->ev p50 / p99 / p999 "
                  "ms | RSS MiB |\n|---|---|---|---|---|---|---|---|---|---|\n");
  for (const PhaseResult& p : r.phases) {
    absl::StrAppendFormat(
        &out,
        "| %s | %s | %s | %.0f | %s | %d/%d | %d (%d) | %.2f / %.2f / %.2f | %.2f / %.2f / %.2f | "
        "%s |\n",
        DisplayName(p.system), p.phase,
        p.target_rate > 0 ? absl::StrFormat("%.0f", p.target_rate) : "unthrottled", p.achieved,
        p.saturated ? "yes" : "no", p.batches_acked, p.batches_failed, p.deliveries, p.missing,
        p.ack_p50, p.ack_p99, p.ack_p999, p.send_p50, p.send_p99, p.send_p999, Rss(p));
  }
  for (const PhaseResult& p : r.phases) {
    if (!p.first_error.empty()) {
      absl::StrAppendFormat(&out, "\n%s %s: first error: %s", DisplayName(p.system), p.phase,
                            p.first_error);
    }
  }
  absl::StrAppend(&out, CostTable(r));
  absl::StrAppend(&out, Ratios(r));
  absl::StrAppend(&out, CostRatios(r));
  for (const std::string& f : r.failures) absl::StrAppend(&out, "FAILED: ", f, "\n");
  return out;
}

std::string ToJson(const Report& r) {
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) q += c;
    }
    return q + "\"";
  };
  std::vector<std::string> phases;
  for (const PhaseResult& p : r.phases) {
    std::vector<std::string> procs;
    for (const ProcessCost& c : p.processes) {
      procs.push_back(absl::StrFormat(
          "%s:{\"ok\":%s,\"cpu_us_per_change\":%.3f,\"voluntary_switches_per_batch\":%.3f,"
          "\"involuntary_switches_per_batch\":%.3f,\"minor_faults_per_batch\":%.3f,"
          "\"rss_kib\":%d}",
          quote(c.name), c.ok ? "true" : "false", c.cpu_us_per_change,
          c.voluntary_switches_per_batch, c.involuntary_switches_per_batch,
          c.minor_faults_per_batch, c.rss_kib));
    }
    phases.push_back(absl::StrFormat(
        "{\"system\":%s,\"phase\":%s,\"target_rate\":%.0f,\"achieved\":%.1f,\"saturated\":%s,"
        "\"batches_acked\":%d,\"batches_failed\":%d,\"first_error\":%s,\"deliveries\":%d,"
        "\"missing\":%d,\"ack_to_event_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f},"
        "\"send_to_event_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f},\"processes\":{%s}}",
        quote(p.system), quote(p.phase), p.target_rate, p.achieved, p.saturated ? "true" : "false",
        p.batches_acked, p.batches_failed, quote(p.first_error), p.deliveries, p.missing, p.ack_p50,
        p.ack_p99, p.ack_p999, p.send_p50, p.send_p99, p.send_p999, absl::StrJoin(procs, ",")));
  }
  std::vector<std::string> failures;
  for (const std::string& f : r.failures) failures.push_back(quote(f));
  const Workload& wl = r.workload;
  return absl::StrFormat(
      "{\"workload\":{\"services\":%d,\"endpoints\":%d,\"batch\":%d,\"max_inflight\":%d,"
      "\"streams\":%d,\"view\":%s,\"watchers\":%d,\"services_per_watcher\":%d,"
      "\"duration_s\":%.1f,"
      "\"rate\":%.0f,\"common_rate\":%.0f},\n\"phases\":[\n%s\n],\n\"ratios\":%s,\n"
      "\"failures\":[%s]}\n",
      wl.services, wl.endpoints, wl.batch, wl.max_inflight, r.streams, quote(r.view),
      static_cast<int>(wl.watch.size()),
      wl.watch.empty() ? 0 : static_cast<int>(wl.watch[0].size()),
      absl::ToDoubleSeconds(wl.duration), r.rate, r.common_rate, absl::StrJoin(phases, ",\n"),
      RatiosJson(r), absl::StrJoin(failures, ","));
}

}  // namespace slicekeeper::bench
