#include "common/slice.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper {

bool Slice::Managed() const {
  auto it = meta->labels().find(kLabelManagedBy);
  return it != meta->labels().end() && it->second == kManagerName;
}

const std::string& Slice::ServiceName() const {
  static const std::string* const kEmpty = new std::string();
  auto it = meta->labels().find(kLabelServiceName);
  return it == meta->labels().end() ? *kEmpty : it->second;
}

v1::EndpointSlice Slice::ToProto() const {
  v1::EndpointSlice out;
  out.set_api_version(kApiVersion);
  out.set_kind(kKind);
  v1::ObjectMeta* m = out.mutable_metadata();
  *m = *meta;
  m->set_name(name);
  m->set_namespace_(namespace_);
  m->set_uid(uid);
  m->set_generation(generation);
  if (resource_version > 0) m->set_resource_version(absl::StrCat(resource_version));
  m->set_creation_timestamp(creation_timestamp);
  out.set_address_type(address_type);
  out.mutable_endpoints()->Reserve(static_cast<int>(endpoints.size()));
  for (const EndpointPtr& e : endpoints) *out.add_endpoints() = *e;
  for (const v1::EndpointPort& p : *ports) *out.add_ports() = p;
  return out;
}

std::shared_ptr<const std::string> Slice::SerializedProto() const {
  return serialized.GetOrCompute([this] { return ToProto().SerializeAsString(); });
}

std::shared_ptr<Slice> SliceFromProto(const v1::EndpointSlice& proto) {
  auto s = std::make_shared<Slice>();
  const v1::ObjectMeta& m = proto.metadata();
  s->name = m.name();
  s->namespace_ = m.namespace_();
  s->uid = m.uid();
  s->generation = m.generation();
  int64_t rv = 0;
  if (absl::SimpleAtoi(m.resource_version(), &rv)) s->resource_version = rv;
  s->creation_timestamp = m.creation_timestamp();
  auto meta = std::make_shared<v1::ObjectMeta>();
  *meta->mutable_labels() = m.labels();
  *meta->mutable_annotations() = m.annotations();
  *meta->mutable_owner_references() = m.owner_references();
  meta->set_generate_name(m.generate_name());
  meta->set_deletion_timestamp(m.deletion_timestamp());
  s->meta = std::move(meta);
  s->address_type = proto.address_type();
  s->ports = std::make_shared<const PortList>(proto.ports().begin(), proto.ports().end());
  s->endpoints.reserve(proto.endpoints_size());
  for (const v1::Endpoint& e : proto.endpoints()) {
    s->endpoints.push_back(std::make_shared<const v1::Endpoint>(e));
  }
  return s;
}

}  // namespace slicekeeper
