// Finishing a unary callback RPC: convert the absl::Status, record the RPC in the metrics, log a
// rejection at debug level.
//
// Thread-safety: stateless; safe from any reaction thread.
#ifndef SLICEKEEPER_SERVER_API_INTERNAL_UNARY_H_
#define SLICEKEEPER_SERVER_API_INTERNAL_UNARY_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/server_callback.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/api/api_metrics.h"

namespace slicekeeper::api::internal {

// Finishes the call behind `context` with `status` and returns its reactor (the return value of
// the service method). `metrics` may be null. `start` is when the method was entered.
grpc::ServerUnaryReactor* FinishUnary(grpc::CallbackServerContext* context, ApiMetrics* metrics,
                                      absl::string_view method, absl::Time start,
                                      const absl::Status& status);

// The same for a call answered later (from any thread): `reactor` is the context's
// DefaultReactor(), returned by the service method earlier.
void FinishReactor(grpc::ServerUnaryReactor* reactor, ApiMetrics* metrics,
                   absl::string_view method, absl::Time start, const absl::Status& status);

}  // namespace slicekeeper::api::internal

#endif  // SLICEKEEPER_SERVER_API_INTERNAL_UNARY_H_
