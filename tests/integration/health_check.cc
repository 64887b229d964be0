#include "tests/integration/health_check.h"

#include <grpcpp/generic/generic_stub.h>

#include <utility>
#include <vector>

#include "absl/synchronization/notification.h"

namespace slicekeeper::integration {

grpc::Status HealthCheck(const std::shared_ptr<grpc::Channel>& channel, const std::string& service,
                         int* serving_status, absl::Duration timeout) {
  std::string request;  // HealthCheckRequest { string service = 1; }
  if (!service.empty()) {
    request.push_back(0x0a);                               // field 1, length-delimited
    request.push_back(static_cast<char>(service.size()));  // < 128: one varint byte
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1), response_buffer;
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request_buffer,
                 &response_buffer, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();  // The context deadline bounds the wait.
  if (!status.ok()) return status;
  std::vector<grpc::Slice> slices;
  if (!response_buffer.Dump(&slices).ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "dump");
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // HealthCheckResponse { ServingStatus status = 1; }: "" (UNKNOWN = 0) or 0x08 <varint < 128>.
  if (bytes.empty()) {
    *serving_status = 0;
  } else if (bytes.size() == 2 && bytes[0] == 0x08) {
    *serving_status = bytes[1];
  } else {
    return grpc::Status(grpc::StatusCode::INTERNAL, "unexpected HealthCheckResponse bytes");
  }
  return grpc::Status::OK;
}

}  // namespace slicekeeper::integration
