// A watcher that stops reading while the store churns (issue 4), against the real binary: the
// server's memory grows by less than the watched state (the watcher costs a dirty set, not a queue
// of events), and the watcher converges, with the changes folded, when it reads again.
//
// The speed half of the requirement (writer throughput with a stalled watcher within 10 % of the
// same churn without one) is a benchmark, not a timed test: `watch_load --phases=stalled`
// (bench/watch_load.cc, BENCHMARKS.md "Stalled watchers").
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "tests/integration/server_fixture.h"

namespace slicekeeper::integration {
namespace {

// The sanitizer builds (Debug, ~10x slower) check convergence and folding with a tenth of the
// churn and do not check memory: ASan's allocator keeps freed blocks in quarantine (256 MB by
// default), so the server's RSS there follows the churn, not what is live. The normal build writes
// the requirement's 500 k changes.
#if defined(ABSL_HAVE_ADDRESS_SANITIZER) || defined(ABSL_HAVE_THREAD_SANITIZER)
constexpr int kChanges = 50'000;
constexpr bool kCheckMemory = false;
#else
constexpr int kChanges = 500'000;
constexpr bool kCheckMemory = true;
#endif
// Before the watcher opens, the store takes this much of the same churn, so that the server's own
// working set under churn (write path buffers, the allocator's) is in place and the RSS delta is
// the stall's.
constexpr int kWarmUpChanges = kChanges / 5;
constexpr int kServices = 50;
constexpr int kEndpoints = 200;  // live endpoints per service, at all times
constexpr int kIdsPerService = 1000;
constexpr int kBatch = 500;
constexpr int kBatchesInFlight = 16;
constexpr char kNamespace[] = "stall";
// The whole test's budget for any one wait (stream reads, acks, convergence).
constexpr absl::Duration kDeadline = absl::Minutes(5);

int64_t RssBytes(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atoll(line.c_str() + 6) * 1024;
  }
  return -1;
}

// Deterministic bytes of a slice: equal messages give equal bytes.
std::string Bytes(const v1::EndpointSlice& s) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  s.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// Endpoint `id` of service `s`: a pod with a node, a zone and a target reference, as a kubelet
// would report it (~65 serialized bytes in a slice). The target reference is part of the
// endpoint's identity, so a REMOVE carries it too.
v1::EndpointChange Pod(int s, int id, bool ready, bool remove) {
  const std::string service = absl::StrCat("svc-", s);
  const std::string ip = absl::StrCat("10.", s, ".", id / 250, ".", id % 250 + 1);
  v1::EndpointChange c = remove ? Remove(kNamespace, service, ip) : Upsert(kNamespace, service, ip);
  v1::Endpoint* e = c.mutable_endpoint();
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_namespace_(kNamespace);
  e->mutable_target_ref()->set_name(absl::StrCat(service, "-pod-", id));
  if (remove) return c;
  e->mutable_conditions()->set_ready(ready);
  e->set_node_name(absl::StrCat("node-", id % 40));
  e->set_zone(absl::StrCat("zone-", id % 3));
  return c;
}

// Churn over the same watched endpoints: per service a window of kEndpoints live ids sliding
// around a ring of kIdsPerService; 40 % of the changes flip a live endpoint's readiness, 60 % are
// add-newest / remove-oldest pairs. The watched state stays at kServices x kEndpoints endpoints.
class Churner {
 public:
  std::vector<v1::EndpointChange> Fill(int s) const {
    std::vector<v1::EndpointChange> out;
    for (int id = 0; id < kEndpoints; ++id) out.push_back(Pod(s, id, true, false));
    return out;
  }
  v1::ChangeBatch Next(uint64_t batch_id) {
    v1::ChangeBatch b;
    b.set_batch_id(batch_id);
    while (b.changes_size() < kBatch) {
      const int s = static_cast<int>(rng_() % kServices);
      int& base = base_[s];
      if (rng_() % 10 < 4) {
        const int id = (base + static_cast<int>(rng_() % kEndpoints)) % kIdsPerService;
        *b.add_changes() = Pod(s, id, rng_() % 2 == 0, false);
      } else {
        *b.add_changes() = Pod(s, (base + kEndpoints) % kIdsPerService, true, false);
        *b.add_changes() = Pod(s, base, true, true);
        base = (base + 1) % kIdsPerService;
      }
    }
    return b;
  }

