// Reading parsed JSON (google.protobuf.Value) in tests: At(v, {"a", "b"}) is v["a"]["b"], and a
// missing key reads as an empty Value, so a test can compare whatever a response held.
//
// Thread-safety: pure functions.
#ifndef SLICEKEEPER_TESTS_JSON_PATH_H_
#define SLICEKEEPER_TESTS_JSON_PATH_H_

#include <initializer_list>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace slicekeeper::testing {

inline const google::protobuf::Value& At(const google::protobuf::Value& v,
                                         std::initializer_list<absl::string_view> path) {
  static const google::protobuf::Value kMissing;
  const google::protobuf::Value* cur = &v;
  for (absl::string_view key : path) {
    auto it = cur->struct_value().fields().find(std::string(key));
    if (it == cur->struct_value().fields().end()) return kMissing;
    cur = &it->second;
  }
  return *cur;
}

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_JSON_PATH_H_
