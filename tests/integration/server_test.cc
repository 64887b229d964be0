// Integration tests against the real slicekeeper binary: every EndpointRegistry and
// EndpointDiscovery RPC's happy path, the gRPC health service, and the HTTP side port.
#include <sys/resource.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/health_check.h"
#include "tests/integration/http_get.h"
#include "tests/integration/prometheus_text.h"
#include "tests/integration/server_fixture.h"

namespace slicekeeper::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

constexpr char kManagedBy[] = "endpointslice.kubernetes.io/managed-by";
constexpr char kServiceName[] = "kubernetes.io/service-name";
constexpr char kOurManager[] = "endpointslice-controller.slicekeeper.io";

int TotalEndpoints(const v1::ListEndpointSlicesResponse& list) {
  int n = 0;
  for (const v1::EndpointSlice& s : list.slices()) n += s.endpoints_size();
  return n;
}

v1::EndpointSlice ForeignSlice(const std::string& name, const std::string& manager) {
  v1::EndpointSlice slice;
  slice.mutable_metadata()->set_name(name);
  slice.mutable_metadata()->set_namespace_("shop");
  (*slice.mutable_metadata()->mutable_labels())[kServiceName] = "ext";
  (*slice.mutable_metadata()->mutable_labels())[kManagedBy] = manager;
  slice.set_address_type("IPv4");
  for (const char* ip : {"10.2.0.1", "10.2.0.2"}) {
    v1::Endpoint* e = slice.add_endpoints();
    e->add_addresses(ip);
    e->mutable_conditions()->set_ready(true);
  }
  *slice.add_ports() = Port("http", 80);
  return slice;
}

using ServerRpcTest = ServerTest;

// UpsertService assigns uid/timestamp, and its labels reach the slices it manages, also on update.
TEST_F(ServerRpcTest, UpsertServiceLabelsManagedSlices) {
  v1::UpsertServiceRequest request;
  request.mutable_service()->set_namespace_("shop");
  request.mutable_service()->set_name("web");
  (*request.mutable_service()->mutable_labels())["app"] = "web";
  auto created = Call(registry(), &Registry::Stub::UpsertService, request);
  ASSERT_TRUE(created.status.ok()) << Describe(created.status);
  EXPECT_GT(created.response.revision(), 0);
  EXPECT_FALSE(created.response.service().uid().empty());
  EXPECT_FALSE(created.response.service().creation_timestamp().empty());
  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.1.0.1")}).status.ok());

  auto list = List("shop", "web");
  ASSERT_TRUE(list.status.ok()) << Describe(list.status);
  ASSERT_THAT(list.response.slices(), SizeIs(1));
  const v1::EndpointSlice& slice = list.response.slices(0);
  EXPECT_EQ(slice.api_version(), "discovery.k8s.io/v1");
  EXPECT_EQ(slice.kind(), "EndpointSlice");
  EXPECT_THAT(slice.metadata().labels(),
              UnorderedElementsAre(Pair("app", "web"), Pair(kServiceName, "web"),
                                   Pair(kManagedBy, kOurManager)));
  ASSERT_THAT(slice.metadata().owner_references(), SizeIs(1));
  EXPECT_EQ(slice.metadata().owner_references(0).uid(), created.response.service().uid());

  (*request.mutable_service()->mutable_labels())["app"] = "web2";
  auto updated = Call(registry(), &Registry::Stub::UpsertService, request);
  ASSERT_TRUE(updated.status.ok()) << Describe(updated.status);
  EXPECT_GT(updated.response.revision(), created.response.revision());
  EXPECT_EQ(updated.response.service().uid(), created.response.service().uid());
  list = List("shop", "web");
  ASSERT_THAT(list.response.slices(), SizeIs(1));
  EXPECT_EQ(list.response.slices(0).metadata().labels().at("app"), "web2");
}

