// The QueryEndpoints workload of DESIGN §6 ("QueryEndpoints QPS for a 1 000-endpoint service with
// a zone filter"), shared by server_bench (in process) and query_load (the real binary under
// h2load): service "bench/query-0" with 1 000 endpoints (workload/population.h pods on 48 nodes)
// in 3 zones, one in ten not ready, and the query of zone-b's routable endpoints (300 of them).
//
// Thread-safety: plain functions returning fresh values.
#ifndef SLICEKEEPER_BENCH_QUERY_WORKLOAD_H_
#define SLICEKEEPER_BENCH_QUERY_WORKLOAD_H_

#include <vector>

#include "slicekeeper/v1/change.pb.h"
#include "slicekeeper/v1/discovery.pb.h"
#include "workload/population.h"

namespace slicekeeper::bench {

inline std::vector<v1::EndpointChange> QueriedServiceChanges() {
  const workload::PopulationOptions o{
      .namespace_ = "bench", .prefix = "query", .services = 1, .capacity = 1000, .nodes = 48};
  std::vector<v1::EndpointChange> changes;
  for (int k = 0; k < 1000; ++k) {
    const workload::Pod pod{
        .service = 0,
        .node = k % o.nodes,
        .state = k % 10 != 0 ? workload::PodState::kReady : workload::PodState::kNotReady,
        .live = true};
    changes.push_back(workload::PodChange(o, k, pod, /*remove=*/false));
  }
  return changes;
}

inline v1::QueryEndpointsRequest ZoneQuery() {
  v1::QueryEndpointsRequest req;
  req.set_namespace_("bench");
  req.set_service("query-0");
  req.set_zone("zone-b");
  req.set_condition(v1::ROUTABLE);
  return req;
}

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_QUERY_WORKLOAD_H_
