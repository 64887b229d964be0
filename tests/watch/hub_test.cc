// Hub and Subscriber against the real store, with the dispatcher and the ticks stepped by hand.
#include "server/watch/hub.h"

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/query/merge.h"
#include "server/query/merged_views.h"
#include "tests/fakes/fake_clock.h"
#include "tests/test_util.h"

namespace slicekeeper::watch {
namespace {

using ::testing::ElementsAre;

class RecordingSink : public Sink {
 public:
  void Wake() override { wakes.fetch_add(1); }
  std::atomic<int> wakes{0};
};

v1::EndpointChange Change(const std::string& svc, int i, bool ready = true,
                          bool terminating = false, const std::string& zone = "zone-a") {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::UPSERT);
  c.set_namespace_("test");
  c.set_service(svc);
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(absl::StrCat("10.0.", i / 250, ".", i % 250 + 1));
  e->mutable_conditions()->set_ready(ready);
  e->mutable_conditions()->set_serving(true);
  e->mutable_conditions()->set_terminating(terminating);
  e->set_zone(zone);
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_namespace_("test");
  e->mutable_target_ref()->set_name(absl::StrCat("pod", i));
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_port(80);
  return c;
}

v1::EndpointChange Remove(const std::string& svc, int i) {
  v1::EndpointChange c = Change(svc, i);
  c.set_op(v1::EndpointChange::REMOVE);
  return c;
}

class HubTest : public ::testing::Test {
 protected:
  HubTest() : store_(StoreOptions(&clock_)), hub_(&store_, HubOptions(&clock_)) {
    // Registered as the store's listener without the dispatcher thread: tests step it.
    store_.SnapshotAndListen("", &hub_);
  }
  ~HubTest() override { store_.RemoveListener(&hub_); }

  static store::Store::Options StoreOptions(Clock* clock) {
    store::Store::Options o;
    o.shards = 4;
    o.history_size = 50;
    o.clock = clock;
    return o;
  }
  static Hub::Options HubOptions(Clock* clock) {
    Hub::Options o;
    o.clock = clock;
    o.max_lag = absl::Seconds(30);
    o.bookmark_interval = absl::Seconds(5);
    o.max_message_bytes = 4096;
    return o;
  }

  int64_t Apply(std::vector<v1::EndpointChange> changes) {
    absl::StatusOr<store::WriteResult> r = store_.ApplyChanges(changes);
    EXPECT_OK(r);
    return r.ok() ? r->revision : 0;
  }

  static std::vector<v1::WatchEvent> Drain(Subscriber& sub) {
    std::vector<v1::WatchEvent> out;
    while (std::optional<v1::WatchResponse> m = sub.Next()) {
      for (const v1::WatchEvent& e : m->events()) out.push_back(e);
    }
    return out;
  }

  static std::vector<v1::WatchEvent::Type> Types(const std::vector<v1::WatchEvent>& events) {
    std::vector<v1::WatchEvent::Type> out;
    for (const auto& e : events) out.push_back(e.type());
    return out;
  }

