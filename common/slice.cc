#include "common/slice.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

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
  v1::EndpointSlice out = Header();
  out.mutable_endpoints()->Reserve(static_cast<int>(endpoints.size()));
  for (const EndpointPtr& e : endpoints) e->ToProto(out.add_endpoints());
  for (const v1::EndpointPort& p : *ports) *out.add_ports() = p;
  return out;
}

v1::EndpointSlice Slice::Header() const {
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
  return out;
}

std::string Slice::Serialize(bool type_meta) const { return Serialize(type_meta, {}); }

std::string Slice::Serialize(bool type_meta,
                             absl::Span<const absl::string_view* const> reused) const {
  // ToProto().SerializeAsString() without copying the endpoints into a new message first (that
  // deep copy was most of a 1 M-endpoint snapshot's server time): fields 1-4 from the header,
  // then each endpoint as field 5 straight from the shared object, then the ports (field 6) -
  // the order protobuf itself writes them in, so the bytes are the same.
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  const uint32_t tag = WireFormatLite::MakeTag(v1::EndpointSlice::kEndpointsFieldNumber,
                                               WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  v1::EndpointSlice header = Header();
  if (!type_meta) {
    header.clear_api_version();
    header.clear_kind();
  }
  v1::EndpointSlice tail;
  *tail.mutable_ports() = {ports->begin(), ports->end()};
  // Exact size first: a cached string is kept for the slice's lifetime, so no slack.
  size_t total = header.ByteSizeLong() + tail.ByteSizeLong();
  // An endpoint with reused bytes (tag and length included) is copied, not sized or written.
  auto reuse = [&](size_t i) { return i < reused.size() ? reused[i] : nullptr; };
  std::vector<size_t> sizes;
  sizes.reserve(endpoints.size());
  size_t i = 0;
  for (auto e = endpoints.begin(); e != endpoints.end(); ++e, ++i) {
    if (const absl::string_view* r = reuse(i)) {
      sizes.push_back(0);
      total += r->size();
      continue;
    }
    sizes.push_back((*e)->ByteSizeLong());
    total += CodedOutputStream::VarintSize32(tag) + CodedOutputStream::VarintSize64(sizes.back()) +
             sizes.back();
  }
  std::string out(total, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  p = header.SerializeWithCachedSizesToArray(p);
  i = 0;
  for (auto e = endpoints.begin(); e != endpoints.end(); ++e, ++i) {
    if (const absl::string_view* r = reuse(i)) {
      p = std::copy(r->begin(), r->end(), p);
      continue;
    }
    p = CodedOutputStream::WriteVarint32ToArray(tag, p);
    p = CodedOutputStream::WriteVarint64ToArray(sizes[i], p);
    p = (*e)->SerializeToArray(p);
  }
  tail.SerializeWithCachedSizesToArray(p);
  return out;
}

std::shared_ptr<const std::string> Slice::SerializedProto() const {
  return serialized.GetOrCompute([this] { return Serialize(); });
}

namespace {

// Where each endpoint (field 5) of serialized EndpointSlice `bytes` is, tag included, in order;
// nullopt when `bytes` does not parse as a sequence of fields.
std::optional<std::vector<absl::string_view>> EndpointSpans(const std::string& bytes) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  std::vector<absl::string_view> spans;
  for (;;) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    if (WireFormatLite::GetTagFieldNumber(tag) == v1::EndpointSlice::kEndpointsFieldNumber &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length = 0;
      if (!in.ReadVarint32(&length) || !in.Skip(static_cast<int>(length))) return std::nullopt;
      spans.emplace_back(bytes.data() + start, static_cast<size_t>(in.CurrentPosition() - start));
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return std::nullopt;
    }
  }
  if (in.CurrentPosition() != static_cast<int>(bytes.size())) return std::nullopt;
  return spans;
}

}  // namespace

std::shared_ptr<const std::string> Slice::SerializedProtoAfter(const Slice& prev) const {
  std::shared_ptr<const std::string> base = prev.serialized.Peek();
  if (base == nullptr || &prev == this) return SerializedProto();
  return serialized.GetOrCompute([&]() -> std::string {
    std::optional<std::vector<absl::string_view>> spans = EndpointSpans(*base);
    if (!spans.has_value() || spans->size() != prev.endpoints.size()) return Serialize();
    // prev's endpoints are alive (the caller holds prev), so equal pointers are the same objects.
    // Versions keep their endpoints' order, so a cursor finds most; the map is built only when
    // it does not.
    const std::vector<const EndpointRecord*> before = prev.endpoints.Records();
    absl::flat_hash_map<const EndpointRecord*, size_t> index;
    size_t cursor = 0;
    auto find = [&](const EndpointRecord* e) -> const absl::string_view* {
      if (cursor < before.size() && before[cursor] == e) return &(*spans)[cursor++];
      if (index.empty()) {
        index.reserve(before.size());
        for (size_t i = 0; i < before.size(); ++i) index.emplace(before[i], i);
      }
      auto it = index.find(e);
      if (it == index.end()) return nullptr;
      cursor = it->second + 1;
      return &(*spans)[it->second];
    };
    std::vector<const absl::string_view*> reused;
    reused.reserve(endpoints.size());
    for (const EndpointPtr& e : endpoints) reused.push_back(find(e.get()));
    return Serialize(/*type_meta=*/true, reused);
  });
}

int64_t StringHeapBytes(const std::string& s) {
  // libstdc++ keeps up to 15 characters inline; beyond, the buffer is capacity + 1.
  return s.capacity() > 15 ? static_cast<int64_t>(s.capacity()) + 1 : 0;
}

int64_t Slice::EndpointBytes() const {
  return endpoint_bytes.GetOrCompute([this] {
    int64_t total = 0;
    for (const EndpointPtr& e : endpoints) {
      total += static_cast<int64_t>(e->SpaceUsed());
    }
    return total;
  });
}

int64_t Slice::OwnBytes() const {
  return kSharedBlockBytes + static_cast<int64_t>(sizeof(Slice)) + StringHeapBytes(name) +
         StringHeapBytes(namespace_) + StringHeapBytes(uid) + StringHeapBytes(creation_timestamp) +
         StringHeapBytes(address_type) + endpoints.HeapBytes();
}

std::shared_ptr<Slice> SliceFromProto(const v1::EndpointSlice& proto) {
  return SliceFromProto(v1::EndpointSlice(proto));
}

std::shared_ptr<Slice> SliceFromProto(v1::EndpointSlice&& proto) {
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
  std::vector<EndpointPtr> endpoints;
  endpoints.reserve(proto.endpoints_size());
  for (const v1::Endpoint& e : proto.endpoints()) endpoints.push_back(EndpointRecord::FromProto(e));
  s->endpoints = std::move(endpoints);
  return s;
}

}  // namespace slicekeeper
