// distribution_sim: replays endpoint-change traces through the reconciler in process, once per
// distribution mode, and prints what each costs (slice writes and watcher bytes per endpoint
// change, CPU per change) and how full it keeps the slices (mean and p10 fill over time, slices
// against the minimum, slices a zone query reads). Figures and their meaning: docs/distribution.md
// §5 and BENCHMARKS.md.
//
//   distribution_sim                                    every trace model, every mode
//   distribution_sim --traces=rolling-update,30-day --replicas=1000 --seed=1
//   distribution_sim --trace_file=churn.jsonl           a recorded trace (skctl churn --record)
//   distribution_sim --write_traces=/tmp/traces         also write each model's trace as JSON lines
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/distribution_sim.h"
#include "workload/trace_file.h"
#include "workload/traces.h"

ABSL_FLAG(std::string, traces, "all", "Trace models to run, comma-separated, or all");
ABSL_FLAG(std::string, trace_file, "", "Also replay this trace file (JSON lines)");
ABSL_FLAG(std::string, write_traces, "", "Write each generated trace to DIR/<model>.jsonl");
ABSL_FLAG(int, replicas, 1000, "Pods of the traces' Deployment");
ABSL_FLAG(uint64_t, seed, 1, "Seed of the trace models");
ABSL_FLAG(int, max_endpoints_per_slice, 100, "Endpoints per slice at most");
ABSL_FLAG(std::string, modes, "kubernetes,packed,packed-same-zone", "Distribution modes to run");
ABSL_FLAG(double, fill_threshold, slicekeeper::reconcile::PackingOptions().fill_threshold,
          "packed: repack with paid writes below this fill");
ABSL_FLAG(double, writes_per_change, slicekeeper::reconcile::PackingOptions().writes_per_change,
          "packed: extra slice writes earned per endpoint change");
ABSL_FLAG(double, max_writes_per_batch,
          slicekeeper::reconcile::PackingOptions().max_writes_per_batch,
          "packed: extra slice writes one batch may make at most");

namespace slicekeeper::bench {
namespace {

absl::StatusOr<reconcile::Options> OptionsFor(const std::string& mode) {
  reconcile::Options o;
  o.max_endpoints_per_slice = absl::GetFlag(FLAGS_max_endpoints_per_slice);
  o.packing.fill_threshold = absl::GetFlag(FLAGS_fill_threshold);
  o.packing.writes_per_change = absl::GetFlag(FLAGS_writes_per_change);
  o.packing.max_writes_per_batch = absl::GetFlag(FLAGS_max_writes_per_batch);
  if (mode == "kubernetes") return o;
  o.distribution = reconcile::Distribution::kPacked;
  if (mode == "packed") return o;
  o.packing.same_zone = true;
  if (mode == "packed-same-zone") return o;
  return absl::InvalidArgumentError(
      absl::StrCat("--modes: unknown mode \"", mode, "\" (kubernetes, packed, packed-same-zone)"));
}

void PrintHeader() {
  std::printf(
      "| trace | mode | changes | writes/change (C+U+D) | bytes/change | vs k8s | mean fill | p10 "
      "fill | slices/min (mean) | slices/min (end) | zone reads/min | CPU ns/change | extra "
      "writes (max/batch) |\n");
  std::printf("|---|---|---:|---|---:|---:|---:|---:|---:|---|---|---:|---|\n");
}

void PrintRow(const std::string& trace, const std::string& mode, const SimResult& r,
              double k8s_bytes) {
  const double per = static_cast<double>(r.changes);
  std::printf(
      "| %s | %s | %lld | %.3f (%.3f+%.3f+%.3f) | %.0f | %.3f | %.1f %% | %.1f %% | %.2f | %lld / "
      "%lld | %.2f / %.2f | %.0f | %lld (%lld) |\n",
      trace.c_str(), mode.c_str(), static_cast<long long>(r.changes), r.WritesPerChange(),
      r.creates / per, r.updates / per, r.deletes / per, r.BytesPerChange(),
      k8s_bytes > 0 ? r.BytesPerChange() / k8s_bytes : 1.0, 100 * r.mean_fill, 100 * r.p10_fill,
      r.mean_slice_ratio, static_cast<long long>(r.end_slices),
      static_cast<long long>(r.end_min_slices), r.zone_reads, r.zone_min, r.CpuNsPerChange(),
      static_cast<long long>(r.extra_writes), static_cast<long long>(r.max_batch_extra));
  std::fflush(stdout);
}

absl::Status RunTrace(const workload::Trace& trace, const std::vector<std::string>& modes) {
  absl::StatusOr<NormalizedTrace> normalized = Normalize(trace);
  if (!normalized.ok()) return normalized.status();
  double k8s_bytes = 0;
  for (const std::string& mode : modes) {
    absl::StatusOr<reconcile::Options> options = OptionsFor(mode);
    if (!options.ok()) return options.status();
    absl::StatusOr<SimResult> r = Replay(*normalized, *options);
    if (!r.ok()) return r.status();
    if (mode == "kubernetes") k8s_bytes = r->BytesPerChange();
    PrintRow(trace.name, mode, *r, k8s_bytes);
  }
  return absl::OkStatus();
}

absl::Status WriteTrace(const workload::Trace& trace, const std::string& dir) {
  std::ofstream out(absl::StrCat(dir, "/", trace.name, ".jsonl"), std::ios::trunc);
  return workload::TraceWriter(&out).Write(trace);
}

absl::Status Run() {
  const std::vector<std::string> modes = absl::StrSplit(absl::GetFlag(FLAGS_modes), ',');
  std::vector<std::string> models = workload::TraceModels();
  if (absl::GetFlag(FLAGS_traces) != "all") {
    models = absl::StrSplit(absl::GetFlag(FLAGS_traces), ',', absl::SkipEmpty());
  }
  if (!absl::GetFlag(FLAGS_trace_file).empty() && absl::GetFlag(FLAGS_traces) == "all") {
    models.clear();
  }
  PrintHeader();
  for (const std::string& model : models) {
    absl::StatusOr<workload::Trace> trace = workload::GenerateTrace(
        model, {.replicas = absl::GetFlag(FLAGS_replicas), .seed = absl::GetFlag(FLAGS_seed)});
    if (!trace.ok()) return trace.status();
    if (!absl::GetFlag(FLAGS_write_traces).empty()) {
      if (absl::Status s = WriteTrace(*trace, absl::GetFlag(FLAGS_write_traces)); !s.ok()) return s;
    }
    if (absl::Status s = RunTrace(*trace, modes); !s.ok()) return s;
  }
  if (const std::string path = absl::GetFlag(FLAGS_trace_file); !path.empty()) {
    std::ifstream in(path);
    if (!in) return absl::NotFoundError(absl::StrCat("--trace_file: cannot open ", path));
    absl::StatusOr<workload::Trace> trace = workload::ReadTrace(in, path);
    if (!trace.ok()) return trace.status();
    return RunTrace(*trace, modes);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status s = slicekeeper::bench::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "distribution_sim: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
