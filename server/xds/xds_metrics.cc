#include "server/xds/xds_metrics.h"

#include <utility>

namespace slicekeeper::xds {

XdsMetrics::XdsMetrics(metrics::Registry* registry, std::function<double()> builds) {
  auto* streams = registry->AddGaugeFamily(
      "slicekeeper_xds_streams", "Open xDS streams (ADS, EDS, CDS) by protocol variant.",
      {"protocol"});
  streams_sotw_ = streams->WithLabels({"sotw"});
  streams_delta_ = streams->WithLabels({"delta"});
  auto* subscribed = registry->AddGaugeFamily(
      "slicekeeper_xds_subscribed_streams", "xDS streams subscribed to each resource type.",
      {"type"});
  auto* responses = registry->AddCounterFamily(
      "slicekeeper_xds_responses_total", "xDS responses written (pushes).", {"type"});
  auto* resources = registry->AddCounterFamily(
      "slicekeeper_xds_resources_sent_total", "Resources in xDS responses.", {"type"});
  auto* removals = registry->AddCounterFamily(
      "slicekeeper_xds_removals_sent_total", "removed_resources entries in delta xDS responses.",
      {"type"});
  auto* acks = registry->AddCounterFamily("slicekeeper_xds_acks_total",
                                          "xDS requests acknowledging a response.", {"type"});
  auto* nacks = registry->AddCounterFamily(
      "slicekeeper_xds_nacks_total", "xDS requests rejecting a response (NACK).", {"type"});
  for (int i = 0; i < kTypes; ++i) {
    const absl::string_view label =
        i < kTypes - 1 ? ShortName(static_cast<ResourceType>(i)) : "unknown";
    subscribed_[i] = subscribed->WithLabels({label});
    responses_[i] = responses->WithLabels({label});
    resources_[i] = resources->WithLabels({label});
    removals_[i] = removals->WithLabels({label});
    acks_[i] = acks->WithLabels({label});
    nacks_[i] = nacks->WithLabels({label});
  }
  push_latency_ = registry->AddHistogram(
      "slicekeeper_xds_push_latency_seconds",
      "From a change being marked for an xDS stream to gRPC taking the response carrying it.",
      metrics::ExponentialBuckets(0.0001, 2, 16));
  if (builds) {
    registry->AddCallbackGauge("slicekeeper_xds_resource_builds",
                               "xDS resources built (shared resource cache misses).",
                               std::move(builds));
  }
}

void XdsMetrics::StreamOpened(bool delta) { (delta ? streams_delta_ : streams_sotw_)->Inc(); }
void XdsMetrics::StreamClosed(bool delta) { (delta ? streams_delta_ : streams_sotw_)->Dec(); }

void XdsMetrics::Subscribed(ResourceType type, int change) {
  subscribed_[Slot(type)]->Add(change);
}

void XdsMetrics::Ack(std::optional<ResourceType> type) { acks_[Slot(type)]->Inc(); }
void XdsMetrics::Nack(std::optional<ResourceType> type) { nacks_[Slot(type)]->Inc(); }

void XdsMetrics::Response(std::optional<ResourceType> type, size_t resources, size_t removals) {
  const int slot = Slot(type);
  responses_[slot]->Inc();
  resources_[slot]->Inc(static_cast<double>(resources));
  removals_[slot]->Inc(static_cast<double>(removals));
}

void XdsMetrics::PushLatency(absl::Duration latency) {
  push_latency_->Observe(absl::ToDoubleSeconds(latency));
}

}  // namespace slicekeeper::xds
