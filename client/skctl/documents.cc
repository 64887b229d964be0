#include "client/skctl/documents.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/skctl/yaml_reader.h"
#include "common/validation.h"
#include "google/protobuf/util/json_util.h"
#include "yaml-cpp/yaml.h"

namespace slicekeeper::skctl {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Value;

constexpr char kChangesApiVersion[] = "slicekeeper.io/v1";

// --- YAML -> Value -------------------------------------------------------------------------

// The 0-based document that line `line` (0-based) of `text` belongs to.
int DocumentAtLine(const std::string& text, int line) {
  int index = -1;
  int n = 0;
  for (absl::string_view l : absl::StrSplit(text, '\n')) {
    if (n++ > line) break;
    if (absl::StartsWith(l, "---")) {
      ++index;
    } else if (index < 0 && !absl::StripAsciiWhitespace(l).empty() &&
               !absl::StartsWith(absl::StripLeadingAsciiWhitespace(l), "#")) {
      index = 0;
    }
  }
  return std::max(index, 0);
}

// --- Field checks against the message schema ---------------------------------------------------

std::string Join(const std::string& path, const std::string& field) {
  return path.empty() ? field : absl::StrCat(path, ".", field);
}

const char* KindName(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue:
      return "a string";
    case Value::kNumberValue:
      return "a number";
    case Value::kBoolValue:
      return "a boolean";
    case Value::kStructValue:
      return "an object";
    case Value::kListValue:
      return "a list";
    default:
      return "null";
  }
}

absl::Status CheckMessage(const Value& v, const Descriptor* d, const std::string& path);

absl::Status TypeError(const std::string& path, const char* want, const Value& v) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": expected ", want, ", got ", KindName(v)));
}

absl::Status CheckScalar(const Value& v, const FieldDescriptor* f, const std::string& path) {
  if (v.kind_case() == Value::kNullValue) return absl::OkStatus();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return CheckMessage(v, f->message_type(), path);
    case FieldDescriptor::CPPTYPE_STRING:
      return v.has_string_value() ? absl::OkStatus() : TypeError(path, "a string", v);
    case FieldDescriptor::CPPTYPE_BOOL:
      return v.has_bool_value() ? absl::OkStatus() : TypeError(path, "a boolean", v);
    case FieldDescriptor::CPPTYPE_ENUM:
      return v.has_string_value() || v.has_number_value() ? absl::OkStatus()
                                                          : TypeError(path, "a string", v);
    default: {
      int64_t i;
      if (v.has_number_value() && std::floor(v.number_value()) == v.number_value()) {
        return absl::OkStatus();
      }
      if (v.has_string_value() && absl::SimpleAtoi(v.string_value(), &i)) return absl::OkStatus();
      return TypeError(path, "an integer", v);
    }
  }
}

