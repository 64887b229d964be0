// Internal to server/xds: the state-of-the-world xDS protocol of one stream
// (StreamAggregatedResources, StreamEndpoints, StreamClusters).
//
//   - A request's resource_names replace the type's subscription; "*" (or, for listeners and
//     clusters, an empty list on the first request and on every request since) is the wildcard.
//   - A request whose response_nonce is not the type's latest is stale and ignored (a newer
//     response is on its way, and the client's next ACK carries its current subscription).
//   - Listener and cluster responses carry every subscribed resource that exists: a name left
//     out does not exist. One is sent on the first request and whenever the subscription or a
//     resource changes. Route and endpoint responses carry only resources the client does not
//     have yet (a missing one is never reported: the client's does-not-exist timer covers it).
//   - version_info is the store revision the stream's state reflects.
//
// Thread-safety: none (see session.h).
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_SOTW_SESSION_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_SOTW_SESSION_H_

#include <array>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "server/xds/internal/session.h"

namespace slicekeeper::xds::internal {

class SotwSession : public Session {
 public:
  using Request = envoy::service::discovery::v3::DiscoveryRequest;
  using Response = envoy::service::discovery::v3::DiscoveryResponse;
  static constexpr bool kDelta = false;

  using Session::Session;

  // Errors (the stream ends with them): INVALID_ARGUMENT for a missing or wrong type URL, or too
  // many unknown ones. A malformed resource name is not an error: it never exists.
  absl::Status OnRequest(const Request& request);
  std::optional<Response> Next();

 private:
  struct TypeProtocol {
    std::string nonce;  // of the last response
    bool seen = false;
    bool legacy_wildcard = false;
    bool force = false;  // a full-state response is due whatever changed
  };

  void Resubscribe(ResourceType type, const Request& request, TypeProtocol& tp);
  std::optional<Response> NextOf(ResourceType type);

  std::array<TypeProtocol, static_cast<size_t>(ResourceType::kCount)> types_;
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_SOTW_SESSION_H_
