// JSON string literals: the one escaping routine shared by the front-ends that write JSON by hand
// (server/k8s, server/ui, the audit log of server/auth).
//
// Thread-safety: a pure function.
#ifndef SLICEKEEPER_COMMON_JSON_STRING_H_
#define SLICEKEEPER_COMMON_JSON_STRING_H_

#include <string>

#include "absl/strings/string_view.h"

namespace slicekeeper {

// Appends `s` as a JSON string literal (quotes included) to `out`: '"', '\\' and control
// characters escaped; other bytes (UTF-8) as they are.
void AppendJsonString(absl::string_view s, std::string* out);

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_JSON_STRING_H_
