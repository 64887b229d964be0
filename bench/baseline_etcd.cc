// etcd_baseline's raw etcd system: what a Kubernetes-style store does with the same workload when
// etcd is the database and there is no slicekeeper. One key per endpoint,
//   /bench/<ns>/<service>/<pod name>  ->  serialized slicekeeper.v1.Endpoint,
// a batch as ONE Txn of puts (UPSERT) and deletes (REMOVE), and a watcher as one etcd watch per
// watched service on "/bench/<ns>/<service>/" (etcd::Client::WatchPrefix: a stream and a thread
// each). Writes go through etcd's generated KV stub with gRPC's callback API, so any number of Txns
// are in flight on one connection (clientv3's behaviour); the driver bounds them.
#include <algorithm>
#include <cstdio>

#include <grpcpp/grpcpp.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/baseline_systems.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "server/storage/etcd/etcd_client.h"
#include "tests/etcd/etcd_cluster.h"

namespace slicekeeper::bench {
namespace {

using etcd::testing::EtcdCluster;

std::string Prefix(int service) { return absl::StrCat("/bench/bench/svc-", service, "/"); }

std::string Key(const v1::EndpointChange& c) {
  return absl::StrCat("/bench/", c.namespace_(), "/", c.service(), "/",
                      c.endpoint().target_ref().name());
}

// The batch as one Txn; a key changed twice keeps its last change (as slicekeeper does), since
// etcd refuses a Txn that names a key twice.
etcdserverpb::TxnRequest ToTxn(const std::vector<v1::EndpointChange>& changes) {
  etcdserverpb::TxnRequest txn;
  absl::flat_hash_map<std::string, int> index;
  for (const v1::EndpointChange& c : changes) {
    std::string key = Key(c);
    auto [it, inserted] = index.try_emplace(key, txn.success_size());
    etcdserverpb::RequestOp* op = inserted ? txn.add_success() : txn.mutable_success(it->second);
    if (c.op() == v1::EndpointChange::REMOVE) {
      op->mutable_request_delete_range()->set_key(std::move(key));
    } else {
      etcdserverpb::PutRequest* put = op->mutable_request_put();
      put->set_key(std::move(key));
      put->set_value(c.endpoint().SerializeAsString());
    }
  }
  return txn;
}

// One watch: watcher `watcher`'s view of service `service`.
class Handler final : public etcd::WatchHandler {
 public:
  Handler(int watcher, int service, DeliveryLog* log)
      : watcher_(watcher), service_(service), log_(log) {}
  void OnEvents(int64_t header_revision, absl::Span<const mvccpb::Event> events) override {
    if (events.empty()) return;
    int64_t rev = 0;
    for (const mvccpb::Event& e : events) rev = std::max(rev, e.kv().mod_revision());
    log_->Record(watcher_, service_, rev, NowNs());
  }
  void OnCompacted(int64_t compact_revision) override {
    std::fprintf(stderr, "raw etcd watch compacted at %lld\n",
                 static_cast<long long>(compact_revision));
  }

 private:
  const int watcher_, service_;
  DeliveryLog* const log_;
};

class TxnWriter final : public ChangeWriter {
 public:
  TxnWriter(etcdserverpb::KV::Stub* stub, AckFn on_ack) : stub_(stub), on_ack_(std::move(on_ack)) {}
  ~TxnWriter() override { Finish(); }

  bool Send(uint64_t id, int service, std::vector<v1::EndpointChange> changes) override {
    auto call = std::make_shared<Call>();
    call->req = ToTxn(changes);
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    {
      absl::MutexLock l(&mu_);
      ++outstanding_;
    }
    stub_->async()->Txn(&call->ctx, &call->req, &call->resp, [this, call, id](grpc::Status st) {
      const int64_t now = NowNs();
      if (st.ok()) {
        on_ack_(id, call->resp.header().revision(), true, now, "");
      } else {
        on_ack_(id, 0, false, now, st.error_message());
      }
      absl::MutexLock l(&mu_);
      --outstanding_;
    });
    return true;
  }

  void Finish() override {
    absl::MutexLock l(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &outstanding_));
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    etcdserverpb::TxnRequest req;
    etcdserverpb::TxnResponse resp;
  };
  etcdserverpb::KV::Stub* const stub_;
  const AckFn on_ack_;
  absl::Mutex mu_;
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
};

class RawEtcdSystem final : public System {
 public:
  RawEtcdSystem(std::unique_ptr<EtcdCluster> cluster, std::unique_ptr<etcd::Client> client)
      : cluster_(std::move(cluster)), client_(std::move(client)) {
    const std::string target(absl::StripPrefix(cluster_->endpoint(0), "http://"));
    kv_ =
        etcdserverpb::KV::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  }
  ~RawEtcdSystem() override { StopWatchers(); }

