// EndpointDiscovery.Watch end to end: the real gRPC server (api::Server on a loopback port picked
// at run time) and real gRPC clients, with writes going straight into the server's store.
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/api/server.h"
#include "server/store/store.h"
#include "tests/api/watch_client.h"
#include "tests/store/store_test_util.h"
#include "tests/test_util.h"

namespace slicekeeper::api {
namespace {

using ::slicekeeper::store::testing::Ip;
using ::slicekeeper::store::testing::Remove;
using ::slicekeeper::store::testing::Upsert;
using ::slicekeeper::testing::WatchClient;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(60);

class WatchTest : public ::testing::Test {
 protected:
  void StartServer(int64_t history = 100'000) {
    store::Store::Options so;
    so.history_size = history;
    store_ = std::make_unique<store::Store>(so);
    Server::Options o;
    o.listen_address = "127.0.0.1:0";
    o.http_listen_address = "";
    o.bookmark_interval = absl::Milliseconds(100);
    server_ = std::make_unique<Server>(store_.get(), o);
    ASSERT_OK(server_->Start());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::EndpointDiscovery::NewStub(channel_);
  }

  void TearDown() override {
    for (auto& w : watchers_) w->Cancel();
    for (auto& w : watchers_) w->AwaitDone(kTimeout);
    watchers_.clear();
    if (server_ != nullptr) server_->Shutdown(absl::ZeroDuration());
    server_.reset();
    store_.reset();
  }

  WatchClient* Watch(v1::WatchRequest request) {
    watchers_.push_back(std::make_unique<WatchClient>(stub_.get(), request));
    return watchers_.back().get();
  }
  static v1::WatchRequest Request(std::vector<std::string> services = {}, int64_t resume = 0) {
    v1::WatchRequest r;
    r.set_namespace_("ns");
    for (const std::string& s : services) r.add_services(s);
    r.set_resume_revision(resume);
    return r;
  }

  int64_t Write(std::vector<v1::EndpointChange> changes) {
    absl::StatusOr<store::WriteResult> r = store_->ApplyChanges(changes);
    EXPECT_OK(r);
    return r.ok() ? r->revision : 0;
  }
  int64_t FillWeb(int n) {
    std::vector<v1::EndpointChange> batch;
    for (int i = 0; i < n; ++i) batch.push_back(Upsert("ns", "web", Ip(i)));
    return Write(batch);
  }

  // The store's slices of the watched services, keyed as WatchClient keys them.
  std::map<std::string, v1::EndpointSlice> StoreSlices(const v1::WatchRequest& r) {
    std::map<std::string, v1::EndpointSlice> out;
    store::CatalogPtr catalog = store_->Snapshot(r.namespace_());
    for (const store::ServiceSnapshotPtr& s : catalog->services) {
      if (r.services_size() > 0 &&
          std::find(r.services().begin(), r.services().end(), s->name) == r.services().end()) {
        continue;
      }
      for (const SlicePtr& slice : s->slices) {
        out[absl::StrCat(slice->namespace_, "/", slice->name)] = slice->ToProto();
      }
    }
    return out;
  }

  // QueryEndpoints (condition ANY, the watch's zone) of an ENDPOINTS watch's one service, keyed as
  // WatchClient keys endpoints.
  std::map<std::string, v1::ServiceEndpoint> QueriedEndpoints(const v1::WatchRequest& r) {
    v1::QueryEndpointsRequest q;
    q.set_namespace_(r.namespace_());
    q.set_service(r.services(0));
    q.set_zone(r.zone());
    q.set_condition(v1::ANY);
    grpc::ClientContext ctx;
    v1::QueryEndpointsResponse resp;
    const grpc::Status status = stub_->QueryEndpoints(&ctx, q, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::map<std::string, v1::ServiceEndpoint> out;
    for (const v1::ServiceEndpoint& e : resp.endpoints()) {
      out[absl::StrCat(q.namespace_(), "/", q.service(), "/", e.address())] = e;
    }
    return out;
  }

  static std::vector<v1::WatchEvent::Type> Types(const std::vector<v1::WatchEvent>& events) {
    std::vector<v1::WatchEvent::Type> out;
    for (const v1::WatchEvent& e : events) out.push_back(e.type());
    return out;
  }

  std::unique_ptr<store::Store> store_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::EndpointDiscovery::Stub> stub_;
  std::vector<std::unique_ptr<WatchClient>> watchers_;
};

// Slices compare by their deterministic serialization: equal messages give equal bytes.
std::string Bytes(const v1::EndpointSlice& s) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  s.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

bool SameSlices(const std::map<std::string, v1::EndpointSlice>& a,
                const std::map<std::string, v1::EndpointSlice>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, slice] : a) {
    auto it = b.find(key);
    if (it == b.end() || Bytes(slice) != Bytes(it->second)) return false;
  }
  return true;
}

bool SameEndpoints(const std::map<std::string, v1::ServiceEndpoint>& a,
                   const std::map<std::string, v1::ServiceEndpoint>& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [key, e] : a) {
    auto it = b.find(key);
    if (it == b.end() || !google::protobuf::util::MessageDifferencer::Equals(e, it->second)) {
      return false;
    }
  }
  return true;
}