absl::Status CheckField(const Value& v, const FieldDescriptor* f, const std::string& path) {
  if (v.kind_case() == Value::kNullValue) return absl::OkStatus();
  if (f->is_map()) {
    if (!v.has_struct_value()) return TypeError(path, "an object", v);
    const FieldDescriptor* value_field = f->message_type()->map_value();
    for (const auto& [key, item] : v.struct_value().fields()) {
      absl::Status s = CheckScalar(item, value_field, absl::StrCat(path, "[", key, "]"));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (f->is_repeated()) {
    if (!v.has_list_value()) return TypeError(path, "a list", v);
    for (int i = 0; i < v.list_value().values_size(); ++i) {
      absl::Status s = CheckScalar(v.list_value().values(i), f, absl::StrCat(path, "[", i, "]"));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  return CheckScalar(v, f, path);
}

const FieldDescriptor* FindField(const Descriptor* d, const std::string& name) {
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->json_name() == name || f->name() == name) return f;
  }
  return nullptr;
}

absl::Status CheckMessage(const Value& v, const Descriptor* d, const std::string& path) {
  if (!v.has_struct_value()) return TypeError(path.empty() ? "document" : path, "an object", v);
  std::vector<std::string> keys;
  for (const auto& [key, item] : v.struct_value().fields()) keys.push_back(key);
  std::sort(keys.begin(), keys.end());  // report the first bad field deterministically
  for (const std::string& key : keys) {
    const FieldDescriptor* f = FindField(d, key);
    const std::string field_path = Join(path, key);
    if (f == nullptr)
      return absl::InvalidArgumentError(absl::StrCat(field_path, ": unknown field"));
    absl::Status s = CheckField(v.struct_value().fields().at(key), f, field_path);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string ValueToJsonString(const Value& v) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  return out;
}

// Checks `v` against `message`'s schema, then parses it.
absl::Status ParseInto(const Value& v, const std::string& path,
                       google::protobuf::Message* message) {
  absl::Status s = CheckMessage(v, message->GetDescriptor(), path);
  if (!s.ok()) return s;
  google::protobuf::util::JsonParseOptions options;
  auto parsed = google::protobuf::util::JsonStringToMessage(ValueToJsonString(v), message, options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path.empty() ? "document" : path, ": ", parsed.message().as_string()));
  }
  return absl::OkStatus();
}

// --- Kinds ----------------------------------------------------------------------------------

struct Context {
  std::string default_namespace;
  bool namespace_flag = false;
  int document = 0;
  std::vector<ApplyItem>* out = nullptr;
};

std::string StringField(const Value& v, const std::string& key) {
  auto it = v.struct_value().fields().find(key);
  if (it == v.struct_value().fields().end() || !it->second.has_string_value()) return "";
  return it->second.string_value();
}

// kubectl's rule: an object's own namespace must agree with an explicit -n.
absl::Status ResolveNamespace(const Context& ctx, const std::string& path, std::string* ns) {
  if (ns->empty()) {
    *ns = ctx.default_namespace;
  } else if (ctx.namespace_flag && *ns != ctx.default_namespace) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": the namespace from the provided object \"", *ns,
        "\" does not match the namespace \"", ctx.default_namespace, "\" given with -n"));
  }
  return absl::OkStatus();
}

absl::Status AddSlice(const Value& v, const std::string& path, Context& ctx) {
  if (std::string api = StringField(v, "apiVersion"); api != "discovery.k8s.io/v1") {
    return absl::InvalidArgumentError(
        absl::StrCat(Join(path, "apiVersion"),
                     ": must be discovery.k8s.io/v1 for kind EndpointSlice, got \"", api, "\""));
  }
  v1::EndpointSlice slice;
  absl::Status s = ParseInto(v, path, &slice);
  if (!s.ok()) return s;
  std::string ns = slice.metadata().namespace_();
  s = ResolveNamespace(ctx, Join(path, "metadata.namespace"), &ns);
  if (!s.ok()) return s;
  slice.mutable_metadata()->set_namespace_(ns);
  s = validation::ValidateEndpointSlice(slice, path);
  if (!s.ok()) return s;
  if (!slice.metadata().labels().contains("kubernetes.io/service-name")) {
    return absl::InvalidArgumentError(
        absl::StrCat(Join(path, "metadata.labels"), ": kubernetes.io/service-name is required"));
  }
  ctx.out->push_back({ctx.document, path, std::move(slice)});
  return absl::OkStatus();
}

