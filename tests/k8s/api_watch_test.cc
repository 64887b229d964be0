// The Kubernetes API's watches over real HTTP: resume without gap or duplicate, the re-send of a
// multi-object commit at the resume point, bookmarks and watch-list, 410 for a resume point out
// of the history and for a watcher that falls behind, selectors, and timeoutSeconds.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/k8s/api_fixture.h"

namespace slicekeeper::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Event {
  std::string type;
  std::string name;
  int64_t rv = 0;
  Value object;
};

// One watch stream, read event by event.
class Watch {
 public:
  explicit Watch(std::unique_ptr<testing::HttpStream> stream) : stream_(std::move(stream)) {}
  static std::unique_ptr<Watch> Open(int port, const std::string& target) {
    absl::StatusOr<std::unique_ptr<testing::HttpStream>> s = testing::HttpStream::Open(port, target);
    EXPECT_OK(s);
    if (!s.ok()) return nullptr;
    EXPECT_EQ((*s)->status(), 200);
    return std::make_unique<Watch>(std::move(*s));
  }
  // The next event's line, unparsed.
  absl::StatusOr<std::string> NextLine(absl::Duration timeout = absl::Seconds(10)) {
    return stream_->ReadLine(timeout);
  }
  absl::StatusOr<Event> Next(absl::Duration timeout = absl::Seconds(10)) {
    absl::StatusOr<std::string> line = NextLine(timeout);
    if (!line.ok()) return line.status();
    Event e;
    const Value v = Json(*line);
    e.type = At(v, {"type"}).string_value();
    e.object = At(v, {"object"});
    e.name = At(e.object, {"metadata", "name"}).string_value();
    const std::string rv = At(e.object, {"metadata", "resourceVersion"}).string_value();
    e.rv = rv.empty() ? 0 : std::stoll(rv);
    return e;
  }
  void Close() { stream_->Close(); }

 private:
  std::unique_ptr<testing::HttpStream> stream_;
};

// Applies watch events to a name -> resourceVersion map, as an informer's cache.
void Apply(const Event& e, std::map<std::string, int64_t>* cache) {
  if (e.type == "DELETED") {
    cache->erase(e.name);
  } else if (e.type == "ADDED" || e.type == "MODIFIED") {
    (*cache)[e.name] = e.rv;
  }
}

std::map<std::string, int64_t> StoreStateAt(store::Store& store, int64_t revision) {
  std::map<std::string, int64_t> out;
  const store::CatalogPtr catalog = *store.SnapshotAt("", revision);
  for (const store::ServiceSnapshotPtr& s : catalog->services) {
    for (const SlicePtr& slice : s->slices) out[slice->name] = slice->resource_version;
  }
  return out;
}

// A client that processed part of a stream and resumes from the last resourceVersion it saw gets
// exactly what it missed: nothing twice, nothing lost — wherever it stopped, and although the
// first stream folded writes (the writes all happen before it is read) and deletes among them.
TEST_F(ApiTest, ResumeHasNoGapAndNoDuplicate) {
  for (int cut : {2, 9, 16}) {
    SCOPED_TRACE(absl::StrCat("cut after write ", cut));
    const std::string p = absl::StrCat("c", cut, "-");
    // Slices of two services: resuming must work across services too.
    auto svc = [&](int k) { return p + (k % 2 ? "web" : "api"); };
    for (int i = 0; i < 5; ++i) Put(absl::StrCat(p, "s", i), svc(i), i);
    // As an informer: list (here: the state at `start`), then watch from the list's revision.
    const int64_t start = store_->revision();
    std::unique_ptr<Watch> a =
        Watch::Open(port_, absl::StrCat(kSlices, "?watch=true&resourceVersion=", start));
    int64_t last = 0, cut_revision = 0;
    for (int i = 0; i < 20; ++i) {
      if (i % 5 == 4) {
        last = *store_->DeleteSlice("ns", absl::StrCat(p, "s", i / 5));
      } else {
        last = Put(absl::StrCat(p, "s", 3 + i % 7), svc(3 + i % 7), 100 + i);
      }
      if (i == cut) cut_revision = last;
    }
    std::map<std::string, int64_t> cache = StoreStateAt(*store_, start);
    std::set<std::pair<std::string, int64_t>> seen;
    int64_t resume = 0;
    while (resume < cut_revision) {
      absl::StatusOr<Event> e = a->Next();
      ASSERT_OK(e);
      Apply(*e, &cache);
      seen.insert({e->name, e->rv});
      EXPECT_GE(e->rv, resume) << "resourceVersions go backwards";
      resume = e->rv;
    }
    a->Close();
    for (int i = 0; i < 10; ++i) last = Put(absl::StrCat(p, "t", i % 4), p + "other", 200 + i);
    std::unique_ptr<Watch> b =
        Watch::Open(port_, absl::StrCat(kSlices, "?watch=true&resourceVersion=", resume));
    while (true) {
      absl::StatusOr<Event> e = b->Next();
      ASSERT_OK(e);
      EXPECT_GT(e->rv, resume);
      EXPECT_FALSE(seen.contains({e->name, e->rv})) << "duplicate " << e->name << "@" << e->rv;
      Apply(*e, &cache);
      if (e->rv == last) break;
    }
    EXPECT_EQ(cache, StoreStateAt(*store_, store_->revision()));
  }
}

