// DecodeSlice: Kubernetes JSON into slicekeeper.v1.EndpointSlice (codec.h), by walking the
// generated descriptors with their JSON names, so every field of the model is covered once.
#include <cmath>
#include <limits>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"
#include "server/k8s/codec.h"

namespace slicekeeper::k8s {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::Value;

absl::string_view KindName(const Value& v) {
  switch (v.kind_case()) {
    case Value::kNullValue: return "null";
    case Value::kNumberValue: return "number";
    case Value::kStringValue: return "string";
    case Value::kBoolValue: return "boolean";
    case Value::kStructValue: return "object";
    case Value::kListValue: return "array";
    default: return "nothing";
  }
}

absl::Status WrongType(const std::string& path, absl::string_view want, const Value& got) {
  return absl::InvalidArgumentError(
      absl::StrCat(path.empty() ? "object" : path, ": expected ", want, ", got ", KindName(got)));
}

std::string Join(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// ObjectMeta fields of Kubernetes that slicekeeper does not keep: accepted, dropped.
bool IsDroppedMetaField(absl::string_view key) {
  static const auto* kDropped = new absl::flat_hash_set<std::string>{
      "managedFields", "selfLink", "finalizers", "deletionGracePeriodSeconds"};
  return kDropped->contains(key);
}

// Messages of the model have at most a dozen fields: a scan is as fast as a map.
const FieldDescriptor* FieldByJsonName(const google::protobuf::Descriptor& d,
                                       absl::string_view name) {
  for (int i = 0; i < d.field_count(); ++i) {
    if (d.field(i)->json_name() == name) return d.field(i);
  }
  return nullptr;
}

class Decoder {
 public:
  absl::Status Object(const Value& v, Message* msg, const std::string& path);
  std::vector<std::string> unknown;

 private:
  absl::Status Field(const Value& v, Message* msg, const FieldDescriptor* f,
                     const std::string& path);
  absl::Status Map(const Value& v, Message* msg, const FieldDescriptor* f, const std::string& path);
  absl::Status Element(const Value& v, Message* msg, const FieldDescriptor* f,
                       const std::string& path);
  absl::StatusOr<int64_t> Integer(const Value& v, const FieldDescriptor* f,
                                  const std::string& path);
};

absl::Status Decoder::Object(const Value& v, Message* msg, const std::string& path) {
  if (v.kind_case() != Value::kStructValue) return WrongType(path, "an object", v);
  const bool meta = msg->GetDescriptor()->name() == "ObjectMeta";
  for (const auto& [key, value] : v.struct_value().fields()) {
    const FieldDescriptor* f = FieldByJsonName(*msg->GetDescriptor(), key);
    if (f == nullptr) {
      if (!(meta && IsDroppedMetaField(key))) unknown.push_back(Join(path, key));
      continue;
    }
    if (value.kind_case() == Value::kNullValue) continue;  // null: unset, as in Go
    // Endpoint.conditions is a struct, not a pointer, in Go: {} is the same as absent.
    if (key == "conditions" && value.has_struct_value() &&
        value.struct_value().fields().empty()) {
      continue;
    }
    absl::Status s = Field(value, msg, f, Join(path, key));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Decoder::Field(const Value& v, Message* msg, const FieldDescriptor* f,
                            const std::string& path) {
  if (f->is_map()) return Map(v, msg, f, path);
  if (!f->is_repeated()) return Element(v, msg, f, path);
  if (v.kind_case() != Value::kListValue) return WrongType(path, "an array", v);
  for (int i = 0; i < v.list_value().values_size(); ++i) {
    const Value& item = v.list_value().values(i);
    absl::Status s = Element(item, msg, f, absl::StrCat(path, "[", i, "]"));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// map<string, string>, the only maps of the model.
absl::Status Decoder::Map(const Value& v, Message* msg, const FieldDescriptor* f,
                          const std::string& path) {
  if (v.kind_case() != Value::kStructValue) return WrongType(path, "an object", v);
  const Reflection* r = msg->GetReflection();
  for (const auto& [key, value] : v.struct_value().fields()) {
    if (value.kind_case() != Value::kStringValue) {
      return WrongType(absl::StrCat(path, "[", key, "]"), "a string", value);
    }
    Message* entry = r->AddMessage(msg, f);
    const Reflection* er = entry->GetReflection();
    er->SetString(entry, entry->GetDescriptor()->FindFieldByNumber(1), key);
    er->SetString(entry, entry->GetDescriptor()->FindFieldByNumber(2), value.string_value());
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Decoder::Integer(const Value& v, const FieldDescriptor* f,
                                         const std::string& path) {
  if (v.kind_case() != Value::kNumberValue) return WrongType(path, "an integer", v);
  const double d = v.number_value();
  const bool is32 = f->cpp_type() == FieldDescriptor::CPPTYPE_INT32;
  const double lo = is32 ? std::numeric_limits<int32_t>::min() : -9007199254740992.0;
  const double hi = is32 ? std::numeric_limits<int32_t>::max() : 9007199254740992.0;
  if (std::trunc(d) != d || d < lo || d > hi) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected an integer", is32 ? " (32 bits)" : "", ", got ", d));
  }
  return static_cast<int64_t>(d);
}

// One value of `f` (a singular field, or one element of a repeated one).
absl::Status Decoder::Element(const Value& v, Message* msg, const FieldDescriptor* f,
                              const std::string& path) {
  const Reflection* r = msg->GetReflection();
  const bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return Object(v, rep ? r->AddMessage(msg, f) : r->MutableMessage(msg, f), path);
    case FieldDescriptor::CPPTYPE_STRING:
      if (v.kind_case() != Value::kStringValue) return WrongType(path, "a string", v);
      rep ? r->AddString(msg, f, v.string_value()) : r->SetString(msg, f, v.string_value());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_BOOL:
      if (v.kind_case() != Value::kBoolValue) return WrongType(path, "a boolean", v);
      rep ? r->AddBool(msg, f, v.bool_value()) : r->SetBool(msg, f, v.bool_value());
      return absl::OkStatus();
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      absl::StatusOr<int64_t> n = Integer(v, f, path);
      if (!n.ok()) return n.status();
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_INT32) {
        rep ? r->AddInt32(msg, f, static_cast<int32_t>(*n))
            : r->SetInt32(msg, f, static_cast<int32_t>(*n));
      } else {
        rep ? r->AddInt64(msg, f, *n) : r->SetInt64(msg, f, *n);
      }
      return absl::OkStatus();
    }
    default:
      return absl::InternalError(absl::StrCat(path, ": field type not supported by the codec"));
  }
}

}  // namespace

absl::StatusOr<Value> ParseJson(absl::string_view text) {
  Value value;
  google::protobuf::util::JsonParseOptions options;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &value, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", std::string(status.message())));
  }
  return value;
}

absl::StatusOr<DecodedSlice> DecodeSlice(const Value& json) {
  DecodedSlice out;
  Decoder decoder;
  absl::Status s = decoder.Object(json, &out.slice, "");
  if (!s.ok()) return s;
  out.unknown_fields = std::move(decoder.unknown);
  return out;
}

}  // namespace slicekeeper::k8s