absl::Status AddChanges(const Value& v, const std::string& path, Context& ctx) {
  if (std::string api = StringField(v, "apiVersion"); api != kChangesApiVersion) {
    return absl::InvalidArgumentError(absl::StrCat(Join(path, "apiVersion"), ": must be ",
                                                   kChangesApiVersion, ", got \"", api, "\""));
  }
  const auto& fields = v.struct_value().fields();
  v1::ChangeBatch batch;
  for (const auto& [key, item] : fields) {
    if (key == "apiVersion" || key == "kind") continue;
    if (key != "changes") {
      return absl::InvalidArgumentError(absl::StrCat(Join(path, key), ": unknown field"));
    }
  }
  auto it = fields.find("changes");
  if (it == fields.end() || !it->second.has_list_value()) {
    return absl::InvalidArgumentError(absl::StrCat(Join(path, "changes"), ": required list"));
  }
  for (int i = 0; i < it->second.list_value().values_size(); ++i) {
    const std::string item_path = absl::StrCat(Join(path, "changes"), "[", i, "]");
    v1::EndpointChange* change = batch.add_changes();
    absl::Status s = ParseInto(it->second.list_value().values(i), item_path, change);
    if (!s.ok()) return s;
    std::string ns = change->namespace_();
    s = ResolveNamespace(ctx, Join(item_path, "namespace"), &ns);
    if (!s.ok()) return s;
    change->set_namespace_(ns);
    if (auto delta = validation::NormalizeChange(*change, item_path); !delta.ok()) {
      return delta.status();
    }
  }
  ctx.out->push_back({ctx.document, path, std::move(batch)});
  return absl::OkStatus();
}

absl::Status AddObject(const Value& v, const std::string& path, Context& ctx) {
  if (!v.has_struct_value()) return TypeError(path.empty() ? "document" : path, "an object", v);
  const std::string kind = StringField(v, "kind");
  if (kind == "EndpointSlice") return AddSlice(v, path, ctx);
  if (kind == "EndpointChanges") return AddChanges(v, path, ctx);
  if (kind == "List" && path.empty()) {
    auto it = v.struct_value().fields().find("items");
    if (it == v.struct_value().fields().end() || !it->second.has_list_value()) {
      return absl::InvalidArgumentError("items: required list");
    }
    for (int i = 0; i < it->second.list_value().values_size(); ++i) {
      absl::Status s =
          AddObject(it->second.list_value().values(i), absl::StrCat("items[", i, "]"), ctx);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }
  if (kind.empty())
    return absl::InvalidArgumentError(absl::StrCat(Join(path, "kind"), ": required"));
  return absl::InvalidArgumentError(
      absl::StrCat(Join(path, "kind"), ": unknown kind \"", kind,
                   "\" (expected EndpointSlice, List or EndpointChanges)"));
}

// --- Output ---------------------------------------------------------------------------------

// Proto3 JSON prints 64-bit integers as strings; Kubernetes prints them as numbers.
void NumberifyInt64(Value* v, const Descriptor* d) {
  if (!v->has_struct_value()) return;
  for (auto& [key, item] : *v->mutable_struct_value()->mutable_fields()) {
    const FieldDescriptor* f = FindField(d, key);
    if (f == nullptr) continue;
    auto fix = [&](Value* x) {
      if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_map()) {
        NumberifyInt64(x, f->message_type());
      } else if ((f->cpp_type() == FieldDescriptor::CPPTYPE_INT64 ||
                  f->cpp_type() == FieldDescriptor::CPPTYPE_UINT64) &&
                 x->has_string_value()) {
        double n = std::strtod(x->string_value().c_str(), nullptr);
        x->set_number_value(n);
      }
    };
    if (f->is_repeated() && !f->is_map() && item.has_list_value()) {
      for (Value& x : *item.mutable_list_value()->mutable_values()) fix(&x);
    } else if (!f->is_repeated()) {
      fix(&item);
    }
  }
}

// True when a plain YAML scalar `s` would not read back as this string.
bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  static const char* const kWords[] = {"null", "~",  "true", "false", "yes",
                                       "no",   "on", "off",  "y",     "n"};
  const std::string lower = absl::AsciiStrToLower(s);
  for (const char* w : kWords) {
    if (lower == w) return true;
  }
  if (absl::ascii_isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' || s[0] == '+' ||
      s[0] == '.') {
    return true;
  }
  return s.find_first_of(":#{}[],&*!|>'\"%@`") != std::string::npos || s.front() == ' ' ||
         s.back() == ' ';
}

