// Randomized property test: long seeded churn against the incremental reconciler, checked at every
// step against the oracle (tests/reconcile/oracle.h) run on the reconciler's own current slices,
// plus the slice invariants. Seeds are printed; SK_RECONCILE_SEED=<n> runs one seed instead of the
// defaults and SK_RECONCILE_STEPS=<n> changes the steps per seed.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/reconcile/reconciler.h"
#include "tests/reconcile/oracle.h"
#include "tests/reconcile/test_util.h"

namespace slicekeeper::reconcile {
namespace {

// Steps per seed; the test runs under ASan in CI too, so keep the total around a few thousand.
constexpr int kStepsPerSeed = 900;
constexpr int kMaxChoices[] = {1, 3, 10, 100};

using GroupSizes = std::map<std::string, std::multiset<size_t>>;  // "type ports" -> sizes

std::optional<uint64_t> EnvNumber(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

std::string GroupOf(const std::string& type, const PortList& ports) {
  return absl::StrCat(type, " [", oracle::PortKey(ports), "]");
}

GroupSizes SizesOf(const std::vector<SlicePtr>& slices) {
  GroupSizes out;
  for (const SlicePtr& s : slices) out[GroupOf(s->address_type, *s->ports)].insert(s->endpoints.size());
  return out;
}

std::string Describe(const GroupSizes& g) {
  std::ostringstream os;
  for (const auto& [group, sizes] : g) {
    os << "  " << group << ": {" << absl::StrJoin(sizes, ",") << "}\n";
  }
  return os.str();
}

// The mutable attributes of one endpoint of the model; `Build` turns them into an Endpoint.
struct Props {
  int index = 0;             // address and pod number
  std::string address_type;  // IPv4 / IPv6
  bool hostname = false;
  int ready = 1;  // -1 nil, 0 false, 1 true
  int serving = 1;
  int terminating = -1;
  int node = 0;
  int zone = 0;  // -1 no zone
  int uid_gen = 0;
  int resource_version = 0;
  int port_set = 0;
  EndpointPtr built;  // Build(*this) as last upserted
};

void SetCondition(int v, void (v1::EndpointConditions::*set)(bool), v1::EndpointConditions* c) {
  if (v >= 0) (c->*set)(v == 1);
}

std::string Address(const Props& p) {
  if (p.address_type == kAddressTypeIPv6) return absl::StrCat("fd00::", absl::Hex(p.index));
  return absl::StrCat("10.", (p.index >> 16) & 255, ".", (p.index >> 8) & 255, ".", p.index & 255);
}

EndpointPtr Build(const Props& p, bool identity_only) {
  auto e = std::make_shared<v1::Endpoint>();
  e->add_addresses(Address(p));
  if (p.hostname) e->set_hostname(absl::StrCat("h", p.index));
  e->mutable_target_ref()->set_namespace_("test");
  e->mutable_target_ref()->set_name(absl::StrCat("pod-", p.index));
  if (identity_only) return e;
  e->mutable_target_ref()->set_kind("Pod");
  e->mutable_target_ref()->set_uid(absl::StrCat("u", p.index, "-", p.uid_gen));
  e->mutable_target_ref()->set_resource_version(absl::StrCat(p.resource_version));
  v1::EndpointConditions* c = e->mutable_conditions();
  SetCondition(p.ready, &v1::EndpointConditions::set_ready, c);
  SetCondition(p.serving, &v1::EndpointConditions::set_serving, c);
  SetCondition(p.terminating, &v1::EndpointConditions::set_terminating, c);
  e->set_node_name(absl::StrCat("node-", p.node));
  if (p.zone >= 0) e->set_zone(std::string("zone-") + static_cast<char>('a' + p.zone));
  return e;
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
      std::make_shared<const PortList>(PortList{port("http", 80, "TCP"), port("https", 443, "TCP")}),
      // The same set in another order: must land in the same group as the previous one.
      std::make_shared<const PortList>(PortList{port("https", 443, "TCP"), port("http", 80, "TCP")}),
      std::make_shared<const PortList>(PortList{port("http", 8080, "TCP")}),
      std::make_shared<const PortList>(PortList{port("dns", 53, "UDP")}),
  };
}

class Churn {
 public:
  explicit Churn(uint64_t seed) : seed_(seed), rng_(seed), port_sets_(MakePortSets()) {}

  // Runs `steps` steps over successive services; stops at the first failure.
  void Run(int steps);