// One batch over two services commits at one revision that every written slice carries.
TEST_F(ServerRpcTest, ApplyChangesCommitsAtOneRevision) {
  auto first = Apply({Upsert("shop", "web", "10.1.0.1"), Upsert("shop", "web", "10.1.0.2"),
                      Upsert("shop", "web", "10.1.0.3"), Upsert("shop", "api", "10.1.1.1")},
                     /*batch_id=*/7);
  ASSERT_TRUE(first.status.ok()) << Describe(first.status);
  EXPECT_EQ(first.response.batch_id(), 7u);
  EXPECT_EQ(first.response.code(), 0);
  EXPECT_GT(first.response.revision(), 0);
  EXPECT_EQ(first.response.stats().endpoints_added(), 4);
  EXPECT_EQ(first.response.stats().slices_created(), 2);

  auto list = List("shop");
  ASSERT_TRUE(list.status.ok()) << Describe(list.status);
  EXPECT_EQ(list.response.revision(), first.response.revision());
  EXPECT_EQ(TotalEndpoints(list.response), 4);
  for (const v1::EndpointSlice& s : list.response.slices()) {
    EXPECT_EQ(s.metadata().resource_version(), absl::StrCat(first.response.revision()));
  }

  auto second = Apply({Remove("shop", "web", "10.1.0.2"), Upsert("shop", "web", "10.1.0.4")});
  ASSERT_TRUE(second.status.ok()) << Describe(second.status);
  EXPECT_GT(second.response.revision(), first.response.revision());
  EXPECT_EQ(second.response.stats().endpoints_removed(), 1);
  EXPECT_EQ(second.response.stats().endpoints_added(), 1);
  EXPECT_THAT(Addresses("shop", "web"), ElementsAre("10.1.0.1", "10.1.0.3", "10.1.0.4"));
}

