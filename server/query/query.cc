// Placeholder implementation; replaced by the real merge and filters.
#include "server/query/query.h"

namespace slicekeeper::query {

std::vector<v1::ServiceEndpoint> MergeEndpoints(const store::ServiceSnapshot& snapshot) {
  return {};
}

EndpointDiff DiffEndpoints(absl::Span<const v1::ServiceEndpoint> before,
                           absl::Span<const v1::ServiceEndpoint> after) {
  return {};
}

absl::Status ValidateQuery(const v1::QueryEndpointsRequest& request) { return absl::OkStatus(); }

absl::StatusOr<std::vector<v1::ServiceEndpoint>> FilterEndpoints(
    std::vector<v1::ServiceEndpoint> merged, const v1::QueryEndpointsRequest& request) {
  return merged;
}

absl::StatusOr<std::vector<v1::ServiceEndpoint>> QueryEndpoints(
    const store::ServiceSnapshot& snapshot, const v1::QueryEndpointsRequest& request) {
  return FilterEndpoints(MergeEndpoints(snapshot), request);
}

v1::ServiceSummary Summarize(const store::ServiceSnapshot& snapshot) {
  v1::ServiceSummary s;
  s.set_namespace_(snapshot.namespace_);
  s.set_name(snapshot.name);
  return s;
}

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  return LabelSelector();
}

bool LabelSelector::Matches(const google::protobuf::Map<std::string, std::string>& labels) const {
  return true;
}

}  // namespace slicekeeper::query
