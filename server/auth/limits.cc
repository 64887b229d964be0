#include "server/auth/limits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::auth {
namespace {

std::string Who(absl::string_view identity) {
  return identity.empty() ? std::string("anonymous") : absl::StrCat("identity ", identity);
}

}  // namespace

WriteLimiter::WriteLimiter(double rate, double burst, Clock* clock)
    : rate_(rate), burst_(std::max(burst, 1.0)), clock_(clock != nullptr ? clock : RealClock()) {}

absl::Status WriteLimiter::Admit(absl::string_view identity) {
  if (rate_ <= 0) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  absl::MutexLock l(&mu_);
  auto [it, fresh] = buckets_.try_emplace(identity);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = burst_;
  } else {
    b.tokens = std::min(burst_, b.tokens + absl::ToDoubleSeconds(now - b.refilled) * rate_);
  }
  b.refilled = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(Who(identity), ": write rate over ", rate_,
                                                   "/s (burst ", burst_,
                                                   "; --write_rate_per_identity)"));
}

StreamLimiter::Slot::~Slot() { limiter_->Release(identity_); }

absl::StatusOr<std::unique_ptr<StreamLimiter::Slot>> StreamLimiter::Acquire(
    absl::string_view identity) {
  {
    absl::MutexLock l(&mu_);
    int& n = open_[identity];
    if (max_ > 0 && n >= max_) {
      if (n == 0) open_.erase(identity);
      return absl::ResourceExhaustedError(absl::StrCat(
          Who(identity), ": ", max_, " streams open already (--max_streams_per_identity)"));
    }
    ++n;
  }
  return std::unique_ptr<Slot>(new Slot(this, std::string(identity)));
}

void StreamLimiter::Release(const std::string& identity) {
  absl::MutexLock l(&mu_);
  auto it = open_.find(identity);
  if (it != open_.end() && --it->second <= 0) open_.erase(it);
}

int StreamLimiter::open(absl::string_view identity) const {
  absl::MutexLock l(&mu_);
  auto it = open_.find(identity);
  return it == open_.end() ? 0 : it->second;
}

}  // namespace slicekeeper::auth
