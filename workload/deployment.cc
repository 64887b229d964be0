#include "workload/deployment.h"

#include <algorithm>
#include <utility>

namespace slicekeeper::workload {

Deployment::Deployment(DeploymentOptions options, uint64_t seed)
    : options_(std::move(options)),
      pop_(PopulationOptions{.namespace_ = options_.namespace_,
                             .prefix = options_.name,
                             .services = 1,
                             .capacity = options_.capacity,
                             .zones = options_.zones,
                             .nodes = options_.nodes}),
      rng_(seed),
      replicas_(options_.replicas),
      revision_of_(static_cast<size_t>(options_.capacity), 0),
      incarnation_(static_cast<size_t>(options_.capacity), 0),
      cordoned_(static_cast<size_t>(options_.nodes), false),
      down_(static_cast<size_t>(options_.nodes), false) {}

void Deployment::Schedule(int64_t at, Kind kind, int32_t target) {
  const uint32_t incarnation =
      kind == Kind::kReady || kind == Kind::kRemove ? incarnation_[static_cast<size_t>(target)] : 0;
  events_.push(Event{at, seq_++, kind, target, incarnation});
}

std::vector<v1::EndpointChange> Deployment::Tick() {
  ++tick_;
  while (!events_.empty() && events_.top().at <= tick_) {
    const Event e = events_.top();
    events_.pop();
    Run(e);
  }
  Control();
  return pop_.TakeChanges();
}

void Deployment::Run(const Event& e) {
  if (e.kind == Kind::kNodeDown || e.kind == Kind::kNodeUp) {
    const bool down = e.kind == Kind::kNodeDown;
    down_[static_cast<size_t>(e.target)] = down;
    for (PodId pod : pop_.AllPods(0)) {
      const Pod& p = pop_.Get(pod);
      if (p.node != e.target || p.state == PodState::kTerminating) continue;
      if (down && p.state == PodState::kReady) pop_.Set(pod, PodState::kNotReady);
      if (!down) Schedule(tick_ + Uniform(1, options_.startup_min), Kind::kReady, pod);
    }
    return;
  }
  const Pod& p = pop_.Get(e.target);
  if (!p.live || incarnation_[static_cast<size_t>(e.target)] != e.incarnation) return;
  if (e.kind == Kind::kRemove) {
    pop_.Remove(e.target);
  } else if (p.state == PodState::kNotReady && !down_[static_cast<size_t>(p.node)]) {
    pop_.Set(e.target, PodState::kReady);
  }
}

void Deployment::Start() {
  int node = next_node_;
  for (int i = 0; i < options_.nodes; ++i) {
    const int n = (next_node_ + i) % options_.nodes;
    if (!cordoned_[static_cast<size_t>(n)] && !down_[static_cast<size_t>(n)]) {
      node = n;
      break;
    }
  }
  next_node_ = (node + 1) % options_.nodes;
  const PodId pod = pop_.Add(0, PodState::kNotReady, node);
  revision_of_[static_cast<size_t>(pod)] = revision_;
  ++incarnation_[static_cast<size_t>(pod)];
  Schedule(tick_ + Uniform(options_.startup_min, options_.startup_max), Kind::kReady, pod);
}

void Deployment::Stop(PodId pod) {
  pop_.Set(pod, PodState::kTerminating);
  Schedule(tick_ + Uniform(options_.grace_min, options_.grace_max), Kind::kRemove, pod);
}

Deployment::Census Deployment::Count() {
  Census c;
  for (PodState state : {PodState::kReady, PodState::kNotReady}) {
    for (PodId pod : pop_.Pods(0, state)) {
      const bool current = IsCurrent(pod);
      (current ? c.new_pods : c.old_pods).push_back(pod);
      if (state == PodState::kReady) ++c.ready;
      if (state == PodState::kNotReady && current) ++c.new_unready;
    }
  }
  return c;
}

void Deployment::StopSome(std::vector<PodId>& pods, int n) {
  // Kubernetes' ReplicaSet ranks not-ready pods first for deletion; among equals, any.
  std::shuffle(pods.begin(), pods.end(), rng_);
  std::stable_partition(pods.begin(), pods.end(),
                        [this](PodId p) { return pop_.Get(p).state == PodState::kNotReady; });
  for (int i = 0; i < n && i < static_cast<int>(pods.size()); ++i)
    Stop(pods[static_cast<size_t>(i)]);
}

void Deployment::ScaleTo(std::vector<PodId>& pods, int target) {
  const int have = static_cast<int>(pods.size());
  for (int i = have; i < target; ++i) Start();
  if (have > target) StopSome(pods, have - target);
}

// Kubernetes' RollingUpdate (deployment/rolling.go): scale the new revision up within the surge,
// then the old ones down as far as availability allows.
void Deployment::Control() {
  Census c = Count();
  if (c.old_pods.empty()) {
    ScaleTo(c.new_pods, replicas_);
    return;
  }
  const int surge = (replicas_ + 3) / 4;
  const int max_unavailable = replicas_ / 4;
  const int news = static_cast<int>(c.new_pods.size());
  int all = news + static_cast<int>(c.old_pods.size());
  const int up = std::min(replicas_ + surge - all, replicas_ - news);
  for (int i = 0; i < up; ++i) Start();
  if (news > replicas_) StopSome(c.new_pods, news - replicas_);
  all += std::max(up, 0);
  const int unready_new = c.new_unready + std::max(up, 0);
  const int down = all - (replicas_ - max_unavailable) - unready_new;
  if (down > 0) StopSome(c.old_pods, down);
}

bool Deployment::Settled() const {
  if (!events_.empty()) return false;
  int current = 0;
  for (PodState state : {PodState::kReady, PodState::kNotReady}) {
    for (PodId pod : pop_.Pods(0, state)) {
      if (!IsCurrent(pod)) return false;
      ++current;
    }
  }
  return current == replicas_;
}

void Deployment::Crash(PodId pod, int ticks) {
  if (pop_.Get(pod).state != PodState::kReady) return;
  pop_.Set(pod, PodState::kNotReady);
  Schedule(tick_ + ticks, Kind::kReady, pod);
}

void Deployment::Evict(PodId pod) {
  if (pop_.Get(pod).state != PodState::kTerminating) Stop(pod);
}

void Deployment::Drain(int node) {
  cordoned_[static_cast<size_t>(node)] = true;
  for (PodId pod : pop_.AllPods(0)) {
    if (pop_.Get(pod).node == node) Evict(pod);
  }
}

void Deployment::FailZone(int zone, int spread) {
  for (int n = zone; n < options_.nodes; n += options_.zones) {
    Schedule(tick_ + Uniform(0, spread), Kind::kNodeDown, n);
  }
}

void Deployment::RecoverZone(int zone, int spread) {
  for (int n = zone; n < options_.nodes; n += options_.zones) {
    Schedule(tick_ + Uniform(0, spread), Kind::kNodeUp, n);
  }
}

PodId Deployment::RandomPod() {
  absl::Span<const PodId> ready = pop_.Pods(0, PodState::kReady);
  absl::Span<const PodId> unready = pop_.Pods(0, PodState::kNotReady);
  const size_t n = ready.size() + unready.size();
  if (n == 0) return -1;
  const size_t i = std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  return i < ready.size() ? ready[i] : unready[i - ready.size()];
}

}  // namespace slicekeeper::workload