  testing::FakeClock clock_;
  store::Store store_;
  Hub hub_;
  RecordingSink sink_;
};

Selection Watch(std::vector<std::string> services, v1::WatchView view = v1::SLICES) {
  Selection s;
  s.namespace_ = "test";
  s.services = std::move(services);
  s.view = view;
  return s;
}

// A new subscriber gets one ADDED per slice, then SYNCED at the store's revision.
TEST_F(HubTest, SnapshotThenSynced) {
  std::vector<v1::EndpointChange> batch;
  for (int i = 0; i < 250; ++i) batch.push_back(Change("web", i));
  int64_t rev = Apply(batch);
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  EXPECT_EQ(sink_.wakes.load(), 1);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  EXPECT_THAT(Types(events), ElementsAre(v1::WatchEvent::ADDED, v1::WatchEvent::ADDED,
                                         v1::WatchEvent::ADDED, v1::WatchEvent::SYNCED));
  EXPECT_EQ(events.back().revision(), rev);
  int total = 0;
  for (size_t i = 0; i + 1 < events.size(); ++i) total += events[i].slice().endpoints_size();
  EXPECT_EQ(total, 250);
  hub_.Unsubscribe(sub);
}

// Several commits to one slice between two sends fold into one MODIFIED with the latest state.
TEST_F(HubTest, CommitsCoalesceIntoOneEvent) {
  Apply({Change("web", 1), Change("web", 2)});
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  Drain(*sub);
  Apply({Change("web", 1, /*ready=*/false)});
  Apply({Change("web", 1, /*ready=*/true)});
  int64_t last = Apply({Change("web", 1, /*ready=*/false, /*terminating=*/true)});
  ASSERT_TRUE(hub_.DispatchOnce());
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED));
  EXPECT_EQ(events[0].revision(), last);
  bool found = false;
  for (const v1::Endpoint& e : events[0].slice().endpoints()) {
    if (e.target_ref().name() == "pod1") {
      found = true;
      EXPECT_TRUE(e.conditions().terminating());
    }
  }
  EXPECT_TRUE(found);
  hub_.Unsubscribe(sub);
}

// The sink is woken on the clean->dirty transition only, not once per commit.
TEST_F(HubTest, WakesOnlyOnCleanToDirty) {
  Apply({Change("web", 1)});
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  Drain(*sub);
  int before = sink_.wakes.load();
  Apply({Change("web", 1, false)});
  hub_.DispatchOnce();
  Apply({Change("web", 1, true)});
  hub_.DispatchOnce();
  EXPECT_EQ(sink_.wakes.load(), before + 1);
  EXPECT_EQ(Drain(*sub).size(), 1u);
  Apply({Change("web", 1, false)});
  hub_.DispatchOnce();
  EXPECT_EQ(sink_.wakes.load(), before + 2);
  hub_.Unsubscribe(sub);
}

// A commit made in an InlineDispatch scope is handed out by the committing thread when the scope
// ends (no DispatchOnce, no dispatcher thread here); one made outside a scope waits for the
// dispatcher, and the next scoped commit's dispatch takes it along, in revision order.
TEST_F(HubTest, InlineDispatchHandsOutTheWritersCommitOnItsThread) {
  Apply({Change("web", 1)});
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  Drain(*sub);
  const int before = sink_.wakes.load();
  int64_t rev = 0;
  clock_.Advance(absl::Seconds(1));  // not back to back with the commits above
  {
    Hub::InlineDispatch scope(&hub_);
    rev = Apply({Change("web", 1, /*ready=*/false)});
    EXPECT_LT(hub_.dispatched_revision(), rev) << "dispatched before the write's scope ended";
  }
  EXPECT_EQ(hub_.dispatched_revision(), rev);
  EXPECT_EQ(sink_.wakes.load(), before + 1);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED));
  EXPECT_EQ(events[0].revision(), rev);

  const int64_t unscoped = Apply({Change("web", 2)});
  EXPECT_LT(hub_.dispatched_revision(), unscoped);  // left to the dispatcher
  {
    Hub::InlineDispatch outer(&hub_);
    Hub::InlineDispatch inner(nullptr);  // a null hub claims nothing
    Apply({Change("web", 3)});
  }
  EXPECT_LT(hub_.dispatched_revision(), unscoped);
  clock_.Advance(absl::Seconds(1));
  {
    Hub::InlineDispatch scope(&hub_);
    rev = Apply({Change("web", 4)});
  }
  EXPECT_EQ(hub_.dispatched_revision(), rev);
  events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED));
  EXPECT_EQ(events[0].revision(), rev);
  EXPECT_EQ(events[0].slice().endpoints_size(), 4);
  EXPECT_FALSE(hub_.DispatchOnce());  // nothing left over
  hub_.Unsubscribe(sub);
}

