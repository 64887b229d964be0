// A Deployment of one service, simulated tick by tick: the controller behaviour that turns
// rollouts, scaling and disruptions into endpoint changes, for the trace models (traces.h).
//
// One tick is one sync of an EndpointSlice controller: every change that happens within it forms
// one batch (Tick() returns it). Each tick first runs the pod events that fall due, then the
// Deployment controller:
//   - pods start not ready and become ready after a startup delay (uniform in
//     [startup_min, startup_max] ticks), unless their node is down;
//   - a pod that is stopped turns terminating (ready=false, serving=true) and is removed after a
//     grace period (uniform in [grace_min, grace_max] ticks);
//   - the controller keeps `replicas` pods that are not terminating; scaling down stops not-ready
//     pods first, then random ones; new pods go to schedulable nodes round robin;
//   - a rollout (Rollout()) replaces every pod of older revisions as Kubernetes' RollingUpdate
//     does: at most replicas + maxSurge pods not terminating, and old pods stopped only while
//     replicas - maxUnavailable pods stay ready (maxSurge = ceil(25 %), maxUnavailable =
//     floor(25 %) of replicas, Kubernetes' defaults);
//   - disruptions: Crash (not ready for a while, then ready again), Evict (stopped, replaced),
//     Drain (a node cordoned and its pods evicted), FailZone / RecoverZone (every pod of a zone
//     not ready, its nodes down, and back).
// Nodes: `nodes` of them, node n in zone n % zones (population.h).
//
// Thread-safety: not thread-safe.
//
// Example:
//   Deployment d(DeploymentOptions{.replicas = 1000}, /*seed=*/1);
//   Trace t;
//   t.Add(d.Tick(), /*warmup=*/true);              // 1000 pods, all not ready
//   d.Rollout();
//   while (!d.Settled()) t.Add(d.Tick());
#ifndef SLICEKEEPER_WORKLOAD_DEPLOYMENT_H_
#define SLICEKEEPER_WORKLOAD_DEPLOYMENT_H_

#include <cstdint>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "slicekeeper/v1/change.pb.h"
#include "workload/population.h"

namespace slicekeeper::workload {

struct DeploymentOptions {
  std::string namespace_ = "sim";
  std::string name = "web";  // the service is "<name>-0"
  int replicas = 1000;
  // Pods a service may ever hold at once (replicas at their highest, plus surge and the
  // terminating ones); bounds the address ring.
  int capacity = 4000;
  int zones = 3;
  int nodes = 60;
  int startup_min = 2, startup_max = 6;  // ticks
  int grace_min = 2, grace_max = 8;      // ticks
};

class Deployment {
 public:
  Deployment(DeploymentOptions options, uint64_t seed);

  // Runs one tick; returns its changes (possibly none).
  std::vector<v1::EndpointChange> Tick();
  // True when no pod event is pending, no rollout is in progress and the replica count is met.
  bool Settled() const;

  void Scale(int replicas) { replicas_ = replicas; }
  int replicas() const { return replicas_; }
  // Starts a rollout to a new revision.
  void Rollout() { ++revision_; }
  // Not ready for `ticks`, then ready again (a crash and restart, or a failing probe).
  void Crash(PodId pod, int ticks);
  // Stopped (terminating, then removed); the controller replaces it.
  void Evict(PodId pod);
  // Cordons `node` and evicts its pods; Uncordon makes it schedulable again.
  void Drain(int node);
  void Uncordon(int node) { cordoned_[static_cast<size_t>(node)] = false; }
  // Every node of `zone` goes down (its pods not ready) over `spread` ticks, and comes back.
  void FailZone(int zone, int spread);
  void RecoverZone(int zone, int spread);

  // Random live pods that are not terminating, for disruptions.
  PodId RandomPod();
  int64_t tick() const { return tick_; }
  const Population& population() const { return pop_; }
  const DeploymentOptions& options() const { return options_; }

 private:
  enum class Kind { kReady, kRemove, kNodeDown, kNodeUp };
  struct Event {
    int64_t at;
    uint64_t seq;
    Kind kind;
    int32_t target;        // a pod, or a node
    uint32_t incarnation;  // pods: the life of `target` the event is for (ids are reused)
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void Schedule(int64_t at, Kind kind, int32_t target);
  void Run(const Event& e);
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  void Start();
  void Stop(PodId pod);
  bool IsCurrent(PodId pod) const { return revision_of_[static_cast<size_t>(pod)] == revision_; }
  // Pods not terminating, split by revision and readiness.
  struct Census {
    std::vector<PodId> old_pods, new_pods;
    int ready = 0, new_unready = 0;
  };
  Census Count();
  void Control();
  void ScaleTo(std::vector<PodId>& pods, int target);
  // Stops `n` of `pods`: not-ready ones first, then random ones.
  void StopSome(std::vector<PodId>& pods, int n);

  const DeploymentOptions options_;
  Population pop_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  uint64_t seq_ = 0;
  int64_t tick_ = 0;
  int replicas_;
  int revision_ = 0;
  std::vector<int> revision_of_;       // per pod id
  std::vector<uint32_t> incarnation_;  // per pod id: bumped by every Add
  std::vector<bool> cordoned_;         // per node
  std::vector<bool> down_;             // per node
  int next_node_ = 0;
};

}  // namespace slicekeeper::workload

#endif  // SLICEKEEPER_WORKLOAD_DEPLOYMENT_H_
