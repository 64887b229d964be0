// Builders shared by the store tests: endpoint changes, foreign slices and small readers.
//
// Thread-safety: stateless functions, safe from any thread.
#ifndef SLICEKEEPER_TESTS_STORE_STORE_TEST_UTIL_H_
#define SLICEKEEPER_TESTS_STORE_STORE_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "common/slice.h"
#include "server/store/store.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::store::testing {

// "10.<i/65536>.<i/256%256>.<i%256>", distinct for i < 2^24.
inline std::string Ip(int64_t i) {
  return absl::StrCat("10.", (i >> 16) & 255, ".", (i >> 8) & 255, ".", i & 255);
}

// An UPSERT of a ready pod endpoint at `ip` serving TCP port 80 named "http".
inline v1::EndpointChange Upsert(const std::string& ns, const std::string& service,
                                 const std::string& ip, bool ready = true) {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::UPSERT);
  c.set_namespace_(ns);
  c.set_service(service);
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(ip);
  e->mutable_conditions()->set_ready(ready);
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_namespace_(ns);
  e->mutable_target_ref()->set_name(absl::StrCat("pod-", absl::StrReplaceAll(ip, {{".", "-"}})));
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(80);
  return c;
}

// A REMOVE of the endpoint Upsert(ns, service, ip) wrote.
inline v1::EndpointChange Remove(const std::string& ns, const std::string& service,
                                 const std::string& ip) {
  v1::EndpointChange c = Upsert(ns, service, ip);
  c.set_op(v1::EndpointChange::REMOVE);
  c.clear_ports();
  return c;
}

// A slice of another manager for `service`, with one endpoint at `ip`.
inline v1::EndpointSlice ForeignSlice(const std::string& ns, const std::string& service,
                                      const std::string& name, const std::string& ip) {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_name(name);
  s.mutable_metadata()->set_namespace_(ns);
  (*s.mutable_metadata()->mutable_labels())[kLabelServiceName] = service;
  (*s.mutable_metadata()->mutable_labels())[kLabelManagedBy] = "mirror.example.com";
  s.set_address_type(kAddressTypeIPv4);
  v1::Endpoint* e = s.add_endpoints();
  e->add_addresses(ip);
  e->mutable_conditions()->set_ready(true);
  v1::EndpointPort* p = s.add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(8080);
  return s;
}

// Records every commit it is given.
class RecordingListener : public CommitListener {
 public:
  void OnCommit(const CommitPtr& commit) override {
    absl::MutexLock l(&mu_);
    commits_.push_back(commit);
  }
  std::vector<CommitPtr> commits() {
    absl::MutexLock l(&mu_);
    return commits_;
  }

 private:
  absl::Mutex mu_;
  std::vector<CommitPtr> commits_ ABSL_GUARDED_BY(mu_);
};

// Equal as stored: names, revisions, record and every slice as a Kubernetes object.
inline bool SameSnapshot(const ServiceSnapshotPtr& a, const ServiceSnapshotPtr& b) {
  if (a == nullptr || b == nullptr) return a == b;
  using google::protobuf::util::MessageDifferencer;
  if (a->namespace_ != b->namespace_ || a->name != b->name || a->mod_revision != b->mod_revision ||
      a->slices.size() != b->slices.size() || (a->record == nullptr) != (b->record == nullptr)) {
    return false;
  }
  if (a->record != nullptr && !MessageDifferencer::Equals(*a->record, *b->record)) return false;
  for (size_t i = 0; i < a->slices.size(); ++i) {
    if (!MessageDifferencer::Equals(a->slices[i]->ToProto(), b->slices[i]->ToProto())) {
      return false;
    }
  }
  return true;
}

inline void ExpectSameCatalog(const Catalog& a, const Catalog& b) {
  EXPECT_EQ(a.revision, b.revision);
  ASSERT_EQ(a.services.size(), b.services.size());
  for (size_t i = 0; i < a.services.size(); ++i) {
    EXPECT_TRUE(SameSnapshot(a.services[i], b.services[i]))
        << a.services[i]->namespace_ << "/" << a.services[i]->name;
  }
}

// Same revisions, times and services (before and after) in the same order.
inline void ExpectSameCommits(const std::vector<CommitPtr>& a, const std::vector<CommitPtr>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i]->revision, b[i]->revision);
    ASSERT_EQ(a[i]->services.size(), b[i]->services.size()) << "revision " << a[i]->revision;
    for (size_t j = 0; j < a[i]->services.size(); ++j) {
      EXPECT_TRUE(SameSnapshot(a[i]->services[j].before, b[i]->services[j].before))
          << "before, revision " << a[i]->revision;
      EXPECT_TRUE(SameSnapshot(a[i]->services[j].after, b[i]->services[j].after))
          << "after, revision " << a[i]->revision;
    }
  }
}

inline int64_t EndpointCount(const ServiceSnapshot& s) {
  int64_t n = 0;
  for (const SlicePtr& slice : s.slices) n += static_cast<int64_t>(slice->endpoints.size());
  return n;
}

}  // namespace slicekeeper::store::testing

#endif  // SLICEKEEPER_TESTS_STORE_STORE_TEST_UTIL_H_