// A scoped commit less than inline_min_gap after the previous commit is left to the dispatcher
// (the writer is the bottleneck then); one at least that far apart is dispatched inline.
TEST_F(HubTest, InlineDispatchLeavesBackToBackCommitsToTheDispatcher) {
  const absl::Duration gap = Hub::Options{}.inline_min_gap;
  ASSERT_GT(gap, absl::ZeroDuration());
  Apply({Change("web", 1)});
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  Drain(*sub);
  int64_t rev = 0;
  clock_.Advance(gap);
  {
    Hub::InlineDispatch scope(&hub_);
    rev = Apply({Change("web", 1, /*ready=*/false)});
  }
  EXPECT_EQ(hub_.dispatched_revision(), rev) << "a commit a whole gap after the last is inline";
  EXPECT_EQ(Drain(*sub).size(), 1u);

  clock_.Advance(gap - absl::Microseconds(1));
  {
    Hub::InlineDispatch scope(&hub_);
    rev = Apply({Change("web", 2)});
  }
  EXPECT_LT(hub_.dispatched_revision(), rev) << "a back-to-back commit is the dispatcher's";
  EXPECT_TRUE(hub_.DispatchOnce());
  EXPECT_EQ(hub_.dispatched_revision(), rev);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED));
  EXPECT_EQ(events[0].revision(), rev);

  // The gap counts from the previous commit, made in a scope or not.
  clock_.Advance(gap);
  Apply({Change("web", 3)});
  {
    Hub::InlineDispatch scope(&hub_);
    rev = Apply({Change("web", 4)});
  }
  EXPECT_LT(hub_.dispatched_revision(), rev);
  EXPECT_TRUE(hub_.DispatchOnce());
  EXPECT_EQ(hub_.dispatched_revision(), rev);
  hub_.Unsubscribe(sub);
}

// With a zero gap every scoped commit is dispatched inline, however close.
TEST(HubInlineGapTest, ZeroGapDispatchesEveryScopedCommitInline) {
  testing::FakeClock clock;
  store::Store::Options so;
  so.clock = &clock;
  store::Store store(so);
  Hub::Options ho;
  ho.clock = &clock;
  ho.inline_min_gap = absl::ZeroDuration();
  Hub hub(&store, ho);
  store.SnapshotAndListen("", &hub);
  for (int i = 0; i < 3; ++i) {
    int64_t rev = 0;
    {
      Hub::InlineDispatch scope(&hub);
      absl::StatusOr<store::WriteResult> w = store.ApplyChanges({Change("web", i)});
      ASSERT_OK(w);
      rev = w->revision;
    }
    EXPECT_EQ(hub.dispatched_revision(), rev) << "commit " << i;
  }
  EXPECT_FALSE(hub.DispatchOnce());
  store.RemoveListener(&hub);
}

// A subscriber of one service is neither marked nor woken by another service's commits.
TEST_F(HubTest, SelectionFiltersServices) {
  Apply({Change("web", 1), Change("db", 1)});
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  Drain(*sub);
  int before = sink_.wakes.load();
  Apply({Change("db", 2)});
  hub_.DispatchOnce();
  EXPECT_EQ(sink_.wakes.load(), before);
  EXPECT_TRUE(Drain(*sub).empty());
  hub_.Unsubscribe(sub);
}

// Resuming from a revision in the history sends only what changed since, then SYNCED.
TEST_F(HubTest, ResumeSendsOnlyDeltas) {
  std::vector<v1::EndpointChange> batch;
  for (int i = 0; i < 250; ++i) batch.push_back(Change("web", i));
  int64_t rev = Apply(batch);
  int64_t now = Apply({Change("web", 7, false)});
  auto sub = hub_.Subscribe(Watch({"web"}), rev, &sink_);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  EXPECT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED, v1::WatchEvent::SYNCED));
  EXPECT_EQ(events.back().revision(), now);
  hub_.Unsubscribe(sub);
}