// A new watch gets one ADDED per slice, SYNCED at the store's revision, then each change.
TEST_F(WatchTest, SnapshotSyncedThenChanges) {
  StartServer();
  const int64_t r1 = FillWeb(250);
  WatchClient* w = Watch(Request({"web"}));
  ASSERT_TRUE(w->AwaitRevision(r1, kTimeout));
  EXPECT_THAT(Types(w->events()), ElementsAre(v1::WatchEvent::ADDED, v1::WatchEvent::ADDED,
                                              v1::WatchEvent::ADDED, v1::WatchEvent::SYNCED));
  EXPECT_EQ(w->events().back().revision(), r1);
  EXPECT_TRUE(SameSlices(w->slices(), StoreSlices(Request({"web"}))));

  const int64_t r2 = Write({Upsert("ns", "web", Ip(7), /*ready=*/false)});
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::MODIFIED, 1, kTimeout));
  std::vector<v1::WatchEvent> events = w->events();
  EXPECT_EQ(events.back().type(), v1::WatchEvent::MODIFIED);
  EXPECT_EQ(events.back().revision(), r2);
  EXPECT_EQ(events.back().slice().metadata().resource_version(), absl::StrCat(r2));

  ASSERT_OK(store_->DeleteService("ns", "web"));
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::DELETED, 3, kTimeout));
  EXPECT_TRUE(w->slices().empty());
  EXPECT_TRUE(w->violations().empty());
}

// The ENDPOINTS view shows a pod's lifecycle in order: ready, then terminating (ready=false,
// serving=true, terminating=true), then removed; the zone filter hides other zones' endpoints.
TEST_F(WatchTest, EndpointsViewLifecycleWithZoneFilter) {
  StartServer();
  auto with_zone = [](v1::EndpointChange c, const std::string& zone, bool ready, bool term) {
    c.mutable_endpoint()->set_zone(zone);
    c.mutable_endpoint()->mutable_conditions()->set_ready(ready);
    c.mutable_endpoint()->mutable_conditions()->set_serving(true);
    c.mutable_endpoint()->mutable_conditions()->set_terminating(term);
    return c;
  };
  v1::WatchRequest r = Request({"web"});
  r.set_view(v1::ENDPOINTS);
  r.set_zone("zone-a");
  WatchClient* w = Watch(r);
  ASSERT_TRUE(w->AwaitRevision(0, kTimeout));
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::SYNCED, 1, kTimeout));

  Write({with_zone(Upsert("ns", "web", Ip(1)), "zone-a", true, false),
         with_zone(Upsert("ns", "web", Ip(2)), "zone-b", true, false)});
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::ADDED, 1, kTimeout));
  Write({with_zone(Upsert("ns", "web", Ip(1)), "zone-a", false, true)});
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::MODIFIED, 1, kTimeout));
  const int64_t last = Write({Remove("ns", "web", Ip(1))});
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::DELETED, 1, kTimeout));

  std::vector<v1::WatchEvent> events = w->events();
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::SYNCED, v1::WatchEvent::ADDED,
                                         v1::WatchEvent::MODIFIED, v1::WatchEvent::DELETED));
  for (size_t i = 1; i < events.size(); ++i) {
    EXPECT_EQ(events[i].endpoint().address(), Ip(1));
    EXPECT_EQ(events[i].service(), "web");
  }
  EXPECT_TRUE(events[1].endpoint().conditions().ready());
  EXPECT_FALSE(events[1].endpoint().conditions().terminating());
  EXPECT_EQ(events[1].endpoint().zone(), "zone-a");
  EXPECT_FALSE(events[2].endpoint().conditions().ready());
  EXPECT_TRUE(events[2].endpoint().conditions().serving());
  EXPECT_TRUE(events[2].endpoint().conditions().terminating());
  EXPECT_EQ(events[3].revision(), last);
  EXPECT_TRUE(w->endpoints().empty());
}

