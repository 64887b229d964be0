// Endpoint-change traces: sequences of batches, generated from documented, seeded models of what
// happens to a service's pods, or read from a trace file (trace_file.h). bench/distribution_sim
// replays them through the reconciler.
//
// Every model drives one Deployment (deployment.h) of `replicas` pods, one batch per tick. Its
// first batches, until the Deployment has settled, build the starting state and are marked warmup.
// The models (docs/distribution.md §5 has the figures they produce):
//   rolling-update  3 rollouts one after the other (maxSurge 25 %, maxUnavailable 25 %): new pods
//                   go not ready -> ready while old ones go terminating -> removed.
//   scale           3 cycles of scaling from replicas/10 up to replicas in 9 equal steps 10 ticks
//                   apart, settling, and back down the same way.
//   zone-failure    each of the 3 zones in turn goes down (its nodes over 3 ticks): a third of
//                   the pods not ready for 60 ticks, then ready again.
//   node-drain      a cluster upgrade: each of the 60 nodes in turn is cordoned and drained, its
//                   pods replaced elsewhere, then uncordoned once the Deployment has settled.
//   random-churn    2 000 ticks at steady size: each tick a pod crashes (not ready for 3-20
//                   ticks) with probability 0.3 and one is evicted and replaced with
//                   probability 0.2.
//   30-day          30 days of 200 ticks: daily scaling between 40 % of replicas (night) and all of
//                   them (day, 6 steps 5 ticks apart, morning and evening), a rollout at midday on
//                   half the days, random churn throughout (crash and evict, each with probability
//                   0.05 a tick), 10 nodes drained on days 10 and 24, and zone-b down for 40 ticks
//                   on day 17.
// The same model, replicas and seed always give the same trace.
//
// Thread-safety: plain values and functions.
#ifndef SLICEKEEPER_WORKLOAD_TRACES_H_
#define SLICEKEEPER_WORKLOAD_TRACES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::workload {

struct TraceBatch {
  std::vector<v1::EndpointChange> changes;
  // Builds the starting state: replayed, not measured.
  bool warmup = false;
};

struct Trace {
  std::string name;
  std::vector<TraceBatch> batches;

  // Appends a batch unless `changes` is empty.
  void Add(std::vector<v1::EndpointChange> changes, bool warmup = false);
  // Changes in all, or in measured (non-warmup) batches only.
  int64_t CountChanges(bool measured_only) const;
};

struct TraceOptions {
  int replicas = 1000;
  uint64_t seed = 1;
};

// The model names above, in that order.
std::vector<std::string> TraceModels();

// The trace of `model` ("rolling-update", ...). Errors: INVALID_ARGUMENT for an unknown model or
// replicas outside [10, 100000].
absl::StatusOr<Trace> GenerateTrace(absl::string_view model, const TraceOptions& options);

}  // namespace slicekeeper::workload

#endif  // SLICEKEEPER_WORKLOAD_TRACES_H_
