#include "server/k8s/status.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "server/k8s/codec.h"
#include "server/k8s/internal/json_writer.h"

namespace slicekeeper::k8s {
namespace {

// "endpointslices.discovery.k8s.io \"name\"".
std::string Qualified(absl::string_view name) {
  return absl::StrCat(kResource, ".", kGroup, " \"", name, "\"");
}

ApiError Make(int code, std::string reason, std::string message) {
  ApiError e;
  e.code = code;
  e.reason = std::move(reason);
  e.message = std::move(message);
  return e;
}

// The causes of a validation message: "a: rule; b.c: rule" (common/validation.h), each "field:
// rule"; a part without a field (e.g. "(and 3 more)") becomes a cause without one.
std::vector<StatusCause> Causes(absl::string_view message) {
  std::vector<StatusCause> out;
  for (absl::string_view part : absl::StrSplit(message, "; ", absl::SkipEmpty())) {
    StatusCause c;
    c.reason = "FieldValueInvalid";
    const size_t colon = part.find(": ");
    const absl::string_view field = colon == absl::string_view::npos ? "" : part.substr(0, colon);
    if (!field.empty() && field.find(' ') == absl::string_view::npos) {
      c.field = std::string(field);
      c.message = std::string(part.substr(colon + 2));
    } else {
      c.message = std::string(part);
    }
    out.push_back(std::move(c));
  }
  return out;
}

ApiError Invalid(absl::string_view name, absl::string_view message) {
  ApiError e = Make(422, "Invalid", "");
  e.name = std::string(name);
  e.group = kGroup;
  e.kind = kKind;
  e.causes = Causes(message);
  std::vector<std::string> parts;
  for (const StatusCause& c : e.causes) {
    parts.push_back(c.field.empty() ? c.message : absl::StrCat(c.field, ": ", c.message));
  }
  const std::string joined = parts.size() == 1 ? parts[0]
                                               : absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
  e.message = absl::StrCat(kKind, ".", kGroup, " \"", name, "\" is invalid: ", joined);
  return e;
}

}  // namespace

std::string StatusJson(const ApiError& error) {
  std::string out;
  internal::JsonWriter w(&out);
  w.BeginTyped("Status", "v1");
  w.Key("metadata");
  w.BeginObject();
  w.EndObject();
  w.Field("status", "Failure");
  w.Field("message", error.message);
  w.Field("reason", error.reason);
  if (!error.name.empty() || !error.kind.empty() || !error.causes.empty() ||
      error.retry_after_seconds > 0) {
    w.Key("details");
    w.BeginObject();
    if (!error.name.empty()) w.Field("name", error.name);
    if (!error.group.empty()) w.Field("group", error.group);
    if (!error.kind.empty()) w.Field("kind", error.kind);
    if (!error.causes.empty()) {
      w.Key("causes");
      w.BeginArray();
      for (const StatusCause& c : error.causes) {
        w.BeginObject();
        w.Field("reason", c.reason);
        w.Field("message", c.message);
        if (!c.field.empty()) w.Field("field", c.field);
        w.EndObject();
      }
      w.EndArray();
    }
    if (error.retry_after_seconds > 0) w.IntField("retryAfterSeconds", error.retry_after_seconds);
    w.EndObject();
  }
  w.IntField("code", error.code);
  w.EndObject();
  return out;
}

ApiError BadRequest(std::string message) { return Make(400, "BadRequest", std::move(message)); }

ApiError MethodNotAllowed() {
  return Make(405, "MethodNotAllowed",
              "the server does not allow this method on the requested resource");
}

ApiError NotAcceptable(std::string message) {
  return Make(406, "NotAcceptable", std::move(message));
}

ApiError UnsupportedMediaType(std::string message) {
  return Make(415, "UnsupportedMediaType", std::move(message));
}

ApiError ObjectNotFound(absl::string_view name) {
  ApiError e = Make(404, "NotFound", absl::StrCat(Qualified(name), " not found"));
  e.name = std::string(name);
  e.group = kGroup;
  e.kind = kResource;
  return e;
}

ApiError Expired(std::string message) { return Make(410, "Expired", std::move(message)); }

ApiError TooLargeResourceVersion(int64_t requested, int64_t current) {
  ApiError e = Make(504, "Timeout",
                    absl::StrCat("Timeout: Too large resource version: ", requested,
                                 ", current: ", current));
  e.causes.push_back({"ResourceVersionTooLarge", "Too large resource version", ""});
  e.retry_after_seconds = 1;
  return e;
}

ApiError TooManyRequests(std::string message) {
  ApiError e = Make(429, "TooManyRequests", std::move(message));
  e.retry_after_seconds = 1;
  return e;
}

ApiError FromStatus(const absl::Status& status, absl::string_view name) {
  const std::string message(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return Invalid(name, message);
    case absl::StatusCode::kNotFound:
      return name.empty() ? Make(404, "NotFound", message) : ObjectNotFound(name);
    case absl::StatusCode::kAlreadyExists: {
      ApiError e = Make(409, "AlreadyExists", absl::StrCat(Qualified(name), " already exists"));
      e.name = std::string(name);
      e.group = kGroup;
      e.kind = kResource;
      return e;
    }
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition: {
      const bool modified = status.code() == absl::StatusCode::kAborted &&
                            absl::StrContains(message, "has been modified");
      ApiError e = Make(409, "Conflict",
                        absl::StrCat("Operation cannot be fulfilled on ", Qualified(name), ": ",
                                     modified ? "the object has been modified; please apply "
                                                "your changes to the latest version and try again"
                                              : message));
      e.name = std::string(name);
      e.group = kGroup;
      e.kind = kResource;
      return e;
    }
    case absl::StatusCode::kOutOfRange:
      return Expired(message);
    case absl::StatusCode::kResourceExhausted:
      return TooManyRequests(message);
    case absl::StatusCode::kUnavailable:
      return Make(503, "ServiceUnavailable", message);
    default:
      return Make(500, "InternalError", message);
  }
}

}  // namespace slicekeeper::k8s