 private:
  using Key = std::pair<std::string, std::string>;  // (address type, identity)

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  void NewService();
  std::vector<EndpointDelta> MakeBatch();
  void AddOne(std::vector<EndpointDelta>& batch);
  void ChangeOne(std::vector<EndpointDelta>& batch);
  void Upsert(Props p, std::vector<EndpointDelta>& batch);
  void Remove(size_t pos, std::vector<EndpointDelta>& batch);
  std::vector<oracle::DesiredEndpoint> DesiredSet() const;
  bool Step();
  bool CompareWithOracle(const Plan& plan, const oracle::Result& want);
  std::vector<std::string> InvariantErrors() const;
  bool CheckIdempotent();
  // What a failure message needs to reproduce and understand the step.
  std::string Where() const;

  const uint64_t seed_;
  std::mt19937_64 rng_;
  const std::vector<PortListPtr> port_sets_;

  // The current service (its record, state and limit) and its desired endpoints (the model).
  std::optional<Harness> h_;
  int max_ = 100;
  int target_ = 0;
  bool ipv6_ = false;
  std::vector<Props> members_;
  std::map<Key, size_t> position_;
  int next_index_ = 1;
  int64_t next_name_ = 0;
  bool first_step_ = true;
  // The step being checked.
  int step_ = 0;
  GroupSizes before_;
  std::vector<EndpointDelta> batch_;
};

void Churn::NewService() {
  v1::ServiceRecord service = Foo({});
  service.set_uid(absl::StrCat("uid-", seed_, "-", next_name_));
  (*service.mutable_labels())["app"] = "foo";
  const int types = Uniform(0, 3);
  if (types <= 1) service.add_address_types(kAddressTypeIPv4);
  if (types == 1) service.add_address_types(kAddressTypeIPv6);
  ipv6_ = types == 1 || types == 3;  // dual-stack, or address types derived from the endpoints
  service.set_headless(Chance(0.3));
  if (Chance(0.3)) service.set_traffic_distribution("PreferClose");
  max_ = kMaxChoices[Uniform(0, 3)];
  target_ = std::vector<int>{0, 5, 60, 300, 1000, 2000}[Uniform(0, 5)];
  first_step_ = true;
  h_.emplace(std::move(service), max_);
  members_.clear();
  position_.clear();
}

void Churn::Upsert(Props p, std::vector<EndpointDelta>& batch) {
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

void Churn::Remove(size_t pos, std::vector<EndpointDelta>& batch) {
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

void Churn::AddOne(std::vector<EndpointDelta>& batch) {
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
void Churn::ChangeOne(std::vector<EndpointDelta>& batch) {
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
    case 0: case 1: case 2: p.ready = p.ready == 1 ? 0 : 1; break;
    case 3: p.serving = Uniform(-1, 1); break;
    case 4: p.ready = 0; p.serving = Uniform(0, 1); p.terminating = 1; break;  // terminating
    case 5: p.port_set = Uniform(0, static_cast<int>(port_sets_.size()) - 1); break;
    case 6: p.zone = Uniform(-1, 2); break;
    case 7: p.node = Uniform(0, 9); break;
    case 8: ++p.uid_gen; break;            // a new pod: targetRef uid counts (§3.5)
    case 9: ++p.resource_version; break;   // ignored by change detection
    default: break;                        // unchanged re-upsert
  }
  Upsert(p, batch);
}

std::vector<EndpointDelta> Churn::MakeBatch() {
  if (first_step_) {  // a new service: the empty batch creates the placeholder(s)
    first_step_ = false;
    return {};
  }
  if (Chance(0.04)) target_ = std::vector<int>{0, 5, 60, 300, 1000, 2000}[Uniform(0, 5)];
  int n;
  const int r = Uniform(0, 99);
  if (r < 65) n = Uniform(1, 5);
  else if (r < 90) n = Uniform(1, 60);
  else n = Uniform(60, 500);
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

std::vector<oracle::DesiredEndpoint> Churn::DesiredSet() const {
  std::vector<oracle::DesiredEndpoint> out;
  out.reserve(members_.size());
  for (const Props& p : members_) {
    out.push_back({p.address_type, p.built, port_sets_[p.port_set]});
  }
  return out;
}

std::string DescribeBatch(const std::vector<EndpointDelta>& batch) {
  std::ostringstream os;
  for (size_t i = 0; i < batch.size() && i < 40; ++i) {
    const EndpointDelta& d = batch[i];
    const v1::Endpoint& e = *d.endpoint;
    os << "  " << (d.op == EndpointDelta::Op::kUpsert ? "upsert " : "remove ") << d.address_type
       << " " << e.addresses(0) << " " << e.target_ref().name();
    if (d.op == EndpointDelta::Op::kUpsert) {
      os << " ports=[" << absl::StrJoin(absl::StrSplit(oracle::PortKey(*d.ports), '\n',
                                                       absl::SkipEmpty()), " ")
         << "] " << e.conditions().ShortDebugString() << " zone=" << e.zone()
         << " node=" << e.node_name() << " uid=" << e.target_ref().uid();
    }
    os << "\n";
  }
  if (batch.size() > 40) os << "  ... " << batch.size() - 40 << " more\n";
  return os.str();
}

std::string Churn::Where() const {
  return absl::StrCat("seed ", seed_, " step ", step_, " (rerun with SK_RECONCILE_SEED=", seed_,
                      "): max ", max_, ", ", members_.size(), " endpoints desired, service {",
                      h_->service().ShortDebugString(), "}\nslice sizes before:\n", Describe(before_),
                      "batch (", batch_.size(), " changes):\n", DescribeBatch(batch_));
}

std::string Counts(size_t c, size_t u, size_t d) { return absl::StrCat(c, "C ", u, "U ", d, "D"); }

// Same create / update / delete counts, same slice sizes per (address type, port set).
bool Churn::CompareWithOracle(const Plan& plan, const oracle::Result& want) {
  size_t c = 0, u = 0, d = 0;
  for (const SliceOp& op : plan.ops) {
    if (op.kind == SliceOp::Kind::kCreate) ++c;
    if (op.kind == SliceOp::Kind::kUpdate) ++u;
    if (op.kind == SliceOp::Kind::kDelete) ++d;
  }
  const std::vector<SlicePtr> after = h_->Slices();
  const GroupSizes got = SizesOf(after);
  const GroupSizes expected = SizesOf(want.slices);
  if (c == want.creates.size() && u == want.updates.size() && d == want.deletes.size() &&
      got == expected && plan.num_slices == static_cast<int64_t>(after.size()) &&
      plan.endpoints_desired == static_cast<int64_t>(members_.size())) {
    return true;
  }
  ADD_FAILURE() << Where() << "expected (oracle): "
                << Counts(want.creates.size(), want.updates.size(), want.deletes.size())
                << ", sizes after:\n" << Describe(expected) << "got (incremental): "
                << Counts(c, u, d) << ", sizes after:\n" << Describe(got)
                << "plan gauges: num_slices " << plan.num_slices << " (slices after "
                << after.size() << "), endpoints_desired " << plan.endpoints_desired;
  return false;
}

std::vector<std::string> Churn::InvariantErrors() const {
  std::vector<std::string> errors;
  std::map<std::string, int> desired_by_type, placeholders;
  for (const Props& p : members_) ++desired_by_type[p.address_type];
  std::set<std::string> served;  // §3.3 with the record's address_types
  for (const std::string& t : h_->service().address_types()) served.insert(t);
  if (served.empty()) {
    for (const auto& [type, n] : desired_by_type) served.insert(type);
  }
  if (served.empty()) served.insert(kAddressTypeIPv4);
  std::set<Key> seen;
  for (const SlicePtr& s : h_->Slices()) {
    if (!served.count(s->address_type)) errors.push_back("slice of a type not served: " + s->name);
    const std::string group = oracle::PortKey(*s->ports);
    if (s->endpoints.size() > static_cast<size_t>(max_)) errors.push_back("slice above max: " + s->name);
    if (!s->Managed() || !oracle::OwnedBy(*s, h_->service())) errors.push_back("not managed/owned: " + s->name);
    if (s->endpoints.empty() &&
        (!s->ports->empty() || desired_by_type[s->address_type] > 0 ||
         ++placeholders[s->address_type] > 1)) {
      errors.push_back(absl::StrCat("empty slice that is not the one placeholder: ", s->name));
    }
    for (const EndpointPtr& e : s->endpoints) {
      const Key key{s->address_type, oracle::Identity(*e)};
      auto it = position_.find(key);
      if (!seen.insert(key).second) errors.push_back("endpoint in two slices: " + e->addresses(0));
      if (it == position_.end()) {
        errors.push_back("endpoint not desired: " + e->addresses(0));
        continue;
      }
      const Props& p = members_[it->second];
      if (oracle::PortKey(*port_sets_[p.port_set]) != group) {
        errors.push_back("endpoint in the wrong port group: " + e->addresses(0));
      }
      if (oracle::Differs(*p.built, *e)) errors.push_back("stale endpoint: " + e->ShortDebugString());
    }
  }
  if (seen.size() != members_.size()) {
    errors.push_back(absl::StrCat(members_.size() - seen.size(), " desired endpoints missing"));
  }
  if (h_->state().endpoint_count() != static_cast<int64_t>(members_.size())) {
    errors.push_back(absl::StrCat("endpoint_count ", h_->state().endpoint_count()));
  }
  for (const std::string& type : served) {
    if (desired_by_type[type] == 0 && placeholders[type] != 1) {
      errors.push_back("no placeholder for " + type);
    }
  }
  return errors;
}

bool Churn::CheckIdempotent() {
  std::vector<EndpointDelta> again;
  for (const Props& p : members_) {
    again.push_back({EndpointDelta::Op::kUpsert, "test", "foo", p.address_type, p.built,
                     port_sets_[p.port_set]});
  }
  for (int i = 0; i < 3 && !members_.empty(); ++i) {  // point look-ups
    const Props& p = members_[Uniform(0, static_cast<int>(members_.size()) - 1)];
    EndpointPtr found = h_->state().Find(p.address_type, *Build(p, /*identity_only=*/true));
    if (found == nullptr || oracle::Differs(*found, *p.built)) {
      ADD_FAILURE() << Where() << "Find(" << p.built->addresses(0) << ") is wrong";
      return false;
    }
  }
  absl::StatusOr<Plan> same = h_->Reconcile(again);
  absl::StatusOr<Plan> nothing = h_->Reconcile({});
  if (same.ok() && same->empty() && nothing.ok() && nothing->empty()) return true;
  ADD_FAILURE() << Where() << "re-applying the desired state is not a no-op: "
                << (same.ok() ? absl::StrCat(same->ops.size(), " ops") : same.status().ToString())
                << ", empty batch: "
                << (nothing.ok() ? absl::StrCat(nothing->ops.size(), " ops")
                                 : nothing.status().ToString());
  return false;
}

bool Churn::Step() {
  before_ = SizesOf(h_->Slices());
  batch_ = MakeBatch();
  absl::StatusOr<Plan> plan = h_->Reconcile(batch_);
  if (!plan.ok()) {
    ADD_FAILURE() << Where() << plan.status();
    return false;
  }
  oracle::Result want = oracle::Run({.service = &h_->service(), .existing = h_->Slices(),
                                     .desired = DesiredSet(), .max_endpoints_per_slice = max_});
  h_->Apply(*plan);
  if (!CompareWithOracle(*plan, want)) return false;
  std::vector<std::string> errors = InvariantErrors();
  if (!errors.empty()) {
    if (errors.size() > 10) errors.resize(10);
    ADD_FAILURE() << Where() << "invariants broken after apply:\n  " << absl::StrJoin(errors, "\n  ");
    return false;
  }
  if (step_ % 25 == 24) h_->Load(h_->Slices());  // restart
  return CheckIdempotent();
}

void Churn::Run(int steps) {
  while (step_ < steps) {
    NewService();
    ++next_name_;
    const int length = Uniform(60, 300);
    for (int i = 0; i < length && step_ < steps; ++i, ++step_) {
      if (!Step()) return;
    }
  }
}

constexpr uint64_t kSeeds[] = {20261124, 1, 2, 3, 4};

class RandomReconcileTest : public ::testing::TestWithParam<uint64_t> {};

// At every step of a long random churn the incremental plan has the oracle's C/U/D counts and
// slice sizes, and the slices hold exactly the desired endpoints within the limits.
TEST_P(RandomReconcileTest, ChurnMatchesOracle) {
  uint64_t seed = GetParam();
  if (std::optional<uint64_t> env = EnvNumber("SK_RECONCILE_SEED")) {
    if (GetParam() != kSeeds[0]) GTEST_SKIP() << "SK_RECONCILE_SEED set: one seed only";
    seed = *env;
  }
  const int steps = static_cast<int>(EnvNumber("SK_RECONCILE_STEPS").value_or(kStepsPerSeed));
  std::cout << "[ seed     ] " << seed << " (" << steps << " steps)" << std::endl;
  RecordProperty("seed", std::to_string(seed));
  Churn(seed).Run(steps);
}

INSTANTIATE_TEST_SUITE_P(Seeds, RandomReconcileTest, ::testing::ValuesIn(kSeeds));

}  // namespace
}  // namespace slicekeeper::reconcile
