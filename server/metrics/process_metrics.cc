#include "server/metrics/process_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <utility>

// jemalloc's control interface, when jemalloc is linked (weak: null with glibc malloc).
extern "C" int mallctl(const char* name, void* oldp, size_t* oldlenp, void* newp, size_t newlen)
    __attribute__((weak));

namespace slicekeeper::metrics {
namespace {

// Virtual and resident bytes from /proc/self/statm (pages); -1 when unreadable.
std::pair<double, double> Statm() {
  std::ifstream in("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return {-1, -1};
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  return {static_cast<double>(size) * page, static_cast<double>(resident) * page};
}

double OpenFds() {
  std::error_code ec;
  double n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n - 1;  // not the iterator's own descriptor
}

// Seconds since the epoch the process started at: field 22 of /proc/self/stat (clock ticks since
// boot) plus the boot time from /proc/stat.
double StartTimeSeconds() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!std::getline(stat, line)) return -1;
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return -1;
  unsigned long long start_ticks = 0;
  if (std::sscanf(line.c_str() + paren + 1,
                  " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d "
                  "%llu",
                  &start_ticks) != 1) {
    return -1;
  }
  std::ifstream proc_stat("/proc/stat");
  std::string key;
  long long boot = -1;
  while (proc_stat >> key) {
    if (key == "btime") {
      proc_stat >> boot;
      break;
    }
    proc_stat.ignore(1 << 20, '\n');
  }
  if (boot < 0) return -1;
  return static_cast<double>(boot) +
         static_cast<double>(start_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// A jemalloc statistic, refreshed first ("epoch"); -1 without jemalloc or on error.
double JemallocStat(const char* name) {
  if (mallctl == nullptr) return -1;
  uint64_t epoch = 1;
  size_t len = sizeof(epoch);
  if (mallctl("epoch", &epoch, &len, &epoch, len) != 0) return -1;
  size_t value = 0;
  len = sizeof(value);
  if (mallctl(name, &value, &len, nullptr, 0) != 0) return -1;
  return static_cast<double>(value);
}

}  // namespace

void AddProcessMetrics(Registry* registry) {
  registry->AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                             [] { return Statm().second; });
  registry->AddCallbackGauge("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                             [] { return Statm().first; });
  registry->AddCallbackGauge("process_open_fds", "Number of open file descriptors.", OpenFds);
  registry->AddCallbackGauge("process_max_fds", "Maximum number of open file descriptors.", [] {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1.0;
    return limit.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(limit.rlim_cur);
  });
  const double start = StartTimeSeconds();
  registry->AddCallbackGauge("process_start_time_seconds",
                             "Start time of the process since unix epoch in seconds.",
                             [start] { return start; });
  auto* allocator = registry->AddGaugeFamily(
      "slicekeeper_allocator_bytes",
      "jemalloc's statistics, by part: allocated (held by the program), active (pages with a live "
      "allocation), resident (mapped in, dirty pages included), metadata, retained (address space "
      "kept, not resident). -1 when the process does not run on jemalloc.",
      {"part"});
  for (const auto& [part, name] :
       {std::pair<const char*, const char*>{"allocated", "stats.allocated"},
        {"active", "stats.active"},
        {"resident", "stats.resident"},
        {"metadata", "stats.metadata"},
        {"retained", "stats.retained"}}) {
    allocator->WithLabels({part})->SetCallback([name = name] { return JemallocStat(name); });
  }
}

}  // namespace slicekeeper::metrics