 private:
  std::vector<int> base_ = std::vector<int>(kServices, 0);
  std::mt19937 rng_{4};
};

// The client side of the stalled watch: a blocking reader the test reads from only when it
// chooses to, rebuilding the slices by name.
struct WatchState {
  std::map<std::string, v1::EndpointSlice> slices;
  int64_t synced = -1;  // the last SYNCED / BOOKMARK revision
  int64_t changes = 0;  // ADDED / MODIFIED / DELETED events
  int64_t resets = 0;

  void Apply(const v1::WatchEvent& e) {
    switch (e.type()) {
      case v1::WatchEvent::ADDED:
      case v1::WatchEvent::MODIFIED:
        ++changes;
        slices[e.slice().metadata().name()] = e.slice();
        break;
      case v1::WatchEvent::DELETED:
        ++changes;
        slices.erase(e.slice().metadata().name());
        break;
      case v1::WatchEvent::RESET:
        ++resets;
        slices.clear();
        break;
      default:  // SYNCED, BOOKMARK
        synced = std::max(synced, e.revision());
    }
  }
};

class StalledWatcherTest : public ServerTest {
 protected:
  // Both allocators the server may run on (glibc's in sanitizer builds, jemalloc otherwise) give
  // threads arenas of their own (up to 8 per core) and keep much of their free memory, so with the
  // defaults the server's RSS wanders by several MiB under churn with no watcher at all: this
  // test's delta varied +7.8..+13.1 MiB over 4 runs (glibc) and was +11.2 MiB with jemalloc
  // against 8.9 MiB watched. One arena makes RSS follow live memory (glibc +7.8..+8.0 MiB over 5
  // runs, jemalloc +6.8..+7.0); it hides nothing live: a queue of events is live memory under
  // any arena count. The child's allocator reads the variables at start; this process's
  // allocator was initialized long before.
  void SetUp() override {
    setenv("MALLOC_ARENA_MAX", "1", 1);
    setenv("MALLOC_CONF", "narenas:1", 1);
    ServerTest::SetUp();
    unsetenv("MALLOC_ARENA_MAX");
    unsetenv("MALLOC_CONF");
  }

  std::vector<std::string> ExtraArgs() const override {
    return {
        "--store=memory",
        // The resume history pins every retained commit's slice versions (~0.35 MiB a commit of
        // this churn: with --history=1000 the RSS grew by ~340 MiB over it, and the default is
        // 100 000): the resume window's configured cost, not the watcher's. One commit, so the
        // RSS delta is the stalled watcher's.
        "--history=1",
        // The watcher is stalled for the whole churn; it must not be RESET (which frees what it
        // pins and would make the memory bound trivial) even under the sanitizers.
        "--watch_max_lag=30m",
        // The caught-up watcher learns it converged from a BOOKMARK.
        "--bookmark_interval=100ms",
    };
  }

  // A Discovery stub on its own connection without BDP probing, so the client's windows stay
  // small and a stream the client does not read really stops the server's writes (as
  // change_stream_test does for acks).
  std::unique_ptr<Discovery::Stub> WatchStub() {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 << 10);
    args.SetInt("slicekeeper.test.watch_channel", 1);
    return Discovery::NewStub(grpc::CreateCustomChannel(server_->grpc_address(),
                                                        grpc::InsecureChannelCredentials(), args));
  }

