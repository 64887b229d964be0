// JsonCache: the Kubernetes JSON of recent slice versions, encoded once and shared by every watch
// and list that sends them (the HTTP counterpart of Slice::SerializedProto, which gRPC watchers
// share). A fan-out of one change to N HTTP watchers encodes the slice once, not N times.
//
// Entries are keyed by slice version (its address, checked against a weak reference so a reused
// address never returns stale bytes) and by the resourceVersion written into the metadata (0: the
// slice's own; a DELETED event writes the revision of the delete). The cache holds at most about
// `max_bytes` of JSON and drops the oldest entries first; it never keeps a slice alive.
//
// Thread-safety: every method is safe to call concurrently (16 shards, each with its own lock;
// a miss encodes under its shard's lock, so concurrent watchers of one new version wait for one
// encoding instead of repeating it).
//
// Example:
//   JsonCache cache;
//   std::shared_ptr<const std::string> json = cache.Get(slice);
#ifndef SLICEKEEPER_SERVER_K8S_JSON_CACHE_H_
#define SLICEKEEPER_SERVER_K8S_JSON_CACHE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/slice.h"

namespace slicekeeper::k8s {

class JsonCache {
 public:
  explicit JsonCache(size_t max_bytes = size_t{64} << 20) : shard_bytes_(max_bytes / kShards) {}

  // EncodeSlice(*slice, resource_version), cached. `slice` must not be null.
  std::shared_ptr<const std::string> Get(const SlicePtr& slice, int64_t resource_version = 0);

  struct Stats {
    int64_t hits = 0;
    int64_t misses = 0;
  };
  Stats stats() const;

 private:
  static constexpr size_t kShards = 16;
  using Key = std::pair<const Slice*, int64_t>;
  struct Entry {
    std::weak_ptr<const Slice> slice;
    std::shared_ptr<const std::string> json;
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<Key, Entry> entries ABSL_GUARDED_BY(mu);
    std::deque<Key> order ABSL_GUARDED_BY(mu);  // oldest first
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
    int64_t hits ABSL_GUARDED_BY(mu) = 0;
    int64_t misses ABSL_GUARDED_BY(mu) = 0;
  };

  const size_t shard_bytes_;
  std::array<Shard, kShards> shards_;
};

}  // namespace slicekeeper::k8s

#endif  // SLICEKEEPER_SERVER_K8S_JSON_CACHE_H_