// Resuming from a revision older than the history gets RESET, a full snapshot and SYNCED.
TEST_F(HubTest, ResumeTooOldResets) {
  int64_t first = Apply({Change("web", 0)});
  for (int i = 1; i <= 60; ++i) Apply({Change("web", i)});  // history keeps 50 commits
  auto sub = hub_.Subscribe(Watch({"web"}), first, &sink_);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_GE(events.size(), 3u);
  EXPECT_EQ(events.front().type(), v1::WatchEvent::RESET);
  EXPECT_EQ(events[1].type(), v1::WatchEvent::ADDED);
  EXPECT_EQ(events.back().type(), v1::WatchEvent::SYNCED);
  hub_.Unsubscribe(sub);
}

// Resuming after the watched service was deleted yields DELETED for each of its slices.
TEST_F(HubTest, ResumeAfterDeleteSendsDeleted) {
  int64_t rev = Apply({Change("web", 1)});
  ASSERT_OK(store_.DeleteService("test", "web"));
  auto sub = hub_.Subscribe(Watch({"web"}), rev, &sink_);
  EXPECT_THAT(Types(Drain(*sub)), ElementsAre(v1::WatchEvent::DELETED, v1::WatchEvent::SYNCED));
  hub_.Unsubscribe(sub);
}

// A resumed stream dates each event by its object's change (discovery.proto WatchEvent.revision):
// modify a at r0+1, create d at r0+2, delete c at r0+3 -> MODIFIED a @r0+1, ADDED d @r0+2,
// DELETED c @r0+3, SYNCED @r0+3, in both views.
TEST_F(HubTest, ResumedEventsCarryTheirObjectsRevision) {
  const int64_t r0 = Apply({Change("a", 1), Change("c", 3)});
  ASSERT_EQ(Apply({Change("a", 1, /*ready=*/false)}), r0 + 1);
  ASSERT_EQ(Apply({Change("d", 4)}), r0 + 2);
  ASSERT_OK(store_.DeleteService("test", "c"));
  ASSERT_EQ(store_.revision(), r0 + 3);
  for (v1::WatchView view : {v1::SLICES, v1::ENDPOINTS}) {
    SCOPED_TRACE(v1::WatchView_Name(view));
    auto sub = hub_.Subscribe(Watch({}, view), r0, &sink_);
    std::vector<v1::WatchEvent> events = Drain(*sub);
    ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED, v1::WatchEvent::ADDED,
                                           v1::WatchEvent::DELETED, v1::WatchEvent::SYNCED));
    const std::vector<std::string> services = {"a", "d", "c"};
    for (int i = 0; i < 3; ++i) {
      EXPECT_EQ(events[i].revision(), r0 + 1 + i) << i;
      EXPECT_EQ(view == v1::SLICES
                    ? events[i].slice().metadata().labels().at("kubernetes.io/service-name")
                    : events[i].service(),
                services[i]);
    }
    if (view == v1::SLICES) {
      // The state sent is the object's at that revision.
      EXPECT_EQ(events[0].slice().metadata().resource_version(), absl::StrCat(r0 + 1));
      EXPECT_EQ(events[1].slice().metadata().resource_version(), absl::StrCat(r0 + 2));
    }
    EXPECT_EQ(events[3].revision(), r0 + 3);
    hub_.Unsubscribe(sub);
  }
}

// The ENDPOINTS view shows ready -> terminating -> removed, filtered by zone.
TEST_F(HubTest, EndpointsViewLifecycleWithZoneFilter) {
  Selection sel = Watch({"web"}, v1::ENDPOINTS);
  sel.zone = "zone-a";
  Apply({Change("web", 1), Change("web", 2, true, false, "zone-b")});
  auto sub = hub_.Subscribe(sel, 0, &sink_);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::ADDED, v1::WatchEvent::SYNCED));
  EXPECT_EQ(events[0].endpoint().address(), "10.0.0.2");
  EXPECT_TRUE(events[0].endpoint().conditions().ready());

  Apply({Change("web", 1, /*ready=*/false, /*terminating=*/true)});
  Apply({Change("web", 2, false, true, "zone-b")});  // other zone: filtered out
  hub_.DispatchOnce();
  events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::MODIFIED));
  EXPECT_FALSE(events[0].endpoint().conditions().ready());
  EXPECT_TRUE(events[0].endpoint().conditions().serving());
  EXPECT_TRUE(events[0].endpoint().conditions().terminating());

  Apply({Remove("web", 1)});
  hub_.DispatchOnce();
  events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::DELETED));
  EXPECT_EQ(events[0].endpoint().address(), "10.0.0.2");
  hub_.Unsubscribe(sub);
}

