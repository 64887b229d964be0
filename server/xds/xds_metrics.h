// XdsMetrics: what the xDS front-end exports to Prometheus. `type` is lds, rds, cds, eds, or
// "unknown" for type URLs slicekeeper does not serve.
//
//   slicekeeper_xds_streams{protocol}                 gauge, open ADS/EDS/CDS streams (sotw|delta)
//   slicekeeper_xds_subscribed_streams{type}          gauge, streams subscribed to each type
//   slicekeeper_xds_responses_total{type}             counter, responses written (pushes)
//   slicekeeper_xds_resources_sent_total{type}        counter, resources in those responses
//   slicekeeper_xds_removals_sent_total{type}         counter, delta removed_resources entries
//   slicekeeper_xds_acks_total{type}                  counter, requests acknowledging a response
//   slicekeeper_xds_nacks_total{type}                 counter, requests rejecting one
//   slicekeeper_xds_push_latency_seconds              histogram, from the oldest change a
//                                                     response carries being marked for its
//                                                     stream (microseconds after the write that
//                                                     made it was acknowledged) to gRPC taking the
//                                                     response
//   slicekeeper_xds_resource_builds                   gauge (monotonic), resources built (cache
//                                                     misses of the shared resource cache)
//
// Thread-safety: every method is safe to call concurrently; all touch only atomics.
#ifndef SLICEKEEPER_SERVER_XDS_XDS_METRICS_H_
#define SLICEKEEPER_SERVER_XDS_XDS_METRICS_H_

#include <cstddef>
#include <functional>
#include <optional>

#include "absl/time/time.h"
#include "server/metrics/metrics.h"
#include "server/xds/names.h"

namespace slicekeeper::xds {

class XdsMetrics {
 public:
  // Registers every metric in `registry`, which must outlive this object. `builds` (may be
  // null) is read at scrape time.
  XdsMetrics(metrics::Registry* registry, std::function<double()> builds);
  XdsMetrics(const XdsMetrics&) = delete;
  XdsMetrics& operator=(const XdsMetrics&) = delete;

  void StreamOpened(bool delta);
  void StreamClosed(bool delta);
  // A stream started (+1) or stopped (-1) being subscribed to `type`.
  void Subscribed(ResourceType type, int change);
  void Ack(std::optional<ResourceType> type);
  void Nack(std::optional<ResourceType> type);
  void Response(std::optional<ResourceType> type, size_t resources, size_t removals);
  void PushLatency(absl::Duration latency);

 private:
  static constexpr int kTypes = static_cast<int>(ResourceType::kCount) + 1;  // + unknown
  static int Slot(std::optional<ResourceType> type) {
    return type.has_value() ? static_cast<int>(*type) : kTypes - 1;
  }

  metrics::Gauge* streams_sotw_ = nullptr;
  metrics::Gauge* streams_delta_ = nullptr;
  metrics::Gauge* subscribed_[kTypes] = {};
  metrics::Counter* responses_[kTypes] = {};
  metrics::Counter* resources_[kTypes] = {};
  metrics::Counter* removals_[kTypes] = {};
  metrics::Counter* acks_[kTypes] = {};
  metrics::Counter* nacks_[kTypes] = {};
  metrics::Histogram* push_latency_ = nullptr;
};

}  // namespace slicekeeper::xds

#endif  // SLICEKEEPER_SERVER_XDS_XDS_METRICS_H_
