// History records (server/store/internal/delta.h): undoing a commit's record from the state after
// it gives back exactly the state before it, for random edits of every kind; endpoints the two
// versions share stay shared; and a record's size follows the change, not the slice.
#include "server/store/internal/delta.h"

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace slicekeeper::store::internal {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

EndpointPtr NewEndpoint(std::mt19937& rng, int id) {
  v1::Endpoint e;
  e.add_addresses(absl::StrCat("10.0.", id / 250, ".", id % 250 + 1));
  e.mutable_conditions()->set_ready(rng() % 2 == 0);
  if (rng() % 3 == 0) e.mutable_conditions()->set_terminating(true);
  e.set_node_name(absl::StrCat("node-", rng() % 7));
  e.set_zone(absl::StrCat("zone-", rng() % 3));
  e.mutable_target_ref()->set_kind("Pod");
  e.mutable_target_ref()->set_name(absl::StrCat("pod-", id));
  return EndpointRecord::FromProto(e);
}

MetaPtr NewMeta(std::mt19937& rng, const std::string& service) {
  auto m = std::make_shared<v1::ObjectMeta>();
  (*m->mutable_labels())[kLabelServiceName] = service;
  if (rng() % 2) (*m->mutable_labels())["team"] = absl::StrCat("t", rng() % 3);
  (*m->mutable_annotations())[kAnnotationTriggerTime] =
      absl::StrCat("2026-12-04T00:00:0", rng() % 10, "Z");
  if (rng() % 4 == 0) (*m->mutable_annotations())["note"] = "x";
  if (rng() % 5 == 0) m->add_owner_references()->set_uid(absl::StrCat("owner-", rng() % 2));
  return m;
}

PortListPtr NewPorts(std::mt19937& rng) {
  auto p = std::make_shared<PortList>(1 + rng() % 2);
  for (size_t i = 0; i < p->size(); ++i) {
    (*p)[i].set_name(absl::StrCat("p", i));
    (*p)[i].set_port(static_cast<int32_t>(80 + rng() % 3));
  }
  return p;
}

std::shared_ptr<Slice> NewSlice(std::mt19937& rng, const std::string& name, int64_t revision,
                                int* next_id) {
  auto s = std::make_shared<Slice>();
  s->name = name;
  s->namespace_ = "ns";
  s->uid = absl::StrCat("uid-", name);
  s->generation = 1;
  s->resource_version = revision;
  s->creation_timestamp = "2026-12-04T00:00:00Z";
  s->meta = NewMeta(rng, "web");
  s->address_type = kAddressTypeIPv4;
  s->ports = NewPorts(rng);
  for (int i = static_cast<int>(rng() % 12); i > 0; --i)
    s->endpoints.push_back(NewEndpoint(rng, (*next_id)++));
  return s;
}

// A new version of `before`: some endpoints replaced, removed, inserted or reordered; maybe new
// metadata, ports, uid or address type. Unchanged endpoints are the same objects.
std::shared_ptr<Slice> Rewrite(std::mt19937& rng, const Slice& before, int64_t revision,
                               int* next_id) {
  auto s = std::make_shared<Slice>(before);
  s->generation = before.generation + 1;
  s->resource_version = revision;
  std::vector<EndpointPtr> eps = s->endpoints.ToVector();
  for (int edits = static_cast<int>(rng() % 4); edits > 0; --edits) {
    const size_t at = eps.empty() ? 0 : rng() % eps.size();
    switch (rng() % 4) {
      case 0:
        if (!eps.empty()) eps[at] = NewEndpoint(rng, (*next_id)++);
        break;
      case 1:
        if (!eps.empty()) eps.erase(eps.begin() + static_cast<ptrdiff_t>(at));
        break;
      case 2:
        eps.insert(eps.begin() + static_cast<ptrdiff_t>(at), NewEndpoint(rng, (*next_id)++));
        break;
      default:
        if (eps.size() > 1) std::swap(eps[at], eps[rng() % eps.size()]);
    }
  }
  // As the reconciler writes a new version: sharing the runs of the old one it keeps whole.
  s->endpoints = EndpointList::Rebuild(before.endpoints, std::move(eps));
  if (rng() % 2) s->meta = NewMeta(rng, "web");
  if (rng() % 4 == 0) s->ports = NewPorts(rng);
  if (rng() % 8 == 0) s->uid = absl::StrCat("uid-", revision);
  if (rng() % 8 == 0) s->address_type = kAddressTypeIPv6;
  return s;
}

ServiceSnapshotPtr Snapshot(std::vector<SlicePtr> slices,
                            std::shared_ptr<const v1::ServiceRecord> record, int64_t mod_revision) {
  auto s = std::make_shared<ServiceSnapshot>();
  s->namespace_ = "ns";
  s->name = "web";
  s->record = std::move(record);
  std::sort(slices.begin(), slices.end(),
            [](const SlicePtr& a, const SlicePtr& b) { return a->name < b->name; });
  s->slices = std::move(slices);
  s->mod_revision = mod_revision;
  return s;
}

std::shared_ptr<const v1::ServiceRecord> Record(const std::string& rv) {
  auto r = std::make_shared<v1::ServiceRecord>();
  r->set_namespace_("ns");
  r->set_name("web");
  r->set_resource_version(rv);
  return r;
}

const SlicePtr* Find(const ServiceSnapshotPtr& s, const std::string& name) {
  for (const SlicePtr& slice : s->slices) {
    if (slice->name == name) return &slice;
  }
  return nullptr;
}

void ExpectSame(const ServiceSnapshotPtr& a, const ServiceSnapshotPtr& b) {
  ASSERT_EQ(a == nullptr, b == nullptr);
  if (a == nullptr) return;
  EXPECT_EQ(a->mod_revision, b->mod_revision);
  ASSERT_EQ(a->record == nullptr, b->record == nullptr);
  if (a->record != nullptr) {
    EXPECT_TRUE(MessageDifferencer::Equals(*a->record, *b->record));
  }
  ASSERT_EQ(a->slices.size(), b->slices.size());
  for (size_t i = 0; i < a->slices.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(a->slices[i]->ToProto(), b->slices[i]->ToProto()))
        << a->slices[i]->name;
  }
}

