// skctl health: grpc.health.v1.Health/Check against each --server address, for probes (the
// Dockerfile's HEALTHCHECK, docker-compose's healthchecks). Exit 0 only when every address
// answers SERVING.
//
// Debian ships no health.proto, so the two one-field messages are encoded here by hand and sent
// as raw bytes through a generic stub:
//   HealthCheckRequest  { string service = 1; }
//   HealthCheckResponse { ServingStatus status = 1; }  UNKNOWN=0 SERVING=1 NOT_SERVING=2
//                                                      SERVICE_UNKNOWN=3
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/skctl/commands.h"
#include "client/skctl/flags.h"
#include "common/status_util.h"

ABSL_FLAG(std::string, service, "",
          "health: the service name to check (\"\": the server as a whole)");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(2), "health: deadline of the check");

namespace slicekeeper::skctl {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr int kServing = 1;

void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint at *pos; false when the bytes end inside it.
bool ReadVarint(const std::string& in, size_t* pos, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64 && *pos < in.size(); shift += 7) {
    const uint8_t b = static_cast<uint8_t>(in[(*pos)++]);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return true;
  }
  return false;
}

std::string EncodeRequest(const std::string& service) {
  std::string out;
  if (service.empty()) return out;  // proto3: a default field is not sent
  out.push_back(0x0a);              // field 1, length-delimited
  AppendVarint(service.size(), &out);
  out += service;
  return out;
}

// The status field of a HealthCheckResponse (0 when absent). Fields other than 1 are skipped, as
// a newer server may add some. Errors: DATA_LOSS when the bytes are not such a message.
absl::StatusOr<int> DecodeStatus(const std::string& in) {
  int status = 0;
  for (size_t pos = 0; pos < in.size();) {
    uint64_t tag = 0, value = 0;
    if (!ReadVarint(in, &pos, &tag)) return absl::DataLossError("truncated tag");
    const int field = static_cast<int>(tag >> 3);
    uint64_t skip = 0;
    switch (tag & 7) {
      case 0:
        if (!ReadVarint(in, &pos, &value)) return absl::DataLossError("truncated varint");
        if (field == 1) status = static_cast<int>(value);
        break;
      case 1:
        skip = 8;
        break;
      case 2:
        if (!ReadVarint(in, &pos, &skip)) return absl::DataLossError("truncated length");
        break;
      case 5:
        skip = 4;
        break;
      default:
        return absl::DataLossError(absl::StrCat("wire type ", tag & 7, " in field ", field));
    }
    if (skip > in.size() - pos) return absl::DataLossError("truncated field");
    pos += skip;
  }
  return status;
}

std::string StatusName(int status) {
  switch (status) {
    case 0:
      return "UNKNOWN";
    case 1:
      return "SERVING";
    case 2:
      return "NOT_SERVING";
    case 3:
      return "SERVICE_UNKNOWN";
    default:
      return absl::StrCat("STATUS_", status);
  }
}

// One Check call on its own channel. Errors: the call's (UNAVAILABLE when nothing answers,
// DEADLINE_EXCEEDED after `timeout`, NOT_FOUND for a service the server does not know).
absl::StatusOr<int> Check(const std::string& address, const std::string& service,
                          absl::Duration timeout) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      client::ChannelCredentials(SecurityFlags());
  if (!creds.ok()) return creds.status();
  grpc::GenericStub stub(grpc::CreateChannel(address, *creds));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  grpc::Slice request_slice(EncodeRequest(service));
  const grpc::ByteBuffer request(&request_slice, 1);
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, kCheckMethod, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) return FromGrpcStatus(status);
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return absl::DataLossError("unreadable response");
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return DecodeStatus(bytes);
}

void PrintError(const std::string& address, const absl::Status& error, absl::Duration timeout) {
  switch (error.code()) {
    case absl::StatusCode::kUnavailable:
      std::fprintf(stderr,
                   "The connection to the server %s was refused - did you specify the right "
                   "host or port? (%s)\n",
                   address.c_str(), std::string(error.message()).c_str());
      return;
    case absl::StatusCode::kDeadlineExceeded:
      std::fprintf(stderr, "The server %s did not answer the health check within %s\n",
                   address.c_str(), absl::FormatDuration(timeout).c_str());
      return;
    case absl::StatusCode::kNotFound:
      std::fprintf(stderr, "Error from server (NotFound): %s does not know the service \"%s\"\n",
                   address.c_str(), absl::GetFlag(FLAGS_service).c_str());
      return;
    default:
      std::fprintf(stderr, "Error from server (%s): %s: %s\n", Reason(error.code()).c_str(),
                   address.c_str(), std::string(error.message()).c_str());
  }
}

}  // namespace

int RunHealth(const Args& args) {
  if (!args.empty()) {
    return UsageError(
        "usage: skctl health [--server ADDR[,ADDR...]] [--service NAME] [--timeout D]");
  }
  const absl::Duration timeout = absl::GetFlag(FLAGS_timeout);
  if (timeout <= absl::ZeroDuration()) return UsageError("--timeout: must be > 0");
  const std::string service = absl::GetFlag(FLAGS_service);
  const std::vector<std::string> addresses = ServerAddresses();
  if (addresses.empty()) return UsageError("--server: no address");
  bool all_serving = true;
  for (const std::string& address : addresses) {
    absl::StatusOr<int> status = Check(address, service, timeout);
    if (!status.ok()) {
      PrintError(address, status.status(), timeout);
      all_serving = false;
      continue;
    }
    // With one address the bare status, as probes and scripts compare it; else one per address.
    const std::string name = StatusName(*status);
    if (addresses.size() == 1) {
      std::printf("%s\n", name.c_str());
    } else {
      std::printf("%s %s\n", address.c_str(), name.c_str());
    }
    all_serving = all_serving && *status == kServing;
  }
  return all_serving ? kExitOk : kExitServerError;
}

}  // namespace slicekeeper::skctl