  // Reads until a SYNCED or BOOKMARK at >= `revision`; false if the stream ended first.
  static bool ReadUntil(grpc::ClientReader<v1::WatchResponse>& watch, int64_t revision,
                        WatchState* state) {
    v1::WatchResponse message;
    while (state->synced < revision) {
      if (!watch.Read(&message)) return false;
      for (const v1::WatchEvent& e : message.events()) state->Apply(e);
    }
    return true;
  }

  // The watcher's slices equal ListEndpointSlices' at a revision >= `revision`, byte for byte.
  void ExpectSameAsListing(const WatchState& state, int64_t revision) {
    auto listed = List(kNamespace);
    ASSERT_TRUE(listed.status.ok()) << Describe(listed.status);
    EXPECT_GE(listed.response.revision(), revision);
    EXPECT_EQ(state.slices.size(), static_cast<size_t>(listed.response.slices_size()));
    for (const v1::EndpointSlice& want : listed.response.slices()) {
      auto it = state.slices.find(want.metadata().name());
      if (it == state.slices.end()) {
        ADD_FAILURE() << want.metadata().name() << " missing";
      } else {
        EXPECT_EQ(Bytes(it->second), Bytes(want)) << want.metadata().name();
      }
    }
  }

  // Writes `batches` of the churn through one StreamChanges stream, kBatchesInFlight at most
  // unacknowledged, as fast as the server acks. Returns the last ack's revision (-1 on failure).
  int64_t StreamChurn(Churner& churner, int batches) {
    grpc::ClientContext context;
    SetDeadline(context, kDeadline);
    auto stream = registry()->StreamChanges(&context);
    absl::Mutex mu;
    int acked = 0, failed = 0;
    int64_t last_revision = -1;
    std::thread reader([&] {
      for (v1::ChangeAck ack; stream->Read(&ack);) {
        absl::MutexLock l(&mu);
        ++acked;
        if (ack.code() != 0) {
          if (failed++ == 0) ADD_FAILURE() << "batch " << ack.batch_id() << ": " << ack.message();
        }
        last_revision = std::max(last_revision, ack.revision());
      }
    });
    for (int i = 0; i < batches; ++i) {
      {
        absl::MutexLock l(&mu);
        auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return i - acked < kBatchesInFlight || failed > 0;
        };
        if (!mu.AwaitWithTimeout(absl::Condition(&room), kDeadline) || failed > 0) break;
      }
      if (!stream->Write(churner.Next(static_cast<uint64_t>(i + 1)))) break;
    }
    stream->WritesDone();
    reader.join();
    grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << Describe(status);
    EXPECT_EQ(acked, batches);
    return failed == 0 && acked == batches ? last_revision : -1;
  }
};

