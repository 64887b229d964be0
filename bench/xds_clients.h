// The subscribers bench/xds_load opens: ADS streams (state of the world, delta, delta with LEDS)
// that ACK every response as a proxyless gRPC client (or Envoy) does, and Watch streams (SLICES or
// ENDPOINTS view, read off the wire) for the same services, all reporting into one Recorder:
// responses, resources, bytes, and (while measuring) the revision each response brought and when it
// arrived.
//
// Thread-safety: callbacks run on gRPC's threads; the Recorder's methods are thread-safe.
#ifndef SLICEKEEPER_BENCH_XDS_CLIENTS_H_
#define SLICEKEEPER_BENCH_XDS_CLIENTS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "bench/raw_watch.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "server/xds/names.h"
#include "tests/xds/ads_client.h"

namespace slicekeeper::bench {

struct Recorder {
  std::atomic<int64_t> responses{0};
  std::atomic<int64_t> resources{0};  // xDS resources / watch events
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> first{0};  // subscribers that received their initial state
  std::atomic<bool> measuring{false};
  absl::Mutex mu;
  std::vector<std::pair<int64_t, absl::Time>> arrivals ABSL_GUARDED_BY(mu);

  void Record(int64_t revision, int64_t resources_in, size_t bytes_in) {
    responses.fetch_add(1, std::memory_order_relaxed);
    resources.fetch_add(resources_in, std::memory_order_relaxed);
    bytes.fetch_add(static_cast<int64_t>(bytes_in), std::memory_order_relaxed);
    if (!measuring.load(std::memory_order_relaxed)) return;
    absl::MutexLock l(&mu);
    arrivals.emplace_back(revision, absl::Now());
  }
};

// One subscriber of service `svc-<service>` in namespace "bench".
class Subscriber {
 public:
  explicit Subscriber(int service) : service_(service) {}
  virtual ~Subscriber() = default;
  int service() const { return service_; }
  // The newest revision its state reflects.
  int64_t revision() const { return revision_.load(std::memory_order_acquire); }

 protected:
  void Saw(Recorder* rec, int64_t revision, int64_t resources, size_t bytes) {
    if (revision_.exchange(std::max(revision_.load(), revision)) == 0) rec->first.fetch_add(1);
    rec->Record(revision, resources, bytes);
  }

 private:
  const int service_;
  std::atomic<int64_t> revision_{0};
};

// An ADS stream subscribed to the service's EDS resource; ACKs every response.
template <typename Req, typename Resp>
class XdsSubscriber final : public Subscriber {
 public:
  XdsSubscriber(xds::testing::AdsStub* stub, int service, Recorder* rec)
      : Subscriber(service), name_(absl::StrCat("svc-", service, ".bench")), rec_(rec) {
    stream_ = std::make_unique<xds::testing::AdsStream<Req, Resp>>(
        stub, /*keep=*/false, [this](const Resp& r) { OnResponse(r); });
    Req first = Request();
    if constexpr (kDelta) {
      first.add_resource_names_subscribe(name_);
    } else {
      first.add_resource_names(name_);
    }
    stream_->Send(std::move(first));
  }

 private:
  static constexpr bool kDelta = std::is_same_v<Req, xds::testing::DeltaRequest>;

  Req Request() const {
    Req r;
    r.set_type_url(std::string(xds::TypeUrl(xds::ResourceType::kEndpoint)));
    r.mutable_node()->set_id("xds-load");
    return r;
  }
  void OnResponse(const Resp& r) {
    int64_t revision = 0;
    Req ack = Request();
    ack.set_response_nonce(r.nonce());
    if constexpr (kDelta) {
      (void)absl::SimpleAtoi(r.system_version_info(), &revision);
    } else {
      (void)absl::SimpleAtoi(r.version_info(), &revision);
      ack.set_version_info(r.version_info());
      ack.add_resource_names(name_);
    }
    Saw(rec_, revision, r.resources_size(), r.ByteSizeLong());
    stream_->Send(std::move(ack));
  }

