// Builders shared by the storage tests: commit records over small slices, and a temp directory.
//
// Thread-safety: stateless functions; a TempDir belongs to one test.
#ifndef SLICEKEEPER_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
#define SLICEKEEPER_TESTS_STORAGE_STORAGE_TEST_UTIL_H_

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/slice.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/storage/storage.h"

namespace slicekeeper::storage::testing {

// A fresh directory under the test's temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string base = ::testing::TempDir();
    std::string templ =
        absl::StrCat(base, base.empty() || base.back() == '/' ? "" : "/", "sk_storage_XXXXXX");
    path_ = mkdtemp(templ.data()) != nullptr ? templ : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A slice of `ns/service` named `name` with one endpoint per address in `ips`.
inline SlicePtr MakeSlice(const std::string& ns, const std::string& service,
                          const std::string& name, int64_t revision,
                          const std::vector<std::string>& ips, bool managed = true) {
  v1::EndpointSlice p;
  p.mutable_metadata()->set_name(name);
  p.mutable_metadata()->set_namespace_(ns);
  p.mutable_metadata()->set_uid(absl::StrCat("uid-", name));
  p.mutable_metadata()->set_generation(1);
  p.mutable_metadata()->set_resource_version(absl::StrCat(revision));
  p.mutable_metadata()->set_creation_timestamp("2024-01-01T00:00:00Z");
  (*p.mutable_metadata()->mutable_labels())[kLabelServiceName] = service;
  (*p.mutable_metadata()->mutable_labels())[kLabelManagedBy] =
      managed ? kManagerName : "mirror.example.com";
  p.set_address_type(kAddressTypeIPv4);
  for (const std::string& ip : ips) {
    v1::Endpoint* e = p.add_endpoints();
    e->add_addresses(ip);
    e->mutable_conditions()->set_ready(true);
  }
  v1::EndpointPort* port = p.add_ports();
  port->set_name("http");
  port->set_protocol("TCP");
  port->set_port(80);
  return SliceFromProto(p);
}

inline RecordPtr MakeRecord(const std::string& ns, const std::string& name, int64_t revision) {
  auto r = std::make_shared<v1::ServiceRecord>();
  r->set_namespace_(ns);
  r->set_name(name);
  r->set_uid(absl::StrCat("uid-", name));
  r->set_resource_version(absl::StrCat(revision));
  return r;
}

// The history record the commits of MakeCommit carry.
inline std::string HistoryBytes(int64_t revision) {
  return absl::StrCat("record of revision ", revision);
}

// Every history record ScanHistory(after, upto) returns: (revision, bytes), newest first.
inline absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> Scan(const Storage& s,
                                                                         int64_t after,
                                                                         int64_t upto) {
  std::vector<std::pair<int64_t, std::string>> out;
  absl::Status status = s.ScanHistory(after, upto, [&](int64_t r, absl::string_view bytes) {
    out.emplace_back(r, std::string(bytes));
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  return out;
}

// A commit at `revision` that writes `slices` (all of `ns/service`) and its record; the undo
// says the service did not exist before when `created`.
inline CommitRecord MakeCommit(int64_t revision, const std::string& ns, const std::string& service,
                               std::vector<SlicePtr> slices, bool created) {
  CommitRecord c;
  c.revision = revision;
  c.time = absl::FromUnixSeconds(1'700'000'000 + revision);
  ServiceWrite w;
  w.namespace_ = ns;
  w.name = service;
  w.record = MakeRecord(ns, service, revision);
  w.mod_revision = revision;
  w.undo.namespace_ = ns;
  w.undo.name = service;
  w.undo.existed = !created;
  w.undo.prev_mod_revision = created ? 0 : revision - 1;
  w.undo.record_changed = created;
  for (const SlicePtr& s : slices) {
    w.slices.push_back({s->name, s});
    w.undo.slices.push_back({s->name, nullptr});
  }
  c.services.push_back(std::move(w));
  // Opaque to storage: the store's encoding does not matter here.
  c.history = std::make_shared<const std::string>(HistoryBytes(revision));
  return c;
}

// Equal as Kubernetes objects (map order aside).
inline bool SameSlice(const SlicePtr& a, const SlicePtr& b) {
  if (a == nullptr || b == nullptr) return a == b;
  return google::protobuf::util::MessageDifferencer::Equals(a->ToProto(), b->ToProto());
}

}  // namespace slicekeeper::storage::testing

#endif  // SLICEKEEPER_TESTS_STORAGE_STORAGE_TEST_UTIL_H_