// A subscriber that does not read past max_lag is RESET: its pinned state is dropped and it
// starts over with RESET, a fresh snapshot and SYNCED at the current revision.
TEST_F(HubTest, LaggingSubscriberIsReset) {
  Apply({Change("web", 1)});
  auto sub = hub_.Subscribe(Watch({"web"}), 0, &sink_);
  Drain(*sub);
  Apply({Change("web", 1, false)});
  hub_.DispatchOnce();
  clock_.Advance(absl::Seconds(31));
  int64_t rev = Apply({Change("web", 2)});
  hub_.DispatchOnce();
  hub_.TickOnce();
  // Counted as a lag reset when decided; as a RESET sent once the subscriber reads.
  EXPECT_EQ(hub_.stats().lag_resets, 1);
  EXPECT_EQ(hub_.stats().resets, 0);
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_THAT(Types(events),
              ElementsAre(v1::WatchEvent::RESET, v1::WatchEvent::ADDED, v1::WatchEvent::SYNCED));
  EXPECT_EQ(events[1].slice().endpoints_size(), 2);
  EXPECT_EQ(events.back().revision(), rev);
  EXPECT_EQ(hub_.stats().resets, 1);
  hub_.Unsubscribe(sub);
}

// An idle subscriber that asked for bookmarks gets one after the interval, at the revision it
// has caught up to, even when other services moved the store's revision.
TEST_F(HubTest, BookmarkWhenIdle) {
  Selection sel = Watch({"web"});
  sel.bookmarks = true;
  Apply({Change("web", 1)});
  auto sub = hub_.Subscribe(sel, 0, &sink_);
  Drain(*sub);
  int64_t rev = Apply({Change("db", 1)});
  hub_.DispatchOnce();
  clock_.Advance(absl::Seconds(6));
  hub_.TickOnce();
  std::vector<v1::WatchEvent> events = Drain(*sub);
  ASSERT_THAT(Types(events), ElementsAre(v1::WatchEvent::BOOKMARK));
  EXPECT_EQ(events[0].revision(), rev);
  hub_.Unsubscribe(sub);
}

// A marks-only subscriber starts with every selected service's current version (a missing named
// service marked null), then gets the newest version of each changed service, several commits
// folded into one mark, and only one wake until it takes them.
TEST_F(HubTest, MarksOnlyStartsWithCurrentVersionsAndCoalesces) {
  int64_t first = Apply({Change("web", 1)});
  Selection sel = Watch({"web"});
  sel.marks_only = true;
  auto sub = hub_.Subscribe(sel, 0, &sink_);
  EXPECT_EQ(sink_.wakes.load(), 1);
  auto marks = sub->TakeMarks();
  ASSERT_EQ(marks.size(), 1u);
  ASSERT_NE(marks["test/web"].snapshot, nullptr);
  EXPECT_EQ(marks["test/web"].snapshot->mod_revision, first);
  EXPECT_TRUE(sub->TakeMarks().empty());

  Apply({Change("web", 2)});
  hub_.DispatchOnce();
  int64_t last = Apply({Change("web", 3)});
  Apply({Change("db", 1)});  // not selected
  hub_.DispatchOnce();
  EXPECT_EQ(sink_.wakes.load(), 2);
  marks = sub->TakeMarks();
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks["test/web"].revision, last);
  EXPECT_EQ(marks["test/web"].snapshot->slices[0]->endpoints.size(), 3u);
  EXPECT_GE(sub->stats().coalesced.load(), 1);

  Selection missing = Watch({"nope"});
  missing.marks_only = true;
  auto other = hub_.Subscribe(missing, 0, &sink_);
  marks = other->TakeMarks();
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks["test/nope"].snapshot, nullptr);
  EXPECT_EQ(hub_.stats().subscribers_marks, 2);
  EXPECT_EQ(hub_.stats().subscribers_slices, 0);
  hub_.Unsubscribe(sub);
  hub_.Unsubscribe(other);
}

