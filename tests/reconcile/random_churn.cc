// The checking side of RandomChurn (random_churn.h): every step against the oracle or the write
// budget, the invariants, restarts and idempotence.
#include "tests/reconcile/random_churn.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace slicekeeper::reconcile {
namespace {

using GroupSizes = std::map<std::string, std::multiset<size_t>>;  // "type ports" -> sizes

std::string GroupOf(const std::string& type, const PortList& ports) {
  return absl::StrCat(type, " [", oracle::PortKey(ports), "]");
}

GroupSizes SizesOf(const std::vector<SlicePtr>& slices) {
  GroupSizes out;
  for (const SlicePtr& s : slices)
    out[GroupOf(s->address_type, *s->ports)].insert(s->endpoints.size());
  return out;
}

std::string Describe(const GroupSizes& g) {
  std::ostringstream os;
  for (const auto& [group, sizes] : g) {
    os << "  " << group << ": {" << absl::StrJoin(sizes, ",") << "}\n";
  }
  return os.str();
}

std::string DescribeBatch(const std::vector<EndpointDelta>& batch) {
  std::ostringstream os;
  for (size_t i = 0; i < batch.size() && i < 40; ++i) {
    const EndpointDelta& d = batch[i];
    const v1::Endpoint e = d.endpoint->ToProto();
    os << "  " << (d.op == EndpointDelta::Op::kUpsert ? "upsert " : "remove ") << d.address_type
       << " " << e.addresses(0) << " " << e.target_ref().name();
    if (d.op == EndpointDelta::Op::kUpsert) {
      os << " ports=["
         << absl::StrJoin(absl::StrSplit(oracle::PortKey(*d.ports), '\n', absl::SkipEmpty()), " ")
         << "] " << e.conditions().ShortDebugString() << " zone=" << e.zone()
         << " node=" << e.node_name() << " uid=" << e.target_ref().uid();
    }
    os << "\n";
  }
  if (batch.size() > 40) os << "  ... " << batch.size() - 40 << " more\n";
  return os.str();
}

std::string Counts(size_t c, size_t u, size_t d) { return absl::StrCat(c, "C ", u, "U ", d, "D"); }

}  // namespace

std::optional<uint64_t> EnvNumber(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::strtoull(v, nullptr, 10);
}

std::string RandomChurn::Where() const {
  const std::string rerun =
      seed_ ? absl::StrCat("seed ", *seed_, " step ", step_,
                           " (rerun with SK_RECONCILE_SEED=", *seed_, ")")
            : absl::StrCat("fuzz input, step ", step_, " (rerun the fuzz target on the input)");
  return absl::StrCat(rerun, ": max ", max_, ", ", members_.size(), " endpoints desired, service {",
                      h_->service().ShortDebugString(), "}\nslice sizes before:\n",
                      Describe(before_), "batch (", batch_.size(), " changes):\n",
                      DescribeBatch(batch_));
}

// Same create / update / delete counts, same slice sizes per (address type, port set).
bool RandomChurn::CompareWithOracle(const Plan& plan, const oracle::Result& want) {
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
                << ", sizes after:\n"
                << Describe(expected) << "got (incremental): " << Counts(c, u, d)
                << ", sizes after:\n"
                << Describe(got) << "plan gauges: num_slices " << plan.num_slices
                << " (slices after " << after.size() << "), endpoints_desired "
                << plan.endpoints_desired;
  return false;
}

