#include "server/k8s/internal/context.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace slicekeeper::k8s::internal {
namespace {

struct MediaRange {
  std::string type;  // "application/json", "*/*", ...
  std::string as, version, group;
};

std::vector<MediaRange> ParseAccept(absl::string_view accept) {
  std::vector<MediaRange> out;
  for (absl::string_view item : absl::StrSplit(accept, ',', absl::SkipWhitespace())) {
    MediaRange m;
    bool first = true;
    for (absl::string_view part : absl::StrSplit(item, ';')) {
      part = absl::StripAsciiWhitespace(part);
      if (first) {
        m.type = absl::AsciiStrToLower(part);
        first = false;
        continue;
      }
      std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(part, '=');
      if (kv.first == "as") m.as = std::string(kv.second);
      if (kv.first == "v") m.version = std::string(kv.second);
      if (kv.first == "g") m.group = std::string(kv.second);
    }
    out.push_back(std::move(m));
  }
  return out;
}

bool IsJsonType(absl::string_view type) {
  return type == "application/json" || type == "application/*" || type == "*/*";
}

}  // namespace

Reply ErrorReply(const ApiError& error) {
  Reply r;
  r.code = error.code;
  r.body = StatusJson(error);
  if (error.retry_after_seconds > 0) {
    r.headers.emplace_back("Retry-After", absl::StrCat(error.retry_after_seconds));
  }
  return r;
}

ApiOr<Output> NegotiateOutput(const http::Request& request) {
  Output out;
  if (std::optional<std::string> include = request.Param("includeObject")) {
    if (*include == "None") {
      out.row_object = Output::RowObject::kNone;
    } else if (*include == "Object") {
      out.row_object = Output::RowObject::kObject;
    } else if (!include->empty() && *include != "Metadata") {
      return BadRequest(absl::StrCat("includeObject: Unsupported value: \"", *include,
                                     "\": supported values: \"None\", \"Metadata\", \"Object\""));
    }
  }
  std::optional<absl::string_view> accept = request.Header("Accept");
  if (!accept.has_value() || absl::StripAsciiWhitespace(*accept).empty()) return out;
  bool json = false;
  for (const MediaRange& m : ParseAccept(*accept)) {
    if (!IsJsonType(m.type)) continue;
    if (m.as == "Table" && m.group == "meta.k8s.io" && m.version == "v1") out.table = true;
    if (m.as.empty() || m.as == "Table") json = true;
  }
  if (!json) {
    return NotAcceptable(absl::StrCat("only the following media types are accepted: ", kJson,
                                      ", ", kTableJson));
  }
  return out;
}

ApiOr<int64_t> IntParam(const http::Request& request, absl::string_view name, int64_t fallback) {
  std::optional<std::string> text = request.Param(name);
  if (!text.has_value() || text->empty()) return fallback;
  int64_t value = 0;
  if (!absl::SimpleAtoi(*text, &value) || value < 0) {
    return BadRequest(absl::StrCat(name, ": Invalid value: \"", *text,
                                   "\": must be a non-negative integer"));
  }
  return value;
}

ApiOr<bool> BoolParam(const http::Request& request, absl::string_view name) {
  std::optional<std::string> text = request.Param(name);
  if (!text.has_value() || text->empty()) return false;
  // Go's strconv.ParseBool, which the apiserver uses.
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) {
    if (*text == t) return true;
  }
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    if (*text == f) return false;
  }
  return BadRequest(absl::StrCat(name, ": Invalid value: \"", *text, "\": must be a boolean"));
}

}  // namespace slicekeeper::k8s::internal
