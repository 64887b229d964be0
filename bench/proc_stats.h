// ProcStats: what a benchmark reads about a process from /proc/<pid>/stat and /proc/<pid>/status:
// resident memory, CPU time (user + system), context switches and minor page faults. Harnesses
// sample a server before and after a phase and report the differences per change or per event.
// CPU time and faults are the whole process's, in clock ticks (10 ms: phases must be long enough
// to spend many); context switches are summed over the threads alive when read (the kernel keeps
// no process total), so a thread that exits in between takes its switches with it.
//
// Thread-safety: stateless functions.
//
// Example:
//   ProcStats before = ReadProcStats(pid), after = ...;
//   double us_per_change = (after.cpu_seconds() - before.cpu_seconds()) * 1e6 / changes;
#ifndef SLICEKEEPER_BENCH_PROC_STATS_H_
#define SLICEKEEPER_BENCH_PROC_STATS_H_

#include <cstdint>

namespace slicekeeper::bench {

struct ProcStats {
  bool ok = false;  // false when the process is gone or /proc could not be parsed
  int64_t rss_kib = 0;
  double user_seconds = 0;
  double system_seconds = 0;
  int64_t voluntary_switches = 0;
  int64_t involuntary_switches = 0;
  int64_t minor_faults = 0;

  double cpu_seconds() const { return user_seconds + system_seconds; }
};

// The process's figures now (every thread's, summed by the kernel).
ProcStats ReadProcStats(int pid);

// VmRSS of `pid` in KiB, or -1.
int64_t RssKiB(int pid);

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_PROC_STATS_H_
