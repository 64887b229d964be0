// EndpointRecord against the protobuf it replaces: for thousands of random endpoints (every field
// present, absent or empty in turn), the record's accessors, ToProto, wire bytes, equality and
// hash agree with v1::Endpoint's; interned values are shared and freed with their last user.
#include "common/endpoint_record.h"

#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "common/intern.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace slicekeeper {
namespace {

using ::google::protobuf::util::MessageDifferencer;

// protobuf's deterministic serialization (map entries by key).
std::string Deterministic(const v1::Endpoint& e) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    e.SerializeToCodedStream(&coded);
  }
  return out;
}

class RandomEndpoints {
 public:
  explicit RandomEndpoints(uint32_t seed) : rng_(seed) {}

  v1::Endpoint Next() {
    v1::Endpoint e;
    const int naddr = Pick(8) == 0 ? 0 : 1 + Pick(3);
    for (int i = 0; i < naddr; ++i) e.add_addresses(Str("10.0.", 12));
    if (Pick(4) != 0) {
      v1::EndpointConditions* c = e.mutable_conditions();
      if (Pick(3) != 0) c->set_ready(Pick(2));
      if (Pick(3) != 0) c->set_serving(Pick(2));
      if (Pick(3) != 0) c->set_terminating(Pick(2));
    }
    if (Pick(3) == 0) e.set_hostname(Str("h", 20));
    if (Pick(4) != 0) {
      v1::ObjectReference* r = e.mutable_target_ref();
      if (Pick(5) != 0) r->set_kind(Pick(2) ? "Pod" : "");
      if (Pick(5) != 0) r->set_namespace_(Str("ns", 3));
      if (Pick(5) != 0) r->set_name(Str("pod-", 40));
      if (Pick(2) != 0) r->set_uid(Str("0f2c5b9a-", 36));
      if (Pick(8) == 0) r->set_api_version("v1");
      if (Pick(8) == 0) r->set_resource_version(Str("", 6));
      if (Pick(8) == 0) r->set_field_path(Str("spec.", 10));
    }
    if (Pick(4) != 0) e.set_node_name(Pick(10) == 0 ? "" : Str("node-", 8));
    if (Pick(4) != 0) e.set_zone(Pick(10) == 0 ? "" : absl::StrCat("zone-", Pick(3)));
    if (Pick(6) == 0) {
      v1::EndpointHints* h = e.mutable_hints();
      for (int i = Pick(3); i > 0; --i) h->add_for_zones()->set_name(absl::StrCat("zone-", i));
      for (int i = Pick(2); i > 0; --i) h->add_for_nodes()->set_name(Str("node-", 8));
    }
    if (Pick(8) == 0) {
      for (int i = 1 + Pick(3); i > 0; --i) {
        (*e.mutable_deprecated_topology())[Pick(5) == 0 ? "" : Str("k", 6)] =
            Pick(5) == 0 ? "" : Str("v", 6);
      }
    }
    return e;
  }

  // Changes one random field of `e` (so that it differs).
  void Mutate(v1::Endpoint* e) {
    switch (Pick(7)) {
      case 0:
        e->add_addresses("192.0.2.1");
        break;
      case 1:
        e->mutable_conditions()->set_ready(!e->conditions().ready());
        break;
      case 2:
        e->set_hostname(e->hostname() + "x");
        break;
      case 3:
        e->mutable_target_ref()->set_name(e->target_ref().name() + "x");
        break;
      case 4:
        e->set_node_name(e->node_name() + "x");
        break;
      case 5:
        e->set_zone(e->zone() + "x");
        break;
      default:
        e->mutable_target_ref()->set_resource_version(e->target_ref().resource_version() + "1");
        break;
    }
  }

 private:
  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint32_t>(n)); }
  std::string Str(absl::string_view prefix, int max_len) {
    std::string s(prefix);
    const int len = Pick(max_len);
    for (int i = 0; i < len; ++i) s.push_back(static_cast<char>('a' + Pick(26)));
    return s;
  }
  std::mt19937 rng_;
};

