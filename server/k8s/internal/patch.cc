#include "server/k8s/internal/patch.h"

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/message_differencer.h"

namespace slicekeeper::k8s::internal {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

absl::Status Bad(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("json patch: ", message));
}

// The "$..." key of a strategic merge patch, or "".
std::string FindDirective(const Value& v) {
  if (v.has_struct_value()) {
    for (const auto& [key, child] : v.struct_value().fields()) {
      if (!key.empty() && key[0] == '$') return key;
      std::string inner = FindDirective(child);
      if (!inner.empty()) return inner;
    }
  } else if (v.has_list_value()) {
    for (const Value& child : v.list_value().values()) {
      std::string inner = FindDirective(child);
      if (!inner.empty()) return inner;
    }
  }
  return "";
}

std::vector<std::string> PointerTokens(absl::string_view pointer) {
  std::vector<std::string> out;
  if (pointer.empty()) return out;
  for (absl::string_view t : absl::StrSplit(pointer.substr(1), '/')) {
    out.push_back(absl::StrReplaceAll(t, {{"~1", "/"}, {"~0", "~"}}));
  }
  return out;
}

// An index into `list` (for add, "-" and size() are allowed). -1 when invalid.
int Index(const ListValue& list, const std::string& token, bool for_add) {
  if (for_add && token == "-") return list.values_size();
  int i = 0;
  if (!absl::SimpleAtoi(token, &i) || i < 0 || i > list.values_size() ||
      (!for_add && i == list.values_size())) {
    return -1;
  }
  return i;
}

// The value at `tokens` (all of them), or null.
Value* Resolve(Value* root, const std::vector<std::string>& tokens, size_t count) {
  Value* v = root;
  for (size_t k = 0; k < count && v != nullptr; ++k) {
    if (v->has_struct_value()) {
      auto* fields = v->mutable_struct_value()->mutable_fields();
      auto it = fields->find(tokens[k]);
      v = it == fields->end() ? nullptr : &it->second;
    } else if (v->has_list_value()) {
      const int i = Index(v->list_value(), tokens[k], false);
      v = i < 0 ? nullptr : v->mutable_list_value()->mutable_values(i);
    } else {
      v = nullptr;
    }
  }
  return v;
}

absl::Status Add(Value* root, absl::string_view path, const Value& value) {
  if (path.empty()) {
    *root = value;
    return absl::OkStatus();
  }
  std::vector<std::string> tokens = PointerTokens(path);
  Value* parent = Resolve(root, tokens, tokens.size() - 1);
  if (parent == nullptr) return Bad(absl::StrCat("path ", path, " does not exist"));
  if (parent->has_struct_value()) {
    (*parent->mutable_struct_value()->mutable_fields())[tokens.back()] = value;
    return absl::OkStatus();
  }
  if (!parent->has_list_value()) return Bad(absl::StrCat("path ", path, " has no parent"));
  ListValue* list = parent->mutable_list_value();
  const int i = Index(*list, tokens.back(), true);
  if (i < 0) return Bad(absl::StrCat("bad index in ", path));
  *list->add_values() = value;
  for (int k = list->values_size() - 1; k > i; --k) list->mutable_values()->SwapElements(k, k - 1);
  return absl::OkStatus();
}

absl::Status Remove(Value* root, absl::string_view path) {
  std::vector<std::string> tokens = PointerTokens(path);
  if (path.empty()) return Bad("cannot remove the whole document");
  Value* parent = Resolve(root, tokens, tokens.size() - 1);
  if (parent != nullptr && parent->has_struct_value()) {
    if (parent->mutable_struct_value()->mutable_fields()->erase(tokens.back()) == 1) {
      return absl::OkStatus();
    }
  } else if (parent != nullptr && parent->has_list_value()) {
    ListValue* list = parent->mutable_list_value();
    const int i = Index(*list, tokens.back(), false);
    if (i >= 0) {
      list->mutable_values()->DeleteSubrange(i, 1);
      return absl::OkStatus();
    }
  }
  return Bad(absl::StrCat("path ", path, " does not exist"));
}

absl::Status ApplyOperation(const Struct& op, Value* root) {
  auto field = [&](const char* name) -> const Value* {
    auto it = op.fields().find(name);
    return it == op.fields().end() ? nullptr : &it->second;
  };
  const Value* name = field("op");
  const Value* path = field("path");
  if (name == nullptr || path == nullptr || !path->has_string_value() ||
      (!path->string_value().empty() && path->string_value()[0] != '/')) {
    return Bad("each operation needs \"op\" and a \"path\" pointer");
  }
  const std::string& p = path->string_value();
  const std::string& kind = name->string_value();
  const Value* value = field("value");
  if ((kind == "add" || kind == "replace" || kind == "test") && value == nullptr) {
    return Bad(absl::StrCat(kind, " needs a \"value\""));
  }
  if (kind == "add") return Add(root, p, *value);
  if (kind == "remove") return Remove(root, p);
  if (kind == "replace" || kind == "test") {
    const std::vector<std::string> tokens = PointerTokens(p);
    Value* target = p.empty() ? root : Resolve(root, tokens, tokens.size());
    if (target == nullptr) return Bad(absl::StrCat("path ", p, " does not exist"));
    if (kind == "replace") {
      *target = *value;
      return absl::OkStatus();
    }
    if (!google::protobuf::util::MessageDifferencer::Equals(*target, *value)) {
      return Bad(absl::StrCat("test of ", p, " failed"));
    }
    return absl::OkStatus();
  }
  if (kind == "move" || kind == "copy") {
    const Value* from = field("from");
    if (from == nullptr || !from->has_string_value()) return Bad(kind + " needs \"from\"");
    const std::vector<std::string> tokens = PointerTokens(from->string_value());
    Value* source = from->string_value().empty() ? root : Resolve(root, tokens, tokens.size());
    if (source == nullptr) return Bad(absl::StrCat("path ", from->string_value(), " missing"));
    const Value copy = *source;
    if (kind == "move") {
      absl::Status removed = Remove(root, from->string_value());
      if (!removed.ok()) return removed;
    }
    return Add(root, p, copy);
  }
  return Bad(absl::StrCat("unknown op \"", kind, "\""));
}

}  // namespace

void MergePatch(const Value& patch, Value* target) {
  if (!patch.has_struct_value()) {
    *target = patch;
    return;
  }
  if (!target->has_struct_value()) target->mutable_struct_value();
  auto* fields = target->mutable_struct_value()->mutable_fields();
  for (const auto& [key, value] : patch.struct_value().fields()) {
    if (value.has_null_value()) {
      fields->erase(key);
    } else {
      MergePatch(value, &(*fields)[key]);
    }
  }
}

absl::Status StrategicMergePatch(const Value& patch, Value* target) {
  const std::string directive = FindDirective(patch);
  if (!directive.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "strategic merge patch directive \"", directive,
        "\" is not supported (EndpointSlice lists are atomic): use a merge or JSON patch"));
  }
  MergePatch(patch, target);
  return absl::OkStatus();
}

absl::Status JsonPatch(const Value& patch, Value* target) {
  if (!patch.has_list_value()) return Bad("a JSON patch is an array of operations");
  for (const Value& op : patch.list_value().values()) {
    if (!op.has_struct_value()) return Bad("each operation is an object");
    absl::Status s = ApplyOperation(op.struct_value(), target);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace slicekeeper::k8s::internal
