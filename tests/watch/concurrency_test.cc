// The hub with its real dispatcher thread, concurrent writers and consumers on their own threads:
// every consumer converges to the store's final state, with revisions never decreasing.
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/watch/hub.h"
#include "tests/test_util.h"

namespace slicekeeper::watch {
namespace {

// Wakes its consumer thread; the consumer drains with Next().
class Consumer : public Sink {
 public:
  void Wake() override {
    absl::MutexLock l(&mu_);
    woken_ = true;
  }

  // Drains until a SYNCED/BOOKMARK at or after `*target` (set by the test once writes stop).
  void Run(Subscriber* sub, const std::atomic<int64_t>* target) {
    while (true) {
      {
        absl::MutexLock l(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&woken_), absl::Milliseconds(50));
        woken_ = false;
      }
      while (std::optional<v1::WatchResponse> m = sub->Next()) Consume(*m);
      int64_t t = target->load();
      if (t > 0 && synced_ >= t) return;
    }
  }

  std::map<std::string, v1::EndpointSlice> state;
  bool monotonic = true;

 private:
  void Consume(const v1::WatchResponse& m) {
    for (const v1::WatchEvent& e : m.events()) {
      if (e.revision() < last_) monotonic = false;
      last_ = std::max(last_, e.revision());
      switch (e.type()) {
        case v1::WatchEvent::ADDED:
        case v1::WatchEvent::MODIFIED:
          state[e.slice().metadata().name()] = e.slice();
          break;
        case v1::WatchEvent::DELETED:
          state.erase(e.slice().metadata().name());
          break;
        case v1::WatchEvent::SYNCED:
        case v1::WatchEvent::BOOKMARK:
          synced_ = e.revision();
          break;
        default:
          break;
      }
    }
  }

  absl::Mutex mu_;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  int64_t last_ = 0;
  int64_t synced_ = 0;
};

v1::EndpointChange Change(const std::string& svc, int i, bool ready) {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::UPSERT);
  c.set_namespace_("test");
  c.set_service(svc);
  c.mutable_endpoint()->add_addresses(absl::StrCat("10.1.", i / 200, ".", i % 200 + 1));
  c.mutable_endpoint()->mutable_conditions()->set_ready(ready);
  c.add_ports()->set_port(8080);
  return c;
}

// Two writers and four consumers (all services, one service, two ENDPOINTS-less slices views)
// race; after the writes stop every consumer's rebuilt state equals the store's.
TEST(HubConcurrencyTest, ConsumersConvergeUnderConcurrentWrites) {
  store::Store::Options so;
  so.shards = 8;
  store::Store store(so);
  Hub::Options ho;
  ho.tick = absl::Milliseconds(10);
  ho.bookmark_interval = absl::Milliseconds(20);
  ho.max_message_bytes = 8192;
  Hub hub(&store, ho);
  hub.Start();

  std::atomic<int64_t> target{0};
  std::vector<Selection> selections(4);
  selections[1].namespace_ = "test";
  selections[1].services = {"s1"};
  selections[2].namespace_ = "test";
  selections[3].services = {"s2", "s3"};
  std::vector<std::unique_ptr<Consumer>> consumers;
  std::vector<std::shared_ptr<Subscriber>> subs;
  std::vector<std::thread> threads;
  for (Selection& sel : selections) {
    sel.bookmarks = true;
    consumers.push_back(std::make_unique<Consumer>());
    subs.push_back(hub.Subscribe(sel, 0, consumers.back().get()));
    threads.emplace_back(&Consumer::Run, consumers.back().get(), subs.back().get(), &target);
  }
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&store, w] {
      for (int b = 0; b < 150; ++b) {
        std::vector<v1::EndpointChange> batch;
        for (int k = 0; k < 20; ++k) {
          batch.push_back(Change(absl::StrCat("s", (w * 2 + b + k) % 4), (b * 7 + k * 13) % 400,
                                 (b + k) % 3 != 0));
        }
        ASSERT_OK(store.ApplyChanges(batch));
      }
    });
  }
  for (auto& t : writers) t.join();
  target.store(store.revision());
  for (auto& t : threads) t.join();

  store::CatalogPtr cat = store.Snapshot("");
  for (size_t i = 0; i < consumers.size(); ++i) {
    std::map<std::string, v1::EndpointSlice> want;
    for (const auto& s : cat->services) {
      if (!subs[i]->selection().Matches(s->namespace_, s->name)) continue;
      for (const SlicePtr& sl : s->slices) want[sl->name] = sl->ToProto();
    }
    EXPECT_TRUE(consumers[i]->monotonic) << i;
    ASSERT_EQ(consumers[i]->state.size(), want.size()) << i;
    for (const auto& [name, slice] : want) {
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(consumers[i]->state[name],
                                                                      slice))
          << i << " " << name;
    }
    hub.Unsubscribe(subs[i]);
  }
  hub.Stop();
}

}  // namespace
}  // namespace slicekeeper::watch
