#include "server/storage/internal/codec.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/storage/internal/records.pb.h"

namespace slicekeeper::storage::internal {
namespace {

absl::Status Corrupt(absl::string_view key, absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("storage: corrupt value at key \"", absl::CHexEscape(key), "\": ", what));
}

}  // namespace

std::string ServiceKey(absl::string_view ns, absl::string_view name) {
  return absl::StrCat(kServicePrefix, ns, "/", name);
}

std::string SliceKey(absl::string_view ns, absl::string_view service, absl::string_view slice) {
  return absl::StrCat(kSlicePrefix, ns, "/", service, "/", slice);
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

std::shared_ptr<const std::string> EncodeSlice(const Slice& slice, const Slice* prev) {
  return prev != nullptr ? slice.SerializedProtoAfter(*prev) : slice.SerializedProto();
}

absl::StatusOr<SlicePtr> DecodeSlice(absl::string_view key, absl::string_view name,
                                     absl::string_view value) {
  v1::EndpointSlice proto;
  if (!proto.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
    return Corrupt(key, "unparsable slice");
  }
  if (proto.metadata().name() != name) return Corrupt(key, "slice name differs from its key");
  std::shared_ptr<Slice> slice = SliceFromProto(std::move(proto));
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

}  // namespace slicekeeper::storage::internal
