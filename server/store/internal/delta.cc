#include "server/store/internal/delta.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/owner_reference.h"
#include "common/status_util.h"
#include "common/wire.h"
#include "google/protobuf/util/message_differencer.h"

namespace slicekeeper::store::internal {
namespace {

using google::protobuf::RepeatedPtrField;
using google::protobuf::util::MessageDifferencer;
using StringMap = google::protobuf::Map<std::string, std::string>;

// Fields appended as bytes already encoded (common/wire.h), in field-number order.
constexpr uint32_t kServicesTag = wire::LengthDelimitedTag(3);   // CommitDelta.services
constexpr uint32_t kSlicesTag = wire::LengthDelimitedTag(7);     // ServiceDelta.slices
constexpr uint32_t kWholeTag = wire::LengthDelimitedTag(3);      // SliceDelta.whole
constexpr uint32_t kLiteralsTag = wire::LengthDelimitedTag(14);  // SliceDelta.literals

absl::Status Corrupt(int64_t revision, absl::string_view what) {
  return absl::DataLossError(absl::StrCat("history record of revision ", revision, ": ", what));
}

// --- Encoding. ---

bool SameOwners(const v1::ObjectMeta& a, const v1::ObjectMeta& b) {
  if (a.owner_references_size() != b.owner_references_size()) return false;
  for (int i = 0; i < a.owner_references_size(); ++i) {
    if (!SameOwnerReference(a.owner_references(i), b.owner_references(i))) return false;
  }
  return true;
}

// Equal in everything but labels and annotations.
bool SameRest(const v1::ObjectMeta& a, const v1::ObjectMeta& b) {
  return a.name() == b.name() && a.generate_name() == b.generate_name() &&
         a.namespace_() == b.namespace_() && a.uid() == b.uid() &&
         a.resource_version() == b.resource_version() && a.generation() == b.generation() &&
         a.creation_timestamp() == b.creation_timestamp() &&
         a.deletion_timestamp() == b.deletion_timestamp() && SameOwners(a, b);
}

// The entries of `before` that `after` lacks or holds with another value, and the keys only
// `after` has (no value). With `alias_trigger`, the trigger-time annotation's key is written "".
void DiffMap(const StringMap& before, const StringMap& after, bool alias_trigger,
             RepeatedPtrField<MapEntryUndo>* out) {
  auto key = [alias_trigger](const std::string& k) {
    return alias_trigger && k == kAnnotationTriggerTime ? std::string() : k;
  };
  for (const auto& [k, v] : before) {
    auto it = after.find(k);
    if (it != after.end() && it->second == v) continue;
    MapEntryUndo* e = out->Add();
    e->set_key(key(k));
    e->set_value(v);
  }
  for (const auto& [k, v] : after) {
    if (!before.contains(k)) out->Add()->set_key(key(k));
  }
}

// Fills `out` with how to get `before` back from `after`; false when they are equal.
bool DiffMeta(const v1::ObjectMeta& before, const v1::ObjectMeta& after, MetaUndo* out) {
  if (&before == &after) return false;
  // "" aliases the trigger-time key, so a (never valid) empty key is stored whole.
  if (!SameRest(before, after) || before.annotations().contains("") ||
      after.annotations().contains("")) {
    *out->mutable_whole() = before;
    return true;
  }
  DiffMap(before.labels(), after.labels(), /*alias_trigger=*/false, out->mutable_labels());
  DiffMap(before.annotations(), after.annotations(), /*alias_trigger=*/true,
          out->mutable_annotations());
  return out->labels_size() > 0 || out->annotations_size() > 0;
}

bool SamePorts(const PortList& a, const PortList& b) {
  if (&a == &b) return true;
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!MessageDifferencer::Equals(a[i], b[i])) return false;
  }
  return true;
}