// One commit of random slice creations, rewrites and deletions (and record changes) of one
// service, from `before` at revision 10 to a state at 11; returns the record and the after state.
// Revision 11 of ns/web: slice `name` rewritten from `before` to `after`.
storage::CommitRecord OneRewrite(const std::string& name, SlicePtr before, SlicePtr after) {
  storage::CommitRecord c;
  c.revision = 11;
  storage::ServiceWrite w;
  w.namespace_ = w.undo.namespace_ = "ns";
  w.name = w.undo.name = "web";
  w.undo.existed = true;
  w.slices.push_back({name, std::move(after)});
  w.undo.slices.push_back({name, std::move(before)});
  c.services.push_back(std::move(w));
  return c;
}

std::pair<storage::CommitRecord, ServiceSnapshotPtr> RandomCommit(std::mt19937& rng,
                                                                  const ServiceSnapshotPtr& before,
                                                                  int* next_id) {
  storage::ServiceWrite w;
  w.namespace_ = "ns";
  w.name = "web";
  w.undo.namespace_ = "ns";
  w.undo.name = "web";
  w.undo.existed = before != nullptr;
  w.undo.prev_mod_revision = before != nullptr ? before->mod_revision : 0;
  w.undo.prev_record = before != nullptr ? before->record : nullptr;
  std::vector<SlicePtr> after;
  if (before != nullptr) {
    for (const SlicePtr& s : before->slices) {
      const int op = static_cast<int>(rng() % 3);  // keep, rewrite, delete
      if (op == 0) {
        after.push_back(s);
        continue;
      }
      SlicePtr next = op == 1 ? Rewrite(rng, *s, 11, next_id) : nullptr;
      w.slices.push_back({s->name, next});
      w.undo.slices.push_back({s->name, s});
      if (next != nullptr) after.push_back(next);
    }
  }
  for (int n = static_cast<int>(rng() % 3); n > 0; --n) {
    SlicePtr created = NewSlice(rng, absl::StrCat("web-", (*next_id)++), 11, next_id);
    w.slices.push_back({created->name, created});
    w.undo.slices.push_back({created->name, nullptr});
    after.push_back(created);
  }
  std::shared_ptr<const v1::ServiceRecord> record = w.undo.prev_record;
  if (before == nullptr || rng() % 4 == 0) {
    w.undo.record_changed = true;
    record = rng() % 5 == 0 && before != nullptr ? nullptr : Record("11");
  }
  ServiceSnapshotPtr next =
      after.empty() && record == nullptr ? nullptr : Snapshot(after, record, 11);
  storage::CommitRecord c;
  c.revision = 11;
  c.time = absl::FromUnixSeconds(1'800'000'000);
  c.services.push_back(std::move(w));
  return {std::move(c), next};
}

// Property: for random commits of every kind, Undo(after) == before, and endpoints both versions
// of a rewritten slice hold are the same objects after the undo.
TEST(DeltaTest, UndoGivesBackTheStateBefore) {
  std::mt19937 rng(7);
  int next_id = 0;
  for (int round = 0; round < 400; ++round) {
    ServiceSnapshotPtr before;
    if (round % 10 != 0) {
      std::vector<SlicePtr> slices;
      for (int n = 1 + static_cast<int>(rng() % 4); n > 0; --n) {
        slices.push_back(NewSlice(rng, absl::StrCat("web-", next_id++), 10, &next_id));
      }
      before = Snapshot(slices, Record("10"), 10);
    }
    auto [commit, after] = RandomCommit(rng, before, &next_id);
    const std::string bytes = EncodeDelta(commit);
    absl::StatusOr<Delta> delta = Delta::Parse(bytes);
    ASSERT_OK(delta);
    EXPECT_EQ(delta->revision(), 11);
    EXPECT_EQ(delta->time(), commit.time);
    ASSERT_EQ(delta->services(), 1);
    absl::StatusOr<ServiceSnapshotPtr> undone = delta->Undo(0, after);
    ASSERT_OK(undone);
    ExpectSame(*undone, before);
    if (before == nullptr || *undone == nullptr || after == nullptr) continue;
    for (const SlicePtr& back : (*undone)->slices) {
      const SlicePtr* old = Find(before, back->name);
      const SlicePtr* now = Find(after, back->name);
      ASSERT_NE(old, nullptr);
      if (now == nullptr) continue;  // deleted: rebuilt whole
      if (*now == *old) {
        EXPECT_EQ(back, *old) << "an untouched slice is shared";
      }
      absl::flat_hash_set<const EndpointRecord*> kept;
      for (const EndpointPtr& e : (*now)->endpoints) kept.insert(e.get());
      ASSERT_EQ(back->endpoints.size(), (*old)->endpoints.size());
      for (size_t i = 0; i < back->endpoints.size(); ++i) {
        if (kept.contains((*old)->endpoints[i].get())) {
          EXPECT_EQ(back->endpoints[i], (*old)->endpoints[i]) << "a kept endpoint is shared";
        }
      }
    }
  }
}

// A record holds the change: one endpoint flipped in a 1000-endpoint slice costs a few hundred
// bytes, while the slice itself is tens of kilobytes.
TEST(DeltaTest, RecordSizeFollowsTheChange) {
  std::mt19937 rng(1);
  int next_id = 0;
  auto slice = std::make_shared<Slice>(*NewSlice(rng, "web-big", 10, &next_id));
  slice->endpoints.clear();
  for (int i = 0; i < 1000; ++i) slice->endpoints.push_back(NewEndpoint(rng, next_id++));
  auto flipped = std::make_shared<Slice>(*slice);
  flipped->generation = 2;
  flipped->resource_version = 11;
  auto meta = std::make_shared<v1::ObjectMeta>(*slice->meta);
  (*meta->mutable_annotations())[kAnnotationTriggerTime] = "2026-12-04T01:02:03.123456789Z";
  flipped->meta = meta;
  v1::Endpoint e = slice->endpoints[500]->ToProto();
  e.mutable_conditions()->set_ready(!e.conditions().ready());
  flipped->endpoints.Set(500, EndpointRecord::FromProto(e));
  const std::string bytes = EncodeDelta(OneRewrite("web-big", slice, flipped));
  EXPECT_LT(bytes.size(), 300u);
  EXPECT_GT(slice->Serialize().size(), 50'000u);
  absl::StatusOr<Delta> delta = Delta::Parse(bytes);
  ASSERT_OK(delta);
  absl::StatusOr<ServiceSnapshotPtr> undone = delta->Undo(0, Snapshot({flipped}, nullptr, 11));
  ASSERT_OK(undone);
  const Slice& back = *(*undone)->slices[0];
  EXPECT_TRUE(MessageDifferencer::Equals(back.ToProto(), slice->ToProto()));
  EXPECT_EQ(back.endpoints[499], slice->endpoints[499]);  // shared, not copied
  EXPECT_NE(back.endpoints[500], slice->endpoints[500]);  // the one literal
}

// The metadata diff compares owner references field by field: a difference in any one field,
// presence alone included (controller unset vs false), is undone. The field count pins the
// message, so a field added to OwnerReference fails here until the comparison covers it.
TEST(DeltaTest, EveryOwnerReferenceFieldIsUndone) {
  ASSERT_EQ(v1::OwnerReference::descriptor()->field_count(), 6);
  v1::OwnerReference base;
  base.set_api_version("apps/v1");
  base.set_kind("Deployment");
  base.set_name("web");
  base.set_uid("uid-1");
  const std::vector<std::function<void(v1::OwnerReference*)>> edits = {
      [](v1::OwnerReference* o) { o->set_api_version("apps/v2"); },
      [](v1::OwnerReference* o) { o->set_kind("StatefulSet"); },
      [](v1::OwnerReference* o) { o->set_name("web-2"); },
      [](v1::OwnerReference* o) { o->set_uid("uid-2"); },
      [](v1::OwnerReference* o) { o->set_controller(false); },
      [](v1::OwnerReference* o) { o->set_controller(true); },
      [](v1::OwnerReference* o) { o->set_block_owner_deletion(false); },
      [](v1::OwnerReference* o) { o->set_block_owner_deletion(true); },
  };
  std::mt19937 rng(5);
  int next_id = 0;
  for (size_t i = 0; i < edits.size(); ++i) {
    SCOPED_TRACE(i);
    auto before = std::make_shared<Slice>(*NewSlice(rng, "web-o", 10, &next_id));
    auto meta = std::make_shared<v1::ObjectMeta>(*before->meta);
    meta->clear_owner_references();
    *meta->add_owner_references() = base;
    before->meta = meta;
    auto after = std::make_shared<Slice>(*before);
    after->generation = 2;
    after->resource_version = 11;
    auto changed = std::make_shared<v1::ObjectMeta>(*meta);
    edits[i](changed->mutable_owner_references(0));
    after->meta = changed;
    absl::StatusOr<Delta> delta = Delta::Parse(EncodeDelta(OneRewrite("web-o", before, after)));
    ASSERT_OK(delta);
    absl::StatusOr<ServiceSnapshotPtr> undone = delta->Undo(0, Snapshot({after}, nullptr, 11));
    ASSERT_OK(undone);
    EXPECT_TRUE(MessageDifferencer::Equals((*undone)->slices[0]->ToProto(), before->ToProto()));
  }
}

// A record applied to a state it was not taken against is DATA_LOSS, never a crash.
TEST(DeltaTest, MismatchedStateIsDataLoss) {
  std::mt19937 rng(3);
  int next_id = 0;
  SlicePtr a = NewSlice(rng, "web-a", 10, &next_id);
  SlicePtr a2 = Rewrite(rng, *a, 11, &next_id);
  absl::StatusOr<Delta> delta = Delta::Parse(EncodeDelta(OneRewrite("web-a", a, a2)));
  ASSERT_OK(delta);
  EXPECT_THAT(delta->Undo(0, Snapshot({}, nullptr, 11)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("web-a")));
  EXPECT_THAT(Delta::Parse("\xff\xff\xff garbage"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("parse")));
}

}  // namespace
}  // namespace slicekeeper::store::internal
