// Shared fixtures of the reconciler tests (scenarios, oracle, random and distribution tests): the
// service `foo` of docs/kubernetes-behaviour.md §6 and its endpoints e(i), stored slices, plan
// inspection, and `Harness`, one service's ServiceState driven the way the store drives it (names
// and uids generated, resource versions stamped before Apply).
//
// Thread-safety: none; each test uses its own objects.
//
// Example:
//   Harness h(Foo());
//   absl::StatusOr<Plan> plan = h.Reconcile(Upserts(0, 250, Port(80)));
//   EXPECT_THAT(Sizes(Split(*plan).creates), UnorderedElementsAre(100, 100, 50));
//   h.Apply(*plan);
#ifndef SLICEKEEPER_TESTS_RECONCILE_TEST_UTIL_H_
#define SLICEKEEPER_TESTS_RECONCILE_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/slice.h"
#include "server/reconcile/reconciler.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::reconcile {

using Labels = std::map<std::string, std::string>;

// The trigger time and creation timestamp Harness passes to every Reconcile.
inline constexpr char kTriggerTime[] = "2026-11-24T00:00:00Z";

// Service `foo` in namespace `test`, uid `uid-foo`, serving `types`.
v1::ServiceRecord Foo(const std::vector<std::string>& types = {kAddressTypeIPv4});

// One port {name, TCP, number}.
PortListPtr Port(int number, const std::string& name = "foo");
// An empty port list (headless services, the placeholder).
PortListPtr NoPorts();

// The labels of a managed slice of `foo`: `user` plus the two reserved keys the server sets.
Labels Managed(Labels user = {});

// §6's address of e(i): 1.2.3.(4+i), continuing into 1.2.4.x.
std::string Address(int i);
// §6's e(i): Address(i), node-1, ready, Pod pod<i> in `test`; zoned when `zone` is not empty.
EndpointPtr E(int i, const std::string& zone = "");
// A record of `e` with `change` applied to its protobuf form.
EndpointPtr Modified(const EndpointPtr& e, const std::function<void(v1::Endpoint&)>& change);
// Address(from) .. Address(to - 1).
std::vector<std::string> Addresses(int from, int to);

EndpointDelta Upsert(EndpointPtr e, PortListPtr ports,
                     const std::string& address_type = kAddressTypeIPv4);
// Upserts of e(from)..e(to-1), all with `ports`.
std::vector<EndpointDelta> Upserts(int from, int to, const PortListPtr& ports);

// A stored slice of `svc` named `name`, labelled `labels`, owned by `svc`, holding `endpoints`,
// IPv4, generation 1, resource version 1.
SlicePtr Existing(const v1::ServiceRecord& svc, const std::string& name, const Labels& labels,
                  const PortListPtr& ports, std::vector<EndpointPtr> endpoints);
// An Existing slice holding e(from)..e(to-1), with the managed labels.
SlicePtr Range(const v1::ServiceRecord& svc, const std::string& name, int from, int to,
               const PortListPtr& ports = Port(80));

// `per_zone` ready nodes of 1000m in each of `zones`.
std::vector<v1::Node> EqualNodes(const std::vector<std::string>& zones, int per_zone);

// A plan's ops by kind.
struct Ops {
  std::vector<SlicePtr> creates, updates, deletes;
};
Ops Split(const Plan& plan);

std::vector<size_t> Sizes(const std::vector<SlicePtr>& slices);
std::vector<std::string> Names(const std::vector<SlicePtr>& slices);
// Every address held by `slices`, with repetitions.
std::vector<std::string> AllAddresses(const std::vector<SlicePtr>& slices);
// The forZones names of `e`, in order.
std::vector<std::string> ZoneHints(const EndpointRecord& e);
// " C:name(size) U:name(size) ...", or " (no ops)", for failure messages.
std::string Describe(const Plan& plan);

// One service's ServiceState plus the inputs the store would pass to Reconcile.
class Harness {
 public:
  explicit Harness(v1::ServiceRecord service, int max = 100);
  Harness(v1::ServiceRecord service, const Options& options);

  v1::ServiceRecord& service() { return service_; }
  const v1::ServiceRecord& service() const { return service_; }
  const ServiceState& state() const { return state_; }
  Options& options() { return options_; }
  void set_nodes(std::vector<v1::Node> nodes) { nodes_ = std::move(nodes); }
  // Replaces the state with stored slices (as after a restart).
  void Load(const std::vector<SlicePtr>& slices) { state_ = ServiceState::FromSlices(slices); }
  std::vector<SlicePtr> Slices() const { return state_.Slices(); }
  // Every argument generate_name was called with.
  const std::vector<std::string>& prefixes() const { return prefixes_; }

  // Reconcile(state(), changes) with generated `<prefix><5 chars>` names and fresh uids.
  absl::StatusOr<Plan> Reconcile(const std::vector<EndpointDelta>& changes,
                                 bool full_resync = false);
  // Stamps resource versions as the store would, then applies.
  // REQUIRES: `plan` came from this harness's last Reconcile.
  void Apply(Plan& plan);
  // Apply as a replica over etcd sees the plan: only the slices it writes, through
  // ServiceState::ApplyWrites (rebuilt with FromSlices when that returns false, as the store
  // does). Returns whether ApplyWrites did it.
  bool ApplyAsReplica(Plan& plan);

 private:
  v1::ServiceRecord service_;
  Options options_;
  std::vector<v1::Node> nodes_;
  ServiceState state_;
  std::vector<std::string> prefixes_;
  int64_t names_ = 1234567;
  int64_t uids_ = 0;
  int64_t revision_ = 100;
};

}  // namespace slicekeeper::reconcile

#endif  // SLICEKEEPER_TESTS_RECONCILE_TEST_UTIL_H_
