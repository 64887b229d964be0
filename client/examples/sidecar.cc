// sidecar: prints the routable backends of one service each time they change, as a proxy sidecar
// would reprogram its upstream. An example of client/subscriber.h.
//
//   sidecar --server=127.0.0.1:50051 --namespace=default --service=web --zone=us-west2-a
//
// Output, one line per change:
//   2024-01-02T03:04:05Z default/web rev=42 backends=10.0.0.1:80,10.0.0.2:80
#include <signal.h>

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "client/subscriber.h"

ABSL_FLAG(std::string, server, "127.0.0.1:50051", "Server addresses, comma-separated (failover)");
ABSL_FLAG(std::string, namespace, "default", "Namespace of the service");
ABSL_FLAG(std::string, service, "", "Service whose backends to print (required)");
ABSL_FLAG(std::string, zone, "", "This sidecar's zone (topology hints)");
ABSL_FLAG(std::string, node, "", "This sidecar's node");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string service = absl::GetFlag(FLAGS_service);
  if (service.empty()) {
    std::fprintf(stderr, "sidecar: --service is required\n");
    return 2;
  }
  slicekeeper::client::ClientOptions options;
  options.addresses = absl::StrSplit(absl::GetFlag(FLAGS_server), ',', absl::SkipEmpty());
  auto client = slicekeeper::client::Client::Create(options);
  if (!client.ok()) {
    std::fprintf(stderr, "sidecar: %s\n", client.status().ToString().c_str());
    return 2;
  }
  const slicekeeper::client::Location location{absl::GetFlag(FLAGS_zone),
                                               absl::GetFlag(FLAGS_node)};
  // The callback only learns that the service changed; it asks the cache for the routable view
  // (which also depends on every endpoint's hints, not just the changed ones).
  slicekeeper::client::Subscriber* self = nullptr;
  slicekeeper::client::Subscriber subscriber(
      client->get(), {.namespace_ = absl::GetFlag(FLAGS_namespace), .services = {service}},
      [&](const std::string& key, const slicekeeper::client::EndpointList&,
          const slicekeeper::client::EndpointList&) {
        auto backends = self->Routable(key, location);
        std::printf(
            "%s %s rev=%lld backends=%s\n",
            absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone()).c_str(),
            key.c_str(), static_cast<long long>(self->revision()),
            slicekeeper::client::FormatBackends(backends).c_str());
        std::fflush(stdout);
      });
  self = &subscriber;

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  subscriber.Start();
  int sig = 0;
  sigwait(&signals, &sig);
  subscriber.Stop();
  return 0;
}
