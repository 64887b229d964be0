#include "server/query/merged_views.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/query/query.h"

namespace slicekeeper::query {

MergedViews::Ptr MergedViews::Get(const store::ServiceSnapshotPtr& snapshot) {
  static const Ptr kEmpty = std::make_shared<const std::vector<v1::ServiceEndpoint>>();
  if (snapshot == nullptr) return kEmpty;
  std::string key = absl::StrCat(snapshot->namespace_, "/", snapshot->name);
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (it->second.newest.snapshot == snapshot) return it->second.newest.view;
      if (it->second.previous.snapshot == snapshot) return it->second.previous.view;
    }
  }
  auto view = std::make_shared<const std::vector<v1::ServiceEndpoint>>(MergeEndpoints(*snapshot));
  absl::MutexLock l(&mu_);
  if (entries_.size() >= max_services_ && !entries_.contains(key)) entries_.clear();
  Entry& e = entries_[key];
  if (e.newest.snapshot == nullptr || e.newest.snapshot->mod_revision < snapshot->mod_revision) {
    e.previous = std::move(e.newest);
    e.newest = Version{snapshot, view};
  } else if (e.newest.snapshot != snapshot &&
             (e.previous.snapshot == nullptr ||
              e.previous.snapshot->mod_revision < snapshot->mod_revision)) {
    e.previous = Version{snapshot, view};  // older than the newest: the diff's "before"
  }
  return view;
}

}  // namespace slicekeeper::query
