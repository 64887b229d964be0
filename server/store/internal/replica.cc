#include "server/store/internal/replica.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/store/internal/txn.h"

namespace slicekeeper::store::internal {
namespace {

using Change = storage::ReplicatedCommit;

// What the revision does to one service.
struct Touched {
  std::string namespace_;
  std::string name;
  const Change::ServiceChange* service = nullptr;
  std::vector<const Change::SliceChange*> slices;
};

}  // namespace

absl::Status ApplyReplicated(Core& core, const storage::ReplicatedCommit& commit) {
  if (commit.revision <= core.sequencer.revision()) {
    return absl::FailedPreconditionError(
        absl::StrCat("replica: revision ", commit.revision, " is not above the applied revision ",
                     core.sequencer.revision()));
  }
  // Group the log's changes by service. A deleted slice's service is the one that holds it.
  std::vector<std::string> keys;
  absl::flat_hash_map<std::string, Touched> touched;
  auto touch = [&](absl::string_view ns, absl::string_view name) -> Touched& {
    auto [it, inserted] = touched.try_emplace(ServiceKey(ns, name));
    if (inserted) {
      keys.push_back(it->first);
      it->second.namespace_ = std::string(ns);
      it->second.name = std::string(name);
    }
    return it->second;
  };
  for (const Change::ServiceChange& s : commit.services) touch(s.namespace_, s.name).service = &s;
  for (const Change::SliceChange& s : commit.slices) {
    if (s.slice != nullptr) {
      touch(s.namespace_, s.slice->ServiceName()).slices.push_back(&s);
    } else if (std::optional<NameIndex::Owner> owner = core.names.Lookup(s.namespace_, s.name);
               owner.has_value()) {
      touch(s.namespace_, owner->service).slices.push_back(&s);
    }
  }

  Txn txn(core, keys, absl::Now(), /*all_shards=*/commit.full);
  if (commit.full) {
    // Whatever the log no longer holds is gone.
    for (const auto& [ns, name] : txn.AllServices()) touch(ns, name);
  }
  if (commit.nodes != nullptr) txn.SetNodes(commit.nodes);

  for (const std::string& key : keys) {
    Touched& t = touched[key];
    ServiceOutcome& o = txn.Service(t.namespace_, t.name);
    o.changed = true;
    o.rebuild_state = true;
    o.mod_revision = t.service != nullptr && t.service->mod_revision != 0
                         ? t.service->mod_revision
                         : commit.revision;
    const ServiceEntry& e = *o.entry;
    if (t.service != nullptr) {
      if (t.service->exists && t.service->record != nullptr) {
        o.new_record = std::make_shared<v1::ServiceRecord>(*t.service->record);
      } else if (e.record != nullptr) {
        o.delete_record = true;
      }
    } else if (commit.full && e.record != nullptr) {
      o.delete_record = true;  // not in the log any more
    }
    absl::flat_hash_set<absl::string_view> written;
    for (const Change::SliceChange* s : t.slices) {
      written.insert(s->name);
      std::shared_ptr<Slice> slice;
      bool managed;
      if (s->slice != nullptr) {
        // Shared with the log's decoder only; the store owns it from here.
        slice = std::const_pointer_cast<Slice>(s->slice);
        managed = slice->Managed();
        core.names.Restore(t.namespace_, s->name, t.name, managed);
      } else {
        managed = !e.foreign.contains(s->name);
      }
      o.writes.push_back({s->name, std::move(slice), managed});
    }
    if (commit.full && e.latest != nullptr) {
      for (const SlicePtr& slice : e.latest->slices) {
        if (!written.contains(slice->name)) {
          o.writes.push_back({slice->name, nullptr, !e.foreign.contains(slice->name)});
        }
      }
    }
  }
  txn.CommitReplicated(commit.revision, commit.nodes_revision);
  return absl::OkStatus();
}

}  // namespace slicekeeper::store::internal
