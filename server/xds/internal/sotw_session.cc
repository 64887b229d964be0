#include "server/xds/internal/sotw_session.h"

#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace slicekeeper::xds::internal {

absl::Status SotwSession::OnRequest(const Request& request) {
  SK_ASSIGN_OR_RETURN(const std::string url, RequestTypeUrl(request.type_url()));
  if (request.has_node()) state_.SetNode(request.node(), /*delta=*/false);
  const std::optional<ResourceType> type = TypeFromUrl(url);
  if (!type.has_value()) return UnknownTypeRequest(url, request.response_nonce());
  if (*type == ResourceType::kLbEndpoint) {
    return absl::InvalidArgumentError(absl::StrCat(
        "type_url: ", url,
        " (LEDS) is served only over incremental xDS (DeltaAggregatedResources; Envoy: "
        "ads_config.api_type DELTA_GRPC), never state of the world"));
  }
  TypeProtocol& tp = types_[static_cast<size_t>(*type)];
  if (!request.response_nonce().empty()) {
    if (request.response_nonce() != tp.nonce) return absl::OkStatus();  // stale
    RecordReply(type, url, request.response_nonce(), request.version_info(),
                request.has_error_detail() ? &request.error_detail() : nullptr);
  }
  Resubscribe(*type, request, tp);
  return absl::OkStatus();
}

void SotwSession::Resubscribe(ResourceType type, const Request& request, TypeProtocol& tp) {
  const bool first = !tp.seen;
  tp.seen = true;
  absl::flat_hash_set<std::string> names(request.resource_names().begin(),
                                         request.resource_names().end());
  const bool star = names.erase("*") > 0;
  const bool full = IsFullState(type);
  // The legacy wildcard: an empty list, from the first request on, for listeners and clusters.
  tp.legacy_wildcard = full && !star && names.empty() && (first || tp.legacy_wildcard);
  bool changed = state_.SetWildcard(type, star || tp.legacy_wildcard);
  for (const std::string& name : state_.SubscribedNames(type)) {
    if (!names.contains(name)) changed = state_.Unsubscribe(type, name) || changed;
  }
  for (const std::string& name : names) changed = state_.Subscribe(type, name) || changed;
  if (full && (first || changed)) tp.force = true;
}

std::optional<SotwSession::Response> SotwSession::Next() {
  return NextDue<Response>([this](ResourceType type) { return NextOf(type); },
                           [](Response& r, std::string v) { r.set_version_info(std::move(v)); });
}

std::optional<SotwSession::Response> SotwSession::NextOf(ResourceType type) {
  TypeProtocol& tp = types_[static_cast<size_t>(type)];
  const Changes changes = state_.Evaluate(type);
  const bool full = IsFullState(type);
  if (full ? changes.empty() && !tp.force : changes.updated.empty()) return std::nullopt;
  tp.force = false;
  Response r;
  r.set_version_info(absl::StrCat(state_.revision()));
  r.set_type_url(std::string(TypeUrl(type)));
  tp.nonce = NextNonce();
  r.set_nonce(tp.nonce);
  auto add = [&](const std::string&, const ResourcePtr& resource) {
    google::protobuf::Any* any = r.add_resources();
    any->set_type_url(std::string(TypeUrl(type)));
    any->set_value(resource->bytes);
  };
  if (full) {
    state_.ForEachExisting(type, add);
  } else {
    for (const auto& [name, resource] : changes.updated) add(name, resource);
  }
  CountResponse(type, static_cast<size_t>(r.resources_size()), 0);
  return r;
}

}  // namespace slicekeeper::xds::internal
