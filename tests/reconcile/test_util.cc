#include "tests/reconcile/test_util.h"

#include <map>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::reconcile {

v1::ServiceRecord Foo(const std::vector<std::string>& types) {
  v1::ServiceRecord s;
  s.set_namespace_("test");
  s.set_name("foo");
  s.set_uid("uid-foo");
  for (const std::string& t : types) s.add_address_types(t);
  return s;
}

PortListPtr Port(int number, const std::string& name) {
  v1::EndpointPort p;
  p.set_name(name);
  p.set_protocol("TCP");
  p.set_port(number);
  return std::make_shared<const PortList>(PortList{p});
}

PortListPtr NoPorts() { return std::make_shared<const PortList>(); }

Labels Managed(Labels user) {
  user[kLabelServiceName] = "foo";
  user[kLabelManagedBy] = kManagerName;
  return user;
}

std::string Address(int i) {
  const int v = 4 + i;
  return absl::StrCat("1.2.", 3 + v / 256, ".", v % 256);
}

EndpointPtr E(int i, const std::string& zone) {
  v1::Endpoint e;
  e.add_addresses(Address(i));
  e.set_node_name("node-1");
  if (!zone.empty()) e.set_zone(zone);
  e.mutable_conditions()->set_ready(true);
  e.mutable_target_ref()->set_kind("Pod");
  e.mutable_target_ref()->set_namespace_("test");
  e.mutable_target_ref()->set_name(absl::StrCat("pod", i));
  return EndpointRecord::FromProto(e);
}

EndpointPtr Modified(const EndpointPtr& e, const std::function<void(v1::Endpoint&)>& change) {
  v1::Endpoint copy = e->ToProto();
  change(copy);
  return EndpointRecord::FromProto(copy);
}

std::vector<std::string> Addresses(int from, int to) {
  std::vector<std::string> out;
  for (int i = from; i < to; ++i) out.push_back(Address(i));
  return out;
}

EndpointDelta Upsert(EndpointPtr e, PortListPtr ports, const std::string& address_type) {
  return EndpointDelta{
      EndpointDelta::Op::kUpsert, "test", "foo", address_type, std::move(e), std::move(ports)};
}

std::vector<EndpointDelta> Upserts(int from, int to, const PortListPtr& ports) {
  std::vector<EndpointDelta> out;
  for (int i = from; i < to; ++i) out.push_back(Upsert(E(i), ports));
  return out;
}

SlicePtr Existing(const v1::ServiceRecord& svc, const std::string& name, const Labels& labels,
                  const PortListPtr& ports, std::vector<EndpointPtr> endpoints) {
  auto s = std::make_shared<Slice>();
  s->name = name;
  s->namespace_ = svc.namespace_();
  s->uid = "uid-" + name;
  s->generation = 1;
  s->resource_version = 1;
  auto meta = std::make_shared<v1::ObjectMeta>();
  meta->set_generate_name("foo-");
  for (const auto& [k, v] : labels) (*meta->mutable_labels())[k] = v;
  v1::OwnerReference* o = meta->add_owner_references();
  o->set_api_version("v1");
  o->set_kind("Service");
  o->set_name(svc.name());
  o->set_uid(svc.uid());
  o->set_controller(true);
  o->set_block_owner_deletion(true);
  s->meta = std::move(meta);
  s->address_type = kAddressTypeIPv4;
  s->ports = ports;
  s->endpoints = std::move(endpoints);
  return s;
}

SlicePtr Range(const v1::ServiceRecord& svc, const std::string& name, int from, int to,
               const PortListPtr& ports) {
  std::vector<EndpointPtr> endpoints;
  for (int i = from; i < to; ++i) endpoints.push_back(E(i));
  return Existing(svc, name, Managed(), ports, std::move(endpoints));
}

std::vector<v1::Node> EqualNodes(const std::vector<std::string>& zones, int per_zone) {
  std::vector<v1::Node> nodes;
  for (const std::string& zone : zones) {
    for (int i = 0; i < per_zone; ++i) {
      v1::Node n;
      n.set_name(absl::StrCat(zone, "-node-", i));
      n.set_zone(zone);
      n.set_cpu_millis(1000);
      n.set_ready(true);
      nodes.push_back(std::move(n));
    }
  }
  return nodes;
}

