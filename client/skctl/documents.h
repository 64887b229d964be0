// The document codec of skctl: Kubernetes YAML / JSON in, Kubernetes YAML / JSON out.
//
// Input (apply -f): one or more YAML documents (JSON is YAML), each an EndpointSlice
// (apiVersion discovery.k8s.io/v1), a `kind: List` (apiVersion v1) of them, or a
// `kind: EndpointChanges` (apiVersion slicekeeper.io/v1) document of endpoint changes; formats in
// docs/skctl.md. YAML is converted to JSON values (quoted scalars stay strings), checked against
// the message's fields (unknown fields and wrong types are errors naming the field path), parsed
// with protobuf's JSON mapping (which is Kubernetes JSON), defaulted (namespace) and validated
// with the server's own rules (common/validation.h). Every document is checked before the caller
// applies anything.
//
// Output: messages printed as Kubernetes objects: JSON with int64 fields as numbers, or block
// YAML with keys sorted as kubectl prints them, strings quoted where YAML would read them as
// another type, so the output re-applies unchanged.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_CLIENT_SKCTL_DOCUMENTS_H_
#define SLICEKEEPER_CLIENT_SKCTL_DOCUMENTS_H_

#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "slicekeeper/v1/change.pb.h"
#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper::skctl {

// One object to apply, in file order.
struct ApplyItem {
  // 0-based index of the YAML document it came from, and where inside it ("" or "items[2]").
  int document = 0;
  std::string path;
  std::variant<v1::EndpointSlice, v1::ChangeBatch> object;
};

// Parses and validates every document of `text`. Objects without a namespace get
// `default_namespace`; with `namespace_flag` set, an object naming another namespace is an error
// (kubectl's rule). Errors: INVALID_ARGUMENT "<source>: document <i>: <field path>: <problem>"
// for the first bad document (YAML syntax errors: "<source>: document <i>: line L, column C:").
absl::StatusOr<std::vector<ApplyItem>> ParseDocuments(const std::string& source,
                                                      const std::string& text,
                                                      const std::string& default_namespace,
                                                      bool namespace_flag);

// Every document of `text` as a JSON value (quoted scalars stay strings; empty documents are
// null values). Errors: INVALID_ARGUMENT "line L, column C: <problem>" for YAML syntax errors.
absl::StatusOr<std::vector<google::protobuf::Value>> YamlDocuments(const std::string& text);

// A message as a JSON value in Kubernetes form (int64 fields as numbers, not strings).
google::protobuf::Value ToValue(const google::protobuf::Message& message);
// Block YAML of a value, keys sorted, ending in a newline.
std::string ValueToYaml(const google::protobuf::Value& value);
// Indented (or single-line) JSON of a value.
std::string ValueToJson(const google::protobuf::Value& value, bool pretty);

// A kubectl List of `items` (apiVersion v1, kind List).
google::protobuf::Value ListOf(std::vector<google::protobuf::Value> items);

}  // namespace slicekeeper::skctl

#endif  // SLICEKEEPER_CLIENT_SKCTL_DOCUMENTS_H_
