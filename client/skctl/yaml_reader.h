// YAML documents read into JSON values (google.protobuf.Value), for skctl's document codec.
//
// Built on yaml-cpp's event parser rather than YAML::LoadAll: Debian's yaml-cpp 0.7 loops forever,
// allocating, in LoadAll on some malformed inputs (jbeder/yaml-cpp#1319; found by
// fuzz/documents_fuzz.cc), and builds a node graph we would only convert again. Here a document
// that makes no progress ends the read with an error, aliases are expanded with a bound on the
// bytes they produce (no "billion laughs"), and nesting is bounded by yaml-cpp's own depth guard.
//
// Scalars: quoted ones stay strings; plain ones read as JSON would type them (null, ~, "" ->
// null; true / false in three spellings; integers; anything else a string). Map keys are the
// key's text ("" for a non-scalar key). An empty document is a null value.
//
// Thread-safety: a stateless function.
#ifndef SLICEKEEPER_CLIENT_SKCTL_YAML_READER_H_
#define SLICEKEEPER_CLIENT_SKCTL_YAML_READER_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"

namespace slicekeeper::skctl {

// The largest a document may grow to through aliases (serialized bytes of what they copy).
inline constexpr size_t kMaxAliasExpansionBytes = size_t{64} << 20;

// A YAML error: where it is, 0-based, and what.
struct YamlError {
  int line = 0;
  int column = 0;
  std::string message;
};

struct YamlRead {
  // In order; on an error, those read before it.
  std::vector<google::protobuf::Value> documents;
  std::optional<YamlError> error;
};

// Every document of `text`.
YamlRead ReadYamlDocuments(const std::string& text);

}  // namespace slicekeeper::skctl

#endif  // SLICEKEEPER_CLIENT_SKCTL_YAML_READER_H_