  const std::string name_;
  Recorder* const rec_;
  std::unique_ptr<xds::testing::AdsStream<Req, Resp>> stream_;
};

// A delta ADS stream opted in to LEDS (node metadata "slicekeeper.io/leds": true), as Envoy with
// LEDS: subscribes to the service's EDS resource, then to every LEDS collection its
// ClusterLoadAssignment names, and ACKs every response. Every response counts (bytes); the
// stream's revision (and its first state) comes from the LbEndpoint responses.
class LedsSubscriber final : public Subscriber {
 public:
  LedsSubscriber(xds::testing::AdsStub* stub, int service, Recorder* rec)
      : Subscriber(service), rec_(rec) {
    stream_ = std::make_unique<xds::testing::DeltaStream>(
        stub, /*keep=*/false, [this](const xds::testing::DeltaResponse& r) { OnResponse(r); });
    xds::testing::DeltaRequest first = Request(xds::ResourceType::kEndpoint);
    (*first.mutable_node()->mutable_metadata()->mutable_fields())["slicekeeper.io/leds"]
        .set_bool_value(true);
    first.add_resource_names_subscribe(absl::StrCat("svc-", service, ".bench"));
    stream_->Send(std::move(first));
  }

 private:
  static xds::testing::DeltaRequest Request(xds::ResourceType type) {
    xds::testing::DeltaRequest r;
    r.set_type_url(std::string(xds::TypeUrl(type)));
    r.mutable_node()->set_id("xds-load");
    return r;
  }
  // gRPC's thread, one response at a time.
  void OnResponse(const xds::testing::DeltaResponse& r) {
    int64_t revision = 0;
    (void)absl::SimpleAtoi(r.system_version_info(), &revision);
    const bool cla = r.type_url() == xds::TypeUrl(xds::ResourceType::kEndpoint);
    xds::testing::DeltaRequest ack =
        Request(cla ? xds::ResourceType::kEndpoint : xds::ResourceType::kLbEndpoint);
    ack.set_response_nonce(r.nonce());
    xds::testing::DeltaRequest subscribe = Request(xds::ResourceType::kLbEndpoint);
    if (cla) {
      rec_->Record(revision, r.resources_size(), r.ByteSizeLong());
      for (const auto& resource : r.resources()) {
        envoy::config::endpoint::v3::ClusterLoadAssignment assignment;
        if (!resource.resource().UnpackTo(&assignment)) continue;
        for (const auto& locality : assignment.endpoints()) {
          const std::string& c = locality.leds_cluster_locality_config().leds_collection_name();
          if (!c.empty() && collections_.insert(c).second)
            subscribe.add_resource_names_subscribe(c);
        }
      }
    } else {
      Saw(rec_, revision, r.resources_size(), r.ByteSizeLong());
    }
    stream_->Send(std::move(ack));
    if (subscribe.resource_names_subscribe_size() > 0) stream_->Send(std::move(subscribe));
  }

  Recorder* const rec_;
  absl::flat_hash_set<std::string> collections_;
  std::unique_ptr<xds::testing::DeltaStream> stream_;
};

// A Watch stream of the service (SLICES or ENDPOINTS view).
class WatchSubscriber final : public Subscriber, public RawWatch {
 public:
  WatchSubscriber(grpc::GenericStub* stub, int service, v1::WatchView view, Recorder* rec)
      : Subscriber(service), rec_(rec) {
    v1::WatchRequest req;
    req.set_namespace_("bench");
    req.add_services(absl::StrCat("svc-", service));
    req.set_view(view);
    Start(stub, req);
  }
  ~WatchSubscriber() override { Stop(); }

 private:
  void OnEvents(const std::vector<ScannedEvent>& events) override {
    int64_t revision = 0, n = 0;
    for (const ScannedEvent& e : events) {
      revision = std::max(revision, e.revision);
      if (e.type == v1::WatchEvent::ADDED || e.type == v1::WatchEvent::MODIFIED ||
          e.type == v1::WatchEvent::DELETED) {
        ++n;
      }
    }
    Saw(rec_, revision, n, message_bytes());
  }

  Recorder* const rec_;
};

using SotwSubscriber = XdsSubscriber<xds::testing::SotwRequest, xds::testing::SotwResponse>;
using DeltaSubscriber = XdsSubscriber<xds::testing::DeltaRequest, xds::testing::DeltaResponse>;

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_XDS_CLIENTS_H_
