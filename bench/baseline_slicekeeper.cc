// etcd_baseline's slicekeeper systems: the real binary as a child process (ServerProcess), with
// or without the 1-member etcd its --store=etcd runs on.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/baseline_systems.h"
#include "bench/raw_watch.h"
#include "slicekeeper/v1/discovery.grpc.pb.h"
#include "slicekeeper/v1/registry.grpc.pb.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/integration/server_process.h"

namespace slicekeeper::bench {
namespace {

using etcd::testing::EtcdCluster;
using integration::ServerProcess;

constexpr int kWatchChannels = 4;

// "svc-<i>" -> i; -1 for anything else.
int ServiceIndex(const std::string& name) {
  int i = -1;
  if (name.rfind("svc-", 0) != 0 || !absl::SimpleAtoi(name.substr(4), &i)) return -1;
  return i;
}

// One Watch stream (either view) over some services; records each new revision per service.
class Watcher final : public RawWatch {
 public:
  Watcher(grpc::GenericStub* stub, const v1::WatchRequest& req, int index, DeliveryLog* log,
          std::atomic<int>* synced)
      : index_(index), log_(log), synced_(synced) {
    Start(stub, req);
  }

 private:
  void OnEvents(const std::vector<ScannedEvent>& events) override {
    const int64_t now = NowNs();
    // (service, newest revision) of this message; a message holds few services.
    std::vector<std::pair<int, int64_t>> seen;
    for (const ScannedEvent& e : events) {
      if (e.type == v1::WatchEvent::SYNCED) synced_->fetch_add(1);
      if (e.type != v1::WatchEvent::ADDED && e.type != v1::WatchEvent::MODIFIED &&
          e.type != v1::WatchEvent::DELETED) {
        continue;
      }
      const int s = ServiceIndex(e.service);
      if (s < 0) continue;
      auto it = std::find_if(seen.begin(), seen.end(), [s](auto& p) { return p.first == s; });
      if (it == seen.end()) {
        seen.emplace_back(s, e.revision);
      } else {
        it->second = std::max(it->second, e.revision);
      }
    }
    for (auto& [s, rev] : seen) log_->Record(index_, s, rev, now);
  }

  const int index_;
  DeliveryLog* const log_;
  std::atomic<int>* const synced_;
};

class StreamWriter final : public ChangeWriter {
 public:
  StreamWriter(v1::EndpointRegistry::Stub* stub, int streams, AckFn on_ack)
      : on_ack_(std::move(on_ack)) {
    for (int i = 0; i < streams; ++i) {
      auto s = std::make_unique<Stream>();
      s->rw = stub->StreamChanges(&s->ctx);
      s->reader = std::thread([this, raw = s.get()] {
        v1::ChangeAck ack;
        while (raw->rw->Read(&ack)) {
          on_ack_(ack.batch_id(), ack.revision(), ack.code() == 0, NowNs(), ack.message());
        }
      });
      streams_.push_back(std::move(s));
    }
  }
  ~StreamWriter() override { Finish(); }

  bool Send(uint64_t id, int service, std::vector<v1::EndpointChange> changes) override {
    v1::ChangeBatch b;
    b.set_batch_id(id);
    for (v1::EndpointChange& c : changes) *b.add_changes() = std::move(c);
    return streams_[service % streams_.size()]->rw->Write(b);
  }

  void Finish() override {
    for (auto& s : streams_) {
      if (!s->reader.joinable()) continue;
      s->rw->WritesDone();
      s->reader.join();
      grpc::Status st = s->rw->Finish();
      if (!st.ok()) std::fprintf(stderr, "StreamChanges ended: %s\n", st.error_message().c_str());
    }
  }

 private:
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<v1::ChangeBatch, v1::ChangeAck>> rw;
    std::thread reader;
  };
  const AckFn on_ack_;
  std::vector<std::unique_ptr<Stream>> streams_;
};

class SlicekeeperSystem final : public System {
 public:
  SlicekeeperSystem(std::unique_ptr<EtcdCluster> etcd, std::unique_ptr<ServerProcess> server,
                    SlicekeeperOptions options, std::string data_dir)
      : etcd_(std::move(etcd)),
        server_(std::move(server)),
        options_(std::move(options)),
        data_dir_(std::move(data_dir)),
        view_(options_.watch_slices ? v1::SLICES : v1::ENDPOINTS) {
    Connect();
  }
  ~SlicekeeperSystem() override {
    StopWatchers();
    registry_.reset();
    watch_stubs_.clear();
    channels_.clear();
    server_.reset();
    if (!data_dir_.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(data_dir_, ignored);
    }
  }

  absl::StatusOr<State> ReadState() override {
    auto discovery = v1::EndpointDiscovery::NewStub(channels_[0]);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::ListServicesRequest req;
    v1::ListServicesResponse resp;
    grpc::Status st = discovery->ListServices(&ctx, req, &resp);
    if (!st.ok()) return absl::UnavailableError(absl::StrCat("ListServices: ", st.error_message()));
    State state{.revision = resp.revision()};
    for (const v1::ServiceSummary& s : resp.services()) state.live += s.endpoints().total();
    return state;
  }

  int64_t DataBytes() const override {
    int64_t bytes = data_dir_.empty() ? 0 : DirectoryBytes(data_dir_);
    if (etcd_ != nullptr) bytes += DirectoryBytes(etcd_->data_dir(0));
    return bytes;
  }

