#include "server/metrics/metrics.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace slicekeeper::metrics {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A counter renders HELP (escaped), TYPE and one sample.
TEST(MetricsTest, CounterExposition) {
  Registry r;
  Counter* c = r.AddCounter("sk_writes_total", "Write RPCs.\nWith a \\ in it.");
  c->Inc();
  c->Inc(2.5);
  c->Inc(-7);  // ignored: counters never go down
  EXPECT_EQ(r.Exposition(),
            "# HELP sk_writes_total Write RPCs.\\nWith a \\\\ in it.\n"
            "# TYPE sk_writes_total counter\n"
            "sk_writes_total 3.5\n");
}

// A labelled gauge renders one sample per child, sorted by label values, values escaped.
TEST(MetricsTest, LabelledGaugeExposition) {
  Registry r;
  Family<Gauge>* f = r.AddGaugeFamily("sk_services", "Services.", {"ns", "mode"});
  f->WithLabels({"prod", "Auto"})->Set(3);
  Gauge* g = f->WithLabels({"dev", "a\"b\\c\nd"});
  g->Set(10);
  g->Dec();
  g->Add(0.25);
  EXPECT_EQ(r.Exposition(),
            "# HELP sk_services Services.\n"
            "# TYPE sk_services gauge\n"
            "sk_services{ns=\"dev\",mode=\"a\\\"b\\\\c\\nd\"} 9.25\n"
            "sk_services{ns=\"prod\",mode=\"Auto\"} 3\n");
}

// A histogram renders cumulative buckets with +Inf, then _sum and _count.
TEST(MetricsTest, HistogramExposition) {
  Registry r;
  Histogram* h = r.AddHistogram("sk_batch_size", "Batch sizes.", {1, 2.5, 10});
  for (double v : {0.5, 1.0, 2.0, 3.0, 100.0}) h->Observe(v);
  Family<Histogram>* f = r.AddHistogramFamily("sk_lat", "Latency.", {"op"}, {0.5});
  f->WithLabels({"get"})->Observe(0.25);
  EXPECT_EQ(r.Exposition(),
            "# HELP sk_batch_size Batch sizes.\n"
            "# TYPE sk_batch_size histogram\n"
            "sk_batch_size_bucket{le=\"1\"} 2\n"
            "sk_batch_size_bucket{le=\"2.5\"} 3\n"
            "sk_batch_size_bucket{le=\"10\"} 4\n"
            "sk_batch_size_bucket{le=\"+Inf\"} 5\n"
            "sk_batch_size_sum 106.5\n"
            "sk_batch_size_count 5\n"
            "# HELP sk_lat Latency.\n"
            "# TYPE sk_lat histogram\n"
            "sk_lat_bucket{op=\"get\",le=\"0.5\"} 1\n"
            "sk_lat_bucket{op=\"get\",le=\"+Inf\"} 1\n"
            "sk_lat_sum{op=\"get\"} 0.25\n"
            "sk_lat_count{op=\"get\"} 1\n");
}

// A family with no children yet renders only its HELP and TYPE lines.
TEST(MetricsTest, EmptyFamilyRendersHeaderOnly) {
  Registry r;
  r.AddCounterFamily("sk_changes", "Changes.", {"operation"});
  EXPECT_EQ(r.Exposition(), "# HELP sk_changes Changes.\n# TYPE sk_changes counter\n");
}

// Kubernetes' exp(2,2,15) buckets are 2, 4, ..., 32768; linear buckets step by the width.
TEST(MetricsTest, BucketHelpers) {
  std::vector<double> b = ExponentialBuckets(2, 2, 15);
  ASSERT_EQ(b.size(), 15u);
  EXPECT_EQ(b.front(), 2);
  EXPECT_EQ(b[1], 4);
  EXPECT_EQ(b.back(), 32768);
  EXPECT_THAT(LinearBuckets(1, 0.5, 3), ElementsAre(1, 1.5, 2));
}

// Registering a name again returns the same metric; WithLabels caches children.
TEST(MetricsTest, RegistrationAndChildrenAreCached) {
  Registry r;
  EXPECT_EQ(r.AddCounter("a", "A."), r.AddCounter("a", "A."));
  Family<Counter>* f = r.AddCounterFamily("b", "B.", {"x"});
  EXPECT_EQ(f, r.AddCounterFamily("b", "B.", {"x"}));
  EXPECT_EQ(f->WithLabels({"1"}), f->WithLabels({"1"}));
  EXPECT_NE(f->WithLabels({"1"}), f->WithLabels({"2"}));
}

// Registering a name with another type is a programming error and aborts.
TEST(MetricsDeathTest, ConflictingRegistrationAborts) {
  Registry r;
  r.AddCounter("a", "A.");
  EXPECT_DEATH(r.AddGauge("a", "A."), "different type");
  EXPECT_DEATH(r.AddCounter("0bad", "A."), "invalid metric name");
  Family<Counter>* f = r.AddCounterFamily("b", "B.", {"x"});
  EXPECT_DEATH(f->WithLabels({"1", "2"}), "2 values for 1 label names");
}

// A callback gauge is evaluated at scrape time.
TEST(MetricsTest, CallbackGaugeEvaluatedAtScrape) {
  Registry r;
  std::atomic<int> n{1};
  Gauge* g = r.AddCallbackGauge("sk_n", "N.", [&] { return n.load(); });
  EXPECT_THAT(r.Exposition(), HasSubstr("\nsk_n 1\n"));
  n = 7;
  EXPECT_THAT(r.Exposition(), HasSubstr("\nsk_n 7\n"));
  g->SetCallback(nullptr);
  g->Set(3);
  EXPECT_EQ(g->Value(), 3);
}

// Increments and observations from 4 threads, racing with scrapes, all count.
TEST(MetricsTest, ConcurrentUpdatesSumCorrectly) {
  Registry r;
  Counter* c = r.AddCounter("sk_c", "C.");
  Gauge* g = r.AddGauge("sk_g", "G.");
  Histogram* h = r.AddHistogram("sk_h", "H.", ExponentialBuckets(2, 2, 15));
  Family<Counter>* f = r.AddCounterFamily("sk_f", "F.", {"t"});
  constexpr int kThreads = 4;
  constexpr int kIters = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Counter* mine = f->WithLabels({t % 2 == 0 ? "even" : "odd"});
      for (int i = 0; i < kIters; ++i) {
        c->Inc();
        g->Inc();
        h->Observe(i % 8);
        mine->Inc();
        if (i % 20000 == 0) r.Exposition();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(c->Value(), kThreads * kIters);
  EXPECT_EQ(g->Value(), kThreads * kIters);
  Histogram::Snapshot s = h->Read();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kIters);
  EXPECT_EQ(s.sum, kThreads * (kIters / 8) * 28.0);                 // 0+1+...+7 per 8 observations
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads} * kIters / 8 * 3);  // 0, 1, 2 <= 2
  EXPECT_EQ(f->WithLabels({"even"})->Value(), 2 * kIters);
  EXPECT_EQ(f->WithLabels({"odd"})->Value(), 2 * kIters);
}

}  // namespace
}  // namespace slicekeeper::metrics
