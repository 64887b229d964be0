// ChurnModel: the deterministic pod-churn generator behind `skctl churn`.
//
// It models N services x M endpoint slots. Each slot is absent, ready, not ready, or terminating.
// The first N*M changes add every slot (ready), service by service; after that each change picks
// an operation by the mix weights and a random slot it applies to:
//   add        an absent slot comes up ready;
//   remove     a present slot is removed;
//   ready      a ready slot goes not-ready, or a not-ready one ready (serving follows ready);
//   terminate  the lifecycle ready -> terminating (ready=false, serving=true) -> removed: a ready
//              slot starts terminating, a terminating one is removed.
// Removed pods are replaced: with probability (absent slots / all slots) the next change is an
// add whatever the mix says, so the population stays near its size. An operation with no
// eligible slot falls back to "add" (or "remove" when everything is present). Endpoints are spread
// over `zones` zones by slot index. The same options (seed included) always produce the same
// changes, and Expected() is the state the server must reach once every change is applied.
//
// Thread-safety: not thread-safe; one generator per run.
#ifndef SLICEKEEPER_CLIENT_SKCTL_CHURN_MODEL_H_
#define SLICEKEEPER_CLIENT_SKCTL_CHURN_MODEL_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "slicekeeper/v1/change.pb.h"

namespace slicekeeper::skctl {

struct ChurnMix {
  double add = 1;
  double remove = 1;
  double ready = 2;
  double terminate = 1;

  // "add=1,remove=1,ready=2,terminate=1"; omitted keys keep their defaults.
  // Errors: INVALID_ARGUMENT for unknown keys, bad numbers, negative or all-zero weights.
  static absl::StatusOr<ChurnMix> Parse(const std::string& text);
};

struct ChurnOptions {
  std::string namespace_ = "default";
  std::string prefix = "churn";
  int services = 10;
  int endpoints = 100;  // slots per service
  int zones = 3;
  uint64_t seed = 1;
  ChurnMix mix;
};

// Counts over every service of the model.
struct ChurnCounts {
  int64_t endpoints = 0;
  int64_t ready = 0;
  int64_t serving = 0;
  int64_t terminating = 0;
};

class ChurnModel {
 public:
  // REQUIRES: services >= 1, 1 <= endpoints, services * endpoints <= 16M, zones >= 1.
  explicit ChurnModel(const ChurnOptions& options);

  // The name of service `i` ("<prefix>-<i>").
  std::string ServiceName(int i) const;
  // The next change (applies it to the model).
  v1::EndpointChange Next();
  // The state after every change returned so far.
  ChurnCounts Expected() const;

 private:
  enum State { kAbsent = 0, kReady = 1, kNotReady = 2, kTerminating = 3, kStates = 4 };

  void Move(int slot, State to);
  // A random slot in `state`, or -1.
  int Pick(State state);
  v1::EndpointChange Change(int slot, State to) const;

  const ChurnOptions options_;
  const int slots_;
  std::mt19937_64 rng_;
  int64_t emitted_ = 0;
  std::vector<State> state_;
  std::vector<int> position_;          // index of the slot in members_[state]
  std::vector<int> members_[kStates];  // slots by state
};

}  // namespace slicekeeper::skctl

#endif  // SLICEKEEPER_CLIENT_SKCTL_CHURN_MODEL_H_
