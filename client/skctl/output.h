// Output helpers shared by skctl's commands: kubectl-aligned tables, ages, and the -o switch.
//
// Thread-safety: plain values and stateless functions.
#ifndef SLICEKEEPER_CLIENT_SKCTL_OUTPUT_H_
#define SLICEKEEPER_CLIENT_SKCTL_OUTPUT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/struct.pb.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::skctl {

enum class Format { kTable, kWide, kYaml, kJson };

// --output: "" / table, wide, yaml, json. Errors: INVALID_ARGUMENT for anything else.
absl::StatusOr<Format> OutputFormat();

// A table printed as kubectl prints one: upper-case headers, columns left-aligned and separated by
// three spaces, the last column unpadded.
class Table {
 public:
  explicit Table(std::vector<std::string> headers) { rows_.push_back(std::move(headers)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.size() == 1; }
  std::string ToString() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// kubectl's age of an RFC 3339 timestamp: 45s, 5m12s, 3h, 2d5h, ...; "<unknown>" if unparsable.
std::string Age(const std::string& rfc3339);

// Prints `value` as YAML or JSON (kYaml / kJson) to stdout.
void PrintValue(const google::protobuf::Value& value, Format format);

// --- The endpoint table of `get endpoints` and `query`. ---

// "http:80/TCP,metrics:9090/TCP", or "<none>".
std::string FormatPorts(const v1::ServiceEndpoint& endpoint);
// SERVICE ADDRESS PORTS READY SERVING TERMINATING NODE ZONE [HOSTNAME TARGET HINTS], with
// NAMESPACE first when `with_namespace`.
std::vector<std::string> EndpointHeaders(bool wide, bool with_namespace);
// One row per endpoint of `response`, matching EndpointHeaders.
void AddEndpointRows(Table& table, const std::string& ns, const std::string& service,
                     const v1::QueryEndpointsResponse& response, bool wide, bool with_namespace);
// The response as an object with "namespace" and "service" added (the -o yaml/json form).
google::protobuf::Value EndpointsValue(const std::string& ns, const std::string& service,
                                       const v1::QueryEndpointsResponse& response);

}  // namespace slicekeeper::skctl

#endif  // SLICEKEEPER_CLIENT_SKCTL_OUTPUT_H_
