// skctl get slices|services|endpoints [NAME]: kubectl-style tables, or the objects as YAML/JSON.
#include <cstdio>
#include <map>
#include <set>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/skctl/commands.h"
#include "client/skctl/documents.h"
#include "client/skctl/flags.h"
#include "client/skctl/output.h"

namespace slicekeeper::skctl {
namespace {

using google::protobuf::Value;

std::string ListNamespace() { return absl::GetFlag(FLAGS_all_namespaces) ? "" : Namespace(); }

void NoResources() {
  if (absl::GetFlag(FLAGS_all_namespaces)) {
    std::fprintf(stderr, "No resources found\n");
  } else {
    std::fprintf(stderr, "No resources found in %s namespace.\n", Namespace().c_str());
  }
}

// kubectl's PORTS column of an EndpointSlice.
std::string SlicePorts(const v1::EndpointSlice& s) {
  std::vector<std::string> ports;
  for (const auto& p : s.ports()) ports.push_back(p.has_port() ? absl::StrCat(p.port()) : "");
  return ports.empty() ? "<unset>" : absl::StrJoin(ports, ",");
}

// kubectl's ENDPOINTS column: the first three addresses, then "+ N more...".
std::string SliceEndpoints(const v1::EndpointSlice& s) {
  std::vector<std::string> addresses;
  int total = 0;
  for (const auto& e : s.endpoints()) {
    for (const auto& a : e.addresses()) {
      if (addresses.size() < 3) addresses.push_back(a);
      ++total;
    }
  }
  if (total == 0) return "<unset>";
  std::string out = absl::StrJoin(addresses, ",");
  if (total > 3) absl::StrAppend(&out, " + ", total - 3, " more...");
  return out;
}

bool InZone(const v1::EndpointSlice& s, const std::string& zone) {
  for (const auto& e : s.endpoints()) {
    if (e.zone() == zone) return true;
  }
  return false;
}

int PrintSlices(const std::vector<v1::EndpointSlice>& slices, Format format, bool single) {
  if (format == Format::kYaml || format == Format::kJson) {
    if (single) {
      PrintValue(ToValue(slices[0]), format);
    } else {
      std::vector<Value> items;
      for (const auto& s : slices) items.push_back(ToValue(s));
      PrintValue(ListOf(std::move(items)), format);
    }
    return kExitOk;
  }
  if (slices.empty()) {
    NoResources();
    return kExitOk;
  }
  const bool all = absl::GetFlag(FLAGS_all_namespaces);
  const bool wide = format == Format::kWide;
  std::vector<std::string> headers = {"NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"};
  if (wide) headers.insert(headers.end(), {"SERVICE", "REVISION"});
  if (all) headers.insert(headers.begin(), "NAMESPACE");
  Table table(headers);
  for (const auto& s : slices) {
    std::vector<std::string> row = {s.metadata().name(), s.address_type(), SlicePorts(s),
                                    SliceEndpoints(s), Age(s.metadata().creation_timestamp())};
    if (wide) {
      auto it = s.metadata().labels().find("kubernetes.io/service-name");
      row.push_back(it == s.metadata().labels().end() ? "<none>" : it->second);
      row.push_back(s.metadata().resource_version());
    }
    if (all) row.insert(row.begin(), s.metadata().namespace_());
    table.Add(std::move(row));
  }
  std::fputs(table.ToString().c_str(), stdout);
  return kExitOk;
}

int GetSlices(client::Client& c, const std::string& name, Format format) {
  const std::string zone = absl::GetFlag(FLAGS_zone);
  std::vector<v1::EndpointSlice> slices;
  if (!name.empty()) {
    auto r = c.GetEndpointSlice(Namespace(), name);
    if (!r.ok()) {
      if (r.status().code() != absl::StatusCode::kNotFound) return ServerError(r.status());
      return ServerError(absl::NotFoundError(
          absl::StrCat("endpointslices.discovery.k8s.io \"", name, "\" not found")));
    }
    slices.push_back(r->slice());
    return PrintSlices(slices, format, /*single=*/true);
  }
  v1::ListEndpointSlicesRequest request;
  request.set_namespace_(ListNamespace());
  request.set_label_selector(absl::GetFlag(FLAGS_selector));
  auto r = c.ListAllEndpointSlices(request);
  if (!r.ok()) return ServerError(r.status());
  for (const auto& s : r->slices()) {
    if (zone.empty() || InZone(s, zone)) slices.push_back(s);
  }
  return PrintSlices(slices, format, /*single=*/false);
}

std::string ZoneCounts(const v1::ServiceSummary& s) {
  std::vector<std::string> parts;
  std::map<std::string, v1::ConditionCounts> zones(s.by_zone().begin(), s.by_zone().end());
  for (const auto& [zone, counts] : zones) {
    parts.push_back(
        absl::StrCat(zone.empty() ? "<none>" : zone, "=", counts.ready(), "/", counts.total()));
  }
  return parts.empty() ? "<none>" : absl::StrJoin(parts, ",");
}

int GetServices(client::Client& c, const std::string& name, Format format) {
  auto r = c.ListServices(name.empty() ? ListNamespace() : Namespace());
  if (!r.ok()) return ServerError(r.status());
  const std::string zone = absl::GetFlag(FLAGS_zone);
  std::vector<v1::ServiceSummary> services;
  for (const auto& s : r->services()) {
    if (name.empty() || s.name() == name) services.push_back(s);
  }
  if (!name.empty() && services.empty()) {
    return ServerError(absl::NotFoundError(absl::StrCat("services \"", name, "\" not found")));
  }
  if (format == Format::kYaml || format == Format::kJson) {
    std::vector<Value> items;
    for (const auto& s : services) items.push_back(ToValue(s));
    PrintValue(!name.empty() ? items[0] : ListOf(std::move(items)), format);
    return kExitOk;
  }
  if (services.empty()) {
    NoResources();
    return kExitOk;
  }
  const bool all = absl::GetFlag(FLAGS_all_namespaces) && name.empty();
  const bool wide = format == Format::kWide;
  std::vector<std::string> headers = {"NAME",  "SLICES",  "ENDPOINTS",
                                      "READY", "SERVING", "TERMINATING"};
  if (wide) headers.insert(headers.end(), {"ZONES", "REVISION"});
  if (all) headers.insert(headers.begin(), "NAMESPACE");
  Table table(headers);
  for (const auto& s : services) {
    v1::ConditionCounts counts = s.endpoints();
    if (!zone.empty()) {
      auto it = s.by_zone().find(zone);
      counts = it == s.by_zone().end() ? v1::ConditionCounts() : it->second;
    }
    std::vector<std::string> row = {s.name(),
                                    absl::StrCat(s.slices()),
                                    absl::StrCat(counts.total()),
                                    absl::StrCat(counts.ready()),
                                    absl::StrCat(counts.serving()),
                                    absl::StrCat(counts.terminating())};
    if (wide) row.insert(row.end(), {ZoneCounts(s), absl::StrCat(s.mod_revision())});
    if (all) row.insert(row.begin(), s.namespace_());
    table.Add(std::move(row));
  }
  std::fputs(table.ToString().c_str(), stdout);
  return kExitOk;
}

int GetEndpoints(client::Client& c, const std::string& name, Format format) {
  std::vector<std::pair<std::string, std::string>> services;  // (namespace, name)
  if (!name.empty()) {
    services.emplace_back(Namespace(), name);
  } else {
    auto r = c.ListServices(ListNamespace());
    if (!r.ok()) return ServerError(r.status());
    for (const auto& s : r->services()) services.emplace_back(s.namespace_(), s.name());
  }
  const bool wide = format == Format::kWide;
  const bool all = absl::GetFlag(FLAGS_all_namespaces) && name.empty();
  Table table(EndpointHeaders(wide, all));
  std::vector<Value> items;
  for (const auto& [ns, service] : services) {
    v1::QueryEndpointsRequest request;
    request.set_namespace_(ns);
    request.set_service(service);
    request.set_condition(v1::ANY);
    request.set_zone(absl::GetFlag(FLAGS_zone));
    request.set_node(absl::GetFlag(FLAGS_node));
    auto r = c.QueryEndpoints(request);
    if (!r.ok()) {
      if (r.status().code() == absl::StatusCode::kNotFound && !name.empty()) {
        return ServerError(absl::NotFoundError(absl::StrCat("services \"", name, "\" not found")));
      }
      if (r.status().code() == absl::StatusCode::kNotFound) continue;  // deleted meanwhile
      return ServerError(r.status());
    }
    items.push_back(EndpointsValue(ns, service, *r));
    AddEndpointRows(table, ns, service, *r, wide, all);
  }
  if (format == Format::kYaml || format == Format::kJson) {
    PrintValue(!name.empty() ? items[0] : ListOf(std::move(items)), format);
  } else if (table.empty()) {
    NoResources();
  } else {
    std::fputs(table.ToString().c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace

int RunGet(const Args& args) {
  if (args.empty() || args.size() > 2) {
    return UsageError("usage: skctl get slices|services|endpoints [NAME] [-n NS | -A] [-o ...]");
  }
  auto format = OutputFormat();
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  const std::string& kind = args[0];
  const std::string name = args.size() == 2 ? args[1] : "";
  if (!name.empty() && absl::GetFlag(FLAGS_all_namespaces)) {
    return UsageError("a resource cannot be retrieved by name across all namespaces");
  }
  const bool slices =
      kind == "slices" || kind == "slice" || kind == "endpointslices" || kind == "endpointslice";
  if (!slices && !absl::GetFlag(FLAGS_selector).empty()) {
    return UsageError("-l/--selector applies to slices only");
  }
  std::unique_ptr<client::Client> c = MakeClient();
  if (slices) return GetSlices(*c, name, *format);
  if (kind == "services" || kind == "service" || kind == "svc") {
    return GetServices(*c, name, *format);
  }
  if (kind == "endpoints" || kind == "endpoint" || kind == "ep") {
    return GetEndpoints(*c, name, *format);
  }
  return UsageError(absl::StrCat("the server doesn't have a resource type \"", kind, "\""));
}

}  // namespace slicekeeper::skctl
