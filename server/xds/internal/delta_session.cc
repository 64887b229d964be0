#include "server/xds/internal/delta_session.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace slicekeeper::xds::internal {
namespace {

// Held, but not any version this store could have made: never equal to a resource's version.
constexpr char kUnknownVersion[] = "?";

}  // namespace

absl::Status DeltaSession::OnRequest(const Request& request) {
  SK_ASSIGN_OR_RETURN(const std::string url, RequestTypeUrl(request.type_url()));
  if (request.has_node()) state_.SetNode(request.node(), /*delta=*/true);
  const std::optional<ResourceType> type = TypeFromUrl(url);
  if (!type.has_value()) return UnknownTypeRequest(url, request.response_nonce());
  if (!request.response_nonce().empty()) {
    RecordReply(type, url, request.response_nonce(), "",
                request.has_error_detail() ? &request.error_detail() : nullptr);
  }
  Resubscribe(*type, request, types_[static_cast<size_t>(*type)]);
  return absl::OkStatus();
}

void DeltaSession::Resubscribe(ResourceType type, const Request& request, TypeProtocol& tp) {
  const bool first = !tp.seen;
  tp.seen = true;
  if (first) {
    for (const auto& [name, version] : request.initial_resource_versions()) {
      state_.SetHeld(type, name, HeldVersion(version));
    }
  }
  bool star = first && request.resource_names_subscribe().empty() && IsFullState(type);
  // LEDS has no wildcard: there "*" is a name like any other (a malformed one).
  const bool has_wildcard = type != ResourceType::kLbEndpoint;
  for (const std::string& name : request.resource_names_subscribe()) {
    if (name == "*" && has_wildcard) {
      star = true;
    } else {
      state_.Subscribe(type, name);
    }
  }
  if (star) state_.SetWildcard(type, true);
  for (const std::string& name : request.resource_names_unsubscribe()) {
    if (name == "*" && has_wildcard) {
      state_.SetWildcard(type, false);
    } else {
      state_.Unsubscribe(type, name);
    }
  }
  if (first) tp.force = true;
}

std::string DeltaSession::HeldVersion(const std::string& version) const {
  int64_t revision = 0;
  if (!absl::SimpleAtoi(version, &revision) || revision <= 0 ||
      revision > cache_->store_revision()) {
    return kUnknownVersion;
  }
  return version;
}

std::optional<DeltaSession::Response> DeltaSession::Next() {
  return NextDue<Response>(
      [this](ResourceType type) { return NextOf(type); },
      [](Response& r, std::string v) { r.set_system_version_info(std::move(v)); });
}

std::optional<DeltaSession::Response> DeltaSession::NextOf(ResourceType type) {
  TypeProtocol& tp = types_[static_cast<size_t>(type)];
  Changes changes = state_.Evaluate(type);
  if (changes.empty() && !tp.force) return std::nullopt;
  tp.force = false;
  Response r;
  r.set_system_version_info(absl::StrCat(state_.revision()));
  r.set_type_url(std::string(TypeUrl(type)));
  r.set_nonce(NextNonce());
  for (const auto& [name, resource] : changes.updated) {
    envoy::service::discovery::v3::Resource* out = r.add_resources();
    out->set_name(name);
    out->set_version(resource->version);
    out->mutable_resource()->set_type_url(std::string(TypeUrl(type)));
    out->mutable_resource()->set_value(resource->bytes);
  }
  for (std::string& name : changes.removed) r.add_removed_resources(std::move(name));
  CountResponse(type, changes.updated.size(), changes.removed.size());
  return r;
}

}  // namespace slicekeeper::xds::internal
