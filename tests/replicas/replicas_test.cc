// Replicas over etcd, as real processes on loopback: a 3-member etcd cluster (Debian's etcd,
// started by the test) and two slicekeeper replicas with --store=etcd. Writes on one replica
// reach watchers of the other; a replica killed mid-churn loses no acknowledged batch and its
// writer and subscriber carry on on the other replica (the subscriber with deltas, no RESET);
// losing one etcd member does not stop writes; writers of one service on both replicas lose no
// update.
#include <signal.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "client/subscriber.h"
#include "gtest/gtest.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/integration/http_get.h"
#include "tests/integration/prometheus_text.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

#ifndef SK_SLICEKEEPER_BINARY
#error "SK_SLICEKEEPER_BINARY must name the slicekeeper executable"
#endif

namespace slicekeeper {
namespace {

using client::Client;
using client::ClientOptions;
using client::Subscriber;
using client::SubscriberOptions;
using etcd::testing::EtcdCluster;
using integration::ServerProcess;

constexpr absl::Duration kConverge = absl::Seconds(30);

std::string Ip(int service, int i) {
  return absl::StrCat("10.", service, ".", i / 250, ".", i % 250 + 1);
}

v1::EndpointChange Change(const std::string& service, const std::string& ip, bool present,
                          bool ready = true) {
  v1::EndpointChange c;
  c.set_op(present ? v1::EndpointChange::UPSERT : v1::EndpointChange::REMOVE);
  c.set_namespace_("default");
  c.set_service(service);
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(ip);
  e->mutable_conditions()->set_ready(ready);
  if (present) {
    v1::EndpointPort* p = c.add_ports();
    p->set_name("http");
    p->set_protocol("TCP");
    p->set_port(8080);
  }
  return c;
}

// Desired state: service -> ip -> ready.
using State = std::map<std::string, std::map<std::string, bool>>;

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = EtcdCluster::Start(
        {.members = 3, .extra_args = {"--max-txn-ops=10000", "--max-request-bytes=10485760"}});
    ASSERT_OK(cluster);
    etcd_ = std::move(*cluster);
    for (int i = 0; i < 2; ++i) StartReplica(i);
  }

  void StartReplica(int i) {
    auto p = ServerProcess::Start(
        {.binary = SK_SLICEKEEPER_BINARY,
         .args = {"--store=etcd", absl::StrCat("--etcd_endpoints=", etcd_->endpoints_joined()),
                  "--etcd_prefix=/sk-test/", "--etcd_timeout=3s", "--log_level=warn",
                  "--shutdown_grace=1s", "--shards=8",
                  // A Subscriber's revision advances at the end of a revision's events or at a
                  // BOOKMARK; frequent bookmarks make AwaitRevision return promptly.
                  "--bookmark_interval=100ms"}});
    ASSERT_OK(p);
    replicas_[i] = std::move(*p);
  }

  std::unique_ptr<Client> MakeClient(std::vector<int> replicas) {
    ClientOptions options;
    options.addresses.clear();
    for (int r : replicas) options.addresses.push_back(replicas_[r]->grpc_address());
    options.deadline = absl::Seconds(10);
    options.backoff.initial = absl::Milliseconds(20);
    options.backoff.max = absl::Milliseconds(200);
    auto c = Client::Create(options);
    EXPECT_OK(c);
    return c.ok() ? std::move(*c) : nullptr;
  }

  static SubscriberOptions SubOptions() {
    SubscriberOptions o;
    o.namespace_ = "default";
    o.backoff.initial = absl::Milliseconds(20);
    o.backoff.max = absl::Milliseconds(200);
    return o;
  }

  // Applies `batch` until some replica acknowledges it, failing over between the client's
  // addresses (see Client::Write). A batch whose ack was lost may have been applied: applying it
  // again is harmless (an UPSERT or REMOVE of the same endpoint is idempotent). Returns the acked
  // revision.
  static int64_t ApplyWithFailover(Client& c, const std::vector<v1::EndpointChange>& changes,
                                   int* failovers = nullptr) {
    v1::ChangeBatch batch;
    for (const auto& ch : changes) *batch.add_changes() = ch;
    const absl::Time deadline = absl::Now() + kConverge;
    absl::Status last;
    while (absl::Now() < deadline) {
      absl::StatusOr<v1::ChangeAck> ack = c.ApplyChanges(batch);
      last = ack.status();
      if (ack.ok() && ack->code() == 0) return ack->revision();
      if (ack.ok()) {
        ADD_FAILURE() << "batch refused: " << ack->message();
        return 0;
      }
      // The client moves to its next address by itself after UNAVAILABLE; other failures (a
      // deadline while the replica died) move here.
      if (ack.status().code() != absl::StatusCode::kUnavailable) c.Failover();
      if (failovers != nullptr) ++*failovers;
    }
    ADD_FAILURE() << "no replica acknowledged the batch within " << kConverge << "; last: " << last;
    return 0;
  }

