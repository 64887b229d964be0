// etcd::Client against real etcd clusters (tests/etcd/etcd_cluster.h): KV calls, paging at one
// revision, guarded Txns, watches from history and live, compaction, leases, TLS, and failover
// when the member the client talks to is killed.
#include "server/storage/etcd/etcd_client.h"

#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "tests/etcd/etcd_cluster.h"
#include "tests/test_util.h"

namespace slicekeeper::etcd {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::_;
using ::testing::ElementsAre;
using testing::EtcdCluster;
using ::testing::HasSubstr;

constexpr absl::Duration kWait = absl::Seconds(10);

// Records every handler call; tests wait on its contents with deadlines.
class RecordingHandler : public WatchHandler {
 public:
  struct Call {
    int64_t header_revision;
    std::vector<mvccpb::Event> events;
  };

  void OnEvents(int64_t header_revision, absl::Span<const mvccpb::Event> events) override {
    absl::MutexLock l(&mu_);
    calls_.push_back({header_revision, {events.begin(), events.end()}});
  }
  void OnCompacted(int64_t compact_revision) override {
    absl::MutexLock l(&mu_);
    ++compacted_calls_;
    compact_revision_ = compact_revision;
  }

  // Waits until an event at `revision` or later has arrived.
  bool AwaitEventAt(int64_t revision) {
    absl::MutexLock l(&mu_);
    auto reached = [&] {
      mu_.AssertHeld();
      for (const Call& c : calls_) {
        if (!c.events.empty() && c.events.back().kv().mod_revision() >= revision) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }
  // Waits until a progress notification (no events) at `revision` or later has arrived.
  bool AwaitProgressAt(int64_t revision) {
    absl::MutexLock l(&mu_);
    auto reached = [&] {
      mu_.AssertHeld();
      for (const Call& c : calls_) {
        if (c.events.empty() && c.header_revision >= revision) return true;
      }
      return false;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }
  bool AwaitCompacted() {
    absl::MutexLock l(&mu_);
    auto reached = [&] {
      mu_.AssertHeld();
      return compacted_calls_ > 0;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }

  std::vector<Call> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  // Every event delivered, as "PUT key=value@rev" / "DELETE key@rev".
  std::vector<std::string> EventStrings() {
    std::vector<std::string> out;
    for (const Call& c : calls()) {
      for (const mvccpb::Event& e : c.events) {
        out.push_back(e.type() == mvccpb::Event::PUT
                          ? absl::StrCat("PUT ", e.kv().key(), "=", e.kv().value(), "@",
                                         e.kv().mod_revision())
                          : absl::StrCat("DELETE ", e.kv().key(), "@", e.kv().mod_revision()));
      }
    }
    return out;
  }
  int compacted_calls() {
    absl::MutexLock l(&mu_);
    return compacted_calls_;
  }
  int64_t compact_revision() {
    absl::MutexLock l(&mu_);
    return compact_revision_;
  }

 private:
  absl::Mutex mu_;
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);
  int compacted_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
};

etcdserverpb::PutRequest PutReq(const std::string& key, const std::string& value) {
  etcdserverpb::PutRequest req;
  req.set_key(key);
  req.set_value(value);
  return req;
}

int64_t MustPut(Client& client, const std::string& key, const std::string& value) {
  auto response = client.Put(PutReq(key, value));
  EXPECT_OK(response);
  return response.ok() ? response->header().revision() : -1;
}

// A call's events are whole revisions in ascending order, and header revisions never decrease.
void ExpectWellFormed(const std::vector<RecordingHandler::Call>& calls) {
  int64_t last_header = 0, last_revision = 0;
  std::map<int64_t, size_t> call_of_revision;
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_GE(calls[i].header_revision, last_header);
    last_header = calls[i].header_revision;
    for (const mvccpb::Event& e : calls[i].events) {
      const int64_t rev = e.kv().mod_revision();
      EXPECT_GE(rev, last_revision);
      EXPECT_LE(rev, calls[i].header_revision);
      last_revision = rev;
      auto [it, inserted] = call_of_revision.emplace(rev, i);
      EXPECT_EQ(it->second, i) << "revision " << rev << " split across calls";
    }
  }
}

// --- Without a cluster ---

// Create rejects options it cannot use, naming the problem, and dials nothing.
TEST(EtcdClientOptionsTest, BadOptionsAreInvalidArgument) {
  const auto create = [](ClientOptions o) { return Client::Create(std::move(o)).status(); };
  EXPECT_THAT(create({}), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no endpoints")));
  for (const char* bad :
       {"localhost", "http://:2379", "host:0", "host:99999", "ftp://h:1/x", "::1:2379", "h:12ab"}) {
    EXPECT_THAT(create({.endpoints = {bad}}), StatusIs(absl::StatusCode::kInvalidArgument, _))
        << bad;
  }
  EXPECT_THAT(create({.endpoints = {"http://a:1", "https://b:1"}}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("mix")));
  EXPECT_THAT(create({.endpoints = {"a:1"}, .cert_file = "/x"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("go together")));
  EXPECT_THAT(create({.endpoints = {"a:1"}, .ca_file = "/nonexistent/ca.pem"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cannot read")));
  EXPECT_THAT(create({.endpoints = {"http://a:1"}, .ca_file = "/etc/hostname"}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("http://")));
  EXPECT_THAT(create({.endpoints = {"a:1"}, .timeout = absl::ZeroDuration()}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("timeout")));
  EXPECT_OK(create({.endpoints = {"http://127.0.0.1:1", "localhost:2", "[::1]:3"}}));
}

// PrefixEnd is etcd's range end for a prefix (clientv3.GetPrefixRangeEnd).
TEST(EtcdClientOptionsTest, PrefixEnd) {
  EXPECT_EQ(Client::PrefixEnd("/a/"), "/a0");
  EXPECT_EQ(Client::PrefixEnd("ab\xff"), "ac");
  EXPECT_EQ(Client::PrefixEnd("\xff\xff"), std::string(1, '\0'));
  EXPECT_EQ(Client::PrefixEnd(""), std::string(1, '\0'));
}

// A call to a cluster that is down ends at the deadline with UNAVAILABLE, and a watcher that
// never connected is destroyed promptly.
TEST(EtcdClientOptionsTest, DownClusterIsUnavailableAndWatcherStopsPromptly) {
  auto client = Client::Create(
      {.endpoints = {"127.0.0.1:1", "127.0.0.1:2"}, .timeout = absl::Milliseconds(300)});
  ASSERT_OK(client);
  EXPECT_THAT((*client)->Range({}), StatusIs(absl::StatusCode::kUnavailable, _));
  RecordingHandler handler;
  auto watcher = (*client)->WatchPrefix("/x/", 1, &handler);
  ASSERT_OK(watcher);
  const absl::Time start = absl::Now();
  watcher->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(handler.calls().empty());
  EXPECT_THAT((*client)->WatchPrefix("/x/", 1, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument, _));
}

// --- One member, shared by the suite; each test writes under its own prefix ---

class EtcdClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto cluster = EtcdCluster::Start(
        {.members = 1, .watch_progress_notify_interval = absl::Milliseconds(200)});
    ASSERT_OK(cluster);
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(cluster_, nullptr);
    auto client = Client::Create(cluster_->client_options());
    ASSERT_OK(client);
    client_ = *std::move(client);
    prefix_ =
        absl::StrCat("/", ::testing::UnitTest::GetInstance()->current_test_info()->name(), "/");
  }

  static EtcdCluster* cluster_;
  std::unique_ptr<Client> client_;
  std::string prefix_;
};
EtcdCluster* EtcdClientTest::cluster_ = nullptr;

// Put, Range and DeleteRange round-trip, with the revisions etcd reports.
TEST_F(EtcdClientTest, PutRangeDelete) {
  const int64_t rev = MustPut(*client_, prefix_ + "k", "v1");
  etcdserverpb::RangeRequest get;
  get.set_key(prefix_ + "k");
  auto got = client_->Range(get);
  ASSERT_OK(got);
  ASSERT_EQ(got->kvs_size(), 1);
  EXPECT_EQ(got->kvs(0).value(), "v1");
  EXPECT_EQ(got->kvs(0).mod_revision(), rev);
  EXPECT_EQ(got->kvs(0).create_revision(), rev);

  etcdserverpb::DeleteRangeRequest del;
  del.set_key(prefix_ + "k");
  auto deleted = client_->DeleteRange(del);
  ASSERT_OK(deleted);
  EXPECT_EQ(deleted->deleted(), 1);
  EXPECT_GT(deleted->header().revision(), rev);
  got = client_->Range(get);
  ASSERT_OK(got);
  EXPECT_EQ(got->kvs_size(), 0);

  // etcd's own errors come back with their code: a revision in the future.
  get.set_revision(deleted->header().revision() + 1000);
  EXPECT_THAT(client_->Range(get), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("future")));
}

// RangePrefix reads more keys than a page, all at the first page's revision, although keys are
// being added under the same prefix while it pages.
TEST_F(EtcdClientTest, RangePrefixPagesAtOneRevision) {
  constexpr int kKeys = 350;
  for (int base = 0; base < kKeys; base += 100) {
    etcdserverpb::TxnRequest txn;
    for (int i = base; i < std::min(base + 100, kKeys); ++i) {
      *txn.add_success()->mutable_request_put() =
          PutReq(absl::StrCat(prefix_, "k", 1000 + i), absl::StrCat(i));
    }
    ASSERT_OK(client_->Txn(txn));
  }
  absl::Mutex mu;
  std::vector<int64_t> written;  // guarded by mu: revisions of the writer's puts, in order
  bool stop = false;             // guarded by mu
  std::thread writer([&] {
    // Keys that sort after the last existing one: ahead of the pager until its last page.
    for (int i = 0; i < 5000; ++i) {
      auto put = client_->Put(PutReq(absl::StrCat(prefix_, "k", 1000 + kKeys, "-new", i), ""));
      absl::MutexLock l(&mu);
      if (!put.ok() || stop) return;
      written.push_back(put->header().revision());
    }
  });
  {
    absl::MutexLock l(&mu);
    mu.Await(absl::Condition(
        +[](std::vector<int64_t>* w) { return w->size() >= 3; }, &written));
  }
  auto result = client_->RangePrefix(prefix_, 10);
  int64_t last_write_while_paging;
  {
    absl::MutexLock l(&mu);
    stop = true;
    last_write_while_paging = written.back();
  }
  writer.join();
  ASSERT_OK(result);
  const auto& [kvs, revision] = *result;
  // The writer committed during the paging, so a page read at a later revision would show it.
  ASSERT_GT(last_write_while_paging, revision);
  etcdserverpb::RangeRequest count;
  count.set_key(prefix_);
  count.set_range_end(Client::PrefixEnd(prefix_));
  count.set_revision(revision);
  count.set_count_only(true);
  auto expected = client_->Range(count);
  ASSERT_OK(expected);
  EXPECT_EQ(static_cast<int64_t>(kvs.size()), expected->count());
  EXPECT_GE(kvs.size(), static_cast<size_t>(kKeys));
  for (size_t i = 0; i < kvs.size(); ++i) {
    EXPECT_LE(kvs[i].mod_revision(), revision);
    if (i > 0) {
      EXPECT_LT(kvs[i - 1].key(), kvs[i].key());
    }
  }
  EXPECT_THAT(client_->RangePrefix(prefix_, 0), StatusIs(absl::StatusCode::kInvalidArgument, _));
}

// A Txn guarded by a MOD-revision compare takes the success branch while the key is unchanged
// and the failure branch once it has moved on.
TEST_F(EtcdClientTest, TxnModRevisionCompare) {
  const std::string key = prefix_ + "k";
  const int64_t rev = MustPut(*client_, key, "v1");
  etcdserverpb::TxnRequest txn;
  etcdserverpb::Compare* cmp = txn.add_compare();
  cmp->set_key(key);
  cmp->set_target(etcdserverpb::Compare::MOD);
  cmp->set_result(etcdserverpb::Compare::EQUAL);
  cmp->set_mod_revision(rev);
  *txn.add_success()->mutable_request_put() = PutReq(key, "v2");
  txn.add_failure()->mutable_request_range()->set_key(key);

  auto first = client_->Txn(txn);
  ASSERT_OK(first);
  EXPECT_TRUE(first->succeeded());
  EXPECT_GT(first->header().revision(), rev);

  auto second = client_->Txn(txn);
  ASSERT_OK(second);
  EXPECT_FALSE(second->succeeded());
  ASSERT_EQ(second->responses_size(), 1);
  const auto& range = second->responses(0).response_range();
  ASSERT_EQ(range.kvs_size(), 1);
  EXPECT_EQ(range.kvs(0).value(), "v2");
  EXPECT_EQ(range.kvs(0).mod_revision(), first->header().revision());
}

// A watch from a past revision replays every event in order, one Txn's events in one call, then
// follows live writes.
TEST_F(EtcdClientTest, WatchFromPastRevisionDeliversEveryRevisionWhole) {
  const std::string a = prefix_ + "a", b = prefix_ + "b", c = prefix_ + "c";
  const int64_t r1 = MustPut(*client_, a, "1");
  const int64_t r2 = MustPut(*client_, b, "2");
  etcdserverpb::TxnRequest txn;
  *txn.add_success()->mutable_request_put() = PutReq(c, "3");
  *txn.add_success()->mutable_request_put() = PutReq(b, "4");
  txn.add_success()->mutable_request_delete_range()->set_key(a);
  auto committed = client_->Txn(txn);
  ASSERT_OK(committed);
  const int64_t r3 = committed->header().revision();
  MustPut(*client_, "/elsewhere/" + prefix_, "not watched");

  RecordingHandler handler;
  auto watcher = client_->WatchPrefix(prefix_, r1, &handler);
  ASSERT_OK(watcher);
  ASSERT_TRUE(handler.AwaitEventAt(r3));
  const int64_t r4 = MustPut(*client_, c, "5");
  ASSERT_TRUE(handler.AwaitEventAt(r4));

  EXPECT_THAT(handler.EventStrings(),
              ElementsAre(absl::StrCat("PUT ", a, "=1@", r1), absl::StrCat("PUT ", b, "=2@", r2),
                          absl::StrCat("PUT ", c, "=3@", r3), absl::StrCat("PUT ", b, "=4@", r3),
                          absl::StrCat("DELETE ", a, "@", r3), absl::StrCat("PUT ", c, "=5@", r4)));
  ExpectWellFormed(handler.calls());
}

// With progress notifications on, an idle watch reports the revisions others write elsewhere.
TEST_F(EtcdClientTest, ProgressNotificationsAdvanceTheHeaderRevision) {
  RecordingHandler handler;
  auto watcher = client_->WatchPrefix(prefix_, 0, &handler);
  ASSERT_OK(watcher);
  const int64_t rev = MustPut(*client_, "/elsewhere/" + prefix_, "x");
  ASSERT_TRUE(handler.AwaitProgressAt(rev));
  const int64_t mine = MustPut(*client_, prefix_ + "k", "v");
  ASSERT_TRUE(handler.AwaitEventAt(mine));
  EXPECT_THAT(handler.EventStrings(), ElementsAre(absl::StrCat("PUT ", prefix_, "k=v@", mine)));
  ExpectWellFormed(handler.calls());
}

// After a compaction, a watch from a compacted revision gets OnCompacted with the compact
// revision and nothing else.
TEST_F(EtcdClientTest, WatchFromCompactedRevisionGetsOnCompacted) {
  const int64_t r1 = MustPut(*client_, prefix_ + "k", "1");
  MustPut(*client_, prefix_ + "k", "2");
  const int64_t r3 = MustPut(*client_, prefix_ + "k", "3");
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(r3);
  compact.set_physical(true);
  ASSERT_OK(client_->Compact(compact));

  etcdserverpb::RangeRequest old;
  old.set_key(prefix_ + "k");
  old.set_revision(r1);
  EXPECT_THAT(client_->Range(old), StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("compacted")));

  RecordingHandler handler;
  auto watcher = client_->WatchPrefix(prefix_, r1, &handler);
  ASSERT_OK(watcher);
  ASSERT_TRUE(handler.AwaitCompacted());
  EXPECT_EQ(handler.compact_revision(), r3);
  watcher->reset();  // joins: no call can follow
  EXPECT_EQ(handler.compacted_calls(), 1);
  EXPECT_TRUE(handler.calls().empty());
}

// A lease keeps a key alive while renewed; revoking it deletes the key, and a revoked lease
// cannot be renewed.
TEST_F(EtcdClientTest, LeaseGrantKeepAliveRevoke) {
  auto lease = client_->LeaseGrant(30);
  ASSERT_OK(lease);
  EXPECT_GE(lease->ttl(), 30);
  etcdserverpb::PutRequest put = PutReq(prefix_ + "k", "v");
  put.set_lease(lease->id());
  ASSERT_OK(client_->Put(put));
  auto ttl = client_->LeaseKeepAliveOnce(lease->id());
  ASSERT_OK(ttl);
  EXPECT_GE(*ttl, 29);
  ASSERT_OK(client_->LeaseRevoke(lease->id()));
  etcdserverpb::RangeRequest get;
  get.set_key(prefix_ + "k");
  auto got = client_->Range(get);
  ASSERT_OK(got);
  EXPECT_EQ(got->kvs_size(), 0);
  EXPECT_THAT(client_->LeaseKeepAliveOnce(lease->id()), StatusIs(absl::StatusCode::kNotFound, _));
  EXPECT_THAT(client_->LeaseRevoke(lease->id()), StatusIs(absl::StatusCode::kNotFound, _));
}

// --- Three members: failover ---

// Killing the member the client and an open watcher talk to (member 0, listed first) loses
// neither calls nor events: Range and Put go to the others, and the watcher resumes on another
// member with every later event, none twice. The killed member comes back on its data dir.
TEST(EtcdClientClusterTest, KillingTheCurrentMemberFailsOver) {
  auto cluster = EtcdCluster::Start({.members = 3});
  ASSERT_OK(cluster);
  auto client = Client::Create((*cluster)->client_options());
  ASSERT_OK(client);
  Client& c = **client;
  const int64_t start = MustPut(c, "/fo/k0", "before");

  RecordingHandler handler;
  auto watcher = c.WatchPrefix("/fo/", start, &handler);
  ASSERT_OK(watcher);
  std::vector<std::string> expected = {absl::StrCat("PUT /fo/k0=before@", start)};
  int64_t last = 0;
  for (int i = 1; i <= 3; ++i) {
    last = MustPut(c, absl::StrCat("/fo/k", i), "before");
    expected.push_back(absl::StrCat("PUT /fo/k", i, "=before@", last));
  }
  ASSERT_TRUE(handler.AwaitEventAt(last));

  ASSERT_OK((*cluster)->Kill(0));
  for (int i = 4; i <= 8; ++i) {
    last = MustPut(c, absl::StrCat("/fo/k", i), "after");
    ASSERT_GT(last, 0);
    expected.push_back(absl::StrCat("PUT /fo/k", i, "=after@", last));
  }
  etcdserverpb::RangeRequest get;
  get.set_key("/fo/k8");
  auto got = c.Range(get);
  ASSERT_OK(got);
  ASSERT_EQ(got->kvs_size(), 1);
  EXPECT_EQ(got->kvs(0).value(), "after");

  ASSERT_TRUE(handler.AwaitEventAt(last)) << ::testing::PrintToString(handler.EventStrings());
  EXPECT_EQ(handler.EventStrings(), expected);
  ExpectWellFormed(handler.calls());

  ASSERT_OK((*cluster)->Restart(0));
  auto member0 = Client::Create((*cluster)->member_client_options(0));
  ASSERT_OK(member0);
  got = (*member0)->Range(get);
  ASSERT_OK(got);
  ASSERT_EQ(got->kvs_size(), 1);
  EXPECT_EQ(got->kvs(0).value(), "after");
}

// --- TLS ---

// With a CA and a client certificate the client talks to an etcd that requires client
// certificates; without the certificate it is refused.
TEST(EtcdClientTlsTest, MutualTls) {
  std::string dir = (std::filesystem::temp_directory_path() / "sk-etcd-tls-XXXXXX").string();
  ASSERT_NE(mkdtemp(dir.data()), nullptr);
  auto files = testing::MakeTestTlsFiles(dir);
  ASSERT_OK(files);
  auto cluster = EtcdCluster::Start({.members = 1, .tls = *files});
  ASSERT_OK(cluster);
  EXPECT_THAT((*cluster)->endpoint(0), HasSubstr("https://"));
  auto client = Client::Create((*cluster)->client_options());
  ASSERT_OK(client);
  const int64_t rev = MustPut(**client, "/tls/k", "v");
  RecordingHandler handler;
  auto watcher = (*client)->WatchPrefix("/tls/", rev, &handler);
  ASSERT_OK(watcher);
  ASSERT_TRUE(handler.AwaitEventAt(rev));

  ClientOptions no_cert = (*cluster)->client_options();
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  no_cert.timeout = absl::Milliseconds(500);
  auto refused = Client::Create(no_cert);
  ASSERT_OK(refused);
  EXPECT_FALSE((*refused)->Put(PutReq("/tls/k", "x")).ok());
  watcher->reset();
  cluster->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace slicekeeper::etcd