// Describes `before` as runs over `after` (by object identity) and literals; returns the
// literals, in order, for the caller to append.
std::vector<const EndpointRecord*> EndpointRuns(const EndpointList& before,
                                                const EndpointList& after_list, SliceDelta* d) {
  std::vector<const EndpointRecord*> literals;
  if (before == after_list) return literals;
  d->set_endpoints_changed(true);
  const std::vector<const EndpointRecord*> after = after_list.Records();
  // Where `e` is in `after`, or -1. The versions keep their endpoints' order, so the position
  // after the last one found usually holds the next; the map is built only when it does not.
  absl::flat_hash_map<const EndpointRecord*, uint32_t> index;
  size_t cursor = 0;
  auto find = [&](const EndpointRecord* e) -> int64_t {
    if (cursor < after.size() && after[cursor] == e) return static_cast<int64_t>(cursor++);
    if (index.empty()) {
      index.reserve(after.size());
      for (size_t j = 0; j < after.size(); ++j) index.emplace(after[j], static_cast<uint32_t>(j));
    }
    auto it = index.find(e);
    if (it == index.end()) return -1;
    cursor = it->second + 1;
    return it->second;
  };
  uint32_t start = 0, length = 0, count = 0;
  bool open = false;
  auto close = [&] {
    if (!open) return;
    d->add_runs(start);
    d->add_runs(length);
    d->add_runs(count);
  };
  for (const EndpointPtr& e : before) {
    const int64_t at = find(e.get());
    if (at < 0) {
      if (!open) start = length = count = 0;
      open = true;
      ++count;
      literals.push_back(e.get());
    } else if (open && count == 0 && at == start + length) {
      ++length;
    } else {
      close();
      start = static_cast<uint32_t>(at);
      length = 1;
      count = 0;
      open = true;
    }
  }
  close();
  return literals;
}

std::string EncodeModified(const Slice& before, const Slice& after) {
  SliceDelta d;
  d.set_name(after.name);
  d.set_kind(SliceDelta::MODIFIED);
  d.set_prev_generation(before.generation);
  d.set_prev_resource_version(before.resource_version);
  if (before.uid != after.uid) d.set_prev_uid(before.uid);
  if (before.creation_timestamp != after.creation_timestamp) {
    d.set_prev_creation_timestamp(before.creation_timestamp);
  }
  if (before.address_type != after.address_type) d.set_prev_address_type(before.address_type);
  if (!DiffMeta(*before.meta, *after.meta, d.mutable_meta())) d.clear_meta();
  if (!SamePorts(*before.ports, *after.ports)) {
    d.set_ports_changed(true);
    for (const v1::EndpointPort& p : *before.ports) *d.add_prev_ports() = p;
  }
  const std::vector<const EndpointRecord*> literals =
      EndpointRuns(before.endpoints, after.endpoints, &d);
  // The literals are written straight into the output (tag, length, body), sized once: a
  // temporary string per literal was a third of this function.
  const size_t head = d.ByteSizeLong();
  std::vector<size_t> sizes;
  sizes.reserve(literals.size());
  size_t total = head;
  for (const EndpointRecord* e : literals) {
    sizes.push_back(e->ByteSizeLong());
    total += wire::FieldSize(kLiteralsTag, sizes.back());
  }
  std::string out;
  out.reserve(total);
  out.resize(head);
  d.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data()));
  for (size_t i = 0; i < literals.size(); ++i) {
    wire::AppendVarint(kLiteralsTag, &out);
    wire::AppendVarint(sizes[i], &out);
    const size_t at = out.size();
    out.resize(at + sizes[i]);
    literals[i]->SerializeToArray(reinterpret_cast<uint8_t*>(out.data() + at));
  }
  return out;
}

std::string EncodeSlice(const std::string& name, const Slice* before, const Slice* after) {
  if (before != nullptr && after != nullptr) return EncodeModified(*before, *after);
  SliceDelta d;
  d.set_name(name);
  d.set_kind(before == nullptr ? SliceDelta::CREATED : SliceDelta::DELETED);
  std::string out = d.SerializeAsString();
  if (before != nullptr) wire::AppendField(kWholeTag, before->Serialize(/*type_meta=*/false), &out);
  return out;
}