  // The service's endpoints as `c` reads them: ip -> ready.
  static std::map<std::string, bool> Read(Client& c, const std::string& service) {
    std::map<std::string, bool> out;
    v1::QueryEndpointsRequest q;
    q.set_namespace_("default");
    q.set_service(service);
    q.set_condition(v1::ANY);
    auto r = c.QueryEndpoints(q);
    if (!r.ok()) return out;
    for (const auto& e : r->endpoints()) out[e.address()] = e.conditions().ready();
    return out;
  }

  static std::map<std::string, bool> FromSubscriber(const Subscriber& s,
                                                    const std::string& service) {
    std::map<std::string, bool> out;
    for (const auto& e : s.Endpoints(absl::StrCat("default/", service))) {
      out[e.address()] = e.conditions().ready();
    }
    return out;
  }

  std::unique_ptr<EtcdCluster> etcd_;
  std::unique_ptr<ServerProcess> replicas_[2];
};

TEST_F(ReplicasTest, WriteOnOneReplicaReachesAWatcherOfTheOther) {
  std::unique_ptr<Client> a = MakeClient({0});
  std::unique_ptr<Client> b = MakeClient({1});
  Subscriber sub(b.get(), SubOptions(), nullptr);
  sub.Start();
  ASSERT_TRUE(sub.AwaitSynced(kConverge));
  State want;
  int64_t last = 0;
  for (int n = 0; n < 40; ++n) {
    std::vector<v1::EndpointChange> batch;
    for (int k = 0; k < 10; ++k) {
      const std::string service = absl::StrCat("svc-", (n + k) % 3);
      const std::string ip = Ip((n + k) % 3, (n * 7 + k * 13) % 150);
      const bool present = (n + k) % 4 != 0;
      batch.push_back(Change(service, ip, present, n % 2 == 0));
      if (present) {
        want[service][ip] = n % 2 == 0;
      } else {
        want[service].erase(ip);
      }
    }
    last = ApplyWithFailover(*a, batch);
    ASSERT_GT(last, 0);
  }
  ASSERT_TRUE(sub.AwaitRevision(last, kConverge)) << "B's watcher never reached " << last;
  for (const auto& [service, endpoints] : want) {
    EXPECT_EQ(FromSubscriber(sub, service), endpoints) << service;
    EXPECT_EQ(Read(*b, service), endpoints) << service;
  }
  // Revisions are etcd's: the same on both replicas.
  v1::ListEndpointSlicesRequest list;
  list.set_namespace_("default");
  auto la = a->ListAllEndpointSlices(list);
  auto lb = b->ListAllEndpointSlices(list);
  ASSERT_OK(la);
  ASSERT_OK(lb);
  EXPECT_EQ(la->revision(), lb->revision());
  ASSERT_EQ(la->slices_size(), lb->slices_size());
  for (int i = 0; i < la->slices_size(); ++i) {
    EXPECT_EQ(la->slices(i).ShortDebugString(), lb->slices(i).ShortDebugString());
  }
  EXPECT_EQ(sub.stats().resets, 0);
}

