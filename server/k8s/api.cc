#include "server/k8s/api.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/k8s/codec.h"
#include "server/k8s/internal/discovery.h"
#include "server/k8s/internal/reads.h"
#include "server/k8s/internal/watch.h"
#include "server/k8s/internal/writes.h"
#include "server/k8s/status.h"

namespace slicekeeper::k8s {
namespace {

using internal::Reply;

void Send(http::Response& response, const Reply& reply) {
  response.Send(reply.code, reply.content_type, reply.body, reply.headers);
}

ApiError PathNotFound() {
  ApiError e;
  e.code = 404;
  e.reason = "NotFound";
  e.message = "the server could not find the requested resource";
  return e;
}

bool IsRead(const http::Request& request) {
  return request.method == "GET" || request.method == "HEAD";
}

// The path's parts, and what they address: the endpointslices collection or one slice (`name`),
// in a namespace (`ns`) or over all; a namespace object; or neither (discovery, unknown paths).
struct Target {
  enum class Kind { kOther, kNamespaces, kSlices } kind = Kind::kOther;
  absl::string_view ns;
  absl::string_view name;
  bool namespaced = false;
};

Target Parse(const std::vector<absl::string_view>& p) {
  if (p.size() >= 3 && p.size() <= 4 && p[0] == "api" && p[1] == "v1" && p[2] == "namespaces") {
    return Target{.kind = Target::Kind::kNamespaces, .ns = p.size() == 4 ? p[3] : ""};
  }
  const bool group = p.size() >= 4 && p[0] == "apis" && p[1] == kGroup && p[2] == kVersion;
  if (group && p.size() == 4 && p[3] == kResource) return Target{.kind = Target::Kind::kSlices};
  if (group && (p.size() == 6 || p.size() == 7) && p[3] == "namespaces" && p[5] == kResource) {
    return Target{.kind = Target::Kind::kSlices,
                  .ns = p[4],
                  .name = p.size() == 7 ? p[6] : "",
                  .namespaced = true};
  }
  return Target{};
}

// The outcome of a write as the audit log records it (its HTTP code as a status code).
absl::Status AuditStatus(const Reply& reply) {
  if (reply.code < 300) return absl::OkStatus();
  const std::string message = absl::StrCat("HTTP ", reply.code);
  switch (reply.code) {
    case 400:
    case 415:
    case 422:
      return absl::InvalidArgumentError(message);
    case 404:
      return absl::NotFoundError(message);
    case 405:
      return absl::UnimplementedError(message);
    case 409:
      return absl::AbortedError(message);
    case 429:
      return absl::ResourceExhaustedError(message);
    case 503:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

// A watch of one object (GET .../{name}?watch=true) is a watch of the collection selecting it.
http::Request WatchOfOne(const http::Request& request, absl::string_view name) {
  http::Request copy = request;
  std::string selector = absl::StrCat("metadata.name=", name);
  if (std::optional<std::string> given = request.Param("fieldSelector")) {
    if (!given->empty()) selector = absl::StrCat(*given, ",", selector);
  }
  std::string query;
  for (const auto& [key, value] : request.Params()) {
    if (key == "fieldSelector") continue;
    absl::StrAppend(&query, http::UrlEncode(key), "=", http::UrlEncode(value), "&");
  }
  absl::StrAppend(&query, "fieldSelector=", http::UrlEncode(selector));
  copy.query = std::move(query);
  return copy;
}

}  // namespace

KubernetesApi::KubernetesApi(store::Store* store, watch::Hub* hub, Options options)
    : cache_(options.json_cache_bytes) {
  ctx_.store = store;
  ctx_.hub = hub;
  ctx_.cache = &cache_;
  ctx_.clock = options.clock != nullptr ? options.clock : RealClock();
  ctx_.min_watch_timeout = options.min_watch_timeout;
  ctx_.resource_version_wait = options.resource_version_wait;
  ctx_.authorizer = options.authorizer;
}

std::optional<auth::Request> KubernetesApi::Access(const http::Request& request) const {
  auth::Request access{.rpc = absl::StrCat(request.method, " ", request.path)};
  const Target t = Parse(absl::StrSplit(request.path, '/', absl::SkipEmpty()));
  const bool write = !IsRead(request) && t.kind == Target::Kind::kSlices && t.namespaced;
  if (write) {
    access.role = auth::Role::kWriter;
    access.write = true;
    access.changes = 1;
  }
  if (t.kind != Target::Kind::kOther && !t.ns.empty()) {
    access.namespaces.emplace_back(t.ns);
  } else {
    access.all_namespaces = true;  // discovery, lists and watches of every namespace
  }
  return access;
}

void KubernetesApi::Install(http::HttpServer* server) {
  for (const char* prefix : {"/version", "/api", "/apis", "/openapi"}) {
    server->Route(prefix, this);
  }
}

void KubernetesApi::Refuse(const http::Request& request, http::Response& response, int status,
                           absl::string_view message) {
  ApiError e;
  e.code = status;
  e.message = std::string(message);
  e.reason = status == 401   ? "Unauthorized"
             : status == 403 ? "Forbidden"
             : status == 413 ? "RequestEntityTooLarge"
             : status == 429 ? "TooManyRequests"
             : status == 400 ? "BadRequest"
                             : "InternalError";
  if (status == 401) e.message = "Unauthorized";  // as the apiserver: nothing about why
  const Target t = Parse(absl::StrSplit(request.path, '/', absl::SkipEmpty()));
  if (status == 403 && t.kind == Target::Kind::kSlices) {
    // The apiserver's wording: `endpointslices.discovery.k8s.io "name" is forbidden: ...`.
    e.group = kGroup;
    e.kind = kResource;
    e.name = std::string(t.name);
    e.message = absl::StrCat(kResource, ".", kGroup, t.name.empty() ? "" : " \"", t.name,
                             t.name.empty() ? "" : "\"", " is forbidden: ", message);
  }
  if (status == 429) e.retry_after_seconds = 1;
  Send(response, internal::ErrorReply(e));
}

void KubernetesApi::Serve(const http::Request& request, http::Response& response) {
  if (std::optional<Reply> doc = internal::DiscoveryDocument(request.path, request)) {
    Send(response, IsRead(request) ? *doc : internal::ErrorReply(MethodNotAllowed()));
    return;
  }
  const Target t = Parse(absl::StrSplit(request.path, '/', absl::SkipEmpty()));
  switch (t.kind) {
    case Target::Kind::kNamespaces:
      Send(response, IsRead(request) ? internal::GetNamespaces(ctx_, request, t.ns)
                                     : internal::ErrorReply(MethodNotAllowed()));
      return;
    case Target::Kind::kSlices:
      ServeSlices(request, response, t.ns, t.name, t.namespaced);
      return;
    case Target::Kind::kOther:
      Send(response, internal::ErrorReply(PathNotFound()));
      return;
  }
}

void KubernetesApi::ServeSlices(const http::Request& request, http::Response& response,
                                absl::string_view ns, absl::string_view name, bool namespaced) {
  internal::ApiOr<bool> watch = internal::BoolParam(request, "watch");
  if (!watch.ok()) {
    Send(response, internal::ErrorReply(watch.error()));
    return;
  }
  if (IsRead(request) && *watch) {
    if (name.empty()) {
      internal::ServeWatch(ctx_, request, response, ns);
    } else {
      internal::ServeWatch(ctx_, WatchOfOne(request, name), response, ns);
    }
    return;
  }
  Reply reply;
  if (name.empty()) {
    if (IsRead(request)) {
      reply = internal::ListSlices(ctx_, request, ns);
    } else if (request.method == "POST" && namespaced) {
      reply = internal::CreateSlice(ctx_, request, ns);
    } else {
      reply = internal::ErrorReply(MethodNotAllowed());
    }
  } else if (IsRead(request)) {
    reply = internal::GetSlice(ctx_, request, ns, name);
  } else if (request.method == "PUT") {
    reply = internal::ReplaceSlice(ctx_, request, ns, name);
  } else if (request.method == "PATCH") {
    reply = internal::PatchSlice(ctx_, request, ns, name);
  } else if (request.method == "DELETE") {
    reply = internal::DeleteSlice(ctx_, request, ns, name);
  } else {
    reply = internal::ErrorReply(MethodNotAllowed());
  }
  if (request.access.has_value() && request.access->write) {
    auth::AuditWrite(ctx_.authorizer, request.caller, *request.access, AuditStatus(reply),
                     reply.revision);
  }
  Send(response, reply);
}

}  // namespace slicekeeper::k8s