// A marks-only subscriber that does not take its marks is never RESET (it pins one version per
// service) and does not count as a lagging watch; it still holds the newest version.
TEST_F(HubTest, MarksOnlyIsNeverReset) {
  Selection sel;
  sel.marks_only = true;
  auto sub = hub_.Subscribe(sel, 0, &sink_);
  sub->TakeMarks();
  Apply({Change("web", 1)});
  hub_.DispatchOnce();
  clock_.Advance(absl::Seconds(31));
  int64_t rev = Apply({Change("web", 2)});
  hub_.DispatchOnce();
  hub_.TickOnce();
  EXPECT_EQ(hub_.stats().resets, 0);
  EXPECT_EQ(hub_.stats().max_lag, absl::ZeroDuration());
  auto marks = sub->TakeMarks();
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks["test/web"].revision, rev);
  hub_.Unsubscribe(sub);
}

// After Unsubscribe the sink is never woken again.
TEST_F(HubTest, UnsubscribedSinkIsNotWoken) {
  auto sub = hub_.Subscribe(Selection{}, 0, &sink_);
  Drain(*sub);
  hub_.Unsubscribe(sub);
  int before = sink_.wakes.load();
  Apply({Change("web", 1)});
  hub_.DispatchOnce();
  EXPECT_EQ(sink_.wakes.load(), before);
}

// Random churn over several services: revisions never decrease, and after every drain the state
// rebuilt from the events equals the store's snapshot at the SYNCED/BOOKMARK revision.
TEST_F(HubTest, RandomChurnReconstructsStoreState) {
  Selection sel;  // everything
  sel.bookmarks = true;
  auto sub = hub_.Subscribe(sel, 0, &sink_);
  std::map<std::string, v1::EndpointSlice> state;
  int64_t last = 0;
  auto consume = [&](const std::vector<v1::WatchEvent>& events) {
    for (const v1::WatchEvent& e : events) {
      EXPECT_GE(e.revision(), last);
      last = std::max(last, e.revision());
      if (e.type() == v1::WatchEvent::ADDED || e.type() == v1::WatchEvent::MODIFIED) {
        state[e.slice().metadata().name()] = e.slice();
      } else if (e.type() == v1::WatchEvent::DELETED) {
        EXPECT_EQ(state.erase(e.slice().metadata().name()), 1u);
      }
    }
  };
  consume(Drain(*sub));
  uint32_t seed = 42;
  auto rnd = [&seed](int n) {
    seed = seed * 1103515245 + 12345;
    return static_cast<int>((seed >> 8) % n);
  };
  const std::vector<std::string> services = {"a", "b", "c"};
  for (int step = 0; step < 200; ++step) {
    std::vector<v1::EndpointChange> batch;
    for (int k = 0; k < 1 + rnd(20); ++k) {
      const std::string& svc = services[rnd(3)];
      int i = rnd(300);
      batch.push_back(rnd(4) == 0 ? Remove(svc, i) : Change(svc, i, rnd(2) == 0));
    }
    Apply(batch);
    if (rnd(3) == 0) continue;  // let commits pile up and coalesce
    hub_.DispatchOnce();
    consume(Drain(*sub));
    clock_.Advance(absl::Seconds(6));
    hub_.TickOnce();
    std::vector<v1::WatchEvent> bm = Drain(*sub);
    ASSERT_EQ(bm.size(), 1u);
    ASSERT_EQ(bm[0].type(), v1::WatchEvent::BOOKMARK);
    consume(bm);
    store::CatalogPtr cat = store_.Snapshot("test");
    ASSERT_EQ(cat->revision, bm[0].revision());
    std::map<std::string, v1::EndpointSlice> want;
    for (const auto& s : cat->services) {
      for (const SlicePtr& sl : s->slices) want[sl->name] = sl->ToProto();
    }
    ASSERT_EQ(state.size(), want.size());
    for (const auto& [name, slice] : want) {
      ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(state[name], slice)) << name;
    }
  }
  hub_.Unsubscribe(sub);
}

