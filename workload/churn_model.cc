#include "workload/churn_model.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace slicekeeper::workload {
namespace {

enum Op { kAdd = 0, kRemove = 1, kReady = 2, kTerminate = 3, kReplace = 4 };

PopulationOptions PopulationFor(const ChurnOptions& o) {
  if (int64_t{o.services} * o.endpoints > ChurnModel::kMaxEndpoints) std::abort();
  return PopulationOptions{.namespace_ = o.namespace_,
                           .prefix = o.prefix,
                           .services = o.services,
                           .capacity = 2 * o.endpoints,
                           .zones = o.zones};
}

}  // namespace

absl::StatusOr<ChurnMix> ChurnMix::Parse(const std::string& text) {
  ChurnMix mix;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<std::string, std::string> kv = absl::StrSplit(absl::StripAsciiWhitespace(part), '=');
    double w;
    if (!absl::SimpleAtod(kv.second, &w) || w < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--mix: ", kv.first, ": weight must be a number >= 0"));
    }
    double* weight = kv.first == "add"         ? &mix.add
                     : kv.first == "remove"    ? &mix.remove
                     : kv.first == "ready"     ? &mix.ready
                     : kv.first == "terminate" ? &mix.terminate
                     : kv.first == "replace"   ? &mix.replace
                                               : nullptr;
    if (weight == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--mix: unknown operation \"", kv.first, "\" (add, remove, ready, terminate, replace)"));
    }
    *weight = w;
  }
  if (mix.add + mix.remove + mix.ready + mix.terminate + mix.replace <= 0) {
    return absl::InvalidArgumentError("--mix: at least one weight must be > 0");
  }
  return mix;
}

ChurnModel::ChurnModel(const ChurnOptions& options)
    : options_(options),
      population_(PopulationFor(options)),
      rng_(options.seed),
      op_({options.mix.add, options.mix.remove, options.mix.ready, options.mix.terminate,
           options.mix.replace}),
      owes_removal_(static_cast<size_t>(options.services), false) {}

std::vector<v1::EndpointChange> ChurnModel::Fill(int s) {
  while (population_.size(s) < options_.endpoints) population_.Add(s, PodState::kReady);
  return population_.TakeChanges();
}

std::vector<v1::EndpointChange> ChurnModel::FillChanges(int s) const {
  const PopulationOptions& o = population_.options();
  std::vector<v1::EndpointChange> out;
  out.reserve(static_cast<size_t>(options_.endpoints));
  for (int k = 0; k < options_.endpoints; ++k) {
    const Pod pod{.service = s, .node = k % o.nodes, .state = PodState::kReady, .live = true};
    out.push_back(PodChange(o, s * o.capacity + k, pod, /*remove=*/false));
  }
  return out;
}

void ChurnModel::AssumeFilled() {
  for (int s = 0; s < options_.services; ++s) Fill(s);
  next_fill_ = options_.services;
}

PodId ChurnModel::Pick(int s, PodState state) {
  absl::Span<const PodId> m = population_.Pods(s, state);
  if (m.empty()) return -1;
  return m[std::uniform_int_distribution<size_t>(0, m.size() - 1)(rng_)];
}

void ChurnModel::Step(int s) {
  if (owes_removal_[static_cast<size_t>(s)]) {
    owes_removal_[static_cast<size_t>(s)] = false;
    PodId pod = Pick(s, PodState::kReady);
    for (PodState other : {PodState::kNotReady, PodState::kTerminating}) {
      if (pod < 0) pod = Pick(s, other);
    }
    if (pod >= 0) {
      population_.Remove(pod);
      return;
    }
  }
  StepByMix(s);
}

void ChurnModel::StepByMix(int s) {
  const int64_t size = population_.size(s);
  // Removed pods get replacements (a ReplicaSet's behaviour): the emptier the service, the
  // likelier an add, so its size hovers near `endpoints` instead of draining.
  const double missing =
      std::max(0.0, static_cast<double>(options_.endpoints - size) / options_.endpoints);
  const int op = Chance(missing) ? kAdd : op_(rng_);
  PodId pod = -1;
  PodState to = PodState::kReady;
  bool remove = false;
  if (op == kRemove) {
    for (PodState from : {PodState::kReady, PodState::kNotReady, PodState::kTerminating}) {
      if (pod < 0) pod = Pick(s, from);
    }
    remove = true;
  } else if (op == kReady) {
    if (pod = Pick(s, PodState::kReady); pod >= 0 && Chance(0.5)) {
      to = PodState::kNotReady;
    } else if (PodId other = Pick(s, PodState::kNotReady); other >= 0) {
      pod = other;
    } else if (pod >= 0) {
      to = PodState::kNotReady;
    }
  } else if (op == kTerminate) {
    if (pod = Pick(s, PodState::kTerminating); pod >= 0 && Chance(0.5)) {
      remove = true;
    } else if (PodId other = Pick(s, PodState::kReady); other >= 0) {
      pod = other;
      to = PodState::kTerminating;
    } else if (pod >= 0) {
      remove = true;
    }
  } else if (op == kReplace && size > 0 && size < 2 * options_.endpoints) {
    population_.Add(s, PodState::kReady);
    owes_removal_[static_cast<size_t>(s)] = true;
    return;
  }
  if (pod >= 0) {
    remove ? population_.Remove(pod) : population_.Set(pod, to);
  } else if (size < options_.endpoints) {  // nothing to act on: add, or remove when full
    population_.Add(s, PodState::kReady);
  } else {
    for (PodState from : {PodState::kReady, PodState::kNotReady, PodState::kTerminating}) {
      if (pod < 0) pod = Pick(s, from);
    }
    population_.Remove(pod);
  }
}

v1::EndpointChange ChurnModel::Next() {
  while (next_fill_ < options_.services && population_.size(next_fill_) >= options_.endpoints) {
    ++next_fill_;
  }
  int s;
  if (next_fill_ < options_.services) {
    population_.Add(next_fill_, PodState::kReady);  // the set-up: every service filled in order
    s = -1;
  } else {
    s = last_ >= 0 && owes_removal_[static_cast<size_t>(last_)]
            ? last_
            : std::uniform_int_distribution<int>(0, options_.services - 1)(rng_);
    Step(s);
  }
  last_ = s;
  std::vector<v1::EndpointChange> changes = population_.TakeChanges();
  return std::move(changes.front());
}

std::vector<v1::EndpointChange> ChurnModel::Batch(int first, int n, bool spread) {
  for (int i = 0; i < n; ++i) Step(spread ? (first + i) % options_.services : first);
  return population_.TakeChanges();
}

PodCounts ChurnModel::Expected() const { return population_.Counts(); }

}  // namespace slicekeeper::workload