void ExpectSameAccessors(const EndpointRecord& r, const v1::Endpoint& e) {
  ASSERT_EQ(r.addresses_size(), e.addresses_size());
  for (int i = 0; i < e.addresses_size(); ++i) EXPECT_EQ(r.addresses(i), e.addresses(i));
  EXPECT_THAT(r.addresses(), ::testing::ElementsAreArray(e.addresses()));
  EXPECT_EQ(r.has_conditions(), e.has_conditions());
  EXPECT_EQ(r.conditions().has_ready(), e.conditions().has_ready());
  EXPECT_EQ(r.conditions().ready(), e.conditions().ready());
  EXPECT_EQ(r.conditions().has_serving(), e.conditions().has_serving());
  EXPECT_EQ(r.conditions().serving(), e.conditions().serving());
  EXPECT_EQ(r.conditions().has_terminating(), e.conditions().has_terminating());
  EXPECT_EQ(r.conditions().terminating(), e.conditions().terminating());
  EXPECT_EQ(r.has_hostname(), e.has_hostname());
  EXPECT_EQ(r.hostname(), e.hostname());
  EXPECT_EQ(r.has_target_ref(), e.has_target_ref());
  EXPECT_EQ(r.target_ref().kind(), e.target_ref().kind());
  EXPECT_EQ(r.target_ref().namespace_(), e.target_ref().namespace_());
  EXPECT_EQ(r.target_ref().name(), e.target_ref().name());
  EXPECT_EQ(r.target_ref().uid(), e.target_ref().uid());
  EXPECT_EQ(r.target_ref().api_version(), e.target_ref().api_version());
  EXPECT_EQ(r.target_ref().resource_version(), e.target_ref().resource_version());
  EXPECT_EQ(r.target_ref().field_path(), e.target_ref().field_path());
  EXPECT_EQ(r.has_node_name(), e.has_node_name());
  EXPECT_EQ(r.node_name(), e.node_name());
  EXPECT_EQ(r.has_zone(), e.has_zone());
  EXPECT_EQ(r.zone(), e.zone());
  EXPECT_EQ(r.has_hints(), e.has_hints());
  EXPECT_TRUE(MessageDifferencer::Equals(r.hints(), e.hints()));
  EXPECT_EQ(r.deprecated_topology().size(), e.deprecated_topology().size());
  for (const auto& [k, v] : r.deprecated_topology()) {
    ASSERT_TRUE(e.deprecated_topology().contains(k)) << k;
    EXPECT_EQ(v, e.deprecated_topology().at(k));
  }
}

// Every accessor, the wire form, equality, hash and the modifiers of e's record against e.
void CheckAgainstProtobuf(RandomEndpoints& gen, const v1::Endpoint& e) {
  const RecordPtr r = EndpointRecord::FromProto(e);
  ExpectSameAccessors(*r, e);
  EXPECT_TRUE(MessageDifferencer::Equals(r->ToProto(), e)) << e.DebugString();

  // The wire form is protobuf's, byte for byte, and parses back to the endpoint.
  const std::string want = Deterministic(e);
  std::string wire = "prefix";
  r->AppendWire(&wire);
  EXPECT_EQ(wire.substr(6), want) << e.DebugString();
  EXPECT_EQ(r->ByteSizeLong(), want.size());
  v1::Endpoint parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire.substr(6)));
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, e));

  // Equal records from equal messages, with equal hashes; a changed field makes them differ.
  const RecordPtr again = EndpointRecord::FromProto(parsed);
  EXPECT_NE(r.get(), again.get());
  EXPECT_TRUE(*r == *again);
  EXPECT_EQ(absl::HashOf(*r), absl::HashOf(*again));
  v1::Endpoint changed = e;
  gen.Mutate(&changed);
  const RecordPtr other = EndpointRecord::FromProto(changed);
  EXPECT_FALSE(*r == *other) << changed.DebugString();
  EXPECT_GE(r->SpaceUsed(), sizeof(EndpointRecord));

  // The modifiers change exactly their field.
  v1::Endpoint hinted = e;
  hinted.mutable_hints()->add_for_zones()->set_name("zone-h");
  EXPECT_TRUE(MessageDifferencer::Equals(r->WithHints(&hinted.hints())->ToProto(), hinted));
  v1::Endpoint unhinted = e;
  unhinted.clear_hints();
  EXPECT_TRUE(MessageDifferencer::Equals(r->WithHints(nullptr)->ToProto(), unhinted));
  EXPECT_TRUE(*r->WithHints(nullptr) == *EndpointRecord::FromProto(unhinted));
  v1::Endpoint ready = e;
  ready.mutable_conditions()->set_ready(true);
  EXPECT_TRUE(MessageDifferencer::Equals(r->WithReady(true)->ToProto(), ready));
  EXPECT_TRUE(*r->WithReady(true) == *EndpointRecord::FromProto(ready));
}

TEST(EndpointRecordTest, AgreesWithProtobufOnRandomEndpoints) {
  RandomEndpoints gen(20261205);
  for (int i = 0; i < 3000; ++i) {
    SCOPED_TRACE(i);
    CheckAgainstProtobuf(gen, gen.Next());
  }
}