// The ENDPOINTS view under random churn with endpoints moving between zones: after every drain,
// each subscriber's reconstructed endpoints equal the store's merged view at the bookmark's
// revision, filtered by its zone (an endpoint moving into the zone must arrive as ADDED, one moving
// out as DELETED). Run on two hubs: merged views and diffs shared between subscribers (as the
// server runs it) and computed per subscriber.
TEST_F(HubTest, EndpointsViewRandomChurnMatchesMergedState) {
  query::MergedViews views;
  Hub::Options o = HubOptions(&clock_);
  o.merged_views = &views;
  Hub shared(&store_, o);
  store_.SnapshotAndListen("", &shared);
  const std::vector<std::string> services = {"web", "api"};
  const std::vector<std::string> zones = {"zone-a", "zone-b", "zone-c"};
  struct Watcher {
    Hub* hub;
    std::string zone;
    std::shared_ptr<Subscriber> sub;
    std::map<std::string, v1::ServiceEndpoint> state;  // "service/address"
    int64_t last = 0;
  };
  std::vector<Watcher> watchers;
  for (Hub* hub : {&hub_, &shared}) {
    for (const std::string zone : {"", "zone-a"}) {
      Selection sel = Watch(services, v1::ENDPOINTS);
      sel.zone = zone;
      sel.bookmarks = true;
      watchers.push_back(Watcher{hub, zone, hub->Subscribe(sel, 0, &sink_), {}, 0});
    }
  }
  int moved_in = 0, moved_out = 0;  // zone-a watchers seeing a zone change as ADDED / DELETED
  auto consume = [&](Watcher& w, const std::vector<v1::WatchEvent>& events) {
    for (const v1::WatchEvent& e : events) {
      EXPECT_GE(e.revision(), w.last);
      w.last = std::max(w.last, e.revision());
      const std::string key = absl::StrCat(e.service(), "/", e.endpoint().address());
      if (e.type() == v1::WatchEvent::ADDED || e.type() == v1::WatchEvent::MODIFIED) {
        EXPECT_EQ(w.state.count(key), e.type() == v1::WatchEvent::MODIFIED ? 1u : 0u) << key;
        w.state[key] = e.endpoint();
      } else if (e.type() == v1::WatchEvent::DELETED) {
        EXPECT_EQ(w.state.erase(key), 1u) << key;
      }
    }
  };
  uint32_t seed = 7;
  auto rnd = [&seed](int n) {
    seed = seed * 1103515245 + 12345;
    return static_cast<int>((seed >> 8) % n);
  };
  std::map<std::string, std::string> zone_of;  // "service/i" -> the zone last written
  for (int step = 0; step < 150; ++step) {
    std::vector<v1::EndpointChange> batch;
    for (int k = 0; k < 1 + rnd(12); ++k) {
      const std::string& svc = services[rnd(2)];
      const int i = rnd(40);
      if (rnd(5) == 0) {
        batch.push_back(Remove(svc, i));
        continue;
      }
      const std::string& zone = zones[rnd(3)];
      auto [it, added] = zone_of.try_emplace(absl::StrCat(svc, "/", i), zone);
      if (!added && it->second != zone) {
        if (zone == "zone-a") ++moved_in;
        if (it->second == "zone-a") ++moved_out;
      }
      it->second = zone;
      batch.push_back(Change(svc, i, rnd(2) == 0, rnd(4) == 0, zone));
    }
    Apply(batch);
    if (rnd(3) == 0) continue;  // let commits pile up and coalesce
    hub_.DispatchOnce();
    shared.DispatchOnce();
    for (Watcher& w : watchers) consume(w, Drain(*w.sub));
    clock_.Advance(absl::Seconds(6));
    hub_.TickOnce();
    shared.TickOnce();
    const int64_t revision = store_.revision();
    for (Watcher& w : watchers) {
      std::vector<v1::WatchEvent> bm = Drain(*w.sub);
      ASSERT_THAT(Types(bm), ElementsAre(v1::WatchEvent::BOOKMARK));
      ASSERT_EQ(bm[0].revision(), revision);
      std::map<std::string, v1::ServiceEndpoint> want;
      for (const std::string& svc : services) {
        store::ServiceSnapshotPtr snap = store_.GetService("test", svc);
        if (snap == nullptr) continue;
        for (const v1::ServiceEndpoint& e : query::MergeEndpoints(*snap)) {
          if (w.zone.empty() || e.zone() == w.zone) want[absl::StrCat(svc, "/", e.address())] = e;
        }
      }
      ASSERT_EQ(w.state.size(), want.size()) << "zone '" << w.zone << "' step " << step;
      for (const auto& [key, e] : want) {
        ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(w.state[key], e)) << key;
      }
    }
  }
  EXPECT_GT(moved_in, 10);  // the churn did move endpoints into and out of the filtered zone
  EXPECT_GT(moved_out, 10);
  for (Watcher& w : watchers) w.hub->Unsubscribe(w.sub);
  store_.RemoveListener(&shared);
}

