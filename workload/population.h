// The pods behind one or more services, as a writer of endpoint changes sees them: every workload
// generator (the churn model behind `skctl churn` and the benchmarks, the trace models of
// bench/distribution_sim) moves pods through their lifecycle here, and the population records the
// endpoint change each move produces, for the caller to collect as one batch.
//
// A pod is a (service, id) pair; its id also fixes its address, so a pod that goes away and a new
// one never share an address until the id is reused (ids are handed out round robin from a ring of
// `capacity` per service, skipping live ones). Each service spreads its pods over `nodes` nodes
// round robin, from node 0; node n is in zone n % zones. Endpoints look like a Kubernetes
// controller's: one IPv4 address, conditions from the state (below), nodeName, zone, targetRef Pod
// `<service>-<id>`, port http/TCP/8080.
//
//   state          ready  serving  terminating
//   kReady         true   true     false
//   kNotReady      false  false    false        (starting, or failing its readiness probe)
//   kTerminating   false  true     true         (deleted, draining; removed afterwards)
//
// The same calls in the same order always produce the same changes.
//
// Thread-safety: not thread-safe; one population per thread.
//
// Example:
//   Population pop(PopulationOptions{.prefix = "svc", .services = 1, .capacity = 2000});
//   PodId p = pop.Add(0, PodState::kNotReady);
//   pop.Set(p, PodState::kReady);
//   std::vector<v1::EndpointChange> batch = pop.TakeChanges();  // two UPSERTs of svc-0's pod
#ifndef SLICEKEEPER_WORKLOAD_POPULATION_H_
#define SLICEKEEPER_WORKLOAD_POPULATION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::workload {

enum class PodState : uint8_t { kReady = 0, kNotReady = 1, kTerminating = 2 };
inline constexpr int kPodStates = 3;

// service * capacity + id: unique over the population.
using PodId = int32_t;

// Node choice for Add: the next node round robin.
inline constexpr int kAnyNode = -1;

struct PopulationOptions {
  std::string namespace_ = "default";
  // Service i is "<prefix>-<i>".
  std::string prefix = "churn";
  int services = 1;
  // Ids (addresses) per service: the most pods one service may hold at once.
  int capacity = 1000;
  int zones = 3;
  int nodes = 64;
};

struct Pod {
  int32_t service = 0;
  int32_t node = 0;
  PodState state = PodState::kReady;
  bool live = false;
};

// Counts over every service.
struct PodCounts {
  int64_t endpoints = 0;
  int64_t ready = 0;
  int64_t serving = 0;  // ready + terminating
  int64_t terminating = 0;
};

// The endpoint change of pod `pod` in state `p` of a population with `options` (what
// Population records; usable without one).
v1::EndpointChange PodChange(const PopulationOptions& options, PodId pod, const Pod& p,
                             bool remove);
// "zone-a", "zone-b", ... ("zone-<n>" beyond 26 zones) for `zones` zones in all.
std::string ZoneName(int zone, int zones);

class Population {
 public:
  // REQUIRES: services >= 1, capacity >= 1, services * capacity <= 2^24 (one 10.0.0.0/8 address
  // each), zones >= 1, nodes >= 1. Checked: a violation aborts (a caller bug, not input).
  explicit Population(PopulationOptions options);

  const PopulationOptions& options() const { return options_; }
  std::string ServiceName(int service) const;
  int ZoneOfNode(int node) const { return node % options_.zones; }

  // A new pod of `service` in `state` on `node` (kAnyNode: round robin); records an UPSERT.
  // REQUIRES: size(service) < capacity.
  PodId Add(int service, PodState state, int node = kAnyNode);
  // Moves a live pod to `state`; records an UPSERT (also when the state is unchanged).
  void Set(PodId pod, PodState state);
  // Removes a live pod; records a REMOVE (identity fields only).
  void Remove(PodId pod);

  // The changes recorded since the last call, in order.
  std::vector<v1::EndpointChange> TakeChanges();

  const Pod& Get(PodId pod) const { return pods_[static_cast<size_t>(pod)]; }
  // Live pods of `service` in `state`, in no particular order (changes with every move).
  absl::Span<const PodId> Pods(int service, PodState state) const;
  // Every live pod of `service`, in no particular order.
  std::vector<PodId> AllPods(int service) const;
  int64_t size(int service) const;
  PodCounts Counts() const;

  // The endpoint change of live pod `pod` (as Add / Set record it, or a REMOVE).
  v1::EndpointChange ChangeOf(PodId pod, bool remove) const;

 private:
  std::vector<PodId>& Members(int service, PodState state);
  void Link(PodId pod);
  void Unlink(PodId pod);

  const PopulationOptions options_;
  std::vector<Pod> pods_;
  std::vector<int32_t> position_;  // of each live pod in its members list
  // Per service and state: the live pods (service * kPodStates + state).
  std::vector<std::vector<PodId>> members_;
  std::vector<int32_t> next_id_;    // per service: where the ring allocation continues
  std::vector<int32_t> next_node_;  // per service: the next node round robin
  int64_t state_counts_[kPodStates] = {0, 0, 0};
  std::vector<v1::EndpointChange> changes_;
};

}  // namespace slicekeeper::workload

#endif  // SLICEKEEPER_WORKLOAD_POPULATION_H_
