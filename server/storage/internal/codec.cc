#include "server/storage/internal/codec.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/wire.h"
#include "server/storage/internal/records.pb.h"

namespace slicekeeper::storage::internal {
namespace {

absl::Status Corrupt(absl::string_view key, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("storage: corrupt value at key \"", absl::CHexEscape(key), "\": ", what));
}

// A slice as stored: its EndpointSlice without apiVersion and kind (constant for every slice, not
// worth storing), written straight from the shared endpoints rather than copied into a message.
std::string SliceBytes(const Slice& slice) { return slice.Serialize(/*type_meta=*/false); }

}  // namespace

std::string ServiceKey(absl::string_view ns, absl::string_view name) {
  return absl::StrCat(kServicePrefix, ns, "/", name);
}

std::string SliceKey(absl::string_view ns, absl::string_view service, absl::string_view slice) {
  return absl::StrCat(kSlicePrefix, ns, "/", service, "/", slice);
}

std::string HistoryKey(int64_t revision) {
  std::string key = kHistoryPrefix;
  const uint64_t r = static_cast<uint64_t>(revision);
  for (int shift = 56; shift >= 0; shift -= 8)
    key.push_back(static_cast<char>((r >> shift) & 0xFF));
  return key;
}

absl::StatusOr<std::vector<std::string>> SplitKey(absl::string_view key, absl::string_view prefix,
                                                  int parts) {
  if (!absl::StartsWith(key, prefix)) return Corrupt(key, "unexpected prefix");
  std::vector<std::string> out = absl::StrSplit(key.substr(prefix.size()), '/');
  if (static_cast<int>(out.size()) != parts) return Corrupt(key, "malformed key");
  for (const std::string& part : out) {
    if (part.empty()) return Corrupt(key, "malformed key");
  }
  return out;
}

absl::StatusOr<int64_t> ParseHistoryKey(absl::string_view key) {
  const absl::string_view prefix = kHistoryPrefix;
  if (key.size() != prefix.size() + 8 || !absl::StartsWith(key, prefix)) {
    return Corrupt(key, "malformed history key");
  }
  uint64_t r = 0;
  for (size_t i = prefix.size(); i < key.size(); ++i) r = (r << 8) | static_cast<uint8_t>(key[i]);
  if (r == 0 || r > static_cast<uint64_t>(INT64_MAX)) return Corrupt(key, "bad revision");
  return static_cast<int64_t>(r);
}

std::string EncodeService(const ServiceWrite& w) {
  ServiceValue value;
  if (w.record != nullptr) *value.mutable_record() = *w.record;
  value.set_mod_revision(w.mod_revision);
  return value.SerializeAsString();
}

absl::Status DecodeService(absl::string_view key, absl::string_view value, StoredService& out) {
  ServiceValue v;
  if (!v.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Corrupt(key, "unparsable service value");
  }
  if (v.mod_revision() <= 0) return Corrupt(key, "service without a mod revision");
  if (v.has_record()) {
    if (v.record().namespace_() != out.namespace_ || v.record().name() != out.name) {
      return Corrupt(key, "record names another service");
    }
    out.record = std::make_shared<const v1::ServiceRecord>(std::move(*v.mutable_record()));
  }
  out.mod_revision = v.mod_revision();
  return absl::OkStatus();
}

std::string EncodeSlice(const Slice& slice) { return SliceBytes(slice); }

absl::StatusOr<SlicePtr> DecodeSlice(absl::string_view key, absl::string_view name,
                                     absl::string_view value) {
  v1::EndpointSlice proto;
  if (!proto.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Corrupt(key, "unparsable slice");
  }
  if (proto.metadata().name() != name) return Corrupt(key, "slice name differs from its key");
  std::shared_ptr<Slice> slice = SliceFromProto(proto);
  if (slice->resource_version <= 0) return Corrupt(key, "slice without a resource version");
  return SlicePtr(std::move(slice));
}

std::string EncodeNodes(const std::vector<v1::Node>& nodes) {
  NodesValue value;
  for (const v1::Node& n : nodes) *value.add_nodes() = n;
  return value.SerializeAsString();
}

absl::StatusOr<std::vector<v1::Node>> DecodeNodes(absl::string_view value) {
  NodesValue v;
  if (!v.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Corrupt(kNodesKey, "unparsable node list");
  }
  return std::vector<v1::Node>(v.nodes().begin(), v.nodes().end());
}

// The same bytes protobuf writes for the HistoryValue (fields in number order), but each previous
// slice version goes in as its stored bytes instead of being copied into a message first.
std::string EncodeHistory(const CommitRecord& commit) {
  HistoryValue head;
  head.set_revision(commit.revision);
  head.set_time_unix_nanos(absl::ToUnixNanos(commit.time));
  std::string out = head.SerializeAsString();  // fields 1-2; the services (3) follow
  for (const ServiceWrite& w : commit.services) {
    const ServiceUndo& undo = w.undo;
    ServiceUndoValue u;
    u.set_namespace_(undo.namespace_);
    u.set_name(undo.name);
    u.set_existed(undo.existed);
    u.set_prev_mod_revision(undo.prev_mod_revision);
    u.set_record_changed(undo.record_changed);
    if (undo.prev_record != nullptr) *u.mutable_prev_record() = *undo.prev_record;
    std::string service = u.SerializeAsString();  // fields 1-6; the slices (7) follow
    for (const ServiceUndo::SliceUndo& s : undo.slices) {
      SliceUndoValue name_only;
      name_only.set_name(s.name);
      std::string slice = name_only.SerializeAsString();  // field 1; prev (2) follows
      if (s.prev != nullptr) {
        wire::AppendField(wire::LengthDelimitedTag(2), SliceBytes(*s.prev), &slice);
      }
      wire::AppendField(wire::LengthDelimitedTag(7), slice, &service);
    }
    wire::AppendField(wire::LengthDelimitedTag(3), service, &out);
  }
  return out;
}

absl::StatusOr<HistoryEntry> DecodeHistory(absl::string_view key, absl::string_view value) {
  HistoryValue v;
  if (!v.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Corrupt(key, "unparsable history entry");
  }
  absl::StatusOr<int64_t> revision = ParseHistoryKey(key);
  if (!revision.ok()) return revision.status();
  if (v.revision() != *revision) return Corrupt(key, "history entry of another revision");
  HistoryEntry out;
  out.revision = v.revision();
  out.time = absl::FromUnixNanos(v.time_unix_nanos());
  for (const ServiceUndoValue& u : v.services()) {
    ServiceUndo undo;
    undo.namespace_ = u.namespace_();
    undo.name = u.name();
    undo.existed = u.existed();
    undo.prev_mod_revision = u.prev_mod_revision();
    undo.record_changed = u.record_changed();
    if (undo.namespace_.empty() || undo.name.empty()) return Corrupt(key, "undo without a name");
    if (u.has_prev_record())
      undo.prev_record = std::make_shared<const v1::ServiceRecord>(u.prev_record());
    for (const SliceUndoValue& s : u.slices()) {
      if (s.name().empty()) return Corrupt(key, "slice undo without a name");
      SlicePtr prev;
      if (s.has_prev()) {
        if (s.prev().metadata().name() != s.name()) return Corrupt(key, "slice undo name mismatch");
        prev = SliceFromProto(s.prev());
      }
      undo.slices.push_back({s.name(), std::move(prev)});
    }
    out.services.push_back(std::move(undo));
  }
  return out;
}

}  // namespace slicekeeper::storage::internal
