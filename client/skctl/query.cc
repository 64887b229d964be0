// skctl query SERVICE: QueryEndpoints with the load balancer's filters.
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/skctl/commands.h"
#include "client/skctl/flags.h"
#include "client/skctl/output.h"

namespace slicekeeper::skctl {
namespace {

absl::StatusOr<v1::EndpointCondition> Condition() {
  const std::string c = absl::GetFlag(FLAGS_condition);
  if (c == "routable" || c.empty()) return v1::ROUTABLE;
  if (c == "ready") return v1::READY;
  if (c == "serving") return v1::SERVING;
  if (c == "any") return v1::ANY;
  return absl::InvalidArgumentError(
      absl::StrCat("--condition=", c, ": must be routable, ready, serving or any"));
}

}  // namespace

int RunQuery(const Args& args) {
  if (args.size() != 1) return UsageError("usage: skctl query SERVICE [-n NS] [--zone Z] ...");
  auto format = OutputFormat();
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  auto condition = Condition();
  if (!condition.ok()) return UsageError(std::string(condition.status().message()));
  v1::QueryEndpointsRequest request;
  request.set_namespace_(Namespace());
  request.set_service(args[0]);
  request.set_zone(absl::GetFlag(FLAGS_zone));
  request.set_prefer_zone(absl::GetFlag(FLAGS_prefer_zone));
  request.set_node(absl::GetFlag(FLAGS_node));
  request.set_condition(*condition);
  request.set_use_hints(absl::GetFlag(FLAGS_hints));
  if (!absl::GetFlag(FLAGS_port).empty()) request.set_port_name(absl::GetFlag(FLAGS_port));
  std::unique_ptr<client::Client> c = MakeClient();
  auto r = c->QueryEndpoints(request);
  if (!r.ok()) {
    if (r.status().code() == absl::StatusCode::kNotFound) {
      return ServerError(absl::NotFoundError(absl::StrCat("services \"", args[0], "\" not found")));
    }
    return ServerError(r.status());
  }
  if (*format == Format::kYaml || *format == Format::kJson) {
    PrintValue(EndpointsValue(Namespace(), args[0], *r), *format);
    return kExitOk;
  }
  const bool wide = *format == Format::kWide;
  Table table(EndpointHeaders(wide, false));
  AddEndpointRows(table, Namespace(), args[0], *r, wide, false);
  if (table.empty()) {
    std::fprintf(stderr, "No endpoints of service %s/%s match\n", Namespace().c_str(),
                 args[0].c_str());
  } else {
    std::fputs(table.ToString().c_str(), stdout);
  }
  return kExitOk;
}

}  // namespace slicekeeper::skctl