  absl::StatusOr<absl::Duration> KillAndRestart() override {
    if (data_dir_.empty() && etcd_ == nullptr) {
      return absl::UnimplementedError("no durable state: nothing to restart from");
    }
    StopWatchers();
    registry_.reset();
    watch_stubs_.clear();
    channels_.clear();
    if (absl::Status s = server_->SendSignal(SIGKILL); !s.ok()) return s;
    if (absl::StatusOr<int> w = server_->Wait(absl::Seconds(30)); !w.ok()) return w.status();
    server_.reset();
    if (etcd_ != nullptr) {
      if (absl::Status s = etcd_->Kill(0); !s.ok()) return s;
    }
    const absl::Time start = absl::Now();
    if (etcd_ != nullptr) {
      if (absl::Status s = etcd_->Restart(0); !s.ok()) return s;
    }
    absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Start(
        {.binary = options_.binary, .args = options_.args, .start_timeout = absl::Minutes(10)});
    if (!server.ok()) return server.status();
    const absl::Duration took = absl::Now() - start;
    server_ = std::move(*server);
    Connect();
    return took;
  }

 private:
  void Connect() {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    for (int i = 0; i <= kWatchChannels; ++i) {
      args.SetInt("slicekeeper.bench.channel", i);  // distinct connections
      channels_.push_back(grpc::CreateCustomChannel(server_->grpc_address(),
                                                    grpc::InsecureChannelCredentials(), args));
    }
    registry_ = v1::EndpointRegistry::NewStub(channels_[0]);
    for (int i = 1; i <= kWatchChannels; ++i) {
      watch_stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_[i]));
    }
  }

 public:
  absl::Status Fill(const Churn& churn, int services) override {
    v1::ChangeBatch batch;
    for (int s = 0; s < services; ++s) {
      for (v1::EndpointChange& ch : churn.Fill(s)) *batch.add_changes() = std::move(ch);
      if ((s + 1) % 10 != 0 && s + 1 != services) continue;
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      v1::ChangeAck ack;
      grpc::Status st = registry_->ApplyChanges(&ctx, batch, &ack);
      if (!st.ok()) return absl::InternalError(absl::StrCat("fill: ", st.error_message()));
      if (ack.code() != 0) return absl::InternalError(absl::StrCat("fill: ", ack.message()));
      batch.Clear();
    }
    return absl::OkStatus();
  }

  absl::Status Watch(const std::vector<std::vector<int>>& services_of_watcher,
                     DeliveryLog* log) override {
    const int n = static_cast<int>(services_of_watcher.size());
    for (int w = 0; w < n; ++w) {
      v1::WatchRequest req;
      req.set_namespace_("bench");
      req.set_view(view_);
      for (int s : services_of_watcher[w]) req.add_services(absl::StrCat("svc-", s));
      watchers_.push_back(
          std::make_unique<Watcher>(watch_stubs_[w % kWatchChannels].get(), req, w, log, &synced_));
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    while (synced_.load() < n) {  // every stream has its snapshot
      if (absl::Now() > deadline) return absl::DeadlineExceededError("watchers not synced");
      absl::SleepFor(absl::Milliseconds(5));
    }
    return absl::OkStatus();
  }

  void StopWatchers() override {
    for (auto& w : watchers_) w->Stop();
    watchers_.clear();
  }

  absl::StatusOr<std::unique_ptr<ChangeWriter>> NewWriter(ChangeWriter::AckFn on_ack) override {
    return std::make_unique<StreamWriter>(registry_.get(), options_.streams, std::move(on_ack));
  }

  std::vector<std::pair<std::string, int>> Processes() const override {
    std::vector<std::pair<std::string, int>> out = {{options_.label, server_->pid()}};
    if (etcd_ != nullptr) out.emplace_back("etcd", etcd_->pid(0));
    return out;
  }

 private:
  // Destroyed in reverse: watchers, stubs, the server, then its etcd.
  const std::unique_ptr<EtcdCluster> etcd_;
  std::unique_ptr<ServerProcess> server_;
  const SlicekeeperOptions options_;  // args include --data_dir and --etcd_endpoints
  const std::string data_dir_;        // owned; "" when the store is not on disk
  const v1::WatchView view_;
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::unique_ptr<v1::EndpointRegistry::Stub> registry_;
  std::vector<std::unique_ptr<grpc::GenericStub>> watch_stubs_;  // one per watch channel
  std::atomic<int> synced_{0};
  std::vector<std::unique_ptr<Watcher>> watchers_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<System>> StartSlicekeeper(SlicekeeperOptions options) {
  std::unique_ptr<EtcdCluster> etcd;
  if (!options.etcd_binary.empty()) {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(
        {.members = 1, .binary = options.etcd_binary, .extra_args = options.etcd_args});
    if (!cluster.ok()) return cluster.status();
    etcd = std::move(*cluster);
    options.args.push_back(absl::StrCat("--etcd_endpoints=", etcd->endpoint(0)));
  }
  std::string data_dir;
  if (options.durable) {
    std::string templ = (std::filesystem::temp_directory_path() / "sk-bench-XXXXXX").string();
    if (mkdtemp(templ.data()) == nullptr) return absl::InternalError("mkdtemp failed");
    data_dir = templ;
    options.args.push_back(absl::StrCat("--data_dir=", data_dir, "/data"));
  }
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start({.binary = options.binary, .args = options.args});
  if (!server.ok()) {
    if (!data_dir.empty()) {
      std::error_code ignored;
      std::filesystem::remove_all(data_dir, ignored);
    }
    return server.status();
  }
  return std::make_unique<SlicekeeperSystem>(std::move(etcd), std::move(*server),
                                             std::move(options), std::move(data_dir));
}

}  // namespace slicekeeper::bench
