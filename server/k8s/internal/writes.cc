#include "server/k8s/internal/writes.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/k8s/codec.h"
#include "server/k8s/internal/patch.h"

namespace slicekeeper::k8s::internal {
namespace {

using google::protobuf::Value;
using Existence = store::SliceConditions::Existence;

// A read-modify-write retried this often when another writer got in between.
constexpr int kAttempts = 5;

struct Incoming {
  v1::EndpointSlice slice;
  http::HeaderList warnings;
};

// The request body's media type, lowercased, without parameters.
std::string MediaType(const http::Request& request) {
  std::string type(request.Header("Content-Type").value_or(""));
  type = type.substr(0, type.find(';'));
  return absl::AsciiStrToLower(absl::StripAsciiWhitespace(type));
}

// Server-side dry runs are not supported; a write that asks for one must not be applied.
std::optional<Reply> RefuseDryRun(const http::Request& request) {
  if (!request.Param("dryRun").has_value()) return std::nullopt;
  return ErrorReply(BadRequest("dryRun is not supported by slicekeeper: nothing was applied"));
}

ApiOr<Value> ParseBody(const http::Request& request) {
  absl::StatusOr<Value> json = ParseJson(request.body);
  if (!json.ok()) return BadRequest(std::string(json.status().message()));
  return std::move(*json);
}

// Decodes an EndpointSlice and applies fieldValidation to the fields the model does not have.
ApiOr<Incoming> Decode(const Value& json, const http::Request& request) {
  const std::string mode = request.Param("fieldValidation").value_or("");
  if (!mode.empty() && mode != "Ignore" && mode != "Warn" && mode != "Strict") {
    return BadRequest(absl::StrCat("fieldValidation: Unsupported value: \"", mode,
                                   "\": supported values: \"Ignore\", \"Warn\", \"Strict\""));
  }
  absl::StatusOr<DecodedSlice> decoded = DecodeSlice(json);
  if (!decoded.ok()) return BadRequest(std::string(decoded.status().message()));
  Incoming in;
  in.slice = std::move(decoded->slice);
  std::vector<std::string> unknown;
  for (const std::string& field : decoded->unknown_fields) {
    unknown.push_back(absl::StrCat("unknown field \"", field, "\""));
  }
  std::sort(unknown.begin(), unknown.end());
  if (!unknown.empty() && mode == "Strict") {
    return BadRequest(absl::StrCat("strict decoding error: ", absl::StrJoin(unknown, ", ")));
  }
  if (mode != "Ignore") {
    for (const std::string& u : unknown) {
      in.warnings.emplace_back("Warning", absl::StrCat("299 - \"", absl::CEscape(u), "\""));
    }
  }
  return in;
}

// Checks the body's type, namespace and name against the request, and fills them in.
ApiOr<bool> Bind(v1::EndpointSlice& slice, absl::string_view ns, absl::string_view name) {
  if (!slice.api_version().empty() && slice.api_version() != kApiVersion) {
    return BadRequest(absl::StrCat("the API version in the data (", slice.api_version(),
                                   ") does not match the expected API version (", kApiVersion,
                                   ")"));
  }
  if (!slice.kind().empty() && slice.kind() != kKind) {
    return BadRequest(absl::StrCat("the kind in the data (", slice.kind(),
                                   ") does not match the expected kind (", kKind, ")"));
  }
  v1::ObjectMeta* meta = slice.mutable_metadata();
  if (!meta->namespace_().empty() && meta->namespace_() != ns) {
    return BadRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  meta->set_namespace_(std::string(ns));
  if (!name.empty()) {
    if (!meta->name().empty() && meta->name() != name) {
      return BadRequest(absl::StrCat("the name of the object (", meta->name(),
                                     ") does not match the name on the URL (", name, ")"));
    }
    meta->set_name(std::string(name));
  }
  const auto& labels = meta->labels();
  auto manager = labels.find(kLabelManagedBy);
  if (manager != labels.end() && manager->second == kManagerName) {
    return FromStatus(absl::InvalidArgumentError(absl::StrCat(
                          "metadata.labels[", kLabelManagedBy, "]: Invalid value: \"", kManagerName,
                          "\": reserved for the slices slicekeeper distributes")),
                      meta->name());
  }
  return true;
}

// The EndpointSlice of a POST or PUT body, checked against the request (`name` "" for a POST).
ApiOr<Incoming> ReadObject(const http::Request& request, absl::string_view ns,
                           absl::string_view name) {
  if (MediaType(request) != "application/json" && !MediaType(request).empty()) {
    return UnsupportedMediaType("the body must be application/json");
  }
  ApiOr<Value> json = ParseBody(request);
  if (!json.ok()) return json.error();
  ApiOr<Incoming> in = Decode(*json, request);
  if (!in.ok()) return in.error();
  ApiOr<bool> bound = Bind(in->slice, ns, name);
  if (!bound.ok()) return bound.error();
  return in;
}

// The conditions of an update: the body's resourceVersion and uid (taken out of the body).
ApiOr<store::SliceConditions> UpdateConditions(v1::EndpointSlice& slice) {
  store::SliceConditions c{.existence = Existence::kMustExist};
  const std::string rv = slice.metadata().resource_version();
  if (!rv.empty() && (!absl::SimpleAtoi(rv, &c.resource_version) || c.resource_version <= 0)) {
    return BadRequest(absl::StrCat("metadata.resourceVersion: Invalid value: \"", rv,
                                   "\": must be a positive integer"));
  }
  c.uid = slice.metadata().uid();
  slice.mutable_metadata()->clear_resource_version();
  return c;
}

// A slice is stored under its service: the kubernetes.io/service-name label cannot change.
ApiOr<bool> CheckServiceUnchanged(const Slice& existing, const v1::EndpointSlice& next) {
  auto label = next.metadata().labels().find(kLabelServiceName);
  const std::string value = label == next.metadata().labels().end() ? "" : label->second;
  if (value.empty() || value == existing.ServiceName()) return true;
  return FromStatus(absl::InvalidArgumentError(absl::StrCat(
                        "metadata.labels[", kLabelServiceName, "]: Invalid value: \"", value,
                        "\": field is immutable (slices are stored per service)")),
                    existing.name);
}

Reply Stored(const Context& ctx, int code, const SlicePtr& slice, int64_t revision,
             http::HeaderList warnings) {
  return Reply{.code = code,
               .body = *ctx.cache->Get(slice),
               .headers = std::move(warnings),
               .revision = revision};
}

// Applies a PATCH body of the request's media type to `doc`.
ApiOr<bool> ApplyPatch(const std::string& type, const Value& patch, Value* doc) {
  absl::Status s;
  if (type == "application/merge-patch+json") {
    MergePatch(patch, doc);
  } else if (type == "application/strategic-merge-patch+json") {
    s = StrategicMergePatch(patch, doc);
  } else if (type == "application/json-patch+json") {
    s = JsonPatch(patch, doc);
  } else if (type == "application/apply-patch+yaml") {
    return UnsupportedMediaType(
        "server-side apply is not supported by slicekeeper: use "
        "client-side `kubectl apply`, or a merge or JSON patch");
  } else {
    return UnsupportedMediaType(
        absl::StrCat("the body of the request was in an unknown format - "
                     "accepted media types include: ",
                     "application/json-patch+json, "
                     "application/merge-patch+json, "
                     "application/strategic-merge-patch+json"));
  }
  if (!s.ok()) return BadRequest(std::string(s.message()));
  return true;
}

// One attempt of a PATCH: read, patch, write under the read's resourceVersion. `retry` is set
// when another writer got in between and the patch did not pin a resourceVersion itself.
ApiOr<Reply> PatchOnce(const Context& ctx, const http::Request& request, const Value& patch,
                       absl::string_view ns, absl::string_view name, bool* retry) {
  absl::StatusOr<std::pair<SlicePtr, int64_t>> existing = ctx.store->GetSlice(ns, name);
  if (!existing.ok()) return FromStatus(existing.status(), name);
  const Slice& current = *existing->first;
  Value doc = *ParseJson(*ctx.cache->Get(existing->first));
  ApiOr<bool> patched = ApplyPatch(MediaType(request), patch, &doc);
  if (!patched.ok()) return patched.error();
  ApiOr<Incoming> in = Decode(doc, request);
  if (!in.ok()) return in.error();
  ApiOr<bool> bound = Bind(in->slice, ns, name);
  if (!bound.ok()) return bound.error();
  ApiOr<store::SliceConditions> cond = UpdateConditions(in->slice);
  if (!cond.ok()) return cond.error();
  const bool pinned =
      cond->resource_version != 0 && cond->resource_version != current.resource_version;
  if (cond->resource_version == 0) cond->resource_version = current.resource_version;
  ApiOr<bool> same_service = CheckServiceUnchanged(current, in->slice);
  if (!same_service.ok()) return same_service.error();
  absl::StatusOr<std::pair<SlicePtr, int64_t>> put = ctx.store->PutSlice(in->slice, *cond);
  if (put.ok()) return Stored(ctx, 200, put->first, put->second, std::move(in->warnings));
  *retry = absl::IsAborted(put.status()) && !pinned;
  return FromStatus(put.status(), name);
}

// The preconditions of a DELETE's DeleteOptions body (none without a body).
ApiOr<store::SliceConditions> DeleteConditions(const http::Request& request) {
  store::SliceConditions given;
  if (request.body.empty()) return given;
  ApiOr<Value> options = ParseBody(request);
  if (!options.ok()) return options.error();
  const auto& fields = options->struct_value().fields();
  auto pre = fields.find("preconditions");
  if (pre == fields.end() || !pre->second.has_struct_value()) return given;
  const auto& p = pre->second.struct_value().fields();
  if (auto uid = p.find("uid"); uid != p.end()) given.uid = uid->second.string_value();
  if (auto rv = p.find("resourceVersion");
      rv != p.end() && !absl::SimpleAtoi(rv->second.string_value(), &given.resource_version)) {
    return BadRequest(absl::StrCat("preconditions.resourceVersion: Invalid value: \"",
                                   rv->second.string_value(), "\""));
  }
  return given;
}

}  // namespace

Reply CreateSlice(const Context& ctx, const http::Request& request, absl::string_view ns) {
  if (std::optional<Reply> refused = RefuseDryRun(request)) return *refused;
  ApiOr<Incoming> in = ReadObject(request, ns, "");
  if (!in.ok()) return ErrorReply(in.error());
  if (!in->slice.metadata().resource_version().empty()) {
    return ErrorReply(BadRequest("resourceVersion should not be set on objects to be created"));
  }
  absl::StatusOr<std::pair<SlicePtr, int64_t>> put =
      ctx.store->PutSlice(in->slice, {.existence = Existence::kMustNotExist});
  if (!put.ok()) return ErrorReply(FromStatus(put.status(), in->slice.metadata().name()));
  return Stored(ctx, 201, put->first, put->second, std::move(in->warnings));
}

Reply ReplaceSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
                   absl::string_view name) {
  if (std::optional<Reply> refused = RefuseDryRun(request)) return *refused;
  ApiOr<Incoming> in = ReadObject(request, ns, name);
  if (!in.ok()) return ErrorReply(in.error());
  ApiOr<store::SliceConditions> cond = UpdateConditions(in->slice);
  if (!cond.ok()) return ErrorReply(cond.error());
  absl::StatusOr<std::pair<SlicePtr, int64_t>> existing = ctx.store->GetSlice(ns, name);
  if (!existing.ok()) return ErrorReply(FromStatus(existing.status(), name));
  ApiOr<bool> same_service = CheckServiceUnchanged(*existing->first, in->slice);
  if (!same_service.ok()) return ErrorReply(same_service.error());
  absl::StatusOr<std::pair<SlicePtr, int64_t>> put = ctx.store->PutSlice(in->slice, *cond);
  if (!put.ok()) return ErrorReply(FromStatus(put.status(), name));
  return Stored(ctx, 200, put->first, put->second, std::move(in->warnings));
}

Reply PatchSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
                 absl::string_view name) {
  if (std::optional<Reply> refused = RefuseDryRun(request)) return *refused;
  ApiOr<Value> patch = ParseBody(request);
  if (!patch.ok()) return ErrorReply(patch.error());
  for (int attempt = 1;; ++attempt) {
    bool retry = false;
    ApiOr<Reply> reply = PatchOnce(ctx, request, *patch, ns, name, &retry);
    if (reply.ok()) return std::move(*reply);
    if (!retry || attempt == kAttempts) return ErrorReply(reply.error());
  }
}

Reply DeleteSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
                  absl::string_view name) {
  if (std::optional<Reply> refused = RefuseDryRun(request)) return *refused;
  ApiOr<store::SliceConditions> given = DeleteConditions(request);
  if (!given.ok()) return ErrorReply(given.error());
  // Deleted under the resourceVersion just read, so the reply is exactly what was deleted.
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::pair<SlicePtr, int64_t>> existing = ctx.store->GetSlice(ns, name);
    if (!existing.ok()) return ErrorReply(FromStatus(existing.status(), name));
    store::SliceConditions cond = *given;
    if (cond.resource_version == 0) cond.resource_version = existing->first->resource_version;
    absl::StatusOr<int64_t> deleted = ctx.store->DeleteSlice(ns, name, cond);
    if (deleted.ok())
      return Reply{.body = EncodeSlice(*existing->first, *deleted), .revision = *deleted};
    const bool raced = absl::IsAborted(deleted.status()) && given->resource_version == 0;
    if (!raced || attempt == kAttempts) return ErrorReply(FromStatus(deleted.status(), name));
  }
}

}  // namespace slicekeeper::k8s::internal
