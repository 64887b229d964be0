// The QueryEndpoints workload of DESIGN §6 ("QueryEndpoints QPS for a 1 000-endpoint service with
// a zone filter"), shared by server_bench (in process) and query_load (the real binary under
// h2load): service "bench/svc-9999" with 1 000 endpoints in 3 zones, one in ten not ready, and
// the query of zone-1's routable endpoints (300 of them).
//
// Thread-safety: plain functions returning fresh values.
#ifndef SLICEKEEPER_BENCH_QUERY_WORKLOAD_H_
#define SLICEKEEPER_BENCH_QUERY_WORKLOAD_H_

#include <vector>

#include "bench/churn.h"
#include "slicekeeper/v1/change.pb.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::bench {

inline std::vector<v1::EndpointChange> QueriedServiceChanges() {
  std::vector<v1::EndpointChange> changes;
  for (int e = 0; e < 1000; ++e) {
    v1::EndpointChange c = Change(/*service=*/9999, 9'999'000 + e, true, false);
    c.mutable_endpoint()->mutable_conditions()->set_ready(e % 10 != 0);
    changes.push_back(std::move(c));
  }
  return changes;
}

inline v1::QueryEndpointsRequest ZoneQuery() {
  v1::QueryEndpointsRequest req;
  req.set_namespace_("bench");
  req.set_service("svc-9999");
  req.set_zone("zone-1");
  req.set_condition(v1::ROUTABLE);
  return req;
}

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_QUERY_WORKLOAD_H_
