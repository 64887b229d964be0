// store::internal::Proposals, the pipelined writes of a replicated store: a write is done once its
// revision is published here, or fails after the apply wait; its services stay busy until then;
// a refused proposal's retry runs on the component's own thread.
#include "server/store/internal/proposals.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "server/store/internal/sequencer.h"
#include "tests/test_util.h"

namespace slicekeeper::store::internal {
namespace {

using ::slicekeeper::testing::StatusIs;

// What one Done was called with.
struct Outcome {
  Proposals::Done callback() {
    return [this](absl::Status s) {
      status = std::move(s);
      done.Notify();
    };
  }
  absl::Status Wait() {
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    return status;
  }
  absl::Notification done;
  absl::Status status;
};

class ProposalsTest : public ::testing::Test {
 protected:
  std::vector<std::unique_ptr<Shard>> shards_;
  Sequencer sequencer_{shards_, 100, 1 << 20};
};

TEST_F(ProposalsTest, PublishedCompletesTheWritesUpToItsRevision) {
  Proposals proposals(&sequencer_, absl::Seconds(60));
  proposals.Begin({"ns/a"});
  proposals.Begin({"ns/b"});
  Outcome a, b;
  proposals.WhenApplied({"ns/a"}, 3, a.callback());
  proposals.WhenApplied({"ns/b"}, 5, b.callback());
  EXPECT_EQ(proposals.in_flight(), 2);
  proposals.Published(4);
  EXPECT_TRUE(a.done.HasBeenNotified());  // called inline by Published
  EXPECT_TRUE(a.status.ok()) << a.status;
  EXPECT_FALSE(b.done.HasBeenNotified());
  EXPECT_EQ(proposals.in_flight(), 1);
  proposals.AwaitIdle({"ns/a"});  // a is idle again
  proposals.Published(5);
  EXPECT_TRUE(b.done.HasBeenNotified());
  EXPECT_TRUE(b.status.ok()) << b.status;
  EXPECT_EQ(proposals.in_flight(), 0);
}

TEST_F(ProposalsTest, AWriteNeverAppliedFailsAfterTheWaitAndFreesItsServices) {
  Proposals proposals(&sequencer_, absl::Milliseconds(50));
  proposals.Begin({"ns/a", "ns/b"});
  Outcome a;
  proposals.WhenApplied({"ns/a", "ns/b"}, 7, a.callback());
  EXPECT_THAT(a.Wait(), StatusIs(absl::StatusCode::kUnavailable,
                                 ::testing::HasSubstr("committed at revision 7")));
  proposals.AwaitIdle({"ns/a", "ns/b"});
  EXPECT_EQ(proposals.in_flight(), 0);
}

TEST_F(ProposalsTest, ARetryRunsOnItsThreadWithItsServicesBusyUntilItReturns) {
  Proposals proposals(&sequencer_, absl::Seconds(60));
  proposals.Begin({"ns/a"});
  absl::Notification release;
  Outcome ran;
  proposals.Retry({"ns/a"}, [&](absl::Status s) {
    ran.callback()(std::move(s));
    release.WaitForNotification();  // a retry may block: it writes synchronously
  });
  EXPECT_TRUE(ran.Wait().ok());
  EXPECT_EQ(proposals.in_flight(), 1);  // still busy while the retry runs
  release.Notify();
  proposals.AwaitIdle({"ns/a"});
  EXPECT_EQ(proposals.in_flight(), 0);
}

TEST_F(ProposalsTest, StoppingFailsWhatStillWaits) {
  Outcome waiting, retry;
  {
    Proposals proposals(&sequencer_, absl::Seconds(60));
    proposals.Begin({"ns/a"});
    proposals.WhenApplied({"ns/a"}, 9, waiting.callback());
  }
  EXPECT_THAT(waiting.Wait(), StatusIs(absl::StatusCode::kUnavailable,
                                       ::testing::HasSubstr("stopped before this replica")));
}

}  // namespace
}  // namespace slicekeeper::store::internal
