// The one churn model (workload/churn_model.h) and the population under it: determinism by seed,
// Expected() against the changes replayed, sizes held near the target, fills, batches.
#include "workload/churn_model.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "workload/population.h"

namespace slicekeeper::workload {
namespace {

using ::testing::HasSubstr;

// What a server holds after `changes`: (service, address) -> the last upserted endpoint.
using Replayed = std::map<std::pair<std::string, std::string>, v1::Endpoint>;

void Replay(const std::vector<v1::EndpointChange>& changes, Replayed& state) {
  for (const v1::EndpointChange& c : changes) {
    const auto key = std::make_pair(c.service(), c.endpoint().addresses(0));
    if (c.op() == v1::EndpointChange::REMOVE) {
      EXPECT_EQ(state.erase(key), 1u) << "removed an endpoint that was not there: " << key.second;
    } else {
      state[key] = c.endpoint();
    }
  }
}

PodCounts CountsOf(const Replayed& state) {
  PodCounts c;
  for (const auto& [key, e] : state) {
    ++c.endpoints;
    c.ready += e.conditions().ready();
    c.serving += e.conditions().serving();
    c.terminating += e.conditions().terminating();
  }
  return c;
}

void ExpectCounts(const PodCounts& got, const PodCounts& want) {
  EXPECT_EQ(got.endpoints, want.endpoints);
  EXPECT_EQ(got.ready, want.ready);
  EXPECT_EQ(got.serving, want.serving);
  EXPECT_EQ(got.terminating, want.terminating);
}

ChurnOptions Small(uint64_t seed, ChurnMix mix = ChurnMix()) {
  return ChurnOptions{.services = 4, .endpoints = 30, .seed = seed, .mix = mix};
}

// skctl's use: fills first, then churn; Expected() is what replaying the changes leaves; the same
// seed gives the same changes, another seed other ones.
TEST(ChurnModelTest, NextIsDeterministicAndExpectedMatchesReplay) {
  ChurnMix mix;
  mix.replace = 1;
  ChurnModel a(Small(3, mix)), b(Small(3, mix)), c(Small(4, mix));
  std::vector<v1::EndpointChange> changes;
  bool differs = false;
  for (int i = 0; i < 3000; ++i) {
    changes.push_back(a.Next());
    const v1::EndpointChange other = c.Next();
    EXPECT_EQ(b.Next().SerializeAsString(), changes.back().SerializeAsString()) << i;
    differs |= other.SerializeAsString() != changes.back().SerializeAsString();
  }
  EXPECT_TRUE(differs);
  for (int i = 0; i < 120; ++i) {  // the fill: every service in order, all ready
    EXPECT_EQ(changes[i].service(), absl::StrCat("churn-", i / 30));
    EXPECT_TRUE(changes[i].endpoint().conditions().ready());
  }
  Replayed state;
  Replay(changes, state);
  ExpectCounts(a.Expected(), CountsOf(state));
  EXPECT_GT(a.Expected().terminating, 0);
  EXPECT_GT(a.Expected().endpoints - a.Expected().serving, 0);  // some not ready
  EXPECT_NEAR(a.Expected().endpoints, 120, 30);                 // replacements keep the size
}

// The benchmarks' use: Fill is pure and matches a fresh model's fill; batches stay in their
// service (or spread one per service) and keep every service's size within one pod.
TEST(ChurnModelTest, BenchFillAndBatches) {
  ChurnOptions o = Small(7, kBenchMix);
  ChurnModel fresh(o), churned(o);
  Replayed state;
  for (int s = 0; s < o.services; ++s) {
    const std::vector<v1::EndpointChange> pure = churned.FillChanges(s);
    const std::vector<v1::EndpointChange> filled = fresh.Fill(s);
    ASSERT_EQ(pure.size(), filled.size());
    for (size_t i = 0; i < pure.size(); ++i) {
      EXPECT_EQ(pure[i].SerializeAsString(), filled[i].SerializeAsString());
    }
    Replay(filled, state);
  }
  churned.AssumeFilled();
  for (int round = 0; round < 50; ++round) {
    const std::vector<v1::EndpointChange> one = churned.Batch(round % o.services, 10, false);
    ASSERT_EQ(one.size(), 10u);
    for (const v1::EndpointChange& c : one) {
      EXPECT_EQ(c.service(), absl::StrCat("churn-", round % o.services));
    }
    Replay(one, state);
    const std::vector<v1::EndpointChange> spread = churned.Batch(round, 4, true);
    std::set<std::string> services;
    for (const v1::EndpointChange& c : spread) services.insert(c.service());
    EXPECT_EQ(services.size(), 4u);
    Replay(spread, state);
  }
  ExpectCounts(churned.Expected(), CountsOf(state));
  std::map<std::string, int> sizes;
  for (const auto& [key, e] : state) ++sizes[key.first];
  for (const auto& [service, n] : sizes) EXPECT_NEAR(n, 30, 1) << service;
  EXPECT_EQ(churned.Expected().terminating, 0);
}

// Mix parsing: defaults, overrides, and precise errors.
TEST(ChurnModelTest, MixParse) {
  absl::StatusOr<ChurnMix> mix = ChurnMix::Parse("ready=4, replace=3,add=0");
  ASSERT_OK(mix);
  EXPECT_EQ(mix->ready, 4);
  EXPECT_EQ(mix->replace, 3);
  EXPECT_EQ(mix->add, 0);
  EXPECT_EQ(mix->remove, 1);
  EXPECT_THAT(std::string(ChurnMix::Parse("grow=1").status().message()),
              HasSubstr("unknown operation \"grow\""));
  EXPECT_THAT(std::string(ChurnMix::Parse("add=-1").status().message()),
              HasSubstr("add: weight must be a number >= 0"));
  EXPECT_FALSE(ChurnMix::Parse("add=0,remove=0,ready=0,terminate=0,replace=0").ok());
}

// Pods: addresses are unique while live, ids come round a ring, nodes round robin per service,
// zones follow nodes, and a removal names the identity only.
TEST(PopulationTest, PodsAndTheirChanges) {
  Population pop(PopulationOptions{.prefix = "svc", .services = 2, .capacity = 4, .nodes = 6});
  std::vector<PodId> pods;
  for (int i = 0; i < 4; ++i) pods.push_back(pop.Add(1, PodState::kNotReady));
  EXPECT_EQ(pods, (std::vector<PodId>{4, 5, 6, 7}));
  pop.Remove(5);
  EXPECT_EQ(pop.Add(1, PodState::kReady), 5);  // the ring's only free id
  pop.Set(4, PodState::kTerminating);
  EXPECT_EQ(pop.Pods(1, PodState::kNotReady).size(), 2u);
  EXPECT_EQ(pop.size(1), 4);
  EXPECT_EQ(pop.size(0), 0);
  const std::vector<v1::EndpointChange> changes = pop.TakeChanges();
  ASSERT_EQ(changes.size(), 7u);
  const v1::EndpointChange& first = changes[0];
  EXPECT_EQ(first.service(), "svc-1");
  EXPECT_EQ(first.endpoint().addresses(0), "10.0.0.4");
  EXPECT_EQ(first.endpoint().target_ref().name(), "svc-1-0");
  EXPECT_EQ(first.endpoint().node_name(), "node-0");
  EXPECT_EQ(changes[1].endpoint().zone(), "zone-b");  // node-1
  EXPECT_FALSE(first.endpoint().conditions().ready());
  EXPECT_FALSE(first.endpoint().conditions().serving());
  EXPECT_EQ(changes[4].op(), v1::EndpointChange::REMOVE);
  EXPECT_FALSE(changes[4].endpoint().has_conditions());
  EXPECT_EQ(changes[4].ports_size(), 0);
  const v1::EndpointConditions& terminating = changes[6].endpoint().conditions();
  EXPECT_TRUE(!terminating.ready() && terminating.serving() && terminating.terminating());
  EXPECT_TRUE(pop.TakeChanges().empty());
}

}  // namespace
}  // namespace slicekeeper::workload
