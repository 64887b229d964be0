// The operator view's JSON API and live stream (server/ui/operator_view.h) against an in-process
// store, hub and HTTP port: every figure against the store's own (query::Summarize over a
// Store::Snapshot, the figures ListServices serves), filters, errors, and an SSE client that stops
// reading through 100 000 endpoint changes while the server's queue for it stays bounded.
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "server/auth/authorizer.h"
#include "server/http/admission.h"
#include "server/http/http_server.h"
#include "server/query/merge.h"
#include "server/store/store.h"
#include "server/ui/operator_view.h"
#include "server/watch/hub.h"
#include "tests/http/http_client.h"
#include "tests/json_path.h"
#include "tests/test_util.h"

namespace slicekeeper::ui {
namespace {

using ::google::protobuf::Value;

Value Json(absl::string_view text) {
  Value v;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(std::string(text), &v).ok()) << text;
  return v;
}

using ::slicekeeper::testing::At;

int64_t Int(const Value& v, std::initializer_list<absl::string_view> path) {
  return static_cast<int64_t>(At(v, path).number_value());
}

v1::EndpointChange Change(absl::string_view ns, absl::string_view svc, int i,
                          absl::string_view zone, bool ready, bool terminating = false) {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::UPSERT);
  c.set_namespace_(std::string(ns));
  c.set_service(std::string(svc));
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(absl::StrCat("10.", i / 65536 % 256, ".", i / 256 % 256, ".", i % 256));
  e->mutable_conditions()->set_ready(ready);
  e->mutable_conditions()->set_serving(ready || terminating);
  e->mutable_conditions()->set_terminating(terminating);
  e->set_zone(std::string(zone));
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_port(8080);
  return c;
}

class UiApiTest : public ::testing::Test {
 protected:
  // `authorizer`: the port's admission (null: open, as without security flags).
  void Start(OperatorView::Options options, auth::Authorizer* authorizer = nullptr) {
    store::Store::Options so;
    so.reconcile.max_endpoints_per_slice = options.max_endpoints_per_slice;
    store_ = std::make_unique<store::Store>(so);
    hub_ = std::make_unique<watch::Hub>(store_.get(), watch::Hub::Options{});
    hub_->Start();
    view_ = std::make_unique<OperatorView>(store_.get(), hub_.get(), std::move(options));
    http_ = std::make_unique<http::HttpServer>(
        http::HttpServer::Options{.listen_address = "127.0.0.1:0",
                                  .num_threads = 8,
                                  .max_streams = 4,
                                  .admit = http::AuthorizerAdmission(authorizer)});
    view_->Install(http_.get());
    view_->Start();
    absl::StatusOr<int> port = http_->Start();
    ASSERT_OK(port);
    port_ = *port;
  }
  void TearDown() override {
    if (http_ != nullptr) http_->Stop();
    if (view_ != nullptr) view_->Stop();
    if (hub_ != nullptr) hub_->Stop();
  }

  testing::HttpReply Get(absl::string_view target, absl::string_view token = "") {
    testing::HttpHeaders headers;
    if (!token.empty()) headers.emplace_back("Authorization", absl::StrCat("Bearer ", token));
    absl::StatusOr<testing::HttpReply> r = testing::Fetch(port_, "GET", target, "", headers);
    EXPECT_OK(r);
    return r.ok() ? *r : testing::HttpReply{};
  }

  // Waits (bounded) until the view reflects every commit of the store.
  struct SeriesTotals {
    int64_t added = 0, removed = 0, flips = 0, writes = 0;
  };
  // Closes the current second and sums every sample of /api/ui/v1/series.
  SeriesTotals TickAndSumSeries() {
    view_->recorder().Tick();
    const Value series = Json(Get("/api/ui/v1/series").body);
    SeriesTotals out;
    for (const Value& s : At(series, {"samples"}).list_value().values()) {
      out.added += Int(s, {"added"});
      out.removed += Int(s, {"removed"});
      out.flips += Int(s, {"flips"});
      out.writes += Int(s, {"writes"});
    }
    return out;
  }

