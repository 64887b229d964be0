// The trace models (workload/traces.h) and trace files (workload/trace_file.h): deterministic by
// seed, valid as a change stream, the Deployment's rollout bounds, and a file round trip.
#include "workload/traces.h"

#include <map>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "workload/trace_file.h"

namespace slicekeeper::workload {
namespace {

using ::testing::HasSubstr;

std::string Bytes(const Trace& t) {
  std::string out;
  for (const TraceBatch& b : t.batches) {
    out += b.warmup ? "W" : "M";
    for (const v1::EndpointChange& c : b.changes) out += c.SerializeAsString();
  }
  return out;
}

// Replays `t` checking that it is a valid change stream; calls `after` with the state (address ->
// endpoint) after every measured batch.
template <typename Fn>
void Replay(const Trace& t, Fn after) {
  std::map<std::string, v1::Endpoint> state;
  for (const TraceBatch& b : t.batches) {
    for (const v1::EndpointChange& c : b.changes) {
      const std::string& address = c.endpoint().addresses(0);
      if (c.op() == v1::EndpointChange::REMOVE) {
        ASSERT_EQ(state.erase(address), 1u) << t.name << ": removes an unknown " << address;
      } else {
        state[address] = c.endpoint();
      }
    }
    if (!b.warmup) after(state);
  }
}

// Every model: the same seed gives the same trace, another seed another one; warmup batches come
// first; the replayed stream never removes an endpoint it did not add.
TEST(TracesTest, ModelsAreDeterministicAndValid) {
  for (const std::string& model : TraceModels()) {
    SCOPED_TRACE(model);
    absl::StatusOr<Trace> a = GenerateTrace(model, {.replicas = 60, .seed = 1});
    absl::StatusOr<Trace> b = GenerateTrace(model, {.replicas = 60, .seed = 1});
    absl::StatusOr<Trace> c = GenerateTrace(model, {.replicas = 60, .seed = 2});
    ASSERT_OK(a);
    ASSERT_OK(b);
    ASSERT_OK(c);
    EXPECT_EQ(Bytes(*a), Bytes(*b));
    EXPECT_NE(Bytes(*a), Bytes(*c));
    EXPECT_GT(a->CountChanges(/*measured_only=*/true), 100);
    bool measured = false;
    for (const TraceBatch& batch : a->batches) {
      EXPECT_FALSE(batch.warmup && measured) << "a warmup batch after a measured one";
      measured |= !batch.warmup;
    }
    Replay(*a, [](const auto&) {});
  }
  EXPECT_THAT(std::string(GenerateTrace("nope", {}).status().message()),
              HasSubstr("unknown trace model \"nope\""));
}

// A rolling update keeps at most replicas + 25 % pods not terminating and at least 75 % ready,
// and ends with every pod replaced three times over and ready.
TEST(TracesTest, RollingUpdateBounds) {
  absl::StatusOr<Trace> t = GenerateTrace("rolling-update", {.replicas = 100, .seed = 5});
  ASSERT_OK(t);
  Replay(*t, [&](const std::map<std::string, v1::Endpoint>& state) {
    int live = 0, ready = 0;
    for (const auto& [address, e] : state) {
      live += !e.conditions().terminating();
      ready += e.conditions().ready();
    }
    EXPECT_LE(live, 125);
    EXPECT_GE(ready, 75);
  });
  std::map<std::string, v1::Endpoint> end;
  Replay(*t, [&](const auto& state) { end = state; });
  EXPECT_EQ(end.size(), 100u);
  for (const auto& [address, e] : end) EXPECT_TRUE(e.conditions().ready()) << address;
  EXPECT_EQ(t->CountChanges(/*measured_only=*/true), 3 * 100 * 4);  // add, ready, stop, remove
}

// A zone failure takes a third of the pods (every pod of the zone) not ready, then back.
TEST(TracesTest, ZoneFailureTakesAThird) {
  absl::StatusOr<Trace> t = GenerateTrace("zone-failure", {.replicas = 90, .seed = 1});
  ASSERT_OK(t);
  int worst = 90;
  Replay(*t, [&](const std::map<std::string, v1::Endpoint>& state) {
    int ready = 0;
    for (const auto& [address, e] : state) ready += e.conditions().ready();
    worst = std::min(worst, ready);
  });
  EXPECT_EQ(worst, 60);
}

// Writing a trace and reading it back gives the same batches, warmup marks included; a bad line
// is reported by number.
TEST(TraceFileTest, RoundTripAndErrors) {
  absl::StatusOr<Trace> t = GenerateTrace("scale", {.replicas = 20, .seed = 1});
  ASSERT_OK(t);
  std::stringstream file;
  ASSERT_OK(TraceWriter(&file).Write(*t));
  absl::StatusOr<Trace> back = ReadTrace(file, "scale");
  ASSERT_OK(back);
  EXPECT_EQ(Bytes(*back), Bytes(*t));
  std::istringstream first(file.str().substr(0, file.str().find('\n') + 1));
  EXPECT_THAT(first.str(), HasSubstr("{\"batch\":1,\"change\":{\"op\":\"UPSERT\""));
  std::istringstream bad(first.str() + "\n{\"batch\": 2, \"chnge\": {}}\n");
  EXPECT_THAT(std::string(ReadTrace(bad, "bad").status().message()), HasSubstr("line 3: "));
  std::istringstream empty_change("{\"batch\": 1}\n");
  EXPECT_THAT(std::string(ReadTrace(empty_change, "x").status().message()),
              HasSubstr("line 1: change is required"));
}

}  // namespace
}  // namespace slicekeeper::workload
