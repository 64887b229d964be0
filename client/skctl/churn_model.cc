#include "client/skctl/churn_model.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace slicekeeper::skctl {

absl::StatusOr<ChurnMix> ChurnMix::Parse(const std::string& text) {
  ChurnMix mix;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(part, '=');
    double w;
    if (!absl::SimpleAtod(kv.second, &w) || w < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mix: ", kv.first, ": weight must be a number >= 0"));
    }
    if (kv.first == "add") {
      mix.add = w;
    } else if (kv.first == "remove") {
      mix.remove = w;
    } else if (kv.first == "ready") {
      mix.ready = w;
    } else if (kv.first == "terminate") {
      mix.terminate = w;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("--mix: unknown operation \"", kv.first,
                                                     "\" (add, remove, ready, terminate)"));
    }
  }
  if (mix.add + mix.remove + mix.ready + mix.terminate <= 0) {
    return absl::InvalidArgumentError("--mix: at least one weight must be > 0");
  }
  return mix;
}

ChurnModel::ChurnModel(const ChurnOptions& options)
    : options_(options),
      slots_(options.services * options.endpoints),
      rng_(options.seed),
      state_(slots_, kAbsent),
      position_(slots_) {
  members_[kAbsent].reserve(slots_);
  for (int i = 0; i < slots_; ++i) {
    position_[i] = i;
    members_[kAbsent].push_back(i);
  }
}

std::string ChurnModel::ServiceName(int i) const { return absl::StrCat(options_.prefix, "-", i); }

void ChurnModel::Move(int slot, State to) {
  std::vector<int>& from = members_[state_[slot]];
  const int last = from.back();
  from[position_[slot]] = last;
  position_[last] = position_[slot];
  from.pop_back();
  position_[slot] = static_cast<int>(members_[to].size());
  members_[to].push_back(slot);
  state_[slot] = to;
}

int ChurnModel::Pick(State state) {
  const std::vector<int>& m = members_[state];
  if (m.empty()) return -1;
  return m[std::uniform_int_distribution<size_t>(0, m.size() - 1)(rng_)];
}

v1::EndpointChange ChurnModel::Change(int slot, State to) const {
  const int service = slot / options_.endpoints;
  const int index = slot % options_.endpoints;
  v1::EndpointChange c;
  c.set_op(to == kAbsent ? v1::EndpointChange::REMOVE : v1::EndpointChange::UPSERT);
  c.set_namespace_(options_.namespace_);
  c.set_service(ServiceName(service));
  c.set_address_type("IPv4");
  v1::Endpoint* e = c.mutable_endpoint();
  e->add_addresses(absl::StrCat("10.", 1 + (slot >> 16), ".", (slot >> 8) & 255, ".", slot & 255));
  if (to == kAbsent) return c;
  e->mutable_conditions()->set_ready(to == kReady);
  e->mutable_conditions()->set_serving(to == kReady || to == kTerminating);
  e->mutable_conditions()->set_terminating(to == kTerminating);
  const int zone = index % options_.zones;
  e->set_zone(options_.zones <= 26 ? absl::StrCat("zone-", std::string(1, 'a' + zone))
                                   : absl::StrCat("zone-", zone));
  e->set_node_name(absl::StrCat("node-", index % 64));
  v1::EndpointPort* p = c.add_ports();
  p->set_name("http");
  p->set_protocol("TCP");
  p->set_port(8080);
  return c;
}

v1::EndpointChange ChurnModel::Next() {
  int slot = -1;
  State to = kReady;
  if (emitted_ < slots_) {
    slot = static_cast<int>(emitted_);  // the setup: every slot comes up ready, in order
  } else {
    const ChurnMix& m = options_.mix;
    std::discrete_distribution<int> op({m.add, m.remove, m.ready, m.terminate});
    // Removed pods get replacements (a ReplicaSet's behaviour): the emptier the services, the
    // likelier an add, so the population hovers near its size instead of draining.
    const double absent = static_cast<double>(members_[kAbsent].size()) / slots_;
    const int chosen = std::bernoulli_distribution(absent)(rng_) ? 0 : op(rng_);
    switch (chosen) {
      case 1:
        if (slot = Pick(kReady); slot < 0) slot = Pick(kNotReady);
        if (slot < 0) slot = Pick(kTerminating);
        to = kAbsent;
        break;
      case 2:
        if (slot = Pick(kReady); slot >= 0 && std::bernoulli_distribution(0.5)(rng_)) {
          to = kNotReady;
        } else if (int s = Pick(kNotReady); s >= 0) {
          slot = s;
          to = kReady;
        } else if (slot >= 0) {
          to = kNotReady;
        }
        break;
      case 3:
        if (slot = Pick(kTerminating); slot >= 0 && std::bernoulli_distribution(0.5)(rng_)) {
          to = kAbsent;
        } else if (int s = Pick(kReady); s >= 0) {
          slot = s;
          to = kTerminating;
        } else if (slot >= 0) {
          to = kAbsent;
        }
        break;
      default:
        slot = Pick(kAbsent);
        break;
    }
    if (slot < 0) {  // nothing eligible: add, or remove when everything is present
      slot = Pick(kAbsent);
      to = kReady;
      for (State from : {kReady, kNotReady, kTerminating}) {
        if (slot >= 0) break;
        slot = Pick(from);
        to = kAbsent;
      }
    }
  }
  ++emitted_;
  Move(slot, to);
  return Change(slot, to);
}

ChurnCounts ChurnModel::Expected() const {
  ChurnCounts c;
  c.ready = static_cast<int64_t>(members_[kReady].size());
  c.terminating = static_cast<int64_t>(members_[kTerminating].size());
  c.serving = c.ready + c.terminating;
  c.endpoints = c.ready + c.terminating + static_cast<int64_t>(members_[kNotReady].size());
  return c;
}

}  // namespace slicekeeper::skctl
