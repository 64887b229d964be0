#include "server/xds/internal/session.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "google/rpc/status.pb.h"

namespace slicekeeper::xds::internal {

uint32_t Session::SubscribedTypes() const {
  uint32_t out = 0;
  for (ResourceType type : kResponseOrder) {
    if (state_.Active(type)) out |= 1u << static_cast<int>(type);
  }
  return out;
}

absl::StatusOr<std::string> Session::RequestTypeUrl(absl::string_view url) const {
  if (!fixed_type_.has_value()) {
    if (url.empty()) {
      return absl::InvalidArgumentError("type_url: required on an aggregated (ADS) stream");
    }
    return std::string(url);
  }
  const absl::string_view fixed = TypeUrl(*fixed_type_);
  if (!url.empty() && url != fixed) {
    return absl::InvalidArgumentError(
        absl::StrCat("type_url: this stream serves only ", fixed, ", got ", url));
  }
  return std::string(fixed);
}

void Session::RecordReply(std::optional<ResourceType> type, absl::string_view url,
                          absl::string_view nonce, absl::string_view version,
                          const google::rpc::Status* nack) {
  if (nack == nullptr) {
    if (metrics_ != nullptr) metrics_->Ack(type);
    return;
  }
  if (metrics_ != nullptr) metrics_->Nack(type);
  spdlog::warn("xds NACK node={} type_url={} nonce={} kept_version={} code={} error=\"{}\"",
               state_.node_id(), std::string(url), std::string(nonce), std::string(version),
               nack->code(), nack->message());
}

absl::Status Session::UnknownTypeRequest(const std::string& url, absl::string_view response_nonce) {
  auto it = unknown_.find(url);
  if (it == unknown_.end()) {
    if (unknown_.size() >= kMaxUnknownTypes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "type_url: more than ", kMaxUnknownTypes, " unknown type URLs on one stream"));
    }
    spdlog::debug("xds unknown type_url node={} type_url={}", state_.node_id(), url);
    it = unknown_.emplace(url, Unknown{}).first;
  }
  if (!response_nonce.empty() && response_nonce == it->second.nonce) return absl::OkStatus();
  it->second.due = true;
  return absl::OkStatus();
}

std::optional<std::pair<std::string, std::string>> Session::NextUnknownAnswer() {
  for (auto& [url, unknown] : unknown_) {
    if (!unknown.due) continue;
    unknown.due = false;
    unknown.nonce = NextNonce();
    CountResponse(std::nullopt, 0, 0);
    return std::make_pair(url, unknown.nonce);
  }
  return std::nullopt;
}

void Session::CountResponse(std::optional<ResourceType> type, size_t resources, size_t removals) {
  if (metrics_ != nullptr) metrics_->Response(type, resources, removals);
}

}  // namespace slicekeeper::xds::internal