void Emit(YAML::Emitter& out, const Value& v) {
  switch (v.kind_case()) {
    case Value::kStructValue: {
      std::vector<std::string> keys;
      for (const auto& [key, item] : v.struct_value().fields()) keys.push_back(key);
      std::sort(keys.begin(), keys.end());
      if (keys.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const std::string& key : keys) {
        out << YAML::Key << key << YAML::Value;
        Emit(out, v.struct_value().fields().at(key));
      }
      out << YAML::EndMap;
      break;
    }
    case Value::kListValue:
      if (v.list_value().values().empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const Value& item : v.list_value().values()) Emit(out, item);
      out << YAML::EndSeq;
      break;
    case Value::kStringValue:
      if (NeedsQuotes(v.string_value())) out << YAML::DoubleQuoted;
      out << v.string_value();
      break;
    case Value::kNumberValue:
      if (std::floor(v.number_value()) == v.number_value()) {
        out << static_cast<int64_t>(v.number_value());
      } else {
        out << v.number_value();
      }
      break;
    case Value::kBoolValue:
      out << (v.bool_value() ? "true" : "false");
      break;
    default:
      out << YAML::Null;
  }
}

}  // namespace

absl::StatusOr<std::vector<ApplyItem>> ParseDocuments(const std::string& source,
                                                      const std::string& text,
                                                      const std::string& default_namespace,
                                                      bool namespace_flag) {
  YamlRead docs = ReadYamlDocuments(text);
  if (docs.error.has_value()) {
    const YamlError& e = *docs.error;
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": document ", DocumentAtLine(text, e.line), ": line ", e.line + 1,
                     ", column ", e.column + 1, ": ", e.message));
  }
  std::vector<ApplyItem> items;
  Context ctx{default_namespace, namespace_flag, 0, &items};
  for (size_t i = 0; i < docs.documents.size(); ++i) {
    // An empty document, as kubectl skips them.
    if (docs.documents[i].kind_case() == Value::kNullValue) continue;
    ctx.document = static_cast<int>(i);
    absl::Status s = AddObject(docs.documents[i], "", ctx);
    if (!s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": document ", i, ": ", s.message()));
    }
  }
  if (items.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": no objects passed to apply"));
  }
  return items;
}

absl::StatusOr<std::vector<Value>> YamlDocuments(const std::string& text) {
  YamlRead docs = ReadYamlDocuments(text);
  if (docs.error.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat("line ", docs.error->line + 1, ", column ",
                                                   docs.error->column + 1, ": ",
                                                   docs.error->message));
  }
  return std::move(docs.documents);
}

Value ToValue(const google::protobuf::Message& message) {
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(message, &json);
  Value v;
  (void)google::protobuf::util::JsonStringToMessage(json, &v);
  NumberifyInt64(&v, message.GetDescriptor());
  return v;
}

std::string ValueToYaml(const Value& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(out, value);
  return std::string(out.c_str()) + "\n";
}

std::string ValueToJson(const Value& value, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(value, &out, options);
  if (!pretty) return out;
  return out.back() == '\n' ? out : out + "\n";
}

Value ListOf(std::vector<Value> items) {
  Value v;
  auto* fields = v.mutable_struct_value()->mutable_fields();
  (*fields)["apiVersion"].set_string_value("v1");
  (*fields)["kind"].set_string_value("List");
  (*fields)["metadata"].mutable_struct_value()->mutable_fields()->insert(
      {"resourceVersion", Value()});
  (*fields)["metadata"]
      .mutable_struct_value()
      ->mutable_fields()
      ->at("resourceVersion")
      .set_string_value("");
  auto* list = (*fields)["items"].mutable_list_value();
  for (Value& item : items) *list->add_values() = std::move(item);
  return v;
}

}  // namespace slicekeeper::skctl
