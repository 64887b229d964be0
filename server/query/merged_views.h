// Merged endpoint views (query::MergeEndpoints) of recent service snapshots and the diffs between
// them, computed once and shared by every reader: QueryEndpoints answers, and the watch ENDPOINTS
// view, whose subscribers of one service all diff the same two versions (the one they last sent
// and the new one) after each change. A view also keeps each endpoint's wire bytes once encoded,
// so a change fanned out to N subscribers is encoded once, not N times.
//
// MergedViews keeps, per service, the views of its two newest snapshots asked for (the previous
// one is what a watcher diffs against) and the diff between them, for at most `max_services`
// services; beyond that it starts over. A view pins its snapshot's data until it is replaced.
//
// Thread-safety: MergedView and ViewDiff are immutable once built (MergedView's byte cache is
// filled lock-free, once per endpoint) and may be read from any thread. MergedViews' methods may
// be called from any thread; merging and diffing happen outside its lock, so two threads asking
// for the same new version at once may both compute it (both get equal results).
//
// Example:
//   query::MergedViews views;
//   query::MergedViews::Ptr all = views.Get(store.GetService("default", "web"));
//   std::shared_ptr<const query::ViewDiff> d = views.Diff(old_snapshot, new_snapshot);
//   for (const query::ViewDiff::Change& c : d->changes) { ... d->after->Bytes(c.after) ... }
#ifndef SLICEKEEPER_SERVER_QUERY_MERGED_VIEWS_H_
#define SLICEKEEPER_SERVER_QUERY_MERGED_VIEWS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::query {

// The merged view of one service snapshot (empty for a null one), sorted by address.
class MergedView {
 public:
  explicit MergedView(const store::ServiceSnapshotPtr& snapshot);
  ~MergedView();
  MergedView(const MergedView&) = delete;
  MergedView& operator=(const MergedView&) = delete;

  const std::vector<v1::ServiceEndpoint>& endpoints() const { return endpoints_; }
  size_t size() const { return endpoints_.size(); }
  bool empty() const { return endpoints_.empty(); }
  const v1::ServiceEndpoint& operator[](size_t i) const { return endpoints_[i]; }
  // The service's namespace and name ("" for the view of a null snapshot).
  const std::string& namespace_() const { return ns_; }
  const std::string& name() const { return name_; }

  // The serialized bytes of endpoints()[i]: encoded by the first caller, then shared.
  const std::string& Bytes(size_t i) const;

 private:
  std::string ns_;
  std::string name_;
  std::vector<v1::ServiceEndpoint> endpoints_;
  std::unique_ptr<std::atomic<const std::string*>[]> bytes_;
};

// What changed from one merged view of a service to another, by address: endpoints in `after`
// only, in `before` only, or in both with different contents (compared as wire bytes).
struct ViewDiff {
  struct Change {
    int32_t before = -1;  // index into *before, -1 when added
    int32_t after = -1;   // index into *after, -1 when removed
  };
  std::shared_ptr<const MergedView> before;
  std::shared_ptr<const MergedView> after;
  // Sorted by address.
  std::vector<Change> changes;
};

// Diffs two views in one linear pass; `before` and `after` may be the same view (no changes).
std::shared_ptr<const ViewDiff> DiffViews(std::shared_ptr<const MergedView> before,
                                          std::shared_ptr<const MergedView> after);

class MergedViews {
 public:
  using Ptr = std::shared_ptr<const MergedView>;

  explicit MergedViews(size_t max_services = 4096) : max_services_(max_services) {}

  // The merged view of `snapshot` (empty for null). REQUIRES: a published snapshot.
  Ptr Get(const store::ServiceSnapshotPtr& snapshot) ABSL_LOCKS_EXCLUDED(mu_);

  // DiffViews(Get(before), Get(after)); the diff between a service's two newest versions is kept
  // and shared. REQUIRES: published snapshots of one service (either may be null).
  std::shared_ptr<const ViewDiff> Diff(const store::ServiceSnapshotPtr& before,
                                       const store::ServiceSnapshotPtr& after)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Version {
    store::ServiceSnapshotPtr snapshot;
    Ptr view;
  };
  struct Entry {
    Version newest;
    Version previous;
    // previous -> newest, once asked for.
    std::shared_ptr<const ViewDiff> diff;
  };

  const size_t max_services_;
  absl::Mutex mu_;
  // "<namespace>/<name>" -> its two newest views.
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::query

#endif  // SLICEKEEPER_SERVER_QUERY_MERGED_VIEWS_H_