TEST_F(ReplicasTest, KillingAReplicaMidChurnLosesNoAckedBatch) {
  // The writer and the subscriber prefer replica A and know B.
  std::unique_ptr<Client> writer = MakeClient({0, 1});
  std::unique_ptr<Client> reader = MakeClient({0, 1});
  Subscriber sub(reader.get(), SubOptions(), nullptr);
  sub.Start();
  ASSERT_TRUE(sub.AwaitSynced(kConverge));

  State want;
  absl::Mutex mu;
  int acked = 0;
  int failovers = 0;
  std::thread churn([&] {
    for (int n = 0; n < 150; ++n) {
      std::vector<v1::EndpointChange> batch;
      State next = want;
      for (int k = 0; k < 20; ++k) {
        const std::string service = absl::StrCat("svc-", k % 4);
        const std::string ip = Ip(k % 4, (n * 31 + k * 17) % 200);
        const bool present = (n + k) % 5 != 0;
        batch.push_back(Change(service, ip, present, (n + k) % 3 != 0));
        if (present) {
          next[service][ip] = (n + k) % 3 != 0;
        } else {
          next[service].erase(ip);
        }
      }
      if (ApplyWithFailover(*writer, batch, &failovers) == 0) return;
      absl::MutexLock l(&mu);
      want = std::move(next);
      ++acked;
    }
  });
  // Kill A once the churn is well under way.
  {
    absl::MutexLock l(&mu);
    auto started = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu) { return acked >= 30; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&started), kConverge));
  }
  ASSERT_OK(replicas_[0]->SendSignal(SIGKILL));
  ASSERT_OK(replicas_[0]->Wait(absl::Seconds(10)));
  churn.join();
  ASSERT_EQ(acked, 150);
  EXPECT_GE(failovers, 1) << "the writer never noticed A died";

  std::unique_ptr<Client> b = MakeClient({1});
  v1::ListServicesRequest ls;
  auto services = b->ListServices("default");
  ASSERT_OK(services);
  for (const auto& [service, endpoints] : want) {
    EXPECT_EQ(Read(*b, service), endpoints) << service << ": an acked batch is missing on B";
  }
  // The subscriber moved to B and caught up with deltas: no RESET, one more stream.
  ASSERT_TRUE(sub.AwaitRevision(services->revision(), kConverge));
  for (const auto& [service, endpoints] : want) {
    EXPECT_EQ(FromSubscriber(sub, service), endpoints) << service;
  }
  EXPECT_EQ(sub.stats().resets, 0);
  EXPECT_GE(sub.stats().connects, 2);
}

// One StreamChanges stream sends many batches without waiting for their acks: the replica
// proposes each without waiting for the log (etcd), so batches queued behind a Txn in flight go
// out together in one Txn; batches of one service keep their order. Everything acked is there.
TEST_F(ReplicasTest, OneStreamsBatchesArePipelinedIntoSharedTxnsAndKeepTheirOrder) {
  std::unique_ptr<Client> writer = MakeClient({0});
  constexpr int kServices = 16;
  constexpr int kBatches = 400;
  State want;
  std::vector<v1::ChangeBatch> batches;
  for (int n = 0; n < kBatches; ++n) {
    // Batch n writes service n % kServices; later batches of a service overwrite the readiness
    // earlier ones set, so a reordering shows in the final state.
    const std::string service = absl::StrCat("pipe-", n % kServices);
    v1::ChangeBatch batch;
    batch.set_batch_id(n + 1);
    for (int k = 0; k < 5; ++k) {
      const std::string ip = Ip(n % kServices, (n / kServices + k) % 40);
      const bool ready = (n + k) % 3 != 0;
      *batch.add_changes() = Change(service, ip, /*present=*/true, ready);
      want[service][ip] = ready;
    }
    batches.push_back(std::move(batch));
  }

  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kConverge));
  auto stream = writer->registry()->StreamChanges(&ctx);
  std::vector<v1::ChangeAck> acks;
  std::thread reader([&] {
    v1::ChangeAck ack;
    while (stream->Read(&ack)) acks.push_back(ack);
  });
  for (const v1::ChangeBatch& b : batches) ASSERT_TRUE(stream->Write(b));
  ASSERT_TRUE(stream->WritesDone());
  reader.join();
  ASSERT_TRUE(stream->Finish().ok());

  ASSERT_EQ(acks.size(), static_cast<size_t>(kBatches));
  std::map<std::string, int64_t> last_revision;
  for (int n = 0; n < kBatches; ++n) {
    ASSERT_EQ(acks[n].batch_id(), n + 1);
    ASSERT_EQ(acks[n].code(), 0) << acks[n].message();
    // Per service, each batch's revision is above the one before (never an older state).
    int64_t& last = last_revision[absl::StrCat("pipe-", n % kServices)];
    EXPECT_GT(acks[n].revision(), last) << "batch " << n;
    last = acks[n].revision();
  }
  for (const auto& [service, endpoints] : want) {
    EXPECT_EQ(Read(*writer, service), endpoints) << service;
  }
  // Pipelined: some Txns carried several batches (a stream applied one batch a round trip
  // would send exactly one Txn per batch).
  absl::StatusOr<integration::HttpResponse> metrics =
      integration::HttpGet(replicas_[0]->http_port(), "/metrics");
  ASSERT_OK(metrics);
  absl::StatusOr<integration::Exposition> parsed = integration::ParsePrometheusText(metrics->body);
  ASSERT_OK(parsed);
  const double txns = parsed->Value("slicekeeper_etcd_txns").value_or(-1);
  const double proposals = parsed->Value("slicekeeper_etcd_proposals").value_or(-1);
  EXPECT_GE(proposals, kBatches);
  EXPECT_GT(txns, 0);
  EXPECT_LT(txns, proposals) << "no two batches ever shared a Txn: the stream was not pipelined";
}

