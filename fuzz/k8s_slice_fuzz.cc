// Fuzz target: the Kubernetes API's EndpointSlice JSON decoder (server/k8s/codec.h), which reads
// the bodies of POST, PUT and PATCH requests from the HTTP port. Every input either decodes or is
// refused with INVALID_ARGUMENT. What decodes and validates (as the store would take it) encodes
// back to JSON that decodes again with no unknown field, and a second round trip reproduces the
// first one's JSON byte for byte: the encoder and the decoder agree on every field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "common/slice.h"
#include "common/validation.h"
#include "server/k8s/codec.h"

namespace {

namespace k8s = slicekeeper::k8s;

// JSON text -> slice -> JSON text; nullptr-free: aborts on a rejection the contract forbids.
// Returns false when the input does not decode or validate.
bool RoundTrip(const std::string& text, std::string* json_out, bool* had_unknown) {
  absl::StatusOr<google::protobuf::Value> value = k8s::ParseJson(text);
  if (!value.ok()) {
    if (value.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return false;
  }
  absl::StatusOr<k8s::DecodedSlice> decoded = k8s::DecodeSlice(*value);
  if (!decoded.ok()) {
    if (decoded.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return false;
  }
#ifdef SK_FUZZ_PLANTED
  // The planted bug (scripts/fuzz.sh proves the harness finds it): a decoded field holding "zzz".
  if (absl::StrContains(decoded->slice.ShortDebugString(), "zzz")) __builtin_trap();
#endif
  *had_unknown = !decoded->unknown_fields.empty();
  slicekeeper::v1::EndpointSlice& slice = decoded->slice;
  // The write path binds the namespace from the URL when the body has none.
  if (slice.metadata().namespace_().empty()) slice.mutable_metadata()->set_namespace_("fuzz");
  if (!slicekeeper::validation::ValidateEndpointSlice(slice, "").ok()) return false;
  *json_out = k8s::EncodeSlice(*slicekeeper::SliceFromProto(slice));
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::string first, second;
  bool unknown = false;
  if (!RoundTrip(text, &first, &unknown)) return 0;
  // What we encode is valid, complete Kubernetes JSON: it decodes, validates, and nothing in it is
  // unknown to the decoder; and encoding is a fixed point after one round.
  if (!RoundTrip(first, &second, &unknown) || unknown || second != first) std::abort();
  return 0;
}
