#include "client/skctl/output.h"

#include <algorithm>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/skctl/documents.h"
#include "client/skctl/flags.h"

namespace slicekeeper::skctl {

absl::StatusOr<Format> OutputFormat() {
  const std::string o = absl::GetFlag(FLAGS_output);
  if (o.empty() || o == "table") return Format::kTable;
  if (o == "wide") return Format::kWide;
  if (o == "yaml") return Format::kYaml;
  if (o == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("unable to match a printer suitable for the output format \"", o,
                   "\", allowed formats are: json,table,wide,yaml"));
}

std::string Table::ToString() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 3, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string Age(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) return "<unknown>";
  int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(absl::Now() - t));
  // kubectl's HumanDuration, abbreviated.
  if (s < 120) return absl::StrCat(s, "s");
  const int64_t m = s / 60;
  if (m < 10) return s % 60 == 0 ? absl::StrCat(m, "m") : absl::StrCat(m, "m", s % 60, "s");
  if (m < 180) return absl::StrCat(m, "m");
  const int64_t h = m / 60;
  if (h < 8) return m % 60 == 0 ? absl::StrCat(h, "h") : absl::StrCat(h, "h", m % 60, "m");
  if (h < 48) return absl::StrCat(h, "h");
  const int64_t d = h / 24;
  if (d < 8) return h % 24 == 0 ? absl::StrCat(d, "d") : absl::StrCat(d, "d", h % 24, "h");
  if (d < 365 * 2) return absl::StrCat(d, "d");
  return absl::StrCat(d / 365, "y");
}

void PrintValue(const google::protobuf::Value& value, Format format) {
  const std::string text =
      format == Format::kJson ? ValueToJson(value, /*pretty=*/true) : ValueToYaml(value);
  std::fputs(text.c_str(), stdout);
}

// "http:80/TCP,metrics:9090/TCP".
std::string FormatPorts(const v1::ServiceEndpoint& e) {
  std::vector<std::string> ports;
  for (const auto& p : e.ports()) {
    ports.push_back(
        absl::StrCat(p.name().empty() ? "" : p.name() + ":", p.port(), "/", p.protocol()));
  }
  return ports.empty() ? "<none>" : absl::StrJoin(ports, ",");
}

// one row per endpoint.
void AddEndpointRows(Table& table, const std::string& ns, const std::string& service,
                     const v1::QueryEndpointsResponse& r, bool wide, bool with_namespace) {
  auto b = [](bool v) { return v ? std::string("true") : std::string("false"); };
  for (const auto& e : r.endpoints()) {
    std::vector<std::string> row = {service,
                                    e.address(),
                                    FormatPorts(e),
                                    b(e.conditions().ready()),
                                    b(e.conditions().serving()),
                                    b(e.conditions().terminating()),
                                    e.node_name().empty() ? "<none>" : e.node_name(),
                                    e.zone().empty() ? "<none>" : e.zone()};
    if (wide) {
      std::vector<std::string> zones;
      for (const auto& z : e.hints().for_zones()) zones.push_back(z.name());
      row.push_back(e.hostname().empty() ? "<none>" : e.hostname());
      row.push_back(e.has_target_ref()
                        ? absl::StrCat(e.target_ref().kind(), "/", e.target_ref().name())
                        : "<none>");
      row.push_back(zones.empty() ? "<none>" : absl::StrJoin(zones, ","));
    }
    if (with_namespace) row.insert(row.begin(), ns);
    table.Add(std::move(row));
  }
}

std::vector<std::string> EndpointHeaders(bool wide, bool with_namespace) {
  std::vector<std::string> h = {"SERVICE", "ADDRESS",     "PORTS", "READY",
                                "SERVING", "TERMINATING", "NODE",  "ZONE"};
  if (wide) h.insert(h.end(), {"HOSTNAME", "TARGET", "HINTS"});
  if (with_namespace) h.insert(h.begin(), "NAMESPACE");
  return h;
}

google::protobuf::Value EndpointsValue(const std::string& ns, const std::string& service,
                                       const v1::QueryEndpointsResponse& r) {
  google::protobuf::Value v = ToValue(r);
  auto* fields = v.mutable_struct_value()->mutable_fields();
  (*fields)["namespace"].set_string_value(ns);
  (*fields)["service"].set_string_value(service);
  if (!fields->contains("endpoints")) (*fields)["endpoints"].mutable_list_value();
  return v;
}

}  // namespace slicekeeper::skctl