// The version `w` wrote under `name` (null: deleted), preferring the entry at `i` (the lists are
// built side by side).
const Slice* Written(const storage::ServiceWrite& w, size_t i, const std::string& name) {
  if (i < w.slices.size() && w.slices[i].name == name) return w.slices[i].slice.get();
  for (const storage::ServiceWrite::SliceWrite& s : w.slices) {
    if (s.name == name) return s.slice.get();
  }
  return nullptr;
}

std::string EncodeService(const storage::ServiceWrite& w) {
  const storage::ServiceUndo& u = w.undo;
  ServiceDelta d;
  d.set_namespace_(u.namespace_);
  d.set_name(u.name);
  d.set_existed(u.existed);
  d.set_prev_mod_revision(u.prev_mod_revision);
  d.set_record_changed(u.record_changed);
  if (u.record_changed && u.prev_record != nullptr) *d.mutable_prev_record() = *u.prev_record;
  std::string out = d.SerializeAsString();
  for (size_t i = 0; i < u.slices.size(); ++i) {
    const std::string& name = u.slices[i].name;
    wire::AppendField(kSlicesTag, EncodeSlice(name, u.slices[i].prev.get(), Written(w, i, name)),
                      &out);
  }
  return out;
}

// --- Undoing. ---

void UndoMap(const RepeatedPtrField<MapEntryUndo>& entries, bool alias_trigger, StringMap* map) {
  for (const MapEntryUndo& e : entries) {
    const std::string key =
        alias_trigger && e.key().empty() ? std::string(kAnnotationTriggerTime) : e.key();
    if (e.has_value()) {
      (*map)[key] = e.value();
    } else {
      map->erase(key);
    }
  }
}

MetaPtr UndoMeta(const v1::ObjectMeta& after, const MetaUndo& m) {
  if (m.has_whole()) return std::make_shared<const v1::ObjectMeta>(m.whole());
  auto out = std::make_shared<v1::ObjectMeta>(after);
  UndoMap(m.labels(), /*alias_trigger=*/false, out->mutable_labels());
  UndoMap(m.annotations(), /*alias_trigger=*/true, out->mutable_annotations());
  return out;
}

// The endpoints before the commit; they share the runs of `after_list` they keep whole.
absl::StatusOr<EndpointList> UndoEndpoints(int64_t revision, const EndpointList& after_list,
                                           const SliceDelta& d) {
  if (d.runs_size() % 3 != 0) return Corrupt(revision, "endpoint runs are not triples");
  const std::vector<EndpointPtr> after = after_list.Borrowed();  // owned by after_list
  std::vector<EndpointPtr> out;
  int literal = 0;
  for (int i = 0; i < d.runs_size(); i += 3) {
    const uint64_t start = d.runs(i), length = d.runs(i + 1), count = d.runs(i + 2);
    if (start + length > after.size()) return Corrupt(revision, "endpoint run out of range");
    if (literal + count > static_cast<uint64_t>(d.literals_size())) {
      return Corrupt(revision, "missing endpoint literals");
    }
    out.insert(out.end(), after.begin() + static_cast<ptrdiff_t>(start),
               after.begin() + static_cast<ptrdiff_t>(start + length));
    for (uint64_t k = 0; k < count; ++k) {
      out.push_back(EndpointRecord::FromProto(d.literals(literal++)));
    }
  }
  if (literal != d.literals_size()) return Corrupt(revision, "unused endpoint literals");
  return EndpointList::Rebuild(after_list, std::move(out));
}

absl::StatusOr<SlicePtr> UndoModified(int64_t revision, const Slice& after, const SliceDelta& d) {
  auto prev = std::make_shared<Slice>(after);  // a copy starts with an empty serialized cache
  prev->generation = d.prev_generation();
  prev->resource_version = d.prev_resource_version();
  if (d.has_prev_uid()) prev->uid = d.prev_uid();
  if (d.has_prev_creation_timestamp()) prev->creation_timestamp = d.prev_creation_timestamp();
  if (d.has_prev_address_type()) prev->address_type = d.prev_address_type();
  if (d.has_meta()) prev->meta = UndoMeta(*after.meta, d.meta());
  if (d.ports_changed()) {
    prev->ports = std::make_shared<const PortList>(d.prev_ports().begin(), d.prev_ports().end());
  }
  if (d.endpoints_changed()) {
    SK_ASSIGN_OR_RETURN(prev->endpoints, UndoEndpoints(revision, after.endpoints, d));
  }
  return SlicePtr(std::move(prev));
}

