// xds_test_client: Debian's libgrpc++ as a real proxyless xDS client, for
// tests/xds/xds_clients_test.py (the same role as xds_test_client.py and node/client.js).
//
//   GRPC_XDS_BOOTSTRAP=<bootstrap.json> xds_test_client xds:///<service>.<namespace>:<port>
//
// Calls /slicekeeper.test.Backend/Who (an empty request; the answer's bytes are the backend's
// id) in a loop on one channel and prints one line per call: the id, or "ERR <code>". Calls wait
// for the channel to be ready (at most 1 s each), so an unresolved name costs one line a second,
// not a busy loop. Runs until the driver kills it.
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"

namespace {

// One unary call; "ERR <code>" or the reply's bytes.
std::string Call(grpc::GenericStub* stub) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
  context.set_wait_for_ready(true);
  grpc::Slice empty;
  grpc::ByteBuffer request(&empty, 1);  // an empty message (a default ByteBuffer is no message)
  grpc::ByteBuffer reply;
  grpc::Status status;
  absl::Notification done;
  grpc::StubOptions options;
  stub->UnaryCall(&context, "/slicekeeper.test.Backend/Who", options, &request, &reply,
                  [&](grpc::Status s) {
                    status = std::move(s);
                    done.Notify();
                  });
  done.WaitForNotification();
  if (!status.ok()) return "ERR " + std::to_string(status.error_code());
  std::vector<grpc::Slice> slices;
  if (!reply.Dump(&slices).ok()) return "ERR dump";
  std::string out;
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s xds:///<name>\n", argv[0]);
    return 2;
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  while (true) {
    std::string line = Call(&stub);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}
