#include "server/api/internal/unary.h"

#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>

#include "common/status_util.h"

namespace slicekeeper::api::internal {

grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context, ApiMetrics* metrics,
                                      absl::string_view method, absl::Time start,
                                      const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  FinishReactor(reactor, metrics, method, start, status);
  return reactor;
}

void FinishReactor(grpc::ServerUnaryReactor* reactor, ApiMetrics* metrics,
                   absl::string_view method, absl::Time start, const absl::Status& status) {
  grpc::Status grpc_status = ToGrpcStatus(status);
  if (!status.ok()) {
    spdlog::debug("rejected method={} code={} message=\"{}\"",
                  std::string_view(method.data(), method.size()),
                  absl::StatusCodeToString(status.code()),
                  std::string_view(status.message().data(), status.message().size()));
  }
  if (metrics != nullptr) metrics->RecordRpc(method, grpc_status.error_code(), absl::Now() - start);
  reactor->Finish(std::move(grpc_status));
}

}  // namespace slicekeeper::api::internal