std::vector<std::string> RandomChurn::InvariantErrors() const {
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
    if (s->endpoints.size() > static_cast<size_t>(max_))
      errors.push_back("slice above max: " + s->name);
    if (!s->Managed() || !oracle::OwnedBy(*s, h_->service()))
      errors.push_back("not managed/owned: " + s->name);
    if (s->endpoints.empty() && (!s->ports->empty() || desired_by_type[s->address_type] > 0 ||
                                 ++placeholders[s->address_type] > 1)) {
      errors.push_back(absl::StrCat("empty slice that is not the one placeholder: ", s->name));
    }
    for (const EndpointPtr& e : s->endpoints) {
      const Key key{s->address_type, oracle::Identity(*e)};
      auto it = position_.find(key);
      if (!seen.insert(key).second) {
        errors.push_back(absl::StrCat("endpoint in two slices: ", e->addresses(0)));
      }
      if (it == position_.end()) {
        errors.push_back(absl::StrCat("endpoint not desired: ", e->addresses(0)));
        continue;
      }
      const Props& p = members_[it->second];
      if (oracle::PortKey(*port_sets_[p.port_set]) != group) {
        errors.push_back(absl::StrCat("endpoint in the wrong port group: ", e->addresses(0)));
      }
      if (oracle::Differs(*p.built, *e))
        errors.push_back("stale endpoint: " + e->ToProto().ShortDebugString());
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

bool RandomChurn::CheckIdempotent() {
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

bool RandomChurn::Step() {
  before_ = SizesOf(h_->Slices());
  batch_ = MakeBatch();
  std::optional<Plan> kubernetes;
  if (check_ == ChurnCheck::kPackedBudget) {  // the same batch on the same state, as Kubernetes
    h_->options().distribution = Distribution::kKubernetes;
    absl::StatusOr<Plan> k = h_->Reconcile(batch_);
    h_->options().distribution = options_.distribution;
    if (!k.ok()) {
      ADD_FAILURE() << Where() << k.status();
      return false;
    }
    kubernetes = std::move(*k);
  }
  absl::StatusOr<Plan> plan = h_->Reconcile(batch_);
  if (!plan.ok()) {
    ADD_FAILURE() << Where() << plan.status();
    return false;
  }
  if (tamper) tamper(*plan);
  if (check_ == ChurnCheck::kOracle) {
    oracle::Result want = oracle::Run({.service = &h_->service(),
                                       .existing = h_->Slices(),
                                       .desired = DesiredSet(),
                                       .max_endpoints_per_slice = max_});
    if (as_replica) {
      ++(h_->ApplyAsReplica(*plan) ? replica_followed_ : replica_rebuilt_);
    } else {
      h_->Apply(*plan);
    }
    if (!CompareWithOracle(*plan, want)) return false;
  } else {
    if (!CheckBudget(*plan, *kubernetes)) return false;
    h_->Apply(*plan);
  }
  std::vector<std::string> errors = InvariantErrors();
  if (!errors.empty()) {
    if (errors.size() > 10) errors.resize(10);
    ADD_FAILURE() << Where() << "invariants broken after apply:\n  "
                  << absl::StrJoin(errors, "\n  ");
    return false;
  }
  if (step_ % 25 == 24) {  // restart: the state from its slices (unspent earnings are lost)
    h_->Load(h_->Slices());
    credit_ = 0;
  }
  return CheckIdempotent();
}

// The packed plan adds at most its budget of writes to Kubernetes' plan of the same batch; the
// budget follows the earnings PackingOptions documents; the plan reports both.
bool RandomChurn::CheckBudget(const Plan& plan, const Plan& kubernetes) {
  const PackingOptions& p = options_.packing;
  const Stats& s = kubernetes.stats;
  const int64_t changes = s.endpoints_added + s.endpoints_updated + s.endpoints_removed;
  const double credit = std::min(p.max_writes_per_batch,
                                 credit_ + p.writes_per_change * static_cast<double>(changes));
  const int64_t budget = changes > 0 ? static_cast<int64_t>(std::floor(credit)) : 0;
  const int64_t extra =
      static_cast<int64_t>(plan.ops.size()) - static_cast<int64_t>(kubernetes.ops.size());
  credit_ = credit - static_cast<double>(std::max<int64_t>(extra, 0));
  moved_ += plan.packing.moved;
  extra_writes_ += extra;
  if (extra <= budget && plan.packing.extra_writes == extra && plan.packing.budget == budget) {
    return true;
  }
  ADD_FAILURE() << Where() << "packed plan: " << plan.ops.size() << " writes, Kubernetes' "
                << kubernetes.ops.size() << ": " << extra << " extra (reported "
                << plan.packing.extra_writes << "), budget " << budget << " (reported "
                << plan.packing.budget << ")";
  return false;
}

bool RandomChurn::Run(int steps) {
  while (step_ < steps) {
    NewService();
    ++next_name_;
    const int length = Uniform(60, 300);
    for (int i = 0; i < length && step_ < steps; ++i, ++step_) {
      if (!Step()) return false;
    }
  }
  return true;
}
}  // namespace slicekeeper::reconcile
