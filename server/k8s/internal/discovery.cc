#include "server/k8s/internal/discovery.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/k8s/internal/json_writer.h"
#include "server/k8s/internal/table.h"

namespace slicekeeper::k8s::internal {
namespace {

// The Kubernetes API level served: the discovery.k8s.io/v1 EndpointSlice of 1.32.
constexpr char kVersion[] = R"({"major":"1","minor":"32","gitVersion":"v1.32.0-slicekeeper",)"
                            R"("gitCommit":"","gitTreeState":"","buildDate":"",)"
                            R"("goVersion":"","compiler":"","platform":"linux/amd64"})";

constexpr char kCoreResources[] =
    R"({"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"namespaces",)"
    R"("singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list"],)"
    R"("shortNames":["ns"]}]})";

constexpr char kGroupVersion[] = R"({"groupVersion":"discovery.k8s.io/v1","version":"v1"})";

constexpr char kResources[] =
    R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"discovery.k8s.io/v1",)"
    R"("resources":[{"name":"endpointslices","singularName":"endpointslice","namespaced":true,)"
    R"("kind":"EndpointSlice","verbs":["create","delete","get","list","patch","update","watch"]}]})";

// OpenAPI v3: an index with one group-version, whose document declares the PATCH operation of
// EndpointSlices with the fieldValidation parameter (what kubectl's query-parameter verifier looks
// for). Strategic merge patches are accepted but not listed: kubectl would then compute them from
// OpenAPI schemas, which are not served, instead of from its compiled-in EndpointSlice type.
constexpr char kOpenApiHash[] = "slicekeeper-1";

constexpr char kOpenApiGroup[] =
    R"({"openapi":"3.0.0",)"
    R"("info":{"title":"Kubernetes, slicekeeper","version":"v1.32.0"},"paths":{)"
    R"("/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices/{name}":{)"
    R"("parameters":[{"name":"name","in":"path","required":true,"schema":{"type":"string"}},)"
    R"({"name":"namespace","in":"path","required":true,"schema":{"type":"string"}}],)"
    R"("patch":{"operationId":"patchDiscoveryV1NamespacedEndpointSlice",)"
    R"("parameters":[{"name":"fieldValidation","in":"query","schema":{"type":"string"}},)"
    R"({"name":"fieldManager","in":"query","schema":{"type":"string"}}],)"
    R"("requestBody":{"content":{"application/json-patch+json":{"schema":{"type":"object"}},)"
    R"("application/merge-patch+json":{"schema":{"type":"object"}}},"required":true},)"
    R"("responses":{"200":{"description":"OK"}},)"
    R"("x-kubernetes-action":"patch",)"
    R"("x-kubernetes-group-version-kind":{"group":"discovery.k8s.io","version":"v1",)"
    R"("kind":"EndpointSlice"}}}}})";

std::string ApiVersions(const http::Request& request) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Field("kind", "APIVersions");
  w.Key("versions");
  w.BeginArray();
  w.String("v1");
  w.EndArray();
  w.Key("serverAddressByClientCIDRs");
  w.BeginArray();
  w.BeginObject();
  w.Field("clientCIDR", "0.0.0.0/0");
  w.Field("serverAddress", request.Header("Host").value_or(""));
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return out;
}

std::string Group() {
  return absl::StrCat(R"({"name":"discovery.k8s.io","versions":[)", kGroupVersion,
                      R"(],"preferredVersion":)", kGroupVersion, "}");
}

std::string NamespaceJson(const std::string& name) {
  std::string out;
  JsonWriter w(&out);
  w.BeginTyped("Namespace", "v1");
  w.Key("metadata");
  w.BeginObject();
  w.Field("name", name);
  w.Key("creationTimestamp");
  w.Null();
  w.EndObject();
  w.Key("spec");
  w.Raw(R"({"finalizers":["kubernetes"]})");
  w.Key("status");
  w.Raw(R"({"phase":"Active"})");
  w.EndObject();
  return out;
}

std::string NamespaceListJson(const std::vector<std::string>& names, int64_t revision) {
  std::string out;
  JsonWriter w(&out);
  w.BeginTyped("NamespaceList", "v1");
  w.ListMeta(revision, "", -1);
  w.Key("items");
  w.BeginArray();
  for (const std::string& name : names) w.Raw(NamespaceJson(name));
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace

std::optional<Reply> DiscoveryDocument(absl::string_view path, const http::Request& request) {
  if (path == "/version" || path == "/version/") return Reply{.body = kVersion};
  if (path == "/api" || path == "/api/") return Reply{.body = ApiVersions(request)};
  if (path == "/api/v1") return Reply{.body = kCoreResources};
  if (path == "/apis" || path == "/apis/") {
    return Reply{.body = absl::StrCat(R"({"kind":"APIGroupList","apiVersion":"v1","groups":[)",
                                      Group(), "]}")};
  }
  if (path == "/apis/discovery.k8s.io") {
    return Reply{.body =
                     absl::StrCat(R"({"kind":"APIGroup","apiVersion":"v1",)", Group().substr(1))};
  }
  if (path == "/apis/discovery.k8s.io/v1") return Reply{.body = kResources};
  if (path == "/openapi/v3") {
    return Reply{.body = absl::StrCat(
                     R"({"paths":{"apis/discovery.k8s.io/v1":{"serverRelativeURL":)",
                     R"("/openapi/v3/apis/discovery.k8s.io/v1?hash=)", kOpenApiHash, R"("}}})")};
  }
  if (path == "/openapi/v3/apis/discovery.k8s.io/v1") return Reply{.body = kOpenApiGroup};
  return std::nullopt;
}

Reply GetNamespaces(const Context& ctx, const http::Request& request, absl::string_view name) {
  ApiOr<Output> output = NegotiateOutput(request);
  if (!output.ok()) return ErrorReply(output.error());
  store::CatalogPtr catalog = ctx.store->Snapshot();
  std::set<std::string> names;
  // Only the namespaces the caller may read exist for it (a namespaced GET was authorized for
  // that namespace before it got here).
  for (const store::ServiceSnapshotPtr& s : catalog->services) {
    if (request.caller.readable.Allows(s->namespace_)) names.insert(s->namespace_);
  }
  if (!name.empty() && names.count(std::string(name)) == 0) {
    ApiError e = ObjectNotFound(name);
    e.message = absl::StrCat("namespaces \"", name, "\" not found");
    e.group = "";
    e.kind = "namespaces";
    return ErrorReply(e);
  }
  std::vector<std::string> selected(names.begin(), names.end());
  if (!name.empty()) selected = {std::string(name)};
  if (!output->table) {
    return Reply{.body = name.empty() ? NamespaceListJson(selected, catalog->revision)
                                      : NamespaceJson(selected[0])};
  }
  std::vector<TableRow> rows;
  for (const std::string& ns : selected) {
    TableRow row{{ns, "Active", "<unknown>"}, ""};
    if (output->row_object != Output::RowObject::kNone) {
      row.object = absl::StrCat(R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)",
                                R"("metadata":{"name":")", ns, R"(","creationTimestamp":null}})");
    }
    rows.push_back(std::move(row));
  }
  return Reply{
      .content_type = kTableJson,
      .body = TableJson(NamespaceColumns(), rows, TableMeta{catalog->revision, "", -1}, false)};
}

}  // namespace slicekeeper::k8s::internal