  void AwaitView() {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (view_->recorder().totals().revision < store_->revision() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(view_->recorder().totals().revision, store_->revision());
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<watch::Hub> hub_;
  std::unique_ptr<OperatorView> view_;
  std::unique_ptr<http::HttpServer> http_;
  int port_ = 0;
};

TEST_F(UiApiTest, OverviewAndServicesMatchTheStore) {
  Start(OperatorView::Options{.max_endpoints_per_slice = 10});
  std::vector<v1::EndpointChange> changes;
  for (int i = 0; i < 37; ++i) {
    changes.push_back(
        Change("shop", "web", i, i % 3 == 0 ? "zone-a" : "zone-b", i % 4 != 0, i % 9 == 0));
  }
  for (int i = 0; i < 5; ++i) changes.push_back(Change("ops", "db", 1000 + i, "zone-c", true));
  ASSERT_OK(store_->ApplyChanges(changes));
  v1::ServiceRecord record;
  record.set_namespace_("ops");
  record.set_name("db");
  (*record.mutable_labels())["tier"] = "data";
  ASSERT_OK(store_->UpsertService(record));
  AwaitView();

  store::CatalogPtr catalog = store_->Snapshot();
  v1::ConditionCounts want;
  int64_t slices = 0;
  for (const store::ServiceSnapshotPtr& s : catalog->services) {
    const v1::ServiceSummary sum = query::Summarize(*s);
    slices += sum.slices();
    want.set_total(want.total() + sum.endpoints().total());
    want.set_ready(want.ready() + sum.endpoints().ready());
    want.set_serving(want.serving() + sum.endpoints().serving());
    want.set_terminating(want.terminating() + sum.endpoints().terminating());
  }
  const Value o = Json(Get("/api/ui/v1/overview").body);
  EXPECT_EQ(Int(o, {"revision"}), store_->revision());
  EXPECT_EQ(Int(o, {"services"}), static_cast<int64_t>(catalog->services.size()));
  EXPECT_EQ(Int(o, {"slices"}), slices);
  EXPECT_EQ(Int(o, {"endpoints", "total"}), want.total());
  EXPECT_EQ(Int(o, {"endpoints", "ready"}), want.ready());
  EXPECT_EQ(Int(o, {"endpoints", "serving"}), want.serving());
  EXPECT_EQ(Int(o, {"endpoints", "terminating"}), want.terminating());
  EXPECT_EQ(want.total(), 42);
  EXPECT_EQ(Int(o, {"history", "commits"}), store_->history_usage().first);
  EXPECT_EQ(At(o, {"storage", "healthy"}).bool_value(), true);

  const Value all = Json(Get("/api/ui/v1/services").body);
  ASSERT_EQ(At(all, {"services"}).list_value().values_size(), 2);
  for (const Value& row : At(all, {"services"}).list_value().values()) {
    store::ServiceSnapshotPtr s =
        store_->GetService(At(row, {"namespace"}).string_value(), At(row, {"name"}).string_value());
    ASSERT_NE(s, nullptr);
    const v1::ServiceSummary sum = query::Summarize(*s);
    EXPECT_EQ(Int(row, {"endpoints", "total"}), sum.endpoints().total());
    EXPECT_EQ(Int(row, {"endpoints", "ready"}), sum.endpoints().ready());
    EXPECT_EQ(Int(row, {"zones"}), sum.by_zone_size());
    EXPECT_EQ(Int(row, {"slices"}), sum.slices());
    EXPECT_DOUBLE_EQ(At(row, {"fill"}).number_value(),
                     static_cast<double>(sum.endpoints().total()) / (sum.slices() * 10));
    EXPECT_EQ(Int(row, {"mod_revision"}), s->mod_revision);
  }
  // Filters: namespace, and a label selector on the service record.
  EXPECT_EQ(At(Json(Get("/api/ui/v1/services?namespace=shop").body), {"services"})
                .list_value()
                .values_size(),
            1);
  const Value data = Json(Get("/api/ui/v1/services?selector=tier%3Ddata").body);
  ASSERT_EQ(At(data, {"services"}).list_value().values_size(), 1);
  EXPECT_EQ(At(At(data, {"services"}).list_value().values(0), {"name"}).string_value(), "db");
  EXPECT_EQ(Get("/api/ui/v1/services?selector=tier%20in%20(").status, 400);

  // One service: zones as Summarize has them, slices with their fill.
  const Value web = Json(Get("/api/ui/v1/services/shop/web").body);
  const v1::ServiceSummary sum = query::Summarize(*store_->GetService("shop", "web"));
  ASSERT_EQ(At(web, {"zones"}).list_value().values_size(), 2);
  for (const Value& z : At(web, {"zones"}).list_value().values()) {
    const v1::ConditionCounts& c = sum.by_zone().at(At(z, {"zone"}).string_value());
    EXPECT_EQ(Int(z, {"endpoints", "ready"}), c.ready());
    EXPECT_EQ(Int(z, {"endpoints", "total"}), c.total());
  }
  int64_t in_slices = 0;
  for (const Value& s : At(web, {"slices"}).list_value().values()) {
    EXPECT_LE(At(s, {"fill"}).number_value(), 1.0);
    in_slices += Int(s, {"endpoints"});
  }
  EXPECT_EQ(in_slices, 37);
  EXPECT_GE(At(web, {"events"}).list_value().values_size(), 1);

  EXPECT_EQ(Get("/api/ui/v1/services/shop/nope").status, 404);
  EXPECT_EQ(Get("/api/ui/v1/nope").status, 404);
  EXPECT_EQ(testing::Fetch(port_, "POST", "/api/ui/v1/overview")->status, 405);
  const testing::HttpReply root = Get("/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.headers.at("location"), "/ui/");
  EXPECT_EQ(Get("/elsewhere").status, 404);
  EXPECT_EQ(Get("/ui/").status, 200);
}

TEST_F(UiApiTest, DeletedServiceLeavesTheTableAndTheTotals) {
  Start(OperatorView::Options{});
  ASSERT_OK(store_->ApplyChanges({Change("default", "a", 1, "z", true)}));
  ASSERT_OK(store_->ApplyChanges({Change("default", "b", 2, "z", true)}));
  ASSERT_OK(store_->DeleteService("default", "a"));
  AwaitView();
  const Value all = Json(Get("/api/ui/v1/services").body);
  ASSERT_EQ(At(all, {"services"}).list_value().values_size(), 1);
  EXPECT_EQ(Int(Json(Get("/api/ui/v1/overview").body), {"endpoints", "total"}), 1);
  EXPECT_EQ(Get("/api/ui/v1/services/default/a").status, 404);
}

TEST_F(UiApiTest, SeriesCountsChurnPerSecond) {
  Start(OperatorView::Options{});
  ASSERT_OK(store_->ApplyChanges(
      {Change("default", "a", 1, "z", true), Change("default", "a", 2, "z", true)}));
  AwaitView();
  ASSERT_OK(store_->ApplyChanges({Change("default", "a", 1, "z", false)}));
  AwaitView();
  const SeriesTotals totals = TickAndSumSeries();
  EXPECT_EQ(totals.added, 2);
  EXPECT_EQ(totals.flips, 1);
  EXPECT_EQ(totals.writes, 2);
}

// The churn counts against a model: random commits of upserts (readiness, terminating, zone and
// port-set changes) and removes over 400 endpoints of one service (several slices, endpoints
// moving between them), each commit observed by the recorder. Per commit, an address is added
// when only the new state has it, removed when only the old one does, and flipped when both
// do with other conditions; the series must sum to exactly the model's totals.
TEST_F(UiApiTest, ChurnCountsMatchAModelOfEveryCommit) {
  Start(OperatorView::Options{});
  std::mt19937 rng(20261206);
  auto bits = [](bool ready, bool terminating) {
    return static_cast<int>(ready) | static_cast<int>(ready || terminating) << 1 |
           static_cast<int>(terminating) << 2;
  };
  std::map<int, int> model;  // endpoint index -> condition bits
  int64_t added = 0, removed = 0, flips = 0;
  for (int commit = 0; commit < 60; ++commit) {
    std::vector<v1::EndpointChange> batch;
    std::map<int, int> after = model;
    const int n = 1 + static_cast<int>(rng() % 40);
    for (int k = 0; k < n; ++k) {
      const int i = static_cast<int>(rng() % 400);
      if (rng() % 4 == 0) {
        v1::EndpointChange c = Change("default", "churn", i, "z", true);
        c.set_op(v1::EndpointChange::REMOVE);
        c.clear_ports();
        batch.push_back(std::move(c));
        after.erase(i);
        continue;
      }
      const bool ready = rng() % 2 == 0, terminating = !ready && rng() % 3 == 0;
      v1::EndpointChange c =
          Change("default", "churn", i, absl::StrCat("zone-", rng() % 3), ready, terminating);
      if (rng() % 10 == 0) c.mutable_ports(0)->set_port(8081);
      batch.push_back(std::move(c));
      after[i] = bits(ready, terminating);
    }
    for (const auto& [i, b] : after) {
      auto old = model.find(i);
      if (old == model.end()) {
        ++added;
      } else if (old->second != b) {
        ++flips;
      }
    }
    for (const auto& [i, b] : model) removed += after.contains(i) ? 0 : 1;
    model = std::move(after);
    ASSERT_OK(store_->ApplyChanges(batch));
    AwaitView();
  }
  const SeriesTotals seen = TickAndSumSeries();
  EXPECT_GT(removed, 0);
  EXPECT_GT(flips, 0);
  EXPECT_EQ(seen.added, added);
  EXPECT_EQ(seen.removed, removed);
  EXPECT_EQ(seen.flips, flips);
}

// An SSE client that stops reading while 100 000 endpoint changes commit: the server's queue for
// it never holds more than its bounds (keys + events), it coalesced or resynced, and once the
// client reads again it is told to resync or gets the rows.
TEST_F(UiApiTest, StalledEventStreamStaysBoundedThrough100kChanges) {
  constexpr size_t kMaxKeys = 8, kMaxEvents = 16;
  Start(OperatorView::Options{.max_queue_keys = kMaxKeys, .max_queue_events = kMaxEvents});
  absl::StatusOr<std::unique_ptr<testing::HttpStream>> sse =
      testing::HttpStream::Open(port_, "/api/ui/v1/events");
  ASSERT_OK(sse);
  ASSERT_EQ((*sse)->status(), 200);
  ASSERT_OK((*sse)->ReadLine(absl::Seconds(5)));  // retry:, then stop reading
  constexpr int kServices = 40, kBatch = 500, kChanges = 100'000;
  for (int done = 0; done < kChanges; done += kBatch) {
    std::vector<v1::EndpointChange> batch;
    for (int i = 0; i < kBatch; ++i) {
      const int n = done + i;
      batch.push_back(Change("default", absl::StrCat("svc-", n % kServices), n % 4000,
                             n % 2 ? "zone-a" : "zone-b", n % 3 != 0));
    }
    ASSERT_OK(store_->ApplyChanges(batch));
  }
  AwaitView();
  const internal::Recorder::QueueStats stats = view_->recorder().queue_stats();
  EXPECT_EQ(stats.open, 1);
  EXPECT_LE(stats.max_high_water, static_cast<int64_t>(kMaxKeys + kMaxEvents));
  EXPECT_GT(stats.max_high_water, 0);
  EXPECT_GT(stats.coalesced + stats.resyncs, 0);
  const Value o = Json(Get("/api/ui/v1/overview").body);
  EXPECT_LE(Int(o, {"pages", "max_queued"}), static_cast<int64_t>(kMaxKeys + kMaxEvents));
  // Reading again: the stream is alive and delivers a resync or rows.
  bool caught_up = false;
  for (int i = 0; i < 200000 && !caught_up; ++i) {
    absl::StatusOr<std::string> line = (*sse)->ReadLine(absl::Seconds(5));
    ASSERT_OK(line);
    caught_up = *line == "event: resync" || *line == "event: services";
  }
  EXPECT_TRUE(caught_up);
}

// With a policy and tokens, the API admits through the port's one authorization layer: no token
// is 401 (the page itself stays public: it asks for one), a reader of team-a sees team-a only, in
// the table, the totals and the live stream, and none of the cluster-wide figures.
TEST_F(UiApiTest, ReaderOfOneNamespaceSeesOnlyIt) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/ui_auth_", getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/tokens.csv") << "tok-a,alice\ntok-root,root\n";
  std::ofstream(dir + "/policy.yaml") << R"(
rules:
  - role: reader
    identities: ["alice"]
    namespaces: ["team-a"]
  - role: reader
    identities: ["root"]
    namespaces: ["*"]
)";
  absl::StatusOr<std::unique_ptr<auth::Authorizer>> authorizer = auth::Authorizer::Create(
      {.token_file = dir + "/tokens.csv", .policy_file = dir + "/policy.yaml"});
  ASSERT_OK(authorizer);
  Start(OperatorView::Options{}, authorizer->get());
  ASSERT_OK(store_->ApplyChanges(
      {Change("team-a", "web", 1, "z", true), Change("team-a", "web", 2, "z", false)}));
  ASSERT_OK(store_->ApplyChanges({Change("team-b", "db", 3, "z", true)}));
  AwaitView();