// When the commit at the resume point wrote several slices, all of them come again (the client
// cannot tell which of the events carrying that resourceVersion it processed).
TEST_F(ApiTest, ResumeAtMultiObjectCommitResendsIt) {
  std::vector<v1::EndpointChange> batch;
  for (int i = 0; i < 250; ++i) {
    v1::EndpointChange c;
    c.set_op(v1::EndpointChange::UPSERT);
    c.set_namespace_("ns");
    c.set_service("big");
    c.mutable_endpoint()->add_addresses(absl::StrCat("10.1.", i / 200, ".", i % 200 + 1));
    batch.push_back(c);
  }
  const int64_t r = store_->ApplyChanges(batch)->revision;
  const int64_t single = Put("solo", "other", 1);
  std::unique_ptr<Watch> at_batch =
      Watch::Open(port_, absl::StrCat(kSlices, "?watch=true&resourceVersion=", r));
  std::set<std::string> again;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<Event> e = at_batch->Next();
    ASSERT_OK(e);
    again.insert(e->name);
  }
  EXPECT_EQ(again.size(), 4u);  // the batch's 3 slices, and the later single write
  EXPECT_TRUE(again.contains("solo"));
  // At a single-object commit nothing is re-sent: the next event is the next write.
  std::unique_ptr<Watch> at_single =
      Watch::Open(port_, absl::StrCat(kSlices, "?watch=true&resourceVersion=", single));
  const int64_t next = Put("solo", "other", 2);
  absl::StatusOr<Event> e = at_single->Next();
  ASSERT_OK(e);
  EXPECT_EQ(e->type, "MODIFIED");
  EXPECT_EQ(e->rv, next);
}

// Bookmarks come when asked, with the current revision; watch-list ends its initial events with
// the annotated bookmark.
TEST_F(ApiTest, BookmarksAndWatchList) {
  Put("a", "web", 1);
  const int64_t rv = Put("b", "web", 2);
  std::unique_ptr<Watch> w = Watch::Open(
      port_, absl::StrCat(kSlices, "?watch=1&allowWatchBookmarks=true&resourceVersion=", rv));
  absl::StatusOr<Event> bookmark = w->Next();
  ASSERT_OK(bookmark);
  EXPECT_EQ(bookmark->type, "BOOKMARK");
  EXPECT_EQ(bookmark->rv, rv);
  EXPECT_EQ(At(bookmark->object, {"kind"}).string_value(), "EndpointSlice");
  std::unique_ptr<Watch> list = Watch::Open(
      port_, absl::StrCat(kSlices, "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                                   "resourceVersionMatch=NotOlderThan&resourceVersion=",
                          rv));
  std::vector<std::string> types;
  for (int i = 0; i < 3; ++i) types.push_back(list->Next()->type);
  EXPECT_THAT(types, ElementsAre("ADDED", "ADDED", "BOOKMARK"));
  GetJson(absl::StrCat(kSlices, "?watch=1&sendInitialEvents=true"), 400);
  GetJson(absl::StrCat(kSlices, "?watch=1&resourceVersionMatch=NotOlderThan"), 400);
}