// NextEvents yields the same events as the wire messages (types, revisions, slice versions), in
// batches of at most the asked size: snapshot, changes, deletes, bookmark, and a RESET resume.
TEST_F(HubTest, NextEventsMatchesWireEvents) {
  std::vector<v1::EndpointChange> batch;
  for (int i = 0; i < 150; ++i) batch.push_back(Change("web", i));
  Apply(batch);
  for (int i = 0; i < 60; ++i) Apply({Change("web", i, i % 2 == 0), Change("api", i)});
  Selection sel = Watch({});
  sel.bookmarks = true;
  RecordingSink other;
  auto wire = hub_.Subscribe(sel, 0, &sink_);
  auto typed = hub_.Subscribe(sel, 0, &other);
  auto resumed_wire = hub_.Subscribe(sel, 1, &sink_);
  auto resumed_typed = hub_.Subscribe(sel, 1, &other);
  auto key = [](v1::WatchEvent::Type t, int64_t rev, const std::string& name) {
    return absl::StrCat(t, "@", rev, ":", name);
  };
  auto drain_both = [&](Subscriber& w, Subscriber& t) {
    std::vector<std::string> a, b;
    for (const v1::WatchEvent& e : Drain(w)) {
      a.push_back(key(e.type(), e.revision(), e.slice().metadata().name()));
    }
    while (true) {
      std::vector<SliceEvent> events = t.NextEvents(3);
      if (events.empty()) break;
      EXPECT_LE(events.size(), 3u);
      for (const SliceEvent& e : events) {
        b.push_back(key(e.type, e.revision, e.slice ? e.slice->name : ""));
      }
    }
    EXPECT_FALSE(a.empty());
    EXPECT_EQ(a, b);
  };
  drain_both(*wire, *typed);
  drain_both(*resumed_wire, *resumed_typed);
  ASSERT_OK(store_.DeleteService("test", "web"));
  while (hub_.DispatchOnce()) {
  }
  drain_both(*wire, *typed);
  clock_.Advance(absl::Seconds(6));
  hub_.TickOnce();
  drain_both(*wire, *typed);
  for (auto* s : {&wire, &typed, &resumed_wire, &resumed_typed}) hub_.Unsubscribe(*s);
}

}  // namespace
}  // namespace slicekeeper::watch
