#include "server/store/internal/rewind.h"

#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/namespaced_name.h"
#include "common/status_util.h"
#include "server/store/internal/delta.h"

namespace slicekeeper::store::internal {
namespace {

// Undoes records newest first, keeping each touched service's state at the oldest record undone.
class Rewinder {
 public:
  // `now`: the state the newest record leads to. Only services `now` was collected for (its
  // namespace, and `names` when not empty) are followed; the others' records are skipped.
  Rewinder(CatalogPtr now, absl::string_view ns, absl::Span<const std::string> names)
      : now_(std::move(now)), ns_(ns), names_(names) {}

  // Undoes the record of `revision` (empty `bytes`: an empty commit). With `commit`, fills it
  // with the before / after of each followed service. REQUIRES: called newest first.
  absl::Status Undo(int64_t revision, absl::string_view bytes, Commit* commit);

  // The services changed by the records undone, ordered by (namespace, name).
  std::vector<Rewound::Service> Changed() &&;

 private:
  struct Entry {
    Rewound::Service service;
    ServiceSnapshotPtr at;  // the state before the oldest record undone so far
  };
  bool Followed(absl::string_view ns, absl::string_view name) const {
    if (!ns_.empty() && ns != ns_) return false;
    return names_.empty() || std::find(names_.begin(), names_.end(), name) != names_.end();
  }
  Entry& EntryFor(const std::string& ns, const std::string& name);