// An object that stops matching the selector is DELETED for the watcher, and ADDED when it
// matches again; a watch of one object follows only it.
TEST_F(ApiTest, SelectorsApplyToTheStream) {
  auto tiered = [&](const std::string& name, const std::string& tier) {
    v1::EndpointSlice s = SliceObject(name, "web", 1);
    (*s.mutable_metadata()->mutable_labels())["tier"] = tier;
    return store_->PutSlice(s)->second;
  };
  tiered("a", "x");
  std::unique_ptr<Watch> w =
      Watch::Open(port_, absl::StrCat(kSlices, "?watch=true&labelSelector=tier%3Dx"));
  std::unique_ptr<Watch> one = Watch::Open(port_, absl::StrCat(kSlices, "/b?watch=true"));
  auto next = [&] {
    absl::StatusOr<Event> e = w->Next();
    return e.ok() ? absl::StrCat(e->type, " ", e->name) : std::string(e.status().message());
  };
  EXPECT_EQ(next(), "ADDED a");
  tiered("b", "y");
  tiered("a", "y");
  EXPECT_EQ(next(), "DELETED a");
  tiered("a", "x");
  EXPECT_EQ(next(), "ADDED a");
  ASSERT_OK(store_->DeleteSlice("ns", "a"));
  EXPECT_EQ(next(), "DELETED a");
  absl::StatusOr<Event> b = one->Next();
  ASSERT_OK(b);
  EXPECT_EQ(b->name, "b");
}

// timeoutSeconds ends the stream cleanly.
TEST_F(ApiTest, TimeoutEndsStream) {
  absl::StatusOr<std::unique_ptr<testing::HttpStream>> s =
      testing::HttpStream::Open(port_, absl::StrCat(kSlices, "?watch=true&timeoutSeconds=1"));
  ASSERT_OK(s);
  EXPECT_OK((*s)->ReadToEnd(absl::Seconds(10)));
}

class ShortHistoryTest : public ApiTest {
 protected:
  ShortHistoryTest() {
    history_size_ = 10;
    max_lag_ = absl::Milliseconds(300);
  }
};

// A resume point older than the history is one ERROR event with 410 Expired, then the end.
TEST_F(ShortHistoryTest, TooOldResumeIsGone) {
  for (int i = 0; i < 20; ++i) Put("a", "web", i);
  std::unique_ptr<Watch> w = Watch::Open(port_, absl::StrCat(kSlices, "?watch=true&resourceVersion=2"));
  absl::StatusOr<Event> e = w->Next();
  ASSERT_OK(e);
  EXPECT_EQ(e->type, "ERROR");
  EXPECT_EQ(At(e->object, {"code"}).number_value(), 410);
  EXPECT_EQ(At(e->object, {"reason"}).string_value(), "Expired");
  EXPECT_TRUE(absl::IsOutOfRange(w->Next().status()));
}

// A watcher that stops reading is never buffered without bound: once its oldest unsent change is
// older than the hub's max lag it is reset, and when it reads again it gets 410 and the end.
TEST_F(ShortHistoryTest, LaggingWatcherGetsGone) {
  std::unique_ptr<Watch> w = Watch::Open(port_, absl::StrCat(kSlices, "?watch=true"));
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  // Many large slices fill the socket buffers (each batch the server writes carries every slice
  // changed meanwhile), so its write blocks and the changes pile up in the subscriber's dirty set
  // until the hub resets it.
  for (int i = 0; hub_->stats().lag_resets == 0 && absl::Now() < deadline; ++i) {
    ASSERT_OK(store_->PutSlice(SliceObject(absl::StrCat("big", i % 50), "web", i % 7, 400)));
  }
  ASSERT_GT(hub_->stats().lag_resets, 0);
  // The backlog is megabytes of events: only the ERROR line is parsed (parsing every line took
  // half a minute under ASan).
  while (true) {
    absl::StatusOr<std::string> line = w->NextLine(absl::Seconds(30));
    ASSERT_OK(line);
    if (absl::StartsWith(*line, R"({"type":"ADDED",)") ||
        absl::StartsWith(*line, R"({"type":"MODIFIED",)")) {
      continue;
    }
    const Value e = Json(*line);
    EXPECT_EQ(At(e, {"type"}).string_value(), "ERROR");
    EXPECT_EQ(At(e, {"object", "code"}).number_value(), 410);
    break;
  }
  EXPECT_TRUE(absl::IsOutOfRange(w->Next().status()));
}

}  // namespace
}  // namespace slicekeeper::k8s
