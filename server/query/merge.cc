// The merged view (kube-proxy's endpointSliceCache, docs/kubernetes-behaviour.md §5.1) and the
// per-service summary built from it.
#include "server/query/merge.h"

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::query {
namespace {

using PortKey = std::pair<std::string, std::string>;  // (name, protocol)

struct MergedPort {
  v1::ServicePort port;
  bool terminating = false;
};

// One address being merged: the fields of the entry that currently wins, and its ports.
struct MergedEndpoint {
  v1::ServiceEndpoint endpoint;  // ports left empty until the end
  std::map<PortKey, MergedPort> ports;
};

v1::EndpointConditions DefaultedConditions(RecordConditions c) {
  v1::EndpointConditions out;
  out.set_ready(!c.has_ready() || c.ready());
  out.set_serving(!c.has_serving() || c.serving());
  out.set_terminating(c.has_terminating() && c.terminating());
  return out;
}

// The endpoint fields of `e` (everything but the ports) as the merged view shows them.
void FillEndpoint(const EndpointRecord& e, const std::string& address_type,
                  v1::ServiceEndpoint* out) {
  out->Clear();
  out->set_address(std::string(e.addresses(0)));
  out->set_address_type(address_type);
  *out->mutable_conditions() = DefaultedConditions(e.conditions());
  out->set_hostname(std::string(e.hostname()));
  out->set_node_name(std::string(e.node_name()));
  out->set_zone(std::string(e.zone()));
  if (e.has_hints()) *out->mutable_hints() = e.hints();
  if (e.has_target_ref()) e.target_ref().ToProto(out->mutable_target_ref());
}

// The ports kube-proxy keeps: nil and 0 numbers are skipped; name and protocol defaulted.
std::vector<std::pair<PortKey, v1::ServicePort>> UsablePorts(const PortList& ports) {
  std::vector<std::pair<PortKey, v1::ServicePort>> out;
  for (const v1::EndpointPort& p : ports) {
    if (!p.has_port() || p.port() == 0) continue;
    v1::ServicePort sp;
    sp.set_name(p.name());
    sp.set_protocol(p.has_protocol() ? p.protocol() : "TCP");
    sp.set_port(p.port());
    sp.set_app_protocol(p.app_protocol());
    PortKey key(sp.name(), sp.protocol());
    out.emplace_back(std::move(key), std::move(sp));
  }
  return out;
}

// Adds one slice endpoint. A later entry replaces an earlier one unless it is terminating; the
// rule holds per address for the endpoint's fields and per (address, port) for each port.
void AddEndpoint(const EndpointRecord& e, const std::string& address_type,
                 const std::vector<std::pair<PortKey, v1::ServicePort>>& ports,
                 std::map<std::string, MergedEndpoint>* merged) {
  bool terminating = e.conditions().has_terminating() && e.conditions().terminating();
  auto [it, inserted] = merged->try_emplace(std::string(e.addresses(0)));
  MergedEndpoint& m = it->second;
  if (inserted || !terminating) FillEndpoint(e, address_type, &m.endpoint);
  for (const auto& [key, port] : ports) {
    auto [pit, pinserted] = m.ports.try_emplace(key);
    if (pinserted || !terminating) pit->second = MergedPort{port, terminating};
  }
}

}  // namespace

std::vector<v1::ServiceEndpoint> MergeEndpoints(const store::ServiceSnapshot& snapshot) {
  std::map<std::string, MergedEndpoint> merged;
  for (const SlicePtr& slice : snapshot.slices) {
    if (slice == nullptr || slice->ServiceName().empty()) continue;
    if (slice->address_type == kAddressTypeFQDN) continue;
    std::vector<std::pair<PortKey, v1::ServicePort>> ports;
    if (slice->ports != nullptr) ports = UsablePorts(*slice->ports);
    for (const EndpointPtr& e : slice->endpoints) {
      if (e == nullptr || e->addresses_size() == 0) continue;
      AddEndpoint(*e, slice->address_type, ports, &merged);
    }
  }
  std::vector<v1::ServiceEndpoint> out;
  out.reserve(merged.size());
  for (auto& [address, m] : merged) {
    // std::map iterates ports in (name, protocol) order: the documented port order.
    for (auto& [key, p] : m.ports) *m.endpoint.add_ports() = std::move(p.port);
    out.push_back(std::move(m.endpoint));
  }
  return out;
}

namespace {

// An endpoint as the summary counts it: its nil-defaulted conditions and its zone, viewed in the
// snapshot (alive for the call).
struct Counted {
  bool ready = true;
  bool serving = true;
  bool terminating = false;
  absl::string_view zone;
};

void Count(const Counted& c, v1::ConditionCounts* counts) {
  counts->set_total(counts->total() + 1);
  if (c.ready) counts->set_ready(counts->ready() + 1);
  if (c.serving) counts->set_serving(counts->serving() + 1);
  if (c.terminating) counts->set_terminating(counts->terminating() + 1);
}

}  // namespace

// The counts of MergeEndpoints' view without building it: only the per-address rule for the
// endpoint's fields matters here (ports do not change the counts), so each address keeps the
// conditions and zone of the entry that wins, viewed in place. The operator page summarises
// every service a commit changed, so this runs once per changed service.
v1::ServiceSummary Summarize(const store::ServiceSnapshot& snapshot) {
  v1::ServiceSummary s;
  s.set_namespace_(snapshot.namespace_);
  s.set_name(snapshot.name);
  s.set_mod_revision(snapshot.mod_revision);
  s.set_slices(static_cast<int64_t>(snapshot.slices.size()));
  absl::flat_hash_map<absl::string_view, Counted> merged;
  for (const SlicePtr& slice : snapshot.slices) {
    if (slice == nullptr || slice->ServiceName().empty()) continue;
    if (slice->address_type == kAddressTypeFQDN) continue;
    for (const EndpointPtr& e : slice->endpoints) {
      if (e == nullptr || e->addresses_size() == 0) continue;
      const auto& c = e->conditions();
      const bool terminating = c.has_terminating() && c.terminating();
      auto [it, inserted] = merged.try_emplace(absl::string_view(e->addresses(0)));
      if (!inserted && terminating) continue;
      it->second = Counted{.ready = !c.has_ready() || c.ready(),
                           .serving = !c.has_serving() || c.serving(),
                           .terminating = terminating,
                           .zone = e->zone()};
    }
  }
  v1::ConditionCounts* total = s.mutable_endpoints();
  auto* by_zone = s.mutable_by_zone();
  for (const auto& [address, c] : merged) {
    Count(c, total);
    Count(c, &(*by_zone)[std::string(c.zone)]);
  }
  return s;
}

}  // namespace slicekeeper::query