  EXPECT_EQ(Get("/api/ui/v1/overview").status, 401);
  EXPECT_EQ(Get("/api/ui/v1/events").status, 401);
  EXPECT_EQ(Get("/api/ui/v1/overview", "wrong").status, 401);
  EXPECT_EQ(Get("/ui/").status, 200);

  const Value mine = Json(Get("/api/ui/v1/services", "tok-a").body);
  ASSERT_EQ(At(mine, {"services"}).list_value().values_size(), 1);
  EXPECT_EQ(At(At(mine, {"services"}).list_value().values(0), {"namespace"}).string_value(),
            "team-a");
  const Value o = Json(Get("/api/ui/v1/overview", "tok-a").body);
  EXPECT_EQ(Int(o, {"services"}), 1);
  EXPECT_EQ(Int(o, {"endpoints", "total"}), 2);
  EXPECT_EQ(Int(o, {"endpoints", "ready"}), 1);
  EXPECT_EQ(At(o, {"namespaces"}).list_value().values(0).string_value(), "team-a");
  EXPECT_TRUE(At(o, {"subscribers"}).has_null_value());
  EXPECT_EQ(Get("/api/ui/v1/services/team-a/web", "tok-a").status, 200);
  EXPECT_EQ(Get("/api/ui/v1/services/team-b/db", "tok-a").status, 403);
  EXPECT_EQ(Get("/api/ui/v1/series", "tok-a").status, 403);
  EXPECT_EQ(Get("/api/ui/v1/subscribers", "tok-a").status, 403);