  const CatalogPtr now_;
  const std::string ns_;
  const absl::Span<const std::string> names_;
  absl::flat_hash_map<std::string, Entry> entries_;
};

Rewinder::Entry& Rewinder::EntryFor(const std::string& ns, const std::string& name) {
  auto [it, inserted] = entries_.try_emplace(NamespacedName(ns, name));
  if (!inserted) return it->second;
  auto found = std::lower_bound(
      now_->services.begin(), now_->services.end(), std::tie(ns, name),
      [](const ServiceSnapshotPtr& s, const std::tuple<const std::string&, const std::string&>& k) {
        return std::tie(s->namespace_, s->name) < k;
      });
  if (found != now_->services.end() && (*found)->namespace_ == ns && (*found)->name == name) {
    it->second.service.now = *found;
  }
  it->second.at = it->second.service.now;
  return it->second;
}

absl::Status Rewinder::Undo(int64_t revision, absl::string_view bytes, Commit* commit) {
  if (commit != nullptr) commit->revision = revision;
  if (bytes.empty()) return absl::OkStatus();
  SK_ASSIGN_OR_RETURN(Delta delta, Delta::Parse(bytes));
  if (delta.revision() != revision) {
    return absl::DataLossError(absl::StrCat("history record of revision ", delta.revision(),
                                            " stored as revision ", revision));
  }
  if (commit != nullptr) commit->time = delta.time();
  for (int i = 0; i < delta.services(); ++i) {
    const ServiceDelta& d = delta.service(i);
    if (!Followed(d.namespace_(), d.name())) continue;
    Entry& e = EntryFor(d.namespace_(), d.name());
    SK_ASSIGN_OR_RETURN(ServiceSnapshotPtr before, delta.Undo(i, e.at));
    if (e.at == nullptr && before != nullptr && e.service.deleted_at == 0) {
      e.service.deleted_at = revision;
    }
    for (const SliceDelta& s : d.slices()) {
      if (s.kind() == SliceDelta::DELETED) e.service.slices_deleted_at.try_emplace(s.name(), revision);
    }
    if (commit != nullptr) commit->services.push_back({before, e.at});
    e.at = std::move(before);
  }
  return absl::OkStatus();
}

std::vector<Rewound::Service> Rewinder::Changed() && {
  std::vector<Rewound::Service> out;
  out.reserve(entries_.size());
  for (auto& [key, e] : entries_) {
    e.service.then = std::move(e.at);
    out.push_back(std::move(e.service));
  }
  auto key = [](const Rewound::Service& s) {
    const ServiceSnapshot& any = s.now != nullptr ? *s.now : *s.then;
    return std::tie(any.namespace_, any.name);
  };
  // A service absent both then and now (created and deleted since) changed nothing visible.
  out.erase(std::remove_if(out.begin(), out.end(),
                           [](const Rewound::Service& s) {
                             return s.then == nullptr && s.now == nullptr;
                           }),
            out.end());
  std::sort(out.begin(), out.end(),
            [&](const Rewound::Service& a, const Rewound::Service& b) { return key(a) < key(b); });
  return out;
}

absl::Status Compacted(int64_t revision, int64_t floor) {
  return absl::OutOfRangeError(absl::StrCat("revision ", revision,
                                            " has been compacted; the oldest retained change is ",
                                            floor + 1));
}

// Undoes the window's records, then storage's down to `revision`. `each` sees every revision
// in (revision, R] once, newest first, with its record ("" for a revision without one).
template <typename Fn>
absl::Status Walk(const Core& core, const Sequencer::HistoryView& view, int64_t revision,
                  Fn each) {
  int64_t next = view.now->revision;  // every revision above `next` was seen
  for (auto it = view.records.rbegin(); it != view.records.rend(); ++it) {
    SK_RETURN_IF_ERROR(each(it->revision, it->delta != nullptr ? *it->delta : ""));
    next = it->revision - 1;
  }
  if (revision >= view.floor) return absl::OkStatus();
  if (core.storage == nullptr || core.replicated != nullptr) return Compacted(revision, view.floor);
  next = view.floor;
  absl::Status s = core.storage->ScanHistory(
      revision, view.floor, [&](int64_t r, absl::string_view bytes) -> absl::Status {
        // A revision without a record was never made durable: an empty commit.
        for (; next > r; --next) SK_RETURN_IF_ERROR(each(next, ""));
        SK_RETURN_IF_ERROR(each(r, bytes));
        next = r - 1;
        return absl::OkStatus();
      });
  if (s.code() == absl::StatusCode::kOutOfRange) {
    return absl::OutOfRangeError(
        absl::StrCat("revision ", revision, " has been compacted (", s.message(), ")"));
  }
  SK_RETURN_IF_ERROR(s);
  for (; next > revision; --next) SK_RETURN_IF_ERROR(each(next, ""));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Rewound> Rewind(const Core& core, absl::string_view ns,
                               absl::Span<const std::string> services, int64_t revision) {
  SK_ASSIGN_OR_RETURN(Sequencer::HistoryView view,
                      core.sequencer.HistorySince(ns, services, revision));
  Rewinder rewinder(view.now, ns, services);
  SK_RETURN_IF_ERROR(Walk(core, view, revision, [&](int64_t r, absl::string_view bytes) {
    return rewinder.Undo(r, bytes, nullptr);
  }));
  Rewound out;
  out.now = view.now;
  out.changed = std::move(rewinder).Changed();
  return out;
}

absl::StatusOr<std::vector<CommitPtr>> ChangesSince(const Core& core, int64_t revision,
                                                    size_t limit) {
  if (revision >= core.sequencer.revision()) {
    if (revision < 0) return absl::InvalidArgumentError("revision: must be >= 0");
    return std::vector<CommitPtr>();
  }
  SK_ASSIGN_OR_RETURN(Sequencer::HistoryView view, core.sequencer.HistorySince("", {}, revision));
  Rewinder rewinder(view.now, "", {});
  // Newest first: only the oldest `limit` commits are kept.
  std::deque<CommitPtr> kept;
  SK_RETURN_IF_ERROR(Walk(core, view, revision, [&](int64_t r, absl::string_view bytes) {
    auto commit = std::make_shared<Commit>();
    SK_RETURN_IF_ERROR(rewinder.Undo(r, bytes, commit.get()));
    kept.push_front(std::move(commit));
    if (kept.size() > limit) kept.pop_back();
    return absl::OkStatus();
  }));
  return std::vector<CommitPtr>(kept.begin(), kept.end());
}

}  // namespace slicekeeper::store::internal
