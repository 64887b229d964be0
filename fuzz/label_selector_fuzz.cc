// Fuzz target: kubectl label-selector parsing (server/query/label_selector.h). Every input either
// parses or is rejected with INVALID_ARGUMENT; a parsed selector re-checks its invariants (sorted,
// unique values; keys and values valid by the object label rules) and matches without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "common/validation.h"
#include "server/query/label_selector.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using slicekeeper::query::LabelSelector;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(text);
  if (!selector.ok()) {
    if (selector.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  google::protobuf::Map<std::string, std::string> labels;
  for (const LabelSelector::Requirement& r : selector->requirements()) {
    if (!slicekeeper::validation::IsLabelKey(r.key)) std::abort();
    for (size_t i = 0; i < r.values.size(); ++i) {
      if (!slicekeeper::validation::IsLabelValue(r.values[i])) std::abort();
      if (i > 0 && !(r.values[i - 1] < r.values[i])) std::abort();
    }
    if (!r.values.empty()) labels[r.key] = r.values.front();
#ifdef SK_FUZZ_PLANTED
    // The planted bug (scripts/fuzz.sh proves the harness finds it): a parsed key or value that
    // contains "zzz".
    if (absl::StrContains(r.key, "zzz")) __builtin_trap();
    for (const std::string& v : r.values) {
      if (absl::StrContains(v, "zzz")) __builtin_trap();
    }
#endif
  }
  (void)selector->Matches(labels);
  return 0;
}
