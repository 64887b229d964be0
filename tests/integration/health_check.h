// A grpc.health.v1.Health/Check client for tests. Debian ships no C++ health stubs, so the
// request and response are encoded by hand (two tiny messages).
//
// Thread-safety: stateless; safe from any thread.
#ifndef SLICEKEEPER_TESTS_INTEGRATION_HEALTH_CHECK_H_
#define SLICEKEEPER_TESTS_INTEGRATION_HEALTH_CHECK_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/time/time.h"

namespace slicekeeper::integration {

// Health/Check for `service` ("" = the server): returns the response's status field in
// `*serving_status` (0 UNKNOWN, 1 SERVING, 2 NOT_SERVING), or the call's error.
grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         int* serving_status, absl::Duration timeout = absl::Seconds(10));

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_HEALTH_CHECK_H_
