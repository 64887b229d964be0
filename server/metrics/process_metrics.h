// Process metrics: what the process itself holds, for operators comparing RSS with the store's
// own accounting (slicekeeper_store_memory_bytes) and watching it over a long run. The standard
// Prometheus process gauges (as client_golang's process collector names them), read from /proc
// at scrape time:
//   process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
//   process_start_time_seconds
// and, when the process runs on jemalloc (the server's allocator; sanitizer builds run on glibc's
// and report -1), the allocator's own figures:
//   slicekeeper_allocator_bytes{part="allocated"|"active"|"resident"|"metadata"|"retained"}
// allocated: bytes the program holds; active: in pages with a live allocation; resident: pages
// the allocator has mapped in (RSS's share from the heap, dirty pages not yet purged included);
// retained: address space kept unmapped for reuse (not RSS).
//
// Thread-safety: AddProcessMetrics once per registry, from any thread; the gauges are read on
// the scraping thread and are thread-safe.
#ifndef SLICEKEEPER_SERVER_METRICS_PROCESS_METRICS_H_
#define SLICEKEEPER_SERVER_METRICS_PROCESS_METRICS_H_

#include "server/metrics/metrics.h"

namespace slicekeeper::metrics {

void AddProcessMetrics(Registry* registry);

}  // namespace slicekeeper::metrics

#endif  // SLICEKEEPER_SERVER_METRICS_PROCESS_METRICS_H_
