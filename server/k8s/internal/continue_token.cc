#include "server/k8s/internal/continue_token.h"

#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "server/k8s/codec.h"
#include "server/k8s/internal/json_writer.h"

namespace slicekeeper::k8s::internal {
namespace {

absl::Status NotValid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("continue key is not valid: ", why));
}

}  // namespace

std::string EncodeContinue(const ContinuePoint& point) {
  std::string json;
  JsonWriter w(&json);
  w.BeginObject();
  w.Field("v", "meta.k8s.io/v1");
  w.IntField("rv", point.revision);
  w.Field("start", absl::StrCat(point.ns, "/", point.name, std::string(1, '\0')));
  w.EndObject();
  return absl::WebSafeBase64Escape(json);
}

absl::StatusOr<ContinuePoint> DecodeContinue(absl::string_view token) {
  std::string json;
  if (!absl::WebSafeBase64Unescape(token, &json)) return NotValid("not base64");
  absl::StatusOr<google::protobuf::Value> value = ParseJson(json);
  if (!value.ok() || value->kind_case() != google::protobuf::Value::kStructValue) {
    return NotValid("not a continue token");
  }
  const auto& fields = value->struct_value().fields();
  auto v = fields.find("v");
  auto rv = fields.find("rv");
  auto start = fields.find("start");
  if (v == fields.end() || v->second.string_value() != "meta.k8s.io/v1") {
    return NotValid("incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  }
  if (rv == fields.end() || !rv->second.has_number_value() || rv->second.number_value() < 1 ||
      std::trunc(rv->second.number_value()) != rv->second.number_value()) {
    return NotValid("incorrect encoded start resourceVersion");
  }
  if (start == fields.end() || !start->second.has_string_value()) return NotValid("no start key");
  absl::string_view key = absl::StripSuffix(start->second.string_value(), absl::string_view("\0", 1));
  const size_t slash = key.find('/');
  if (slash == absl::string_view::npos) return NotValid("start key is not <namespace>/<name>");
  ContinuePoint point;
  point.revision = static_cast<int64_t>(rv->second.number_value());
  point.ns = std::string(key.substr(0, slash));
  point.name = std::string(key.substr(slash + 1));
  return point;
}

}  // namespace slicekeeper::k8s::internal
