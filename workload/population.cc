#include "workload/population.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::workload {

Population::Population(PopulationOptions options) : options_(std::move(options)) {
  const int64_t ids = int64_t{options_.services} * options_.capacity;
  // The generators build these from validated flags or constants: a violation is a caller bug.
  if (options_.services < 1 || options_.capacity < 1 || ids > (int64_t{1} << 24) ||
      options_.zones < 1 || options_.nodes < 1) {
    std::abort();
  }
  pods_.resize(static_cast<size_t>(ids));
  position_.resize(static_cast<size_t>(ids));
  members_.resize(static_cast<size_t>(options_.services) * kPodStates);
  next_id_.assign(static_cast<size_t>(options_.services), 0);
  next_node_.assign(static_cast<size_t>(options_.services), 0);
}

std::string Population::ServiceName(int service) const {
  return absl::StrCat(options_.prefix, "-", service);
}

std::string ZoneName(int zone, int zones) {
  if (zones <= 26) return absl::StrCat("zone-", std::string(1, 'a' + zone));
  return absl::StrCat("zone-", zone);
}

std::vector<PodId>& Population::Members(int service, PodState state) {
  return members_[static_cast<size_t>(service) * kPodStates + static_cast<size_t>(state)];
}

absl::Span<const PodId> Population::Pods(int service, PodState state) const {
  return members_[static_cast<size_t>(service) * kPodStates + static_cast<size_t>(state)];
}

void Population::Link(PodId pod) {
  Pod& p = pods_[static_cast<size_t>(pod)];
  std::vector<PodId>& m = Members(p.service, p.state);
  position_[static_cast<size_t>(pod)] = static_cast<int32_t>(m.size());
  m.push_back(pod);
  ++state_counts_[static_cast<int>(p.state)];
}

void Population::Unlink(PodId pod) {
  Pod& p = pods_[static_cast<size_t>(pod)];
  std::vector<PodId>& m = Members(p.service, p.state);
  const PodId last = m.back();
  m[static_cast<size_t>(position_[static_cast<size_t>(pod)])] = last;
  position_[static_cast<size_t>(last)] = position_[static_cast<size_t>(pod)];
  m.pop_back();
  --state_counts_[static_cast<int>(p.state)];
}

PodId Population::Add(int service, PodState state, int node) {
  if (size(service) >= options_.capacity) std::abort();  // REQUIRES, see the header
  const PodId base = service * options_.capacity;
  int32_t& next = next_id_[static_cast<size_t>(service)];
  while (pods_[static_cast<size_t>(base + next)].live) next = (next + 1) % options_.capacity;
  const PodId pod = base + next;
  next = (next + 1) % options_.capacity;
  Pod& p = pods_[static_cast<size_t>(pod)];
  p.service = service;
  p.state = state;
  p.live = true;
  if (node == kAnyNode) {
    int32_t& next_node = next_node_[static_cast<size_t>(service)];
    node = next_node;
    next_node = (next_node + 1) % options_.nodes;
  }
  p.node = node;
  Link(pod);
  changes_.push_back(ChangeOf(pod, /*remove=*/false));
  return pod;
}

void Population::Set(PodId pod, PodState state) {
  Unlink(pod);
  pods_[static_cast<size_t>(pod)].state = state;
  Link(pod);
  changes_.push_back(ChangeOf(pod, /*remove=*/false));
}

void Population::Remove(PodId pod) {
  Unlink(pod);
  pods_[static_cast<size_t>(pod)].live = false;
  changes_.push_back(ChangeOf(pod, /*remove=*/true));
}

std::vector<v1::EndpointChange> Population::TakeChanges() { return std::move(changes_); }

std::vector<PodId> Population::AllPods(int service) const {
  std::vector<PodId> out;
  for (int s = 0; s < kPodStates; ++s) {
    absl::Span<const PodId> m = Pods(service, static_cast<PodState>(s));
    out.insert(out.end(), m.begin(), m.end());
  }
  return out;
}

int64_t Population::size(int service) const {
  int64_t n = 0;
  for (int s = 0; s < kPodStates; ++s) n += Pods(service, static_cast<PodState>(s)).size();
  return n;
}

PodCounts Population::Counts() const {
  PodCounts c;
  c.ready = state_counts_[static_cast<int>(PodState::kReady)];
  c.terminating = state_counts_[static_cast<int>(PodState::kTerminating)];
  c.serving = c.ready + c.terminating;
  c.endpoints = c.serving + state_counts_[static_cast<int>(PodState::kNotReady)];
  return c;
}

v1::EndpointChange Population::ChangeOf(PodId pod, bool remove) const {
  return PodChange(options_, pod, pods_[static_cast<size_t>(pod)], remove);
}

v1::EndpointChange PodChange(const PopulationOptions& options, PodId pod, const Pod& p,
                             bool remove) {
  const int local = pod - p.service * options.capacity;
  v1::EndpointChange c;
  c.set_op(remove ? v1::EndpointChange::REMOVE : v1::EndpointChange::UPSERT);
  c.set_namespace_(options.namespace_);
  c.set_service(absl::StrCat(options.prefix, "-", p.service));
  c.set_address_type("IPv4");
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(absl::StrCat("10.", (pod >> 16) & 255, ".", (pod >> 8) & 255, ".", pod & 255));
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_namespace_(options.namespace_);
  e->mutable_target_ref()->set_name(absl::StrCat(c.service(), "-", local));
  if (remove) return c;
  v1::EndpointConditions* cond = e->mutable_conditions();
  cond->set_ready(p.state == PodState::kReady);
  cond->set_serving(p.state != PodState::kNotReady);
  cond->set_terminating(p.state == PodState::kTerminating);
  e->set_node_name(absl::StrCat("node-", p.node));
  e->set_zone(ZoneName(p.node % options.zones, options.zones));
  v1::EndpointPort* port = c.add_ports();
  port->set_name("http");
  port->set_protocol("TCP");
  port->set_port(8080);
  return c;
}

}  // namespace slicekeeper::workload
