// The model side of RandomChurn (random_churn.h): services, endpoints and random batches.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/reconcile/random_churn.h"

namespace slicekeeper::reconcile {
namespace {

constexpr int kMaxChoices[] = {1, 3, 10, 100};

void SetCondition(int v, void (v1::EndpointConditions::*set)(bool), v1::EndpointConditions* c) {
  if (v >= 0) (c->*set)(v == 1);
}

std::string Address(const RandomChurn::Props& p) {
  if (p.address_type == kAddressTypeIPv6) return absl::StrCat("fd00::", absl::Hex(p.index));
  return absl::StrCat("10.", (p.index >> 16) & 255, ".", (p.index >> 8) & 255, ".", p.index & 255);
}

std::vector<PortListPtr> MakePortSets() {
  auto port = [](const char* name, int number, const char* protocol) {
    v1::EndpointPort p;
    p.set_name(name);
    p.set_port(number);
    p.set_protocol(protocol);
    return p;
  };
  return {
      std::make_shared<const PortList>(PortList{port("http", 80, "TCP")}),
      std::make_shared<const PortList>(
          PortList{port("http", 80, "TCP"), port("https", 443, "TCP")}),
      // The same set in another order: must land in the same group as the previous one.
      std::make_shared<const PortList>(
          PortList{port("https", 443, "TCP"), port("http", 80, "TCP")}),
      std::make_shared<const PortList>(PortList{port("http", 8080, "TCP")}),
      std::make_shared<const PortList>(PortList{port("dns", 53, "UDP")}),
  };
}

}  // namespace

RandomChurn::RandomChurn(uint64_t seed, ChurnCheck check, Options options)
    : seed_(seed), check_(check), options_(options), rng_(seed), port_sets_(MakePortSets()) {}

RandomChurn::RandomChurn(ChurnEntropy entropy, ChurnCheck check, Options options)
    : seed_(std::nullopt),
      check_(check),
      options_(options),
      rng_(std::move(entropy)),
      port_sets_(MakePortSets()) {}

EndpointPtr RandomChurn::Build(const Props& p, bool identity_only) {
  v1::Endpoint proto;
  v1::Endpoint* e = &proto;
  e->add_addresses(Address(p));
  if (p.hostname) e->set_hostname(absl::StrCat("h", p.index));
  e->mutable_target_ref()->set_namespace_("test");
  e->mutable_target_ref()->set_name(absl::StrCat("pod-", p.index));
  if (identity_only) return EndpointRecord::FromProto(proto);
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_uid(absl::StrCat("u", p.index, "-", p.uid_gen));
  e->mutable_target_ref()->set_resource_version(absl::StrCat(p.resource_version));
  v1::EndpointConditions* c = e->mutable_conditions();
  SetCondition(p.ready, &v1::EndpointConditions::set_ready, c);
  SetCondition(p.serving, &v1::EndpointConditions::set_serving, c);
  SetCondition(p.terminating, &v1::EndpointConditions::set_terminating, c);
  e->set_node_name(absl::StrCat("node-", p.node));
  if (p.zone >= 0) e->set_zone(std::string("zone-") + static_cast<char>('a' + p.zone));
  return EndpointRecord::FromProto(proto);
}

void RandomChurn::NewService() {
  v1::ServiceRecord service = Foo({});
  service.set_uid(absl::StrCat("uid-", seed_.value_or(0), "-", next_name_));
  (*service.mutable_labels())["app"] = "foo";
  const int types = Uniform(0, 3);
  if (types <= 1) service.add_address_types(kAddressTypeIPv4);
  if (types == 1) service.add_address_types(kAddressTypeIPv6);
  ipv6_ = types == 1 || types == 3;  // dual-stack, or address types derived from the endpoints
  service.set_headless(Chance(0.3));
  if (Chance(0.3)) service.set_traffic_distribution("PreferClose");
  max_ = kMaxChoices[Uniform(0, 3)];
  target_ = std::min(max_service_size, std::vector<int>{0, 5, 60, 300, 1000, 2000}[Uniform(0, 5)]);
  first_step_ = true;
  Options options = options_;
  options.max_endpoints_per_slice = max_;
  h_.emplace(std::move(service), options);
  credit_ = 0;
  members_.clear();
  position_.clear();
}

void RandomChurn::Upsert(Props p, std::vector<EndpointDelta>& batch) {
  EndpointDelta d;
  d.op = EndpointDelta::Op::kUpsert;
  d.namespace_ = "test";
  d.service = "foo";
  d.address_type = p.address_type;
  d.endpoint = Build(p, /*identity_only=*/false);
  p.built = d.endpoint;
  d.ports = port_sets_[p.port_set];
  const Key key{p.address_type, oracle::Identity(*d.endpoint)};
  auto it = position_.find(key);
  if (it == position_.end()) {
    position_[key] = members_.size();
    members_.push_back(p);
  } else {
    members_[it->second] = p;
  }
  batch.push_back(std::move(d));
}

void RandomChurn::Remove(size_t pos, std::vector<EndpointDelta>& batch) {
  EndpointDelta d;
  d.op = EndpointDelta::Op::kRemove;
  d.namespace_ = "test";
  d.service = "foo";
  d.address_type = members_[pos].address_type;
  d.endpoint = Build(members_[pos], /*identity_only=*/true);
  position_.erase({d.address_type, oracle::Identity(*d.endpoint)});
  if (pos + 1 != members_.size()) {
    members_[pos] = members_.back();
    position_[{members_[pos].address_type, oracle::Identity(*members_[pos].built)}] = pos;
  }
  members_.pop_back();
  batch.push_back(std::move(d));
}

void RandomChurn::AddOne(std::vector<EndpointDelta>& batch) {
  Props p;
  p.index = next_index_++;
  p.address_type = ipv6_ && Chance(0.15) ? kAddressTypeIPv6 : kAddressTypeIPv4;
  p.hostname = Chance(0.1);
  p.node = Uniform(0, 9);
  p.zone = Chance(0.05) ? -1 : Uniform(0, 2);
  p.port_set = Chance(0.7) ? 0 : Uniform(1, static_cast<int>(port_sets_.size()) - 1);
  if (Chance(0.1)) p.ready = p.serving = -1;  // nil conditions read as ready / serving
  Upsert(p, batch);
}

// One random change to an existing endpoint (or a no-op re-upsert, or a removal of a stranger).
void RandomChurn::ChangeOne(std::vector<EndpointDelta>& batch) {
  const int kind = Uniform(0, 11);
  if (kind == 11) {  // removing an endpoint that does not exist changes nothing
    Props ghost;
    ghost.index = next_index_++;
    ghost.address_type = kAddressTypeIPv4;
    members_.push_back(ghost);
    Remove(members_.size() - 1, batch);
    return;
  }
  Props p = members_[Uniform(0, static_cast<int>(members_.size()) - 1)];
  switch (kind) {
    case 0:
    case 1:
    case 2:
      p.ready = p.ready == 1 ? 0 : 1;
      break;
    case 3:
      p.serving = Uniform(-1, 1);
      break;
    case 4:
      p.ready = 0;
      p.serving = Uniform(0, 1);
      p.terminating = 1;
      break;  // terminating
    case 5:
      p.port_set = Uniform(0, static_cast<int>(port_sets_.size()) - 1);
      break;
    case 6:
      p.zone = Uniform(-1, 2);
      break;
    case 7:
      p.node = Uniform(0, 9);
      break;
    case 8:
      ++p.uid_gen;
      break;  // a new pod: targetRef uid counts (§3.5)
    case 9:
      ++p.resource_version;
      break;  // ignored by change detection
    default:
      break;  // unchanged re-upsert
  }
  Upsert(p, batch);
}

std::vector<EndpointDelta> RandomChurn::MakeBatch() {
  if (first_step_) {  // a new service: the empty batch creates the placeholder(s)
    first_step_ = false;
    return {};
  }
  if (Chance(0.04)) target_ = std::vector<int>{0, 5, 60, 300, 1000, 2000}[Uniform(0, 5)];
  int n;
  const int r = Uniform(0, 99);
  if (r < 65)
    n = Uniform(1, 5);
  else if (r < 90)
    n = Uniform(1, 60);
  else
    n = Uniform(60, 500);
  std::vector<EndpointDelta> batch;
  if (r == 99 && !members_.empty()) {  // wipe the service in one batch
    while (!members_.empty()) Remove(members_.size() - 1, batch);
    return batch;
  }
  const double grow = static_cast<int>(members_.size()) < target_ ? 0.7 : 0.25;
  for (int i = 0; i < n; ++i) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (members_.empty() || u < grow * 0.6) {
      AddOne(batch);
    } else if (u < 0.6) {
      Remove(Uniform(0, static_cast<int>(members_.size()) - 1), batch);
    } else {
      ChangeOne(batch);
    }
  }
  return batch;
}

std::vector<oracle::DesiredEndpoint> RandomChurn::DesiredSet() const {
  std::vector<oracle::DesiredEndpoint> out;
  out.reserve(members_.size());
  for (const Props& p : members_) {
    out.push_back({p.address_type, p.built, port_sets_[p.port_set]});
  }
  return out;
}

}  // namespace slicekeeper::reconcile
