// Internal to server/xds: the protocol logic of one xDS stream, without gRPC. `SotwSession`
// (DiscoveryRequest / DiscoveryResponse) and `DeltaSession` (DeltaDiscoveryRequest /
// DeltaDiscoveryResponse) share this base: the stream's state, type URL checks, nonces, ACK and
// NACK accounting, and the answers owed to type URLs slicekeeper does not serve.
//
// A session is driven by its reactor: OnRequest for every request read (it may change what the
// stream watches: Wants), Apply for the hub's marks, and Next whenever a write can start, which
// returns the next response due or nullopt. Responses go out one type at a time, listeners and
// clusters before routes and endpoints (make before break). See docs/xds.md for the protocol.
//
// Thread-safety: none; the reactor serializes every call.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_SESSION_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_SESSION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/xds/internal/stream_state.h"
#include "server/xds/xds_metrics.h"

namespace google::rpc {
class Status;
}

namespace slicekeeper::xds::internal {

// The order in which due responses are written: LEDS members after the ClusterLoadAssignments
// that name their collections.
inline constexpr ResourceType kResponseOrder[] = {ResourceType::kListener, ResourceType::kCluster,
                                                  ResourceType::kRoute, ResourceType::kEndpoint,
                                                  ResourceType::kLbEndpoint};

// Listener and Cluster responses carry every subscribed resource (state of the world).
inline bool IsFullState(ResourceType type) {
  return type == ResourceType::kListener || type == ResourceType::kCluster;
}

class Session {
 public:
  // `cache` must outlive the session; `metrics` may be null, else must outlive it.
  // `fixed_type`: the one type a standalone EDS or CDS stream serves; nullopt for ADS.
  Session(ResourceCache* cache, std::optional<ResourceType> fixed_type, XdsMetrics* metrics)
      : state_(cache), cache_(cache), fixed_type_(fixed_type), metrics_(metrics) {}

  // Feeds the hub's marks to the stream state.
  void Apply(absl::flat_hash_map<std::string, watch::ServiceVersion> marks) {
    state_.Apply(std::move(marks));
  }
  // The services the stream must watch now.
  WatchSet Wants() { return state_.Wants(); }
  // Bit i set: subscribed to ResourceType i.
  uint32_t SubscribedTypes() const;
  const std::string& node_id() const { return state_.node_id(); }

  // Distinct unknown type URLs a stream may ask about (each costs an entry).
  static constexpr size_t kMaxUnknownTypes = 16;

 protected:
  // The type URL a request is about: an empty one means the stream's fixed type.
  // Errors: INVALID_ARGUMENT for an empty URL on an ADS stream, and on a single-type stream for
  // another type's URL.
  absl::StatusOr<std::string> RequestTypeUrl(absl::string_view url) const;
  // A request that acknowledges (or, with an error_detail, rejects) a response: counted, and a
  // NACK is logged with its error detail. The last acknowledged state stays in force on the
  // client; nothing is resent for it.
  void RecordReply(std::optional<ResourceType> type, absl::string_view url, absl::string_view nonce,
                   absl::string_view version, const google::rpc::Status* nack);
  std::string NextNonce() { return std::to_string(++nonce_); }
  // The next response due: the first type in kResponseOrder `next_of(type)` has one for, else
  // the empty answer owed to an unknown type URL, whose version field `set_version` stamps.
  template <typename Response, typename NextOf, typename SetVersion>
  std::optional<Response> NextDue(NextOf next_of, SetVersion set_version) {
    for (ResourceType type : kResponseOrder) {
      if (std::optional<Response> r = next_of(type)) return r;
    }
    std::optional<std::pair<std::string, std::string>> unknown = NextUnknownAnswer();
    if (!unknown.has_value()) return std::nullopt;
    Response r;
    set_version(r, std::to_string(state_.revision()));
    r.set_type_url(std::move(unknown->first));
    r.set_nonce(std::move(unknown->second));
    return r;
  }
  // A request for a type URL slicekeeper does not serve: an empty answer is due, unless the
  // request acknowledges the last one. Errors: INVALID_ARGUMENT past kMaxUnknownTypes URLs.
  absl::Status UnknownTypeRequest(const std::string& url, absl::string_view response_nonce);
  // The next unknown type URL owed its empty answer, with the answer's nonce (recorded).
  std::optional<std::pair<std::string, std::string>> NextUnknownAnswer();
  void CountResponse(std::optional<ResourceType> type, size_t resources, size_t removals);

  StreamState state_;
  ResourceCache* const cache_;
  const std::optional<ResourceType> fixed_type_;
  XdsMetrics* const metrics_;

 private:
  struct Unknown {
    std::string nonce;
    bool due = false;
  };
  uint64_t nonce_ = 0;
  absl::flat_hash_map<std::string, Unknown> unknown_;
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_SESSION_H_
