// ContinueTokens: the server side of ListEndpointSlices paging.
//
// The first page of a paged listing pins the filtered slices it is cut from (a vector of
// `SlicePtr` taken from one Catalog, so pointer copies only) in a small bounded cache under a
// random id. Every later page is cut from that same pinned listing, so all pages of one listing
// reflect one revision no matter what is written in between. The continue token is the web-safe
// base64 of "<id>:<offset>" and is opaque to clients.
//
// Entries expire `ttl` after their last use; when the cache is full the least recently used entry
// is dropped. A token whose entry is gone reads as OUT_OF_RANGE ("continue token expired, restart
// the list"), Kubernetes' 410 Gone for an expired continue.
//
// Thread-safety: every method is safe to call concurrently.
//
// Example:
//   ContinueTokens tokens(ContinueTokens::Options{});
//   std::string next = tokens.Put(listing, /*offset=*/limit);
//   absl::StatusOr<ContinueTokens::Page> p = tokens.Get(next, filter_key);
#ifndef SLICEKEEPER_SERVER_API_CONTINUE_TOKENS_H_
#define SLICEKEEPER_SERVER_API_CONTINUE_TOKENS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/slice.h"

namespace slicekeeper::api {

// The filtered slices of one listing at one revision. Immutable once pinned.
struct Listing {
  int64_t revision = 0;
  // The request's filters (namespace, service, selector); later pages must repeat them.
  std::string filter_key;
  std::vector<SlicePtr> slices;
};
using ListingPtr = std::shared_ptr<const Listing>;

class ContinueTokens {
 public:
  struct Options {
    // Pinned listings kept at most.
    int capacity = 256;
    // Time after the last use at which a pinned listing is dropped.
    absl::Duration ttl = absl::Minutes(5);
    // Not owned; null: RealClock().
    Clock* clock = nullptr;
  };

  // A page position: the pinned listing and the offset of the page's first slice.
  struct Page {
    ListingPtr listing;
    int64_t offset = 0;
  };

  explicit ContinueTokens(Options options);

  // Returns a token for `offset` into `listing`, pinning the listing if the token is the first
  // for it. `listing` must not be null.
  std::string Put(const ListingPtr& listing, int64_t offset) ABSL_LOCKS_EXCLUDED(mu_);

  // Resolves `token` for a request whose filters are `filter_key`.
  // Errors: INVALID_ARGUMENT for a malformed token or one issued for other filters;
  // OUT_OF_RANGE when its listing expired or was evicted.
  absl::StatusOr<Page> Get(absl::string_view token, absl::string_view filter_key)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Pinned listings right now (expired ones may still count until the next Put or Get).
  int size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    ListingPtr listing;
    absl::Time last_used;
  };

  // Drops entries unused for `ttl`.
  void EvictLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops least recently used entries until one more fits.
  void MakeRoomLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const Options options_;
  Clock* const clock_;

  // Guarded by mu_.
  mutable absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  // The id each listing was pinned under, so paging one listing reuses one entry.
  absl::flat_hash_map<const Listing*, uint64_t> ids_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::api

#endif  // SLICEKEEPER_SERVER_API_CONTINUE_TOKENS_H_
