#include "server/reconcile/internal/identity.h"

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "server/reconcile/reconciler.h"

namespace slicekeeper::reconcile {
namespace internal {
namespace {

absl::string_view Hostname(const EndpointRecord& e) {
  return e.has_hostname() ? absl::string_view(e.hostname()) : absl::string_view();
}

using AddressList = absl::InlinedVector<absl::string_view, 2>;

AddressList SortedAddresses(const EndpointRecord& e) {
  AddressList out(e.addresses().begin(), e.addresses().end());
  std::sort(out.begin(), out.end());
  return out;
}

bool SamePort(const v1::EndpointPort& a, const v1::EndpointPort& b) {
  return a.has_name() == b.has_name() && a.name() == b.name() &&
         a.has_protocol() == b.has_protocol() && a.protocol() == b.protocol() &&
         a.has_port() == b.has_port() && a.port() == b.port() &&
         a.has_app_protocol() == b.has_app_protocol() && a.app_protocol() == b.app_protocol();
}

// Kubernetes compares pointers: nil differs from set, then the values.
template <typename T>
bool OptionalDiffers(bool has_a, const T& a, bool has_b, const T& b) {
  return has_a != has_b || (has_a && a != b);
}

bool TargetRefChanged(const EndpointRecord& a, const EndpointRecord& b) {
  if (a.has_target_ref() != b.has_target_ref()) return true;
  if (!a.has_target_ref()) return false;
  const RecordTargetRef x = a.target_ref();
  const RecordTargetRef y = b.target_ref();
  // resource_version is deliberately not compared (docs/kubernetes-behaviour.md §3.5).
  return x.kind() != y.kind() || x.namespace_() != y.namespace_() || x.name() != y.name() ||
         x.uid() != y.uid() || x.api_version() != y.api_version() ||
         x.field_path() != y.field_path();
}

}  // namespace

size_t IdentityHashOf(const EndpointRecord& e) {
  // Addresses are a set: combine their hashes commutatively so that no sort is needed.
  size_t addresses = 0;
  for (absl::string_view a : e.addresses()) {
    addresses += absl::Hash<absl::string_view>()(a) * 0x9E3779B97F4A7C15ull;
  }
  return absl::Hash<std::tuple<size_t, absl::string_view, absl::string_view, absl::string_view>>()(
      std::make_tuple(addresses, Hostname(e), absl::string_view(e.target_ref().namespace_()),
                      absl::string_view(e.target_ref().name())));
}

bool SameIdentity(const EndpointRecord& a, const EndpointRecord& b) {
  if (a.addresses_size() != b.addresses_size() || Hostname(a) != Hostname(b) ||
      a.target_ref().name() != b.target_ref().name() ||
      a.target_ref().namespace_() != b.target_ref().namespace_()) {
    return false;
  }
  if (a.addresses_size() == 1) return a.addresses(0) == b.addresses(0);
  return SortedAddresses(a) == SortedAddresses(b);
}

bool PortListsIdentical(const PortList& a, const PortList& b) {
  if (&a == &b) return true;
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SamePort(a[i], b[i])) return false;
  }
  return true;
}

bool HintsEqual(const EndpointRecord& a, const EndpointRecord& b) {
  const v1::EndpointHints& x = a.hints();
  const v1::EndpointHints& y = b.hints();
  if (x.for_zones_size() != y.for_zones_size() || x.for_nodes_size() != y.for_nodes_size()) {
    return false;
  }
  for (int i = 0; i < x.for_zones_size(); ++i) {
    if (x.for_zones(i).name() != y.for_zones(i).name()) return false;
  }
  for (int i = 0; i < x.for_nodes_size(); ++i) {
    if (x.for_nodes(i).name() != y.for_nodes(i).name()) return false;
  }
  return true;
}

}  // namespace internal

std::string EndpointIdentity(const EndpointRecord& e) {
  internal::AddressList sorted = internal::SortedAddresses(e);
  return absl::StrCat(absl::StrJoin(sorted, ","), "|", internal::Hostname(e), "|",
                      e.target_ref().namespace_(), "/", e.target_ref().name());
}

std::string PortSetKey(const PortList& ports) {
  // Fields are validated (no NUL or newline can occur), so the separators are unambiguous.
  std::vector<std::string> parts;
  parts.reserve(ports.size());
  for (const v1::EndpointPort& p : ports) {
    parts.push_back(absl::StrCat(p.name(), "\x1f", p.has_protocol() ? p.protocol() : "TCP", "\x1f",
                                 p.has_port() ? absl::StrCat(p.port()) : "-", "\x1f",
                                 p.has_app_protocol() ? absl::StrCat("+", p.app_protocol()) : "-"));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrJoin(parts, "\n");
}

bool EndpointChanged(const EndpointRecord& a, const EndpointRecord& b) {
  using internal::OptionalDiffers;
  if (OptionalDiffers(a.has_node_name(), a.node_name(), b.has_node_name(), b.node_name()) ||
      OptionalDiffers(a.has_zone(), a.zone(), b.has_zone(), b.zone())) {
    return true;
  }
  const RecordConditions x = a.conditions();
  const RecordConditions y = b.conditions();
  if (OptionalDiffers(x.has_ready(), x.ready(), y.has_ready(), y.ready()) ||
      OptionalDiffers(x.has_serving(), x.serving(), y.has_serving(), y.serving()) ||
      OptionalDiffers(x.has_terminating(), x.terminating(), y.has_terminating(), y.terminating())) {
    return true;
  }
  return internal::TargetRefChanged(a, b);
}

}  // namespace slicekeeper::reconcile
