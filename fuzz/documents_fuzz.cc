// Fuzz target: skctl's YAML / JSON document decoder (client/skctl/documents.h), which reads
// Kubernetes EndpointSlice documents, Lists and EndpointChanges from files and stdin. Every input
// either decodes into validated objects or is refused with INVALID_ARGUMENT; what decodes prints
// back as YAML and JSON without crashing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "client/skctl/documents.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace skctl = slicekeeper::skctl;
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<skctl::ApplyItem>> items =
      skctl::ParseDocuments("fuzz", text, "default", /*namespace_flag=*/false);
  if (!items.ok()) {
    if (items.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  for (const skctl::ApplyItem& item : *items) {
    const auto* slice = std::get_if<slicekeeper::v1::EndpointSlice>(&item.object);
    if (slice == nullptr) continue;
    if (slice->metadata().namespace_().empty()) std::abort();
    const google::protobuf::Value value = skctl::ToValue(*slice);
    (void)skctl::ValueToYaml(value);
    (void)skctl::ValueToJson(value, /*pretty=*/false);
#ifdef SK_FUZZ_PLANTED
    // The planted bug (scripts/fuzz.sh proves the harness finds it): a valid slice with a string
    // containing "zzz".
    if (absl::StrContains(skctl::ValueToJson(value, false), "zzz")) __builtin_trap();
#endif
  }
  return 0;
}
