#include "server/query/merged_views.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/namespaced_name.h"
#include "server/query/merge.h"

namespace slicekeeper::query {

MergedView::MergedView(const store::ServiceSnapshotPtr& snapshot) {
  if (snapshot != nullptr) {
    ns_ = snapshot->namespace_;
    name_ = snapshot->name;
    endpoints_ = MergeEndpoints(*snapshot);
  }
  bytes_ = std::make_unique<std::atomic<const std::string*>[]>(endpoints_.size());
  for (size_t i = 0; i < endpoints_.size(); ++i) bytes_[i].store(nullptr, std::memory_order_relaxed);
}

MergedView::~MergedView() {
  for (size_t i = 0; i < endpoints_.size(); ++i) delete bytes_[i].load(std::memory_order_relaxed);
}

const std::string& MergedView::Bytes(size_t i) const {
  const std::string* b = bytes_[i].load(std::memory_order_acquire);
  if (b != nullptr) return *b;
  auto* mine = new std::string(endpoints_[i].SerializeAsString());
  const std::string* expected = nullptr;
  if (bytes_[i].compare_exchange_strong(expected, mine, std::memory_order_acq_rel)) return *mine;
  delete mine;  // another thread encoded it first: the same bytes
  return *expected;
}

std::shared_ptr<const ViewDiff> DiffViews(std::shared_ptr<const MergedView> before,
                                          std::shared_ptr<const MergedView> after) {
  auto diff = std::make_shared<ViewDiff>();
  const MergedView& a = *before;
  const MergedView& b = *after;
  if (before != after) {
    size_t i = 0, j = 0;
    while (i < a.size() || j < b.size()) {
      if (j == b.size() || (i < a.size() && a[i].address() < b[j].address())) {
        diff->changes.push_back({static_cast<int32_t>(i++), -1});
      } else if (i == a.size() || b[j].address() < a[i].address()) {
        diff->changes.push_back({-1, static_cast<int32_t>(j++)});
      } else {
        // Equal contents encode to equal bytes (merged views have no map or unknown fields),
        // and the bytes are kept for the subscribers that send them.
        if (a.Bytes(i) != b.Bytes(j)) {
          diff->changes.push_back({static_cast<int32_t>(i), static_cast<int32_t>(j)});
        }
        ++i;
        ++j;
      }
    }
  }
  diff->before = std::move(before);
  diff->after = std::move(after);
  return diff;
}

MergedViews::Ptr MergedViews::Get(const store::ServiceSnapshotPtr& snapshot) {
  static const Ptr kEmpty = std::make_shared<const MergedView>(nullptr);
  if (snapshot == nullptr) return kEmpty;
  std::string key = NamespacedName(snapshot->namespace_, snapshot->name);
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end()) {
      if (it->second.newest.snapshot == snapshot) return it->second.newest.view;
      if (it->second.previous.snapshot == snapshot) return it->second.previous.view;
    }
  }
  auto view = std::make_shared<const MergedView>(snapshot);
  absl::MutexLock l(&mu_);
  if (entries_.size() >= max_services_ && !entries_.contains(key)) entries_.clear();
  Entry& e = entries_[key];
  // Another thread may have merged the same snapshot meanwhile: keep the first, so that every
  // reader shares one view (and one byte cache).
  if (e.newest.snapshot == snapshot) return e.newest.view;
  if (e.previous.snapshot == snapshot) return e.previous.view;
  if (e.newest.snapshot == nullptr || e.newest.snapshot->mod_revision < snapshot->mod_revision) {
    e.previous = std::move(e.newest);
    e.newest = Version{snapshot, view};
    e.diff = nullptr;
  } else if (e.previous.snapshot == nullptr ||
             e.previous.snapshot->mod_revision < snapshot->mod_revision) {
    e.previous = Version{snapshot, view};  // older than the newest: the diff's "before"
    e.diff = nullptr;
  }
  return view;
}

std::shared_ptr<const ViewDiff> MergedViews::Diff(const store::ServiceSnapshotPtr& before,
                                                  const store::ServiceSnapshotPtr& after) {
  if (before == nullptr || after == nullptr) return DiffViews(Get(before), Get(after));
  const std::string key = NamespacedName(after->namespace_, after->name);
  {
    absl::MutexLock l(&mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.diff != nullptr &&
        it->second.previous.snapshot == before && it->second.newest.snapshot == after) {
      return it->second.diff;
    }
  }
  Ptr vb = Get(before);
  Ptr va = Get(after);
  std::shared_ptr<const ViewDiff> diff = DiffViews(vb, va);
  absl::MutexLock l(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && it->second.previous.view == vb && it->second.newest.view == va) {
    if (it->second.diff != nullptr) return it->second.diff;  // computed meanwhile: share that one
    it->second.diff = diff;
  }
  return diff;
}

}  // namespace slicekeeper::query
