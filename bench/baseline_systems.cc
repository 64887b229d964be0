#include "bench/baseline_systems.h"

#include <chrono>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace slicekeeper::bench {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void DeliveryLog::Record(int watcher, int service, int64_t revision, int64_t ns) {
  absl::MutexLock l(&mu_);
  int64_t& max = max_[watcher][service];
  if (revision <= max) return;
  max = revision;
  log_[watcher].push_back({service, revision, ns});
}

int64_t DeliveryLog::Max(int watcher, int service) {
  absl::MutexLock l(&mu_);
  return max_[watcher][service];
}

std::vector<std::vector<DeliveryLog::Delivery>> DeliveryLog::Take() {
  absl::MutexLock l(&mu_);
  std::vector<std::vector<Delivery>> out(log_.size());
  out.swap(log_);
  return out;
}

int64_t DirectoryBytes(const std::string& dir) {
  std::error_code ec;
  int64_t bytes = 0;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec)) bytes += static_cast<int64_t>(it->file_size(ec));
  }
  return bytes;
}

}  // namespace slicekeeper::bench