// Resuming within the history sends only what changed after the resume revision: no ADDED for
// the slices that did not change.
TEST_F(WatchTest, ResumeWithinHistorySendsOnlyDeltas) {
  StartServer();
  const int64_t r1 = FillWeb(250);
  const int64_t r2 = Write({Upsert("ns", "web", Ip(3), /*ready=*/false)});
  WatchClient* w = Watch(Request({"web"}, r1));
  ASSERT_TRUE(w->AwaitRevision(r2, kTimeout));
  std::vector<v1::WatchEvent> events = w->events();
  EXPECT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED, v1::WatchEvent::SYNCED));
  EXPECT_EQ(events.back().revision(), r2);
}

// Resuming from a revision older than the history gets RESET, a full snapshot and SYNCED.
TEST_F(WatchTest, ResumeTooOldResets) {
  StartServer(/*history=*/5);
  const int64_t r1 = FillWeb(150);
  int64_t last = 0;
  for (int i = 0; i < 10; ++i) last = Write({Upsert("ns", "web", Ip(1000 + i))});
  WatchClient* w = Watch(Request({"web"}, r1));
  ASSERT_TRUE(w->AwaitRevision(last, kTimeout));
  std::vector<v1::WatchEvent> events = w->events();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type(), v1::WatchEvent::RESET);
  EXPECT_EQ(events.back().type(), v1::WatchEvent::SYNCED);
  EXPECT_TRUE(SameSlices(w->slices(), StoreSlices(Request({"web"}))));
}

// Resuming after the watched service was deleted gets DELETED for each of its slices.
TEST_F(WatchTest, ResumeAfterServiceDeletedGetsDeleted) {
  StartServer();
  const int64_t r1 = FillWeb(150);
  ASSERT_OK(store_->DeleteService("ns", "web"));
  WatchClient* w = Watch(Request({"web"}, r1));
  ASSERT_TRUE(w->AwaitRevision(store_->revision(), kTimeout));
  EXPECT_THAT(Types(w->events()), ElementsAre(v1::WatchEvent::DELETED, v1::WatchEvent::DELETED,
                                              v1::WatchEvent::SYNCED));
}

// Idle watches that asked for bookmarks learn the store's progress from BOOKMARK events.
TEST_F(WatchTest, IdleWatchGetsBookmarks) {
  StartServer();
  FillWeb(10);
  v1::WatchRequest r = Request({"web"});
  r.set_bookmarks(true);
  WatchClient* w = Watch(r);
  const int64_t other = Write({Upsert("ns", "db", Ip(1))});  // not watched
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::BOOKMARK, 1, kTimeout));
  ASSERT_TRUE(w->AwaitRevision(other, kTimeout));
  EXPECT_THAT(Types(w->events()), Not(Contains(v1::WatchEvent::MODIFIED)));
}

// Bad requests fail with INVALID_ARGUMENT naming the field.
TEST_F(WatchTest, InvalidRequestIsRejected) {
  StartServer();
  v1::WatchRequest r = Request({"Not_A_Name"});
  WatchClient* w = Watch(r);
  grpc::Status s = w->AwaitDone(kTimeout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "services[0]: must be a DNS-1123 label");
  r = Request();
  r.set_zone("zone-a");  // SLICES view
  s = Watch(r)->AwaitDone(kTimeout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("zone"));
}

