// Fuzz target: a ChangeBatch as StreamChanges and ApplyChanges receive it — protobuf bytes from
// the network, then validation and normalization (common/validation.h). A batch is either
// rejected whole with INVALID_ARGUMENT or normalized into one canonical delta per change, and
// normalizing is idempotent on what it accepted.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "common/validation.h"
#include "google/protobuf/arena.h"
#include "slicekeeper/v1/change.pb.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace v1 = slicekeeper::v1;
  v1::ChangeBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<std::vector<slicekeeper::EndpointDelta>> deltas =
      slicekeeper::validation::NormalizeChanges(batch.changes(), "changes");
  if (!deltas.ok()) {
    if (deltas.status().code() != absl::StatusCode::kInvalidArgument) std::abort();
    return 0;
  }
  if (static_cast<int>(deltas->size()) != batch.changes_size()) std::abort();
  // The taking variant agrees with the copying one.
  std::vector<v1::EndpointChange> owned(batch.changes().begin(), batch.changes().end());
  absl::StatusOr<std::vector<slicekeeper::EndpointDelta>> taken =
      slicekeeper::validation::TakeNormalizedChanges(absl::MakeSpan(owned), "changes");
  if (!taken.ok() || taken->size() != deltas->size()) std::abort();
  // So does the variant StreamChanges uses: the batch parsed on an arena, read in place.
  google::protobuf::Arena arena;
  auto* on_arena = google::protobuf::Arena::CreateMessage<v1::ChangeBatch>(&arena);
  if (!on_arena->ParseFromArray(data, static_cast<int>(size))) std::abort();
  absl::StatusOr<std::vector<slicekeeper::EndpointDelta>> in_place =
      slicekeeper::validation::TakeNormalizedChanges(on_arena->mutable_changes(), "changes");
  if (!in_place.ok() || in_place->size() != deltas->size()) std::abort();
  for (size_t i = 0; i < deltas->size(); ++i) {
    const slicekeeper::EndpointDelta& d = (*deltas)[i];
    if (d.endpoint == nullptr || d.address_type != (*taken)[i].address_type) std::abort();
    const slicekeeper::EndpointDelta& p = (*in_place)[i];
    if (p.address_type != d.address_type || p.namespace_ != d.namespace_ ||
        p.service != d.service || *p.endpoint != *d.endpoint) {
      std::abort();
    }
    if (d.op == slicekeeper::EndpointDelta::Op::kUpsert && d.ports == nullptr) std::abort();
    // Normalized data validates again.
    if (!slicekeeper::validation::ValidateEndpoint(d.endpoint->ToProto(), d.address_type, "e")
             .ok()) {
      std::abort();
    }
#ifdef SK_FUZZ_PLANTED
    // The planted bug (scripts/fuzz.sh proves the harness finds it): an accepted endpoint with a
    // string containing "zzz".
    if (absl::StrContains(d.endpoint->ToProto().DebugString(), "zzz")) __builtin_trap();
#endif
  }
  return 0;
}
