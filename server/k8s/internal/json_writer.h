// JsonWriter: appends compact JSON to a string, placing the commas itself. Private to server/k8s.
//
// Thread-safety: a JsonWriter is for one thread.
//
// Example:
//   std::string out;
//   JsonWriter w(&out);
//   w.BeginObject();
//   w.Key("kind");
//   w.String("Status");
//   w.Key("code");
//   w.Int(404);
//   w.EndObject();   // out == R"({"kind":"Status","code":404})"
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_JSON_WRITER_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/json_string.h"

namespace slicekeeper::k8s::internal {

using ::slicekeeper::AppendJsonString;

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void BeginArray() { Open('['); }
  void EndArray() { Close(']'); }
  // The key of the next value in the current object.
  void Key(absl::string_view key);

  void String(absl::string_view value);
  void Int(int64_t value);
  void Bool(bool value);
  void Null();
  // Already-encoded JSON (one value).
  void Raw(absl::string_view json);

  // Key + value shorthands.
  void Field(absl::string_view key, absl::string_view value) {
    Key(key);
    String(value);
  }
  void Field(absl::string_view key, const char* value) { Field(key, absl::string_view(value)); }
  // Opens an object with its "kind" and "apiVersion" (Kubernetes' TypeMeta).
  void BeginTyped(absl::string_view kind, absl::string_view api_version) {
    BeginObject();
    Field("kind", kind);
    Field("apiVersion", api_version);
  }
  // The "metadata" of a list: resourceVersion (when > 0), then continue and remainingItemCount
  // when set (`remaining` < 0: unset).
  void ListMeta(int64_t resource_version, absl::string_view continue_token, int64_t remaining);
  void IntField(absl::string_view key, int64_t value) {
    Key(key);
    Int(value);
  }
  void BoolField(absl::string_view key, bool value) {
    Key(key);
    Bool(value);
  }

 private:
  void Open(char c);
  void Close(char c);
  // Writes the comma before a value, unless it follows a key or opens a container.
  void Separate();

  std::string* const out_;
  // Per open container: whether it already holds a value.
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_JSON_WRITER_H_
