// MergedViews: the merged endpoint view (query::MergeEndpoints) of recent service snapshots,
// computed once and shared by every reader of the same snapshot: QueryEndpoints answers and the
// watch ENDPOINTS view, whose subscribers of one service all diff the same two versions (the one
// they last sent and the new one) after each change.
//
// Per service it keeps the views of its two newest snapshots asked for (the previous one is
// what a watcher diffs against), for at most `max_services` services; beyond that it starts over.
// A view pins its snapshot (and so its slices) until it is replaced.
//
// Thread-safety: Get may be called from any thread. Merging happens outside the lock: two
// threads asking for the same new snapshot at once may both merge; both get equal views.
//
// Example:
//   query::MergedViews views;
//   query::MergedViews::Ptr all = views.Get(store.GetService("default", "web"));
#ifndef SLICEKEEPER_SERVER_QUERY_MERGED_VIEWS_H_
#define SLICEKEEPER_SERVER_QUERY_MERGED_VIEWS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::query {

class MergedViews {
 public:
  using Ptr = std::shared_ptr<const std::vector<v1::ServiceEndpoint>>;

  explicit MergedViews(size_t max_services = 4096) : max_services_(max_services) {}

  // The merged view of `snapshot` (empty for null). REQUIRES: a published snapshot.
  Ptr Get(const store::ServiceSnapshotPtr& snapshot) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Version {
    store::ServiceSnapshotPtr snapshot;
    Ptr view;
  };
  struct Entry {
    Version newest;
    Version previous;
  };

  const size_t max_services_;
  absl::Mutex mu_;
  // "<namespace>/<name>" -> its two newest views.
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::query

#endif  // SLICEKEEPER_SERVER_QUERY_MERGED_VIEWS_H_