const SlicePtr* Find(const ServiceSnapshotPtr& s, absl::string_view name) {
  if (s == nullptr) return nullptr;
  auto it = std::lower_bound(s->slices.begin(), s->slices.end(), name,
                             [](const SlicePtr& x, absl::string_view n) { return x->name < n; });
  return it != s->slices.end() && (*it)->name == name ? &*it : nullptr;
}

// The version of one slice before the commit (null: it did not exist).
absl::StatusOr<SlicePtr> UndoSlice(int64_t revision, const ServiceSnapshotPtr& after,
                                   const SliceDelta& d) {
  const SlicePtr* now = Find(after, d.name());
  switch (d.kind()) {
    case SliceDelta::CREATED:
      if (now == nullptr)
        return Corrupt(revision, absl::StrCat("created slice ", d.name(), " absent"));
      return SlicePtr();
    case SliceDelta::DELETED:
      if (now != nullptr)
        return Corrupt(revision, absl::StrCat("deleted slice ", d.name(), " present"));
      if (d.whole().metadata().name() != d.name()) return Corrupt(revision, "slice name mismatch");
      return SlicePtr(SliceFromProto(d.whole()));
    case SliceDelta::MODIFIED:
      if (now == nullptr)
        return Corrupt(revision, absl::StrCat("modified slice ", d.name(), " absent"));
      return UndoModified(revision, **now, d);
    default:
      return Corrupt(revision, "unknown slice change kind");
  }
}

}  // namespace

std::string EncodeDelta(const storage::CommitRecord& commit) {
  CommitDelta head;
  head.set_revision(commit.revision);
  head.set_time_unix_nanos(absl::ToUnixNanos(commit.time));
  std::string out = head.SerializeAsString();
  for (const storage::ServiceWrite& w : commit.services) {
    wire::AppendField(kServicesTag, EncodeService(w), &out);
  }
  return out;
}

absl::StatusOr<Delta> Delta::Parse(absl::string_view bytes) {
  Delta d;
  if (!d.proto_.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError("history record does not parse");
  }
  return d;
}

absl::StatusOr<ServiceSnapshotPtr> Delta::Undo(int i, const ServiceSnapshotPtr& after) const {
  const ServiceDelta& d = proto_.services(i);
  if (!d.existed()) return ServiceSnapshotPtr();
  auto s = std::make_shared<ServiceSnapshot>();
  s->namespace_ = d.namespace_();
  s->name = d.name();
  s->mod_revision = d.prev_mod_revision();
  if (!d.record_changed()) {
    s->record = after != nullptr ? after->record : nullptr;
  } else if (d.has_prev_record()) {
    s->record = std::make_shared<const v1::ServiceRecord>(d.prev_record());
  }
  absl::flat_hash_set<absl::string_view> touched;
  for (const SliceDelta& sd : d.slices()) {
    if (!touched.insert(sd.name()).second) {
      return Corrupt(revision(), absl::StrCat("slice ", sd.name(), " changed twice"));
    }
  }
  if (after != nullptr) {
    for (const SlicePtr& slice : after->slices) {
      if (!touched.contains(slice->name)) s->slices.push_back(slice);
    }
  }
  for (const SliceDelta& sd : d.slices()) {
    SK_ASSIGN_OR_RETURN(SlicePtr prev, UndoSlice(revision(), after, sd));
    if (prev != nullptr) s->slices.push_back(std::move(prev));
  }
  std::sort(s->slices.begin(), s->slices.end(),
            [](const SlicePtr& a, const SlicePtr& b) { return a->name < b->name; });
  return ServiceSnapshotPtr(std::move(s));
}

}  // namespace slicekeeper::store::internal
