// The distribution simulator's core: replays an endpoint-change trace (workload/traces.h) through
// the reconciler in process, service by service, as the store would (the service records it
// creates implicitly, names and uids generated, resource versions stamped), and measures what the
// distribution costs and how full it keeps the slices. bench/distribution_sim.cc is the tool;
// docs/distribution.md §5 explains the figures.
//
// Measured over the trace's non-warmup batches:
//   - slice writes (creates, updates, deletes) per endpoint change;
//   - bytes a SLICES-view watcher of every service receives: each write is one WatchEvent carrying
//     the whole slice (the deleted slice's last state for a delete), framed as in a
//     WatchResponse (server/watch/subscriber.cc);
//   - after every batch: fill = endpoints / (slices * max) over the services that have endpoints,
//     slices over their minimum sum(ceil(endpoints / max)), and the slices a zone-filtered reader
//     reads (slices holding an endpoint of the zone, averaged over zones) against its minimum;
//   - CPU per change: thread CPU time of Reconcile + Apply only.
//
// Thread-safety: Replay is a plain function; a Replayer is for one thread.
#ifndef SLICEKEEPER_BENCH_DISTRIBUTION_SIM_H_
#define SLICEKEEPER_BENCH_DISTRIBUTION_SIM_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/slice.h"
#include "server/reconcile/reconciler.h"
#include "workload/traces.h"

namespace slicekeeper::bench {

// A trace normalized once (common/validation.h), to replay in several modes.
struct NormalizedBatch {
  std::vector<EndpointDelta> changes;
  bool warmup = false;
};
struct NormalizedTrace {
  std::string name;
  std::vector<NormalizedBatch> batches;
};
// Errors: INVALID_ARGUMENT "batch B: changes[i]...: ..." for a change the server would reject.
absl::StatusOr<NormalizedTrace> Normalize(const workload::Trace& trace);

struct SimResult {
  int64_t changes = 0;  // endpoint changes in measured batches
  int64_t batches = 0;
  int64_t creates = 0, updates = 0, deletes = 0;
  int64_t watch_bytes = 0;
  // Fill after each measured batch: mean and 10th percentile (nearest rank).
  double mean_fill = 0, p10_fill = 0;
  // Slices over the minimum, mean over measured batches, and both at the end.
  double mean_slice_ratio = 0;
  int64_t end_slices = 0, end_min_slices = 0;
  // Slices a zone query reads, mean over measured batches, and the mean minimum.
  double zone_reads = 0, zone_min = 0;
  double cpu_ns = 0;  // Reconcile + Apply, measured batches
  // Packed only: endpoints moved, extra writes in all, and the most any one batch added.
  int64_t moved = 0, extra_writes = 0, max_batch_extra = 0;

  int64_t writes() const { return creates + updates + deletes; }
  double WritesPerChange() const;
  double BytesPerChange() const;
  double CpuNsPerChange() const;
};

// The bytes of one SLICES-view event carrying a slice of `slice_bytes` at `revision`: a
// WatchEvent {type, revision, slice} as one element of WatchResponse.events.
int64_t WatchEventBytes(size_t slice_bytes, int64_t revision);

// Replays `trace` with `options`. Errors: those of reconcile::Reconcile.
absl::StatusOr<SimResult> Replay(const NormalizedTrace& trace, const reconcile::Options& options);

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_DISTRIBUTION_SIM_H_