// A watcher stalled through 500 k changes to the slices it watches costs the server less memory
// than the watched state; reading again, it gets far fewer events than changes and its state
// equals ListEndpointSlices at a revision >= the last write's, slice for slice.
TEST_F(StalledWatcherTest, StalledWatcherBoundedAndConverges) {
  Churner churner;
  // The watched state's memory: what holding it added to the server's RSS.
  const int64_t rss_empty = RssBytes(server_->pid());
  for (int s = 0; s < kServices; ++s) ASSERT_TRUE(Apply(churner.Fill(s)).status.ok());
  const int64_t watched_memory = RssBytes(server_->pid()) - rss_empty;
  ASSERT_GT(StreamChurn(churner, kWarmUpChanges / kBatch), 0);

  auto watch_stub = WatchStub();
  grpc::ClientContext watch_context;
  SetDeadline(watch_context, kDeadline);
  v1::WatchRequest request;
  request.set_namespace_(kNamespace);
  request.set_view(v1::SLICES);
  request.set_bookmarks(true);
  auto watch = watch_stub->Watch(&watch_context, request);
  WatchState state;
  ASSERT_TRUE(ReadUntil(*watch, 0, &state)) << "no SYNCED";
  const int64_t snapshot_events = state.changes;

  // Stalled: the test does not read from `watch` while the churn runs. (No other call between the
  // two RSS readings: a listing leaves tens of MiB of free heap behind, which would hide growth.)
  const int64_t rss_before = RssBytes(server_->pid());
  const absl::Time churn_start = absl::Now();
  const int64_t last_ack = StreamChurn(churner, kChanges / kBatch);
  const absl::Duration churn_time = absl::Now() - churn_start;
  const int64_t rss_after = RssBytes(server_->pid());
  ASSERT_GT(last_ack, 0);

  // Reading again: until a BOOKMARK covers the last write.
  const absl::Time resume_start = absl::Now();
  ASSERT_TRUE(ReadUntil(*watch, last_ack, &state)) << "the watcher did not converge";
  const absl::Duration converge_time = absl::Now() - resume_start;
  const int64_t stall_events = state.changes - snapshot_events;
  // The watched state on the wire: every watched slice as ListEndpointSlices returns it.
  auto listed = List(kNamespace);
  ASSERT_TRUE(listed.status.ok()) << Describe(listed.status);
  int64_t watched_bytes = 0;
  for (const v1::EndpointSlice& s : listed.response.slices()) watched_bytes += s.ByteSizeLong();
  ExpectSameAsListing(state, last_ack);
  int endpoints = 0;
  for (const v1::EndpointSlice& s : listed.response.slices()) endpoints += s.endpoints_size();
  EXPECT_EQ(endpoints, kServices * kEndpoints) << "the churn did not keep the state bounded";

  const int64_t growth = rss_after - rss_before;
  std::printf(
      "stalled watcher: %d changes in %.1f s (%.0f/s); watched state %d slices, %.2f MiB in "
      "memory, %.2f MiB serialized; server RSS %.1f -> %.1f MiB (%+.2f MiB); after resume %lld "
      "events in %.0f ms\n",
      kChanges, absl::ToDoubleSeconds(churn_time), kChanges / absl::ToDoubleSeconds(churn_time),
      listed.response.slices_size(), watched_memory / 1048576.0, watched_bytes / 1048576.0,
      rss_before / 1048576.0, rss_after / 1048576.0, growth / 1048576.0,
      static_cast<long long>(stall_events), absl::ToDoubleMilliseconds(converge_time));
  RecordProperty("watched_memory", static_cast<int>(watched_memory));
  RecordProperty("watched_bytes", static_cast<int>(watched_bytes));
  RecordProperty("rss_before", static_cast<int>(rss_before));
  RecordProperty("rss_after", static_cast<int>(rss_after));
  RecordProperty("events_after_stall", static_cast<int>(stall_events));

  EXPECT_EQ(state.resets, 0);
  // About one event per slice that changed (~170 here), not one per change, nor one per slice
  // per commit (~100 k).
  EXPECT_LT(stall_events, kChanges / 20) << "changes were not folded";
  if (kCheckMemory) {
    // The watched state is 10 000 endpoints in 100 slices: ~9 MiB of the server's memory
    // (`watched_memory`: what filling it added to the RSS), ~0.66 MiB serialized. A stalled
    // dirty-set subscriber pins the slice versions it last sent (one old copy of the state once
    // every endpoint has changed) and one message in flight: measured +7.8..+8.4 MiB, 0.86..1.15
    // of the state's memory. A queue of one event per change would hold 500 k x >= 65 bytes =
    // 33 MB, and one slice event per changed slice per commit (~100 x 6 KB x 1 000 commits) far
    // more.
    // The bound is two copies, not one: both RSS readings move by whole allocator extents (2 MiB
    // huge pages since jemalloc runs with thp:always), and one copy measured up to 1.15x the fill
    // (+8.39 MiB against 7.32 MiB). Two copies (~16 MiB) still fail both designs above.
    ASSERT_GT(watched_memory, 0);
    EXPECT_LT(growth, 2 * watched_memory);
  }
  watch_context.TryCancel();
  watch->Finish();
}

}  // namespace
}  // namespace slicekeeper::integration
