#include "bench/proc_stats.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace slicekeeper::bench {
namespace {

// The value of a "Key:   value ..." line of /proc/<pid>/status, or -1.
int64_t StatusField(const std::string& status, const std::string& key) {
  const size_t at = status.find("\n" + key + ":");
  if (at == std::string::npos) return -1;
  return std::atoll(status.c_str() + at + key.size() + 2);
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path);
  std::stringstream s;
  s << "\n" << file.rdbuf();
  return s.str();
}

// Context switches of every live thread: /proc/<pid>/status counts the main thread's alone.
void AddThreadSwitches(int pid, ProcStats* out) {
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"), ec)) {
    const std::string s = ReadFile(task.path() / "status");
    const int64_t voluntary = StatusField(s, "voluntary_ctxt_switches");
    const int64_t involuntary = StatusField(s, "nonvoluntary_ctxt_switches");
    if (voluntary >= 0) out->voluntary_switches += voluntary;
    if (involuntary >= 0) out->involuntary_switches += involuntary;
  }
}

}  // namespace

ProcStats ReadProcStats(int pid) {
  ProcStats out;
  std::ifstream stat_file(absl::StrCat("/proc/", pid, "/stat"));
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold spaces.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return out;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;
  for (std::string s; fields >> s;) f.push_back(s);
  // f[0] is field 3 (state): minflt is field 10, utime 14, stime 15.
  if (f.size() < 13) return out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  out.minor_faults = std::atoll(f[7].c_str());
  out.user_seconds = static_cast<double>(std::atoll(f[11].c_str())) / ticks;
  out.system_seconds = static_cast<double>(std::atoll(f[12].c_str())) / ticks;
  out.rss_kib = StatusField(ReadFile(absl::StrCat("/proc/", pid, "/status")), "VmRSS");
  AddThreadSwitches(pid, &out);
  out.ok = out.rss_kib >= 0;
  return out;
}

int64_t RssKiB(int pid) {
  ProcStats s = ReadProcStats(pid);
  return s.ok ? s.rss_kib : -1;
}

}  // namespace slicekeeper::bench
