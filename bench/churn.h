// The benchmarks' synthetic churn: services "bench/svc-<i>" of `endpoints` pods each over 3 zones,
// churned by workload::kBenchMix (40 % ready flips, 60 % pod replacements, so sizes stay put).
// A thin face over workload::ChurnModel, the one churn model (skctl churn uses it too).
//
// Thread-safety: a Churn is for one thread; give each thread its own.
#ifndef SLICEKEEPER_BENCH_CHURN_H_
#define SLICEKEEPER_BENCH_CHURN_H_

#include <cstdint>
#include <vector>

#include "slicekeeper/v1/change.pb.h"
#include "workload/churn_model.h"

namespace slicekeeper::bench {

class Churn {
 public:
  // Services [0, services), taken as already filled (by Fill, of this Churn or another one).
  Churn(int services, int endpoints_per_service, uint64_t seed)
      : model_(workload::ChurnOptions{.namespace_ = "bench",
                                      .prefix = "svc",
                                      .services = services,
                                      .endpoints = endpoints_per_service,
                                      .zones = 3,
                                      .seed = seed,
                                      .mix = workload::kBenchMix}) {
    model_.AssumeFilled();
  }

  // The changes that create service s: the same for every Churn of the same size.
  std::vector<v1::EndpointChange> Fill(int s) const { return model_.FillChanges(s); }

  // `n` churn changes, all in service `first`, or (spread) one service each from `first` on.
  std::vector<v1::EndpointChange> Batch(int first, int n, bool spread) {
    return model_.Batch(first, n, spread);
  }

 private:
  workload::ChurnModel model_;
};

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_CHURN_H_