// DeleteService removes the record and all its slices; the second delete is NOT_FOUND.
TEST_F(ServerRpcTest, DeleteServiceRemovesEverySlice) {
  auto write = Apply({Upsert("shop", "web", "10.1.0.1"), Upsert("shop", "api", "10.1.1.1")});
  ASSERT_TRUE(write.status.ok()) << Describe(write.status);
  v1::DeleteServiceRequest request;
  request.set_namespace_("shop");
  request.set_name("web");
  auto deleted = Call(registry(), &Registry::Stub::DeleteService, request);
  ASSERT_TRUE(deleted.status.ok()) << Describe(deleted.status);
  EXPECT_GT(deleted.response.revision(), write.response.revision());
  EXPECT_EQ(deleted.response.stats().endpoints_removed(), 1);

  EXPECT_THAT(List("shop", "web").response.slices(), IsEmpty());
  EXPECT_EQ(Query("shop", "web").status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(Addresses("shop", "api"), ElementsAre("10.1.1.1"));
  EXPECT_EQ(Call(registry(), &Registry::Stub::DeleteService, request).status.error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// ReplaceEndpoints makes the listed set the service's whole set, and echoes the batch id.
TEST_F(ServerRpcTest, ReplaceEndpointsKeepsOnlyTheListedSet) {
  auto write = Apply({Upsert("shop", "web", "10.1.0.1"), Upsert("shop", "web", "10.1.0.2"),
                      Upsert("shop", "web", "10.1.0.3")});
  ASSERT_TRUE(write.status.ok()) << Describe(write.status);
  v1::ReplaceEndpointsRequest request;
  request.set_namespace_("shop");
  request.set_service("web");
  request.set_batch_id(42);
  for (const char* ip : {"10.1.0.2", "10.1.0.9"}) {
    v1::DesiredEndpoint* d = request.add_endpoints();
    d->mutable_endpoint()->add_addresses(ip);
    d->mutable_endpoint()->mutable_conditions()->set_ready(std::string(ip) == "10.1.0.9");
    *d->add_ports() = Port("http", 8080);
  }
  auto replaced = Call(registry(), &Registry::Stub::ReplaceEndpoints, request);
  ASSERT_TRUE(replaced.status.ok()) << Describe(replaced.status);
  EXPECT_EQ(replaced.response.batch_id(), 42u);
  EXPECT_GT(replaced.response.revision(), write.response.revision());
  EXPECT_EQ(replaced.response.stats().endpoints_removed(), 2);
  EXPECT_EQ(replaced.response.stats().endpoints_added(), 1);
  EXPECT_EQ(replaced.response.stats().endpoints_updated(), 1);
  EXPECT_THAT(Addresses("shop", "web"), ElementsAre("10.1.0.2", "10.1.0.9"));
  EXPECT_THAT(Addresses("shop", "web", v1::READY), ElementsAre("10.1.0.9"));
}

// A foreign slice is stored as given, read back, merged into queries, and deleted.
TEST_F(ServerRpcTest, PutGetDeleteForeignEndpointSlice) {
  auto put = Call(registry(), &Registry::Stub::PutEndpointSlice, [] {
    v1::PutEndpointSliceRequest r;
    *r.mutable_slice() = ForeignSlice("ext-1", "my-controller.example.com");
    return r;
  }());
  ASSERT_TRUE(put.status.ok()) << Describe(put.status);
  EXPECT_GT(put.response.revision(), 0);
  EXPECT_FALSE(put.response.slice().metadata().uid().empty());
  EXPECT_EQ(put.response.slice().metadata().resource_version(),
            absl::StrCat(put.response.revision()));

  v1::GetEndpointSliceRequest get;
  get.set_namespace_("shop");
  get.set_name("ext-1");
  auto got = Call(discovery(), &Discovery::Stub::GetEndpointSlice, get);
  ASSERT_TRUE(got.status.ok()) << Describe(got.status);
  EXPECT_EQ(got.response.revision(), put.response.revision());
  EXPECT_EQ(got.response.slice().metadata().labels().at(kManagedBy), "my-controller.example.com");
  EXPECT_EQ(got.response.slice().metadata().uid(), put.response.slice().metadata().uid());
  EXPECT_THAT(got.response.slice().endpoints(), SizeIs(2));
  EXPECT_THAT(Addresses("shop", "ext"), ElementsAre("10.2.0.1", "10.2.0.2"));

  v1::DeleteEndpointSliceRequest del;
  del.set_namespace_("shop");
  del.set_name("ext-1");
  auto deleted = Call(registry(), &Registry::Stub::DeleteEndpointSlice, del);
  ASSERT_TRUE(deleted.status.ok()) << Describe(deleted.status);
  EXPECT_GT(deleted.response.revision(), put.response.revision());
  EXPECT_EQ(Call(discovery(), &Discovery::Stub::GetEndpointSlice, get).status.error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Call(registry(), &Registry::Stub::DeleteEndpointSlice, del).status.error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// The foreign-slice RPCs refuse slicekeeper's own managed-by value and managed slices.
TEST_F(ServerRpcTest, ForeignSliceRpcsRefuseManagedSlices) {
  v1::PutEndpointSliceRequest put;
  *put.mutable_slice() = ForeignSlice("ext-1", kOurManager);
  auto refused = Call(registry(), &Registry::Stub::PutEndpointSlice, put);
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << Describe(refused.status);
  v1::GetEndpointSliceRequest get;
  get.set_namespace_("shop");
  get.set_name("ext-1");
  EXPECT_EQ(Call(discovery(), &Discovery::Stub::GetEndpointSlice, get).status.error_code(),
            grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.1.0.1")}).status.ok());
  auto list = List("shop", "web");
  ASSERT_THAT(list.response.slices(), SizeIs(1));
  const v1::EndpointSlice managed = list.response.slices(0);
  v1::DeleteEndpointSliceRequest del;
  del.set_namespace_("shop");
  del.set_name(managed.metadata().name());
  auto status = Call(registry(), &Registry::Stub::DeleteEndpointSlice, del).status;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << Describe(status);
  get.set_name(managed.metadata().name());
  auto still = Call(discovery(), &Discovery::Stub::GetEndpointSlice, get);
  ASSERT_TRUE(still.status.ok()) << Describe(still.status);
  EXPECT_EQ(still.response.slice().metadata().resource_version(),
            managed.metadata().resource_version());
}

// PutNodes feeds topology mode Auto: a service without node information gets no hints; once
// nodes with equal CPU per zone are put, its distribution re-runs at a new revision and every
// endpoint is hinted for its own zone. A bad node is INVALID_ARGUMENT naming nodes[i].
TEST_F(ServerRpcTest, PutNodesDrivesAutoHints) {
  v1::UpsertServiceRequest service;
  service.mutable_service()->set_namespace_("shop");
  service.mutable_service()->set_name("web");
  service.mutable_service()->set_topology_mode("Auto");
  ASSERT_TRUE(Call(registry(), &Registry::Stub::UpsertService, service).status.ok());
  std::vector<v1::EndpointChange> changes;
  for (int i = 0; i < 9; ++i) {
    const std::string zone = absl::StrCat("zone-", std::string(1, static_cast<char>('a' + i % 3)));
    v1::EndpointChange c = Upsert("shop", "web", absl::StrCat("10.1.0.", i + 1));
    c.mutable_endpoint()->set_zone(zone);
    c.mutable_endpoint()->set_node_name(absl::StrCat("node-", zone));
    changes.push_back(std::move(c));
  }
  auto write = Apply(changes);
  ASSERT_TRUE(write.status.ok()) << Describe(write.status);
  auto before = Query("shop", "web");
  ASSERT_TRUE(before.status.ok()) << Describe(before.status);
  for (const v1::ServiceEndpoint& e : before.response.endpoints()) {
    EXPECT_EQ(e.hints().for_zones_size(), 0) << e.address();
  }

  v1::PutNodesRequest nodes;
  for (const char* zone : {"zone-a", "zone-b", "zone-c"}) {
    v1::Node* node = nodes.add_nodes();
    node->set_name(absl::StrCat("node-", zone));
    node->set_zone(zone);
    node->set_cpu_millis(4000);
    node->set_ready(true);
  }
  auto put = Call(registry(), &Registry::Stub::PutNodes, nodes);
  ASSERT_TRUE(put.status.ok()) << Describe(put.status);
  EXPECT_GT(put.response.revision(), write.response.revision());
  auto after = Query("shop", "web");
  ASSERT_TRUE(after.status.ok()) << Describe(after.status);
  ASSERT_THAT(after.response.endpoints(), SizeIs(9));
  for (const v1::ServiceEndpoint& e : after.response.endpoints()) {
    SCOPED_TRACE(e.address());
    ASSERT_THAT(e.hints().for_zones(), SizeIs(1));
    EXPECT_EQ(e.hints().for_zones(0).name(), e.zone());
  }

  v1::PutNodesRequest bad = nodes;
  bad.mutable_nodes(1)->set_name("Bad_Node");
  auto rejected = Call(registry(), &Registry::Stub::PutNodes, bad);
  EXPECT_EQ(rejected.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(rejected.status.error_message(), HasSubstr("nodes[1].name"));
  EXPECT_EQ(Revision(), put.response.revision());
}

// ListServices counts endpoints by condition and zone, per namespace, at the latest revision.
TEST_F(ServerRpcTest, ListServicesSummarizesByConditionAndZone) {
  v1::EndpointChange a1 = Upsert("shop", "web", "10.1.0.1");
  a1.mutable_endpoint()->set_zone("zone-a");
  v1::EndpointChange a2 = WithConditions(Upsert("shop", "web", "10.1.0.2"), false, true, true);
  a2.mutable_endpoint()->set_zone("zone-a");
  v1::EndpointChange b1 = Upsert("shop", "web", "10.1.0.3");
  b1.mutable_endpoint()->set_zone("zone-b");
  auto web = Apply({a1, a2, b1});
  ASSERT_TRUE(web.status.ok()) << Describe(web.status);
  auto api = Apply({Upsert("shop", "api", "10.1.1.1")});
  ASSERT_TRUE(api.status.ok()) << Describe(api.status);

  v1::ListServicesRequest request;
  request.set_namespace_("shop");
  auto list = Call(discovery(), &Discovery::Stub::ListServices, request);
  ASSERT_TRUE(list.status.ok()) << Describe(list.status);
  EXPECT_EQ(list.response.revision(), api.response.revision());
  ASSERT_THAT(list.response.services(), SizeIs(2));
  const v1::ServiceSummary& s_api = list.response.services(0);
  const v1::ServiceSummary& s_web = list.response.services(1);
  EXPECT_EQ(s_api.name(), "api");
  EXPECT_EQ(s_api.mod_revision(), api.response.revision());
  EXPECT_EQ(s_api.by_zone().at("").total(), 1);
  EXPECT_EQ(s_web.name(), "web");
  EXPECT_EQ(s_web.mod_revision(), web.response.revision());
  EXPECT_EQ(s_web.slices(), 1);
  EXPECT_EQ(s_web.endpoints().total(), 3);
  EXPECT_EQ(s_web.endpoints().ready(), 2);
  EXPECT_EQ(s_web.endpoints().serving(), 3);
  EXPECT_EQ(s_web.endpoints().terminating(), 1);
  EXPECT_EQ(s_web.by_zone().at("zone-a").total(), 2);
  EXPECT_EQ(s_web.by_zone().at("zone-a").ready(), 1);
  EXPECT_EQ(s_web.by_zone().at("zone-b").ready(), 1);

  request.set_namespace_("other");
  EXPECT_THAT(Call(discovery(), &Discovery::Stub::ListServices, request).response.services(),
              IsEmpty());
}

// The standard health service reports SERVING for the server and both API services.
TEST_F(ServerRpcTest, HealthCheckIsServing) {
  for (const char* service :
       {"", "slicekeeper.v1.EndpointRegistry", "slicekeeper.v1.EndpointDiscovery"}) {
    SCOPED_TRACE(service);
    int serving = -1;
    grpc::Status status = HealthCheck(clients_->channel, service, &serving);
    ASSERT_TRUE(status.ok()) << Describe(status);
    EXPECT_EQ(serving, 1);
  }
  int serving = -1;
  EXPECT_EQ(HealthCheck(clients_->channel, "no.such.Service", &serving).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// GET /metrics on `port`, parsed.
absl::StatusOr<Exposition> ScrapeMetrics(int port) {
  absl::StatusOr<HttpResponse> response = HttpGet(port, "/metrics");
  if (!response.ok()) return response.status();
  return ParsePrometheusText(response->body);
}

// /metrics is valid Prometheus text, and the ApplyChanges request counter counts each call.
TEST_F(ServerRpcTest, MetricsParseAndCountRequests) {
  auto scrape = [&]() -> Exposition {
    auto response = HttpGet(server_->http_port(), "/metrics");
    EXPECT_TRUE(response.ok()) << response.status();
    if (!response.ok()) return {};
    EXPECT_EQ(response->status, 200);
    EXPECT_THAT(response->headers["content-type"], HasSubstr("text/plain; version=0.0.4"));
    auto parsed = ParsePrometheusText(response->body);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    return parsed.ok() ? *parsed : Exposition{};
  };
  const Labels ok = {{"method", "ApplyChanges"}, {"code", "OK"}};
  const Labels invalid = {{"method", "ApplyChanges"}, {"code", "INVALID_ARGUMENT"}};
  Exposition before = scrape();
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(before.families["slicekeeper_grpc_requests_total"].type, "counter");

  ASSERT_TRUE(
      Apply({Upsert("shop", "web", "10.1.0.1"), Upsert("shop", "web", "10.1.0.2")}).status.ok());
  EXPECT_FALSE(Apply({Upsert("shop", "web", "127.0.0.1")}).status.ok());
  Exposition after = scrape();
  ASSERT_FALSE(HasFailure());
  const std::string requests = "slicekeeper_grpc_requests_total";
  EXPECT_EQ(after.Value(requests, ok).value_or(-1), before.Value(requests, ok).value_or(0) + 1);
  EXPECT_EQ(after.Value(requests, invalid).value_or(-1),
            before.Value(requests, invalid).value_or(0) + 1);
  EXPECT_EQ(after.Value("slicekeeper_change_batches_total", {{"result", "ok"}}),
            before.Value("slicekeeper_change_batches_total", {{"result", "ok"}}).value_or(0) + 1);
  EXPECT_EQ(after.Value("slicekeeper_endpoints"), 2);
  // The store's memory by part counts the two endpoints and their slice.
  const std::string memory = "slicekeeper_store_memory_bytes";
  EXPECT_EQ(before.Value(memory, {{"part", "endpoints"}}), 0);
  EXPECT_GT(after.Value(memory, {{"part", "endpoints"}}).value_or(0), 0);
  EXPECT_GT(after.Value(memory, {{"part", "slices"}}).value_or(0), 0);
  EXPECT_EQ(after.Value("slicekeeper_revision"), Revision());
  EXPECT_EQ(
      after.Value("slicekeeper_grpc_request_duration_seconds_count", {{"method", "ApplyChanges"}}),
      2);
}

// The in-memory history's bound follows the store unless --history_bytes sets it: RocksDB keeps
// the window on disk and only its newest 16 MiB in memory; the memory store keeps 64 MiB. The
// storage's own memory is exported by part (RocksDB's memtables hold the writes just made).
class HistoryBoundTest : public ServerTest,
                         public ::testing::WithParamInterface<std::vector<std::string>> {
 protected:
  std::vector<std::string> ExtraArgs() const override { return GetParam(); }
};

TEST_P(HistoryBoundTest, MaxBytesAndStorageMemory) {
  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.1.0.1")}).status.ok());
  absl::StatusOr<Exposition> parsed = ScrapeMetrics(server_->http_port());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const std::vector<std::string>& args = GetParam();
  const bool rocksdb = std::find(args.begin(), args.end(), "--store=memory") == args.end();
  const bool explicit_bound =
      std::find(args.begin(), args.end(), "--history_bytes=1000") != args.end();
  const double expected = explicit_bound ? 1000 : rocksdb ? 16 << 20 : 64 << 20;
  EXPECT_EQ(parsed->Value("slicekeeper_history_max_bytes"), expected);
  const std::string storage = "slicekeeper_storage_memory_bytes";
  if (rocksdb) {
    EXPECT_GT(parsed->Value(storage, {{"part", "memtables"}}).value_or(-1), 0);
    EXPECT_GE(parsed->Value(storage, {{"part", "block_cache"}}).value_or(-1), 0);
  } else {
    EXPECT_EQ(parsed->Value(storage, {{"part", "memtables"}}), -1);
  }
  // The data directory by part: a fresh one has its log, RocksDB's info log and MANIFEST, and
  // has compacted nothing yet.
  const std::string disk = "slicekeeper_storage_disk_bytes";
  const std::string compacted = "slicekeeper_storage_compacted_bytes";
  if (rocksdb) {
    EXPECT_GT(parsed->Value(disk, {{"part", "write_ahead_log"}}).value_or(-1), 0);
    EXPECT_GT(parsed->Value(disk, {{"part", "info_log"}}).value_or(-1), 0);
    EXPECT_GT(parsed->Value(disk, {{"part", "other"}}).value_or(-1), 0);
    EXPECT_GE(parsed->Value(disk, {{"part", "live_tables"}}).value_or(-1), 0);
    EXPECT_GE(parsed->Value(disk, {{"part", "history_tables"}}).value_or(-1), 0);
    EXPECT_EQ(parsed->Value(compacted, {{"family", "history"}}), 0);
  } else {
    EXPECT_EQ(parsed->Value(disk, {{"part", "info_log"}}), -1);
    EXPECT_EQ(parsed->Value(compacted, {{"family", "live"}}), -1);
  }
}

// The process gauges read /proc (RSS, descriptors, start time); the allocator's, jemalloc's own
// statistics when the server runs on it, else -1.
TEST_F(ServerTest, ProcessAndAllocatorMetrics) {
  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.1.0.1")}).status.ok());
  absl::StatusOr<Exposition> parsed = ScrapeMetrics(server_->http_port());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const double rss = parsed->Value("process_resident_memory_bytes").value_or(-1);
  EXPECT_GT(rss, 1 << 20);
  EXPECT_GT(parsed->Value("process_virtual_memory_bytes").value_or(-1), rss);
  EXPECT_GE(parsed->Value("process_open_fds").value_or(-1), 3);  // stdio at least
  const double now = absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch());
  const double start = parsed->Value("process_start_time_seconds").value_or(-1);
  EXPECT_LE(start, now + 1);
  EXPECT_GT(start, now - 600);  // this test started the server
  const std::string allocator = "slicekeeper_allocator_bytes";
  const double allocated = parsed->Value(allocator, {{"part", "allocated"}}).value_or(-2);
  const double active = parsed->Value(allocator, {{"part", "active"}}).value_or(-2);
  const double resident = parsed->Value(allocator, {{"part", "resident"}}).value_or(-2);
  if (SK_SERVER_ON_JEMALLOC) {
    EXPECT_GT(allocated, 1 << 20);
    EXPECT_LE(allocated, active);
    EXPECT_GT(resident, 0);
    EXPECT_GT(parsed->Value(allocator, {{"part", "metadata"}}).value_or(-1), 0);
  } else {
    EXPECT_EQ(allocated, -1);
    EXPECT_EQ(resident, -1);
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, HistoryBoundTest,
                         ::testing::Values(std::vector<std::string>{},
                                           std::vector<std::string>{"--store=memory"},
                                           std::vector<std::string>{"--history_bytes=1000"}));

// /healthz and /readyz answer 200 "ok\n" while serving; unknown paths are 404.
TEST_F(ServerRpcTest, HealthzAndReadyz) {
  for (const char* path : {"/healthz", "/readyz"}) {
    SCOPED_TRACE(path);
    auto response = HttpGet(server_->http_port(), path);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "ok\n");
  }
  auto missing = HttpGet(server_->http_port(), "/nope");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
}

// Transparent huge pages serve the load only: once serving, the process has them disabled
// (under churn khugepaged refilled jemalloc's purged pages, and RSS grew past its live heap).
TEST_F(ServerTest, HugePagesAreOffOnceServing) {
  std::ifstream status(absl::StrCat("/proc/", server_->pid(), "/status"));
  std::string line;
  bool found = false;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, "THP_enabled:")) continue;
    found = true;
    EXPECT_EQ(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)), "0");
  }
  EXPECT_TRUE(found) << "no THP_enabled line in /proc/<pid>/status (Linux >= 5.0)";
}

// A soft descriptor limit under the hard one is raised to it at start (RocksDB holds a descriptor
// per table file, and a login shell's soft limit is often 1 024): the server reports the hard
// limit as process_max_fds.
TEST(OpenFileLimitTest, SoftLimitIsRaisedToTheHardOne) {
  rlimit original{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &original), 0);
  const rlim_t hard = original.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : original.rlim_max;
  rlimit low = original;
  low.rlim_cur = std::min<rlim_t>(hard / 2, 256);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  auto server = ServerProcess::Start({.binary = SK_SLICEKEEPER_BINARY});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_TRUE(server.ok()) << server.status();
  absl::StatusOr<Exposition> parsed = ScrapeMetrics((*server)->http_port());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Value("process_max_fds"), static_cast<double>(hard));
}

}  // namespace
}  // namespace slicekeeper::integration