  absl::Status Fill(const Churn& churn, int services) override {
    std::vector<v1::EndpointChange> changes;
    for (int s = 0; s < services; ++s) {
      for (v1::EndpointChange& c : churn.Fill(s)) changes.push_back(std::move(c));
      if ((s + 1) % 10 != 0 && s + 1 != services) continue;
      absl::StatusOr<etcdserverpb::TxnResponse> resp = client_->Txn(ToTxn(changes));
      if (!resp.ok()) return resp.status();
      fill_revision_ = resp->header().revision();
      changes.clear();
    }
    return absl::OkStatus();
  }

  absl::Status Watch(const std::vector<std::vector<int>>& services_of_watcher,
                     DeliveryLog* log) override {
    std::vector<int> all;
    for (int w = 0; w < static_cast<int>(services_of_watcher.size()); ++w) {
      for (int s : services_of_watcher[w]) {
        handlers_.push_back(std::make_unique<Handler>(w, s, log));
        absl::StatusOr<std::unique_ptr<etcd::Watcher>> watcher =
            client_->WatchPrefix(Prefix(s), fill_revision_ + 1, handlers_.back().get());
        if (!watcher.ok()) return watcher.status();
        watchers_.push_back(std::move(*watcher));
        all.push_back(s);
      }
    }
    // A marker key in every watched service: once each watch has delivered it, every stream is
    // open and caught up.
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    etcdserverpb::TxnRequest marker;
    for (int s : all) {
      etcdserverpb::PutRequest* put = marker.add_success()->mutable_request_put();
      put->set_key(absl::StrCat(Prefix(s), "~ready"));
      put->set_value("1");
    }
    absl::StatusOr<etcdserverpb::TxnResponse> resp = client_->Txn(marker);
    if (!resp.ok()) return resp.status();
    const int64_t ready = resp->header().revision();
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    for (int w = 0; w < static_cast<int>(services_of_watcher.size()); ++w) {
      for (int s : services_of_watcher[w]) {
        while (log->Max(w, s) < ready) {
          if (absl::Now() > deadline) return absl::DeadlineExceededError("etcd watches not ready");
          absl::SleepFor(absl::Milliseconds(5));
        }
      }
    }
    return absl::OkStatus();
  }

  void StopWatchers() override {
    watchers_.clear();  // each joins its thread
    handlers_.clear();
  }

  absl::StatusOr<std::unique_ptr<ChangeWriter>> NewWriter(ChangeWriter::AckFn on_ack) override {
    return std::make_unique<TxnWriter>(kv_.get(), std::move(on_ack));
  }

  std::vector<std::pair<std::string, int>> Processes() const override {
    return {{"etcd", cluster_->pid(0)}};
  }

  absl::StatusOr<State> ReadState() override {
    etcdserverpb::RangeRequest req;
    req.set_key("/bench/");
    req.set_range_end("/bench0");  // the prefix's end: '/' + 1
    req.set_count_only(true);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    etcdserverpb::RangeResponse resp;
    grpc::Status st = kv_->Range(&ctx, req, &resp);
    if (!st.ok()) return absl::UnavailableError(absl::StrCat("etcd Range: ", st.error_message()));
    return State{.revision = resp.header().revision(), .live = resp.count()};
  }

  int64_t DataBytes() const override { return DirectoryBytes(cluster_->data_dir(0)); }

  absl::StatusOr<absl::Duration> KillAndRestart() override {
    StopWatchers();
    if (absl::Status s = cluster_->Kill(0); !s.ok()) return s;
    const absl::Time start = absl::Now();
    if (absl::Status s = cluster_->Restart(0); !s.ok()) return s;
    return absl::Now() - start;
  }

 private:
  const std::unique_ptr<EtcdCluster> cluster_;
  const std::unique_ptr<etcd::Client> client_;
  std::unique_ptr<etcdserverpb::KV::Stub> kv_;
  int64_t fill_revision_ = 0;
  std::vector<std::unique_ptr<Handler>> handlers_;
  std::vector<std::unique_ptr<etcd::Watcher>> watchers_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<System>> StartRawEtcd(std::string etcd_binary,
                                                     std::vector<std::string> etcd_args) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(
      {.members = 1,
       .binary = std::move(etcd_binary),
       .start_timeout = absl::Minutes(10),  // a restart replays its write-ahead log
       .extra_args = std::move(etcd_args)});
  if (!cluster.ok()) return cluster.status();
  etcd::ClientOptions options = (*cluster)->client_options();
  options.timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<etcd::Client>> client = etcd::Client::Create(std::move(options));
  if (!client.ok()) return client.status();
  return std::make_unique<RawEtcdSystem>(std::move(*cluster), std::move(*client));
}

}  // namespace slicekeeper::bench