// Shutdown ends open watches with UNAVAILABLE.
TEST_F(WatchTest, ShutdownEndsWatchesWithUnavailable) {
  StartServer();
  FillWeb(10);
  WatchClient* w = Watch(Request());
  ASSERT_TRUE(w->AwaitEvents(v1::WatchEvent::SYNCED, 1, kTimeout));
  server_->Shutdown(absl::Seconds(5));
  grpc::Status s = w->AwaitDone(kTimeout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

// A watcher that does not read while many commits land neither blocks the writer nor misses
// anything: when it reads again it converges to the store's state, with changes folded.
TEST_F(WatchTest, StalledWatcherConvergesWithCoalescedEvents) {
  StartServer();
  FillWeb(100);
  // A synchronous stream the test does not read from until the writes are done.
  grpc::ClientContext ctx;
  v1::WatchRequest r = Request({"web"});
  r.set_bookmarks(true);
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader = stub_->Watch(&ctx, r);
  constexpr int kCommits = 3000;
  int64_t last = 0;
  for (int i = 0; i < kCommits; ++i) {
    last = Write({Upsert("ns", "web", Ip(i % 100), /*ready=*/i % 2 == 0)});
  }
  std::map<std::string, v1::EndpointSlice> state;
  int64_t synced = 0, events = 0;
  v1::WatchResponse msg;
  while (synced < last && reader->Read(&msg)) {
    for (const v1::WatchEvent& e : msg.events()) {
      ++events;
      const std::string key =
          absl::StrCat(e.slice().metadata().namespace_(), "/", e.slice().metadata().name());
      if (e.type() == v1::WatchEvent::ADDED || e.type() == v1::WatchEvent::MODIFIED) {
        state[key] = e.slice();
      } else if (e.type() == v1::WatchEvent::DELETED) {
        state.erase(key);
      } else if (e.type() == v1::WatchEvent::RESET) {
        state.clear();
      } else {
        synced = std::max(synced, e.revision());
      }
    }
  }
  EXPECT_GE(synced, last);
  EXPECT_TRUE(SameSlices(state, StoreSlices(r)));
  EXPECT_LT(events, kCommits / 2);  // folded, not one event per commit
  ctx.TryCancel();
  reader->Finish();
}

// Many concurrent watchers over a mix of selections (sidecars of one or two services, a few
// namespace-wide and cluster-wide watchers, and one in ten on the ENDPOINTS view of one service,
// half of those filtered by zone), under seeded random churn that also moves endpoints between
// zones: after the churn, every SLICES watcher's rebuilt state equals the store's slices at the
// revision it reached, object for object, and every ENDPOINTS watcher's equals QueryEndpoints
// (condition ANY, same zone) at that revision.
TEST_F(WatchTest, ManyWatchersConvergeUnderChurn) {
  StartServer();
  // The sanitizer builds check the same property with a fifth of the churn (ASan's Debug build
  // runs it ~10x slower); the normal build runs the full 100 k changes.
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER)
  constexpr int kChanges = 20'000;
#else
  constexpr int kChanges = 100'000;
#endif
  constexpr int kServices = 200, kWatchers = 1000, kBatch = 100;
  auto svc = [](int i) { return absl::StrCat("svc-", i); };
  std::vector<v1::WatchRequest> requests;
  for (int i = 0; i < kWatchers; ++i) {
    v1::WatchRequest r;
    r.set_bookmarks(true);
    if (i % 10 == 5) {
      r.set_namespace_("ns");
      r.add_services(svc(i % kServices));
      r.set_view(v1::ENDPOINTS);
      if (i % 20 == 5) r.set_zone("zone-0");
    } else if (i % 100 == 0) {
      // everything
    } else if (i % 100 == 1) {
      r.set_namespace_("ns");
    } else {
      r.set_namespace_("ns");
      r.add_services(svc(i % kServices));
      if (i % 2 == 0) r.add_services(svc((i * 7 + 3) % kServices));
    }
    requests.push_back(r);
    Watch(r)->set_keep_events(false);
  }
  std::mt19937 rng(42);
  std::vector<std::vector<int>> live(kServices);
  int next_id = 0;
  for (int done = 0; done < kChanges; done += kBatch) {
    std::vector<v1::EndpointChange> batch;
    for (int k = 0; k < kBatch; ++k) {
      const int s = static_cast<int>(rng() % kServices);
      std::vector<int>& ids = live[s];
      const int dice = static_cast<int>(rng() % 10);
      // Each write puts the endpoint in a random zone: updates move endpoints between zones.
      auto zoned = [&rng](v1::EndpointChange c) {
        c.mutable_endpoint()->set_zone(absl::StrCat("zone-", rng() % 2));
        return c;
      };
      if (ids.size() < 20 || dice < 4) {
        ids.push_back(next_id++);
        batch.push_back(zoned(Upsert("ns", svc(s), Ip(ids.back()))));
      } else if (dice < 7) {
        const size_t at = rng() % ids.size();
        batch.push_back(Remove("ns", svc(s), Ip(ids[at])));
        ids[at] = ids.back();
        ids.pop_back();
      } else {
        batch.push_back(zoned(Upsert("ns", svc(s), Ip(ids[rng() % ids.size()]), rng() % 2 == 0)));
      }
    }
    Write(batch);
  }
  const int64_t final_revision = store_->revision();
  // The store's state per distinct selection (the four kinds above, per service).
  std::map<std::string, std::map<std::string, v1::EndpointSlice>> expected;
  for (int i = 0; i < kWatchers; ++i) {
    WatchClient* w = watchers_[i].get();
    ASSERT_TRUE(w->AwaitRevision(final_revision, kTimeout)) << "watcher " << i;
    EXPECT_TRUE(w->violations().empty()) << "watcher " << i;
    if (requests[i].view() == v1::ENDPOINTS) {
      const std::map<std::string, v1::ServiceEndpoint> want = QueriedEndpoints(requests[i]);
      EXPECT_FALSE(want.empty()) << "watcher " << i;
      EXPECT_TRUE(SameEndpoints(w->endpoints(), want)) << "watcher " << i;
      continue;
    }
    const std::string selection = requests[i].SerializeAsString();
    if (!expected.contains(selection)) expected[selection] = StoreSlices(requests[i]);
    EXPECT_TRUE(SameSlices(w->slices(), expected[selection])) << "watcher " << i;
  }
}

}  // namespace
}  // namespace slicekeeper::api
