// EncodeSlice: the Kubernetes JSON of a slice (codec.h). Field order follows the Go types; keys of
// maps are sorted, as encoding/json sorts them.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/k8s/codec.h"

namespace slicekeeper::k8s {
namespace {

using internal::JsonWriter;

// `map`: a protobuf Map or a vector of pairs.
template <typename Map>
void WriteStringMap(absl::string_view key, const Map& map, JsonWriter& w) {
  if (map.empty()) return;
  std::vector<std::pair<absl::string_view, absl::string_view>> entries;
  entries.reserve(map.size());
  for (const auto& [k, v] : map) entries.emplace_back(k, v);
  std::sort(entries.begin(), entries.end());
  w.Key(key);
  w.BeginObject();
  for (const auto& [k, v] : entries) w.Field(k, v);
  w.EndObject();
}

void FieldIfSet(absl::string_view key, absl::string_view value, JsonWriter& w) {
  if (!value.empty()) w.Field(key, value);
}

void WriteOwnerReferences(const v1::ObjectMeta& meta, JsonWriter& w) {
  if (meta.owner_references().empty()) return;
  w.Key("ownerReferences");
  w.BeginArray();
  for (const v1::OwnerReference& o : meta.owner_references()) {
    w.BeginObject();
    w.Field("apiVersion", o.api_version());
    w.Field("kind", o.kind());
    w.Field("name", o.name());
    w.Field("uid", o.uid());
    if (o.has_controller()) w.BoolField("controller", o.controller());
    if (o.has_block_owner_deletion()) w.BoolField("blockOwnerDeletion", o.block_owner_deletion());
    w.EndObject();
  }
  w.EndArray();
}

// `r`: a v1::ObjectReference or a RecordTargetRef.
template <typename Ref>
void WriteTargetRef(const Ref& r, JsonWriter& w) {
  w.Key("targetRef");
  w.BeginObject();
  FieldIfSet("kind", r.kind(), w);
  FieldIfSet("namespace", r.namespace_(), w);
  FieldIfSet("name", r.name(), w);
  FieldIfSet("uid", r.uid(), w);
  FieldIfSet("apiVersion", r.api_version(), w);
  FieldIfSet("resourceVersion", r.resource_version(), w);
  FieldIfSet("fieldPath", r.field_path(), w);
  w.EndObject();
}

template <typename List>
void WriteNames(absl::string_view key, const List& list, JsonWriter& w) {
  if (list.empty()) return;
  w.Key(key);
  w.BeginArray();
  for (const auto& item : list) {
    w.BeginObject();
    w.Field("name", item.name());
    w.EndObject();
  }
  w.EndArray();
}

void WriteEndpoint(const EndpointRecord& e, JsonWriter& w) {
  w.BeginObject();
  w.Key("addresses");
  if (e.addresses().empty()) {
    w.Null();
  } else {
    w.BeginArray();
    for (absl::string_view a : e.addresses()) w.String(a);
    w.EndArray();
  }
  w.Key("conditions");
  w.BeginObject();
  const RecordConditions c = e.conditions();
  if (c.has_ready()) w.BoolField("ready", c.ready());
  if (c.has_serving()) w.BoolField("serving", c.serving());
  if (c.has_terminating()) w.BoolField("terminating", c.terminating());
  w.EndObject();
  if (e.has_hostname()) w.Field("hostname", e.hostname());
  if (e.has_target_ref()) WriteTargetRef(e.target_ref(), w);
  WriteStringMap("deprecatedTopology", e.deprecated_topology(), w);
  if (e.has_node_name()) w.Field("nodeName", e.node_name());
  if (e.has_zone()) w.Field("zone", e.zone());
  if (e.has_hints()) {
    w.Key("hints");
    w.BeginObject();
    WriteNames("forZones", e.hints().for_zones(), w);
    WriteNames("forNodes", e.hints().for_nodes(), w);
    w.EndObject();
  }
  w.EndObject();
}

void WritePort(const v1::EndpointPort& p, JsonWriter& w) {
  w.BeginObject();
  if (p.has_name()) w.Field("name", p.name());
  if (p.has_protocol()) w.Field("protocol", p.protocol());
  if (p.has_port()) w.IntField("port", p.port());
  if (p.has_app_protocol()) w.Field("appProtocol", p.app_protocol());
  w.EndObject();
}

}  // namespace

void WriteMetadata(const Slice& slice, int64_t resource_version, JsonWriter& w) {
  const v1::ObjectMeta& meta = *slice.meta;
  w.BeginObject();
  FieldIfSet("name", slice.name, w);
  FieldIfSet("generateName", meta.generate_name(), w);
  FieldIfSet("namespace", slice.namespace_, w);
  FieldIfSet("uid", slice.uid, w);
  const int64_t rv = resource_version != 0 ? resource_version : slice.resource_version;
  if (rv != 0) w.Field("resourceVersion", absl::StrCat(rv));
  if (slice.generation != 0) w.IntField("generation", slice.generation);
  w.Key("creationTimestamp");
  if (slice.creation_timestamp.empty()) {
    w.Null();
  } else {
    w.String(slice.creation_timestamp);
  }
  FieldIfSet("deletionTimestamp", meta.deletion_timestamp(), w);
  WriteStringMap("labels", meta.labels(), w);
  WriteStringMap("annotations", meta.annotations(), w);
  WriteOwnerReferences(meta, w);
  w.EndObject();
}

std::string EncodeSlice(const Slice& slice, int64_t resource_version) {
  std::string out;
  out.reserve(256 + 160 * slice.endpoints.size());
  JsonWriter w(&out);
  w.BeginTyped(kKind, kApiVersion);
  w.Key("metadata");
  WriteMetadata(slice, resource_version, w);
  w.Field("addressType", slice.address_type);
  w.Key("endpoints");
  if (slice.endpoints.empty()) {
    w.Null();
  } else {
    w.BeginArray();
    for (const EndpointPtr& e : slice.endpoints) WriteEndpoint(*e, w);
    w.EndArray();
  }
  w.Key("ports");
  if (slice.ports == nullptr || slice.ports->empty()) {
    w.Null();
  } else {
    w.BeginArray();
    for (const v1::EndpointPort& p : *slice.ports) WritePort(p, w);
    w.EndArray();
  }
  w.EndObject();
  return out;
}

}  // namespace slicekeeper::k8s
