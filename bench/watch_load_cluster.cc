#include "bench/watch_load_cluster.h"

#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "bench/churn.h"

namespace slicekeeper::bench {

Cluster StartCluster(const std::string& binary, std::vector<std::string> extra_args,
                     const Security& security) {
  std::vector<std::string> args = {"--store=memory", "--log_level=warn"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  args.insert(args.end(), security.server_args.begin(), security.server_args.end());
  auto server = integration::ServerProcess::Start({.binary = binary, .args = std::move(args)});
  if (!server.ok()) {
    std::fprintf(stderr, "cannot start server: %s\n", server.status().ToString().c_str());
    std::exit(1);
  }
  Cluster c;
  c.server = std::move(*server);
  for (int i = 0; i < kChannels; ++i) {
    grpc::ChannelArguments args;
    args.SetInt("slicekeeper.bench.channel", i);
    args.SetMaxReceiveMessageSize(64 << 20);
    c.channels.push_back(grpc::CreateCustomChannel(
        c.server->grpc_address(),
        security.credentials ? security.credentials : grpc::InsecureChannelCredentials(), args));
    c.discovery.push_back(v1::EndpointDiscovery::NewStub(c.channels.back()));
    c.generic.push_back(std::make_unique<grpc::GenericStub>(c.channels.back()));
  }
  c.registry = v1::EndpointRegistry::NewStub(c.channels[0]);
  return c;
}

void Fill(Cluster& c, int services) {
  Churn churn(services, kEndpoints, 1);
  v1::ChangeBatch batch;
  for (int s = 0; s < services; ++s) {
    for (v1::EndpointChange& ch : churn.Fill(s)) *batch.add_changes() = std::move(ch);
    if (batch.changes_size() >= 5000 || s + 1 == services) {
      grpc::ClientContext ctx;
      v1::ChangeAck ack;
      grpc::Status st = c.registry->ApplyChanges(&ctx, batch, &ack);
      if (!st.ok() || ack.code() != 0) {
        std::fprintf(stderr, "fill failed: %s %s\n", st.error_message().c_str(),
                     ack.message().c_str());
        std::exit(1);
      }
      batch.Clear();
    }
  }
}

std::vector<std::unique_ptr<Watcher>> OpenWatchers(Cluster& c, int n, int services, Recorder* rec,
                                                   v1::WatchView view) {
  std::vector<std::unique_ptr<Watcher>> out;
  for (int i = 0; i < n; ++i) {
    v1::WatchRequest req;
    req.set_namespace_("bench");
    req.add_services(absl::StrCat("svc-", i % services));
    req.set_view(view);
    out.push_back(
        std::make_unique<Watcher>(c.generic[i % kChannels].get(), req, rec, i % services));
  }
  // Every stream has its snapshot.
  while (rec->synced.load() < n) absl::SleepFor(absl::Milliseconds(5));
  return out;
}

}  // namespace slicekeeper::bench
