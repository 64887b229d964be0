#include "workload/traces.h"

#include <functional>
#include <map>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "workload/deployment.h"

namespace slicekeeper::workload {
namespace {

// A Deployment and the trace it writes, with the steps every model is made of.
class Recorder {
 public:
  Recorder(absl::string_view model, const TraceOptions& o)
      : deployment_(
            DeploymentOptions{
                .name = std::string(model), .replicas = o.replicas, .capacity = 3 * o.replicas},
            o.seed),
        rng_(o.seed ^ 0x5eed) {
    trace_.name = std::string(model);
  }

  Deployment& d() { return deployment_; }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

  void Tick(bool warmup = false) { trace_.Add(deployment_.Tick(), warmup); }
  void Ticks(int n) {
    for (int i = 0; i < n; ++i) Tick();
  }
  // Ticks until the Deployment has settled (at most `limit` ticks).
  void Settle(bool warmup = false, int limit = 10000) {
    for (int i = 0; i < limit && !(i > 0 && deployment_.Settled()); ++i) Tick(warmup);
  }
  // Random churn for one tick: a crash with probability `crash`, an eviction with `evict`.
  void Churn(double crash, double evict) {
    if (Chance(crash)) {
      if (PodId p = deployment_.RandomPod(); p >= 0) deployment_.Crash(p, Uniform(3, 20));
    }
    if (Chance(evict)) {
      if (PodId p = deployment_.RandomPod(); p >= 0) deployment_.Evict(p);
    }
  }
  // Scales to `target` in `steps` equal steps `gap` ticks apart, churning meanwhile.
  void Ramp(int target, int steps, int gap, double churn) {
    const int from = deployment_.replicas();
    for (int i = 1; i <= steps; ++i) {
      deployment_.Scale(from + (target - from) * i / steps);
      for (int t = 0; t < gap; ++t) {
        Churn(churn, churn);
        Tick();
      }
    }
  }
  Trace Take() { return std::move(trace_); }

 private:
  Deployment deployment_;
  std::mt19937_64 rng_;
  Trace trace_;
};

void RollingUpdate(Recorder& r) {
  for (int i = 0; i < 3; ++i) {
    r.d().Rollout();
    r.Settle();
  }
}

void Scale(Recorder& r, int replicas) {
  for (int cycle = 0; cycle < 3; ++cycle) {
    r.Ramp(replicas, 9, 10, 0);
    r.Settle();
    r.Ramp(replicas / 10, 9, 10, 0);
    r.Settle();
  }
}

void ZoneFailure(Recorder& r) {
  for (int zone = 0; zone < r.d().options().zones; ++zone) {
    r.d().FailZone(zone, 3);
    r.Ticks(60);
    r.d().RecoverZone(zone, 3);
    r.Settle();
  }
}

void NodeDrain(Recorder& r) {
  for (int node = 0; node < r.d().options().nodes; ++node) {
    r.d().Drain(node);
    r.Settle();
    r.d().Uncordon(node);
  }
}

void RandomChurn(Recorder& r) {
  for (int t = 0; t < 2000; ++t) {
    r.Churn(0.3, 0.2);
    r.Tick();
  }
}

// One compressed day of the 30-day model (200 ticks).
void Day(Recorder& r, int day, int replicas) {
  const int night = replicas * 4 / 10;
  constexpr double kChurn = 0.05;
  auto quiet = [&](int ticks) {
    for (int t = 0; t < ticks; ++t) {
      r.Churn(kChurn, kChurn);
      r.Tick();
    }
  };
  quiet(40);
  r.Ramp(replicas, 6, 5, kChurn);  // morning: ticks 40-70
  quiet(30);
  if (r.Chance(0.5)) r.d().Rollout();  // midday deploy
  if (day == 17) r.d().FailZone(1, 3);
  quiet(40);
  if (day == 17) r.d().RecoverZone(1, 3);
  if (day == 10 || day == 24) {
    for (int i = 0; i < 10; ++i) {
      const int node = r.Uniform(0, r.d().options().nodes - 1);
      r.d().Drain(node);
      quiet(8);
      r.d().Uncordon(node);
    }
  } else {
    quiet(30);
  }
  r.Ramp(night, 6, 5, kChurn);  // evening
  quiet(30);
}

void ThirtyDays(Recorder& r, int replicas) {
  r.d().Scale(replicas * 4 / 10);
  r.Settle(/*warmup=*/true);
  for (int day = 0; day < 30; ++day) Day(r, day, replicas);
}

}  // namespace

void Trace::Add(std::vector<v1::EndpointChange> changes, bool warmup) {
  if (changes.empty()) return;
  batches.push_back(TraceBatch{std::move(changes), warmup});
}

int64_t Trace::CountChanges(bool measured_only) const {
  int64_t n = 0;
  for (const TraceBatch& b : batches) {
    if (!measured_only || !b.warmup) n += static_cast<int64_t>(b.changes.size());
  }
  return n;
}

std::vector<std::string> TraceModels() {
  return {"rolling-update", "scale", "zone-failure", "node-drain", "random-churn", "30-day"};
}

absl::StatusOr<Trace> GenerateTrace(absl::string_view model, const TraceOptions& options) {
  if (options.replicas < 10 || options.replicas > 100000) {
    return absl::InvalidArgumentError("replicas must be in [10, 100000]");
  }
  const int n = options.replicas;
  const std::map<std::string, std::function<void(Recorder&)>, std::less<>> models = {
      {"rolling-update", RollingUpdate}, {"scale", [n](Recorder& r) { Scale(r, n); }},
      {"zone-failure", ZoneFailure},     {"node-drain", NodeDrain},
      {"random-churn", RandomChurn},     {"30-day", [n](Recorder& r) { ThirtyDays(r, n); }},
  };
  auto it = models.find(model);
  if (it == models.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown trace model \"", model, "\" (",
                                                   absl::StrJoin(TraceModels(), ", "), ")"));
  }
  Recorder r(model, options);
  if (model == "scale") r.d().Scale(n / 10);
  if (model != "30-day") r.Settle(/*warmup=*/true);
  it->second(r);
  return r.Take();
}

}  // namespace slicekeeper::workload
