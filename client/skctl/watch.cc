// skctl watch slices|endpoints [SERVICE...]: one line (or JSON / YAML document) per event.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/skctl/commands.h"
#include "client/skctl/documents.h"
#include "client/skctl/flags.h"
#include "client/skctl/output.h"
#include "common/status_util.h"

namespace slicekeeper::skctl {
namespace {

std::string TypeName(v1::WatchEvent::Type t) { return v1::WatchEvent::Type_Name(t); }

int CountReady(const v1::EndpointSlice& s) {
  int n = 0;
  for (const auto& e : s.endpoints()) n += !e.conditions().has_ready() || e.conditions().ready();
  return n;
}

std::string Line(const v1::WatchEvent& e, bool slices) {
  std::string line = absl::StrCat(TypeName(e.type()), " rev=", e.revision());
  if (e.type() == v1::WatchEvent::SYNCED || e.type() == v1::WatchEvent::BOOKMARK ||
      e.type() == v1::WatchEvent::RESET) {
    return line;
  }
  if (slices) {
    const v1::EndpointSlice& s = e.slice();
    auto it = s.metadata().labels().find("kubernetes.io/service-name");
    absl::StrAppend(&line, " ", s.metadata().namespace_(), "/", s.metadata().name(),
                    " service=", it == s.metadata().labels().end() ? "<none>" : it->second);
    if (e.type() != v1::WatchEvent::DELETED) {
      absl::StrAppend(&line, " endpoints=", s.endpoints_size(), " ready=", CountReady(s),
                      " resourceVersion=", s.metadata().resource_version());
    }
    return line;
  }
  const v1::ServiceEndpoint& ep = e.endpoint();
  absl::StrAppend(&line, " ", e.namespace_(), "/", e.service(), " ", ep.address());
  if (e.type() != v1::WatchEvent::DELETED) {
    const auto& c = ep.conditions();
    absl::StrAppend(&line, " ready=", c.ready() ? "true" : "false",
                    " serving=", c.serving() ? "true" : "false",
                    " terminating=", c.terminating() ? "true" : "false",
                    " zone=", ep.zone().empty() ? "<none>" : ep.zone(), " ports=", FormatPorts(ep));
  }
  return line;
}

}  // namespace

int RunWatch(const Args& args) {
  if (args.empty()) return UsageError("usage: skctl watch slices|endpoints [SERVICE...]");
  auto format = OutputFormat();
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  v1::WatchRequest request;
  const std::string& kind = args[0];
  if (kind == "slices" || kind == "endpointslices") {
    request.set_view(v1::SLICES);
  } else if (kind == "endpoints" || kind == "ep") {
    request.set_view(v1::ENDPOINTS);
  } else {
    return UsageError(absl::StrCat("cannot watch \"", kind, "\": use slices or endpoints"));
  }
  request.set_namespace_(absl::GetFlag(FLAGS_all_namespaces) ? "" : Namespace());
  for (size_t i = 1; i < args.size(); ++i) request.add_services(args[i]);
  request.set_resume_revision(absl::GetFlag(FLAGS_resume));
  request.set_zone(absl::GetFlag(FLAGS_zone));
  request.set_node(absl::GetFlag(FLAGS_node));
  const int64_t max_events = absl::GetFlag(FLAGS_max_events);

  std::unique_ptr<client::Client> c = MakeClient();
  grpc::ClientContext context;
  auto reader = c->discovery()->Watch(&context, request);
  v1::WatchResponse response;
  int64_t seen = 0;
  while (reader->Read(&response)) {
    for (const v1::WatchEvent& e : response.events()) {
      if (*format == Format::kJson) {
        std::printf("%s\n", ValueToJson(ToValue(e), /*pretty=*/false).c_str());
      } else if (*format == Format::kYaml) {
        std::printf("---\n%s", ValueToYaml(ToValue(e)).c_str());
      } else {
        std::printf("%s\n", Line(e, request.view() == v1::SLICES).c_str());
      }
      if (max_events > 0 && ++seen >= max_events) {
        std::fflush(stdout);
        context.TryCancel();
        reader->Finish();
        return kExitOk;
      }
    }
    std::fflush(stdout);
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ServerError(FromGrpcStatus(status));
  return kExitOk;
}

}  // namespace slicekeeper::skctl
