#include "server/k8s/internal/json_writer.h"

#include "absl/strings/str_cat.h"

namespace slicekeeper::k8s::internal {

void JsonWriter::Separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_value_.empty()) {
    if (has_value_.back()) out_->push_back(',');
    has_value_.back() = true;
  }
}

void JsonWriter::Open(char c) {
  Separate();
  out_->push_back(c);
  has_value_.push_back(false);
}

void JsonWriter::Close(char c) {
  out_->push_back(c);
  has_value_.pop_back();
}

void JsonWriter::Key(absl::string_view key) {
  Separate();
  AppendJsonString(key, out_);
  out_->push_back(':');
  after_key_ = true;
}

void JsonWriter::String(absl::string_view value) {
  Separate();
  AppendJsonString(value, out_);
}

void JsonWriter::Int(int64_t value) {
  Separate();
  absl::StrAppend(out_, value);
}

void JsonWriter::Bool(bool value) {
  Separate();
  out_->append(value ? "true" : "false");
}

void JsonWriter::Null() {
  Separate();
  out_->append("null");
}

void JsonWriter::ListMeta(int64_t resource_version, absl::string_view continue_token,
                          int64_t remaining) {
  Key("metadata");
  BeginObject();
  if (resource_version > 0) Field("resourceVersion", absl::StrCat(resource_version));
  if (!continue_token.empty()) Field("continue", continue_token);
  if (remaining >= 0) IntField("remainingItemCount", remaining);
  EndObject();
}

void JsonWriter::Raw(absl::string_view json) {
  Separate();
  out_->append(json.data(), json.size());
}

}  // namespace slicekeeper::k8s::internal