  const Value all = Json(Get("/api/ui/v1/overview", "tok-root").body);
  EXPECT_EQ(Int(all, {"services"}), 2);
  EXPECT_EQ(Int(all, {"endpoints", "total"}), 3);
  EXPECT_EQ(Get("/api/ui/v1/series", "tok-root").status, 200);
  EXPECT_EQ(At(Json(Get("/api/ui/v1/services", "tok-root").body), {"services"})
                .list_value()
                .values_size(),
            2);

  // The live stream: team-b's change is not sent, team-a's is, alone.
  absl::StatusOr<std::unique_ptr<testing::HttpStream>> sse =
      testing::HttpStream::Open(port_, "/api/ui/v1/events", {{"Authorization", "Bearer tok-a"}});
  ASSERT_OK(sse);
  ASSERT_EQ((*sse)->status(), 200);
  std::string overview;
  for (int i = 0; i < 5 && !absl::StartsWith(overview, "data: "); ++i) {
    absl::StatusOr<std::string> line = (*sse)->ReadLine(absl::Seconds(5));
    ASSERT_OK(line);
    overview = *line;
  }
  EXPECT_EQ(Int(Json(absl::string_view(overview).substr(6)), {"services"}), 1);
  ASSERT_OK(store_->ApplyChanges({Change("team-b", "db", 4, "z", true)}));
  AwaitView();
  ASSERT_OK(store_->ApplyChanges({Change("team-a", "web", 5, "z", true)}));
  std::string data;
  bool services = false;
  while (data.empty()) {
    absl::StatusOr<std::string> line = (*sse)->ReadLine(absl::Seconds(5));
    ASSERT_OK(line);
    if (services && absl::StartsWith(*line, "data: ")) data = line->substr(6);
    services = *line == "event: services";
  }
  const Value changed = Json(data);
  ASSERT_EQ(At(changed, {"rows"}).list_value().values_size(), 1);
  EXPECT_EQ(At(At(changed, {"rows"}).list_value().values(0), {"namespace"}).string_value(),
            "team-a");
  EXPECT_EQ(At(changed, {"deleted"}).list_value().values_size(), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace slicekeeper::ui