Ops Split(const Plan& plan) {
  Ops out;
  for (const SliceOp& op : plan.ops) {
    if (op.kind == SliceOp::Kind::kCreate) out.creates.push_back(op.slice);
    if (op.kind == SliceOp::Kind::kUpdate) out.updates.push_back(op.slice);
    if (op.kind == SliceOp::Kind::kDelete) out.deletes.push_back(op.slice);
  }
  return out;
}

std::vector<size_t> Sizes(const std::vector<SlicePtr>& slices) {
  std::vector<size_t> out;
  for (const SlicePtr& s : slices) out.push_back(s->endpoints.size());
  return out;
}

std::vector<std::string> Names(const std::vector<SlicePtr>& slices) {
  std::vector<std::string> out;
  for (const SlicePtr& s : slices) out.push_back(s->name);
  return out;
}

std::vector<std::string> AllAddresses(const std::vector<SlicePtr>& slices) {
  std::vector<std::string> out;
  for (const SlicePtr& s : slices) {
    for (const EndpointPtr& e : s->endpoints) {
      for (absl::string_view a : e->addresses()) out.emplace_back(a);
    }
  }
  return out;
}

std::vector<std::string> ZoneHints(const EndpointRecord& e) {
  std::vector<std::string> out;
  for (const v1::ForZone& z : e.hints().for_zones()) out.push_back(z.name());
  return out;
}

std::string Describe(const Plan& plan) {
  std::string out;
  for (const SliceOp& op : plan.ops) {
    const char* kind = op.kind == SliceOp::Kind::kCreate   ? "C"
                       : op.kind == SliceOp::Kind::kUpdate ? "U"
                                                           : "D";
    absl::StrAppend(&out, " ", kind, ":", op.slice->name, "(", op.slice->endpoints.size(), ")");
  }
  return out.empty() ? " (no ops)" : out;
}

Harness::Harness(v1::ServiceRecord service, int max) : service_(std::move(service)) {
  options_.max_endpoints_per_slice = max;
}

Harness::Harness(v1::ServiceRecord service, const Options& options)
    : service_(std::move(service)), options_(options) {}

absl::StatusOr<Plan> Harness::Reconcile(const std::vector<EndpointDelta>& changes,
                                        bool full_resync) {
  auto gen = [this](absl::string_view prefix) {
    prefixes_.emplace_back(prefix);
    // Five [a-z0-9] characters, distinct per call.
    static constexpr char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    std::string suffix(5, 'a');
    for (int64_t n = names_++, i = 4; i >= 0; --i, n /= 36) suffix[i] = kChars[n % 36];
    return absl::StrCat(prefix, suffix);
  };
  auto uid = [this]() { return absl::StrCat("slice-uid-", uids_++); };
  Input in{.service = &service_,
           .changes = changes,
           .nodes = nodes_,
           .full_resync = full_resync,
           .trigger_time = kTriggerTime,
           .creation_timestamp = kTriggerTime,
           .generate_name = gen,
           .generate_uid = uid};
  return slicekeeper::reconcile::Reconcile(state_, in, options_);
}

void Harness::Apply(Plan& plan) {
  for (SliceOp& op : plan.ops) {
    if (op.kind != SliceOp::Kind::kDelete) op.slice->resource_version = ++revision_;
  }
  state_.Apply(plan);
}

bool Harness::ApplyAsReplica(Plan& plan) {
  // What the slices are after the plan, for the rebuild.
  std::map<std::string, SlicePtr> after;
  for (const SlicePtr& s : state_.Slices()) after[s->name] = s;
  std::vector<ServiceState::SliceWrite> writes;
  for (SliceOp& op : plan.ops) {
    if (op.kind == SliceOp::Kind::kDelete) {
      after.erase(op.slice->name);
      writes.push_back({op.slice->name, nullptr});
    } else {
      op.slice->resource_version = ++revision_;
      after[op.slice->name] = op.slice;
      writes.push_back({op.slice->name, op.slice});
    }
  }
  if (state_.ApplyWrites(writes)) return true;
  std::vector<SlicePtr> slices;
  for (auto& [name, slice] : after) slices.push_back(std::move(slice));
  state_ = ServiceState::FromSlices(slices);
  return false;
}

}  // namespace slicekeeper::reconcile
