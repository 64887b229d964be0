// etcd_baseline's output: the phases of every system as a Markdown table followed by the ratios
// DESIGN §6 asks for (slicekeeper on RocksDB against raw etcd; the etcd backend against raw etcd),
// or the same as one JSON object.
#ifndef SLICEKEEPER_BENCH_BASELINE_REPORT_H_
#define SLICEKEEPER_BENCH_BASELINE_REPORT_H_

#include <string>
#include <vector>

#include "bench/baseline_phase.h"

namespace slicekeeper::bench {

struct Report {
  Workload workload;
  double rate = 0;         // the 'target' phase's rate
  double common_rate = 0;  // the 'common' phase's rate, after any lowering
  int streams = 1;
  std::string view;  // slicekeeper watchers' view: "slices" or "endpoints"
  std::vector<PhaseResult> phases;
  std::vector<std::string> failures;  // "<system>: <status>" of systems that did not run through
};

std::string ToTable(const Report& report);
std::string ToJson(const Report& report);

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_BASELINE_REPORT_H_
