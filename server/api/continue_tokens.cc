#include "server/api/continue_tokens.h"

#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace slicekeeper::api {
namespace {

constexpr char kExpired[] = "continue token expired, restart the list";

}  // namespace

ContinueTokens::ContinueTokens(Options options)
    : options_(options), clock_(options.clock != nullptr ? options.clock : RealClock()) {}

std::string ContinueTokens::Put(const ListingPtr& listing, int64_t offset) {
  const absl::Time now = clock_->Now();
  uint64_t id = 0;
  {
    absl::MutexLock l(&mu_);
    EvictLocked(now);
    auto it = ids_.find(listing.get());
    if (it != ids_.end()) {
      id = it->second;
      entries_[id].last_used = now;
    } else {
      // Ids are random so a client cannot guess another client's listing.
      MakeRoomLocked();
      do {
        id = absl::Uniform<uint64_t>(bitgen_, 1, std::numeric_limits<uint64_t>::max());
      } while (entries_.contains(id));
      entries_[id] = Entry{listing, now};
      ids_[listing.get()] = id;
    }
  }
  return absl::WebSafeBase64Escape(absl::StrCat(id, ":", offset));
}

absl::StatusOr<ContinueTokens::Page> ContinueTokens::Get(absl::string_view token,
                                                         absl::string_view filter_key) {
  std::string raw;
  uint64_t id = 0;
  int64_t offset = 0;
  std::pair<absl::string_view, absl::string_view> parts;
  if (absl::WebSafeBase64Unescape(token, &raw)) parts = absl::StrSplit(raw, ':');
  if (!absl::SimpleAtoi(parts.first, &id) || !absl::SimpleAtoi(parts.second, &offset) ||
      offset < 0) {
    return absl::InvalidArgumentError("continue: malformed continue token");
  }
  const absl::Time now = clock_->Now();
  absl::MutexLock l(&mu_);
  EvictLocked(now);
  auto it = entries_.find(id);
  if (it == entries_.end()) return absl::OutOfRangeError(kExpired);
  if (it->second.listing->filter_key != filter_key) {
    return absl::InvalidArgumentError(
        "continue: the token was issued for a listing with other filters");
  }
  if (offset > static_cast<int64_t>(it->second.listing->slices.size())) {
    return absl::InvalidArgumentError("continue: malformed continue token");
  }
  it->second.last_used = now;
  return Page{it->second.listing, offset};
}

int ContinueTokens::size() const {
  absl::MutexLock l(&mu_);
  return static_cast<int>(entries_.size());
}

void ContinueTokens::EvictLocked(absl::Time now) {
  // The cache is small (capacity ~hundreds), so a linear sweep is cheaper than an LRU list.
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto cur = it++;
    if (now - cur->second.last_used >= options_.ttl) {
      ids_.erase(cur->second.listing.get());
      entries_.erase(cur);
    }
  }
}

void ContinueTokens::MakeRoomLocked() {
  while (static_cast<int>(entries_.size()) >= options_.capacity && !entries_.empty()) {
    auto oldest = entries_.begin();
    for (auto it = entries_.begin(); it != entries_.end(); ++it) {
      if (it->second.last_used < oldest->second.last_used) oldest = it;
    }
    ids_.erase(oldest->second.listing.get());
    entries_.erase(oldest);
  }
}

}  // namespace slicekeeper::api