// A length beyond the header's fields (16 bits; 8 for node name and target kind) moves all the
// lengths behind the header: each field in turn, with and without the overflow.
TEST(EndpointRecordTest, AgreesWithProtobufWithLengthsBeyondTheHeader) {
  RandomEndpoints gen(20261206);
  const std::vector<std::function<void(v1::Endpoint*)>> stretch = {
      [](v1::Endpoint* e) {
        for (int i = 0; i < 65'536; ++i) e->add_addresses("a");
      },
      [](v1::Endpoint* e) { e->set_hostname(std::string(65'536, 'h')); },
      [](v1::Endpoint* e) { e->mutable_target_ref()->set_name(std::string(65'536, 'n')); },
      [](v1::Endpoint* e) { e->mutable_target_ref()->set_uid(std::string(65'536, 'u')); },
      [](v1::Endpoint* e) { e->set_node_name(std::string(256, 'n')); },
      [](v1::Endpoint* e) { e->mutable_target_ref()->set_kind(std::string(256, 'k')); },
  };
  for (size_t i = 0; i < stretch.size(); ++i) {
    for (int j = 0; j < 10; ++j) {
      SCOPED_TRACE(absl::StrCat("field ", i, " endpoint ", j));
      v1::Endpoint e = gen.Next();
      stretch[i](&e);
      if (j % 2 == 0) e.mutable_target_ref()->set_field_path("spec.containers{web}");
      CheckAgainstProtobuf(gen, e);
      // The largest length that still fits the header is not stretched.
      v1::Endpoint fits = gen.Next();
      fits.set_node_name(std::string(255, 'n'));
      fits.mutable_target_ref()->set_name(std::string(65'535, 'n'));
      CheckAgainstProtobuf(gen, fits);
    }
  }
}

TEST(EndpointRecordTest, TypicalPodEndpointIsOneSmallAllocation) {
  v1::Endpoint e;
  e.add_addresses("10.1.2.3");
  e.mutable_conditions()->set_ready(true);
  e.mutable_conditions()->set_serving(true);
  e.mutable_conditions()->set_terminating(false);
  e.mutable_target_ref()->set_kind("Pod");
  e.mutable_target_ref()->set_namespace_("default");
  e.mutable_target_ref()->set_name("web-7d9f8b6c5-x2k4q");
  e.set_node_name("node-17");
  e.set_zone("zone-a");
  const RecordPtr r = EndpointRecord::FromProto(e);
  // Header, one address offset, the address and the pod name; no overflow.
  EXPECT_EQ(r->SpaceUsed(), sizeof(EndpointRecord) + 4 + 8 + 19);
  // 32 + 31: jemalloc's (and glibc's) 64-byte size class.
  EXPECT_EQ(sizeof(EndpointRecord), 32u);
  EXPECT_LE(r->SpaceUsed(), 64u);
  EXPECT_EQ(sizeof(RecordPtr), sizeof(void*));
}

// Nothing is too long for a record (a foreign slice's targetRef is not length-checked).
TEST(EndpointRecordTest, HoldsLongStrings) {
  v1::Endpoint e;
  for (int i = 0; i < 300; ++i) e.add_addresses(std::string(253, static_cast<char>('a' + i % 26)));
  e.mutable_target_ref()->set_name(std::string(70'000, 'n'));
  e.mutable_target_ref()->set_uid(std::string(70'000, 'u'));
  e.mutable_target_ref()->set_kind(std::string(70'000, 'k'));
  const RecordPtr r = EndpointRecord::FromProto(e);
  EXPECT_EQ(r->addresses(299), e.addresses(299));
  EXPECT_EQ(r->target_ref().uid(), e.target_ref().uid());
  EXPECT_EQ(r->target_ref().kind(), e.target_ref().kind());
  EXPECT_TRUE(MessageDifferencer::Equals(r->ToProto(), e));
}

TEST(InternTest, EqualValuesShareOneCopyFreedWithTheLastUser) {
  const InternStats before = InternPoolStats();
  {
    Interned a = Intern("intern-test-value");
    Interned b = Intern(std::string("intern-test-") + "value");
    EXPECT_EQ(a, b);
    EXPECT_EQ(a.view().data(), b.view().data());
    EXPECT_NE(a, Intern("intern-test-other"));
    EXPECT_EQ(InternPoolStats().values, before.values + 1);
    Interned c = a;
    a = Interned();
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(c.view(), "intern-test-value");
    EXPECT_EQ(InternPoolStats().values, before.values + 1);
  }
  EXPECT_EQ(InternPoolStats().values, before.values);
  EXPECT_EQ(InternPoolStats().bytes, before.bytes);
  EXPECT_TRUE(Intern("").empty());
}

// Records on a few nodes, created, copied and dropped from several threads at once: every
// interned value is freed exactly once (ASan and TSan builds check the rest).
TEST(InternTest, ConcurrentRecordsShareAndReleaseInternedValues) {
  const InternStats before = InternPoolStats();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      for (int i = 0; i < 2000; ++i) {
        v1::Endpoint e;
        e.add_addresses(absl::StrCat("10.0.", t, ".", i % 250));
        e.set_node_name(absl::StrCat("concurrent-node-", i % 7));
        e.set_zone(absl::StrCat("concurrent-zone-", i % 3));
        e.mutable_target_ref()->set_kind("Pod");
        e.mutable_target_ref()->set_namespace_(absl::StrCat("concurrent-ns-", i % 2));
        const RecordPtr r = EndpointRecord::FromProto(e);
        std::vector<RecordPtr> copies(3, r);
        EXPECT_EQ(copies[2]->node_name(), e.node_name());
        EXPECT_EQ(copies[1]->target_ref().namespace_(), e.target_ref().namespace_());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(InternPoolStats().values, before.values);
}

}  // namespace
}  // namespace slicekeeper