TEST_F(ReplicasTest, WritesContinueWithOneEtcdMemberDown) {
  std::unique_ptr<Client> a = MakeClient({0});
  std::unique_ptr<Client> b = MakeClient({1});
  ASSERT_GT(ApplyWithFailover(*a, {Change("web", Ip(1, 1), true)}), 0);
  ASSERT_OK(etcd_->Kill(0));
  int64_t last = 0;
  for (int i = 2; i < 30; ++i) {
    last = ApplyWithFailover(i % 2 == 0 ? *a : *b, {Change("web", Ip(1, i), true)});
    ASSERT_GT(last, 0);
  }
  Subscriber sub(b.get(), SubOptions(), nullptr);
  sub.Start();
  ASSERT_TRUE(sub.AwaitRevision(last, kConverge));
  EXPECT_EQ(FromSubscriber(sub, "web").size(), 29u);
  EXPECT_EQ(Read(*a, "web").size(), 29u);
}

TEST_F(ReplicasTest, ConcurrentWritersOfOneServiceOnBothReplicasLoseNoUpdate) {
  std::unique_ptr<Client> clients[2] = {MakeClient({0}), MakeClient({1})};
  std::map<std::string, bool> want[2];
  auto writer = [&](int id) {
    for (int n = 0; n < 60; ++n) {
      std::vector<v1::EndpointChange> batch;
      std::map<std::string, bool> changes;
      for (int k = 0; k < 5; ++k) {
        changes[Ip(id + 1, (n * 11 + k * 7) % 80)] = (n + k) % 4 != 0;
      }
      for (const auto& [ip, present] : changes) batch.push_back(Change("shared", ip, present));
      if (ApplyWithFailover(*clients[id], batch) == 0) return;
      for (const auto& [ip, present] : changes) want[id][ip] = present;
    }
  };
  std::thread ta(writer, 0), tb(writer, 1);
  ta.join();
  tb.join();
  std::map<std::string, bool> expected;
  for (const auto& m : want) {
    for (const auto& [ip, present] : m) {
      if (present) expected[ip] = true;
    }
  }
  // Both replicas hold the same slices, with every endpoint either writer left present.
  auto services = clients[0]->ListServices("default");
  ASSERT_OK(services);
  Subscriber sub(clients[1].get(), SubOptions(), nullptr);
  sub.Start();
  ASSERT_TRUE(sub.AwaitRevision(services->revision(), kConverge));
  EXPECT_EQ(Read(*clients[0], "shared"), expected);
  EXPECT_EQ(Read(*clients[1], "shared"), expected);
  v1::ListEndpointSlicesRequest list;
  list.set_namespace_("default");
  auto la = clients[0]->ListAllEndpointSlices(list);
  auto lb = clients[1]->ListAllEndpointSlices(list);
  ASSERT_OK(la);
  ASSERT_OK(lb);
  ASSERT_EQ(la->slices_size(), lb->slices_size());
  size_t total = 0;
  for (int i = 0; i < la->slices_size(); ++i) {
    EXPECT_EQ(la->slices(i).ShortDebugString(), lb->slices(i).ShortDebugString());
    EXPECT_LE(la->slices(i).endpoints_size(), 100);
    total += la->slices(i).endpoints_size();
  }
  EXPECT_EQ(total, expected.size());
}

}  // namespace
}  // namespace slicekeeper
