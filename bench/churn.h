// Synthetic pod churn for the benchmarks: endpoint changes of services "svc-<i>" in namespace
// "bench", each service keeping a window of `endpoints_per_service` live endpoints that slides as
// pods are added and removed, plus ready flips.
//
// Thread-safety: a Churn is for one thread; give each thread its own.
#ifndef SLICEKEEPER_BENCH_CHURN_H_
#define SLICEKEEPER_BENCH_CHURN_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::bench {

inline std::string Ip(int64_t i) {
  return absl::StrCat("10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255);
}

// Endpoint `endpoint` of service `service`: a pod on one of 50 nodes in one of 3 zones.
inline v1::EndpointChange Change(int service, int64_t endpoint, bool ready, bool remove) {
  v1::EndpointChange c;
  c.set_op(remove ? v1::EndpointChange::REMOVE : v1::EndpointChange::UPSERT);
  c.set_namespace_("bench");
  c.set_service(absl::StrCat("svc-", service));
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(Ip(endpoint));
  e->mutable_conditions()->set_ready(ready);
  e->set_node_name(absl::StrCat("node-", endpoint % 50));
  e->set_zone(absl::StrCat("zone-", endpoint % 3));
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_namespace_("bench");
  e->mutable_target_ref()->set_name(absl::StrCat("pod-", endpoint));
  if (!remove) {
    v1::EndpointPort* p = c.add_ports();
    p->set_name("http");
    p->set_protocol("TCP");
    p->set_port(8080);
  }
  return c;
}

class Churn {
 public:
  // Services [0, services); endpoint ids of service s are s * 1000 + [0, 1000).
  Churn(int services, int endpoints_per_service, uint32_t seed)
      : window_(endpoints_per_service), base_(services, 0), rng_(seed) {}

  // The changes that create service s's initial window.
  std::vector<v1::EndpointChange> Fill(int s) const {
    std::vector<v1::EndpointChange> out;
    for (int e = 0; e < window_; ++e) out.push_back(Change(s, s * 1000 + e, true, false));
    return out;
  }

  // `n` changes: 40% ready flips, 60% add-newest / remove-oldest pairs. All in service `first`,
  // or (spread) one service each from `first` on.
  std::vector<v1::EndpointChange> Batch(int first, int n, bool spread) {
    std::vector<v1::EndpointChange> out;
    out.reserve(n + 1);
    const int services = static_cast<int>(base_.size());
    while (static_cast<int>(out.size()) < n) {
      const int s = spread ? (first + static_cast<int>(out.size())) % services : first;
      int& base = base_[s];
      if (rng_() % 10 < 4) {
        out.push_back(Change(s, s * 1000 + (base + rng_() % window_) % 1000, rng_() % 2, false));
      } else {
        out.push_back(Change(s, s * 1000 + (base + window_) % 1000, true, false));
        out.push_back(Change(s, s * 1000 + base, true, true));
        base = (base + 1) % 1000;
      }
    }
    out.resize(n);
    return out;
  }

 private:
  const int window_;
  std::vector<int> base_;
  std::mt19937 rng_;
};

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_CHURN_H_
