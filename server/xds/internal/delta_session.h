// Internal to server/xds: the incremental (delta) xDS protocol of one stream
// (DeltaAggregatedResources, DeltaEndpoints, DeltaClusters).
//
//   - resource_names_subscribe / _unsubscribe change the type's subscription; "*" subscribes to
//     (or unsubscribes from) the wildcard, and so does, for listeners and clusters, a first
//     request that subscribes to nothing.
//   - initial_resource_versions (first request of a type, after a reconnect): what the client
//     holds. A resource whose version still matches is not resent; one that no longer exists is
//     sent in removed_resources. A version from the future (a store that lost its state) or not
//     a revision counts as "holds something else".
//   - Each response carries the resources whose version changed and, in removed_resources, the
//     names the client holds (or subscribed to and was not told about) that do not exist.
//   - Every response is acknowledged on its own: response_nonce only says which one an ACK or
//     NACK is about; subscription changes apply whatever the nonce.
//   - The first request of a type always gets an answer, possibly empty.
//   - system_version_info is the store revision the stream's state reflects; a resource's
//     version is the revision at which its content last changed.
//
// Thread-safety: none (see session.h).
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_DELTA_SESSION_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_DELTA_SESSION_H_

#include <array>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "server/xds/internal/session.h"

namespace slicekeeper::xds::internal {

class DeltaSession : public Session {
 public:
  using Request = envoy::service::discovery::v3::DeltaDiscoveryRequest;
  using Response = envoy::service::discovery::v3::DeltaDiscoveryResponse;
  static constexpr bool kDelta = true;

  using Session::Session;

  // Errors: as SotwSession::OnRequest.
  absl::Status OnRequest(const Request& request);
  std::optional<Response> Next();

 private:
  struct TypeProtocol {
    bool seen = false;
    bool force = false;  // a response is due even if nothing changed
  };

  void Resubscribe(ResourceType type, const Request& request, TypeProtocol& tp);
  // A version from initial_resource_versions, as the stream records it.
  std::string HeldVersion(const std::string& version) const;
  std::optional<Response> NextOf(ResourceType type);

  std::array<TypeProtocol, static_cast<size_t>(ResourceType::kCount)> types_;
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_DELTA_SESSION_H_
