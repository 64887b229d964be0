// Fuzz target: the store's history records (server/store/internal/delta.h) as read back from disk
// (RocksDB's `history` column family) when a watcher resumes: bytes -> Delta::Parse -> Undo of
// every service against a state the record could have been taken against (each slice the record
// says it created or modified exists, with a few endpoints; nothing else). A record either fails
// with DATA_LOSS (never a crash, never another code) or yields a well-formed snapshot: the
// service the record names, slices sorted by name without duplicates, no null pointer inside.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/slice.h"
#include "server/store/internal/delta.h"
#include "server/store/store.h"

namespace {

using slicekeeper::SlicePtr;
using slicekeeper::store::ServiceSnapshot;
using slicekeeper::store::ServiceSnapshotPtr;
using slicekeeper::store::internal::Delta;
using slicekeeper::store::internal::ServiceDelta;
using slicekeeper::store::internal::SliceDelta;
namespace v1 = slicekeeper::v1;

// A slice named `name` of `d`'s service with `endpoints` endpoints.
SlicePtr MakeSlice(const ServiceDelta& d, const std::string& name, int endpoints) {
  v1::EndpointSlice p;
  p.mutable_metadata()->set_name(name);
  p.mutable_metadata()->set_namespace_(d.namespace_());
  (*p.mutable_metadata()->mutable_labels())["kubernetes.io/service-name"] = d.name();
  (*p.mutable_metadata()->mutable_annotations())
      ["endpoints.kubernetes.io/last-change-trigger-time"] = "2026-01-01T00:00:00Z";
  p.mutable_metadata()->set_resource_version("7");
  p.set_address_type("IPv4");
  v1::EndpointPort* port = p.add_ports();
  port->set_name("http");
  port->set_port(80);
  for (int i = 0; i < endpoints; ++i) {
    v1::Endpoint* e = p.add_endpoints();
    e->add_addresses(absl::StrCat("10.0.0.", i + 1));
    e->mutable_conditions()->set_ready(i % 2 == 0);
  }
  return slicekeeper::SliceFromProto(p);
}

// The state after the commit, as far as the record says: its created and modified slices exist.
ServiceSnapshotPtr After(const ServiceDelta& d, int i) {
  if (i % 3 == 2) return nullptr;  // also: the commit deleted the service
  auto s = std::make_shared<ServiceSnapshot>();
  s->namespace_ = d.namespace_();
  s->name = d.name();
  s->mod_revision = 9;
  std::vector<std::string> names;
  for (const SliceDelta& sd : d.slices()) {
    if (sd.kind() != SliceDelta::DELETED) names.push_back(sd.name());
  }
  names.push_back("~untouched");  // sorts after every DNS name
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  for (size_t k = 0; k < names.size(); ++k) {
    s->slices.push_back(MakeSlice(d, names[k], static_cast<int>(k % 5)));
  }
  return s;
}

void Check(const ServiceDelta& d, const ServiceSnapshot& s) {
  if (s.namespace_ != d.namespace_() || s.name != d.name()) std::abort();
  for (size_t k = 0; k < s.slices.size(); ++k) {
    const SlicePtr& slice = s.slices[k];
    if (slice == nullptr || slice->meta == nullptr || slice->ports == nullptr) std::abort();
    if (k > 0 && !(s.slices[k - 1]->name < slice->name)) std::abort();
    for (const auto& e : slice->endpoints) {
      if (e == nullptr) std::abort();
    }
    // Every undone slice serializes (what a resumed watch sends).
    const std::string bytes = slice->Serialize();
#ifdef SK_FUZZ_PLANTED
    // The planted bug (scripts/fuzz.sh proves the harness finds it): an undone slice carrying
    // "zzz" anywhere.
    if (absl::StrContains(bytes, "zzz")) __builtin_trap();
#endif
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<Delta> delta =
      Delta::Parse(absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!delta.ok()) {
    if (delta.status().code() != absl::StatusCode::kDataLoss) std::abort();
    return 0;
  }
  for (int i = 0; i < delta->services() && i < 16; ++i) {
    const ServiceDelta& d = delta->service(i);
    absl::StatusOr<ServiceSnapshotPtr> before = delta->Undo(i, After(d, i));
    if (!before.ok()) {
      if (before.status().code() != absl::StatusCode::kDataLoss) std::abort();
      continue;
    }
    if (*before == nullptr) {
      if (d.existed()) std::abort();
      continue;
    }
    Check(d, **before);
  }
  return 0;
}
