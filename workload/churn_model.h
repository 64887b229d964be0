// ChurnModel: the one synthetic pod-churn generator, behind `skctl churn` and every benchmark
// that writes endpoint changes (bench/), over a Population (population.h).
//
// It models `services` services of `endpoints` pods each. Filling a service adds its pods, ready.
// After that each churn step picks a service, then an operation by the mix weights:
//   add        a new pod comes up ready (when the service is below its size);
//   remove     a pod is removed (a ready one, else a not-ready one, else a terminating one);
//   ready      a ready pod goes not ready, or a not-ready one ready;
//   terminate  the lifecycle ready -> terminating -> removed: a ready pod starts terminating, or
//              a terminating one is removed;
//   replace    a new pod comes up ready, and the next step in the service removes a random ready
//              pod (a ReplicaSet replacing a pod: two changes, the size stays put).
// Removed pods are replaced: with probability (missing pods / size) the step is an add whatever
// the mix says, so a service hovers near its size instead of draining. An operation with nothing
// to act on falls back to add (or remove when the service is full). The same options (seed
// included) always produce the same changes, and Expected() is the state a server holds once
// every change returned so far is applied.
//
// Thread-safety: not thread-safe; one model per thread.
//
// Example (skctl churn: every service filled in order, then churn in random services):
//   ChurnModel model(ChurnOptions{.services = 10, .endpoints = 100});
//   for (int i = 0; i < 5000; ++i) Send(model.Next());
// Example (a benchmark: fill, then batches of one service):
//   ChurnModel model(ChurnOptions{.namespace_ = "bench", .prefix = "svc", .mix = kBenchMix});
//   for (int s = 0; s < services; ++s) Write(model.Fill(s));
//   Write(model.Batch(s, 100, /*spread=*/false));
#ifndef SLICEKEEPER_WORKLOAD_CHURN_MODEL_H_
#define SLICEKEEPER_WORKLOAD_CHURN_MODEL_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "slicekeeper/v1/change.pb.h"
#include "workload/population.h"

namespace slicekeeper::workload {

struct ChurnMix {
  double add = 1;
  double remove = 1;
  double ready = 2;
  double terminate = 1;
  double replace = 0;

  // "add=1,remove=1,ready=2,terminate=1,replace=0"; omitted keys keep their defaults.
  // Errors: INVALID_ARGUMENT naming `--mix` for unknown keys, bad numbers, negative or all-zero
  // weights.
  static absl::StatusOr<ChurnMix> Parse(const std::string& text);
};

// The benchmarks' churn: 40 % ready flips, 60 % pod replacements (pairs of changes), so each
// service keeps its size.
inline constexpr ChurnMix kBenchMix{
    .add = 0, .remove = 0, .ready = 4, .terminate = 0, .replace = 3};

struct ChurnOptions {
  std::string namespace_ = "default";
  std::string prefix = "churn";
  int services = 10;
  int endpoints = 100;  // pods per service
  int zones = 3;
  uint64_t seed = 1;
  ChurnMix mix;
};

class ChurnModel {
 public:
  // REQUIRES: services >= 1, endpoints >= 1, services * endpoints <= kMaxEndpoints, zones >= 1.
  explicit ChurnModel(const ChurnOptions& options);

  // Services times endpoints at most (each pod id keeps a spare for replacements).
  static constexpr int64_t kMaxEndpoints = int64_t{1} << 23;

  std::string ServiceName(int i) const { return population_.ServiceName(i); }

  // The adds that bring service `s` up to its size, ready.
  std::vector<v1::EndpointChange> Fill(int s);
  // The changes Fill(s) returns on a fresh model: always the same for the same options.
  std::vector<v1::EndpointChange> FillChanges(int s) const;
  // Fills every service without returning the changes: for a second model of a population
  // a first one already wrote.
  void AssumeFilled();
  // The next change: the fill of every service in order first, then churn in random services.
  v1::EndpointChange Next();
  // `n` churn changes in service `first`, or (spread) one each in services first, first + 1, ...
  // (mod services). A replacement's removal may fall in the next call.
  std::vector<v1::EndpointChange> Batch(int first, int n, bool spread);
  // The state after every change returned so far.
  PodCounts Expected() const;

 private:
  // One churn step in service `s`: records one change in the population.
  void Step(int s);
  void StepByMix(int s);
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  PodId Pick(int s, PodState state);

  const ChurnOptions options_;
  Population population_;
  std::mt19937_64 rng_;
  std::discrete_distribution<int> op_;
  // Per service: a replacement's removal, owed by its next step.
  std::vector<bool> owes_removal_;
  int next_fill_ = 0;  // Next(): the service being filled
  int last_ = -1;      // Next(): the service of the last churn step
};

}  // namespace slicekeeper::workload

#endif  // SLICEKEEPER_WORKLOAD_CHURN_MODEL_H_
