// Slice metadata for one reconcile (docs/kubernetes-behaviour.md §3.7): the labels a service's
// slices want, the controller ownerReference, the generateName prefix, and the one shared `MetaPtr`
// every slice written by a plan carries unless it must keep metadata of its own (foreign
// annotations, other ownerReferences, or labels Kubernetes would not touch).
//
// Thread-safety: a MetaBuilder is used by one Reconcile call at a time.
#ifndef SLICEKEEPER_SERVER_RECONCILE_INTERNAL_META_H_
#define SLICEKEEPER_SERVER_RECONCILE_INTERNAL_META_H_

#include <map>
#include <string>

#include "absl/strings/string_view.h"
#include "common/slice.h"
#include "slicekeeper/v1/service.pb.h"

namespace slicekeeper::reconcile::internal {

// True for the three label keys the controller owns.
bool IsReservedLabel(absl::string_view key);
// "<svc>-", or the bare name when that is not a valid DNS-subdomain prefix.
std::string GenerateNamePrefix(absl::string_view service);

class MetaBuilder {
 public:
  MetaBuilder(const v1::ServiceRecord& service, absl::string_view trigger_time);

  const std::string& prefix() const { return prefix_; }
  // The signature (state.h) every slice carries when labels and owner are as wanted.
  const std::string& wanted_signature() const { return wanted_signature_; }

  // The metadata of new slices (and recycled ones): built once, then shared.
  const MetaPtr& Shared();
  // The metadata of an update of a slice whose metadata is `old`: labels replaced by the wanted
  // ones unless `keep_labels` (Kubernetes' DeepCopy of an unchanged slice), other annotations
  // and ownerReferences preserved, the trigger-time annotation set (cleared when empty).
  MetaPtr ForUpdate(const v1::ObjectMeta& old, bool keep_labels);

  // True when the non-reserved labels of `meta` differ from the service's (§3.7).
  bool LabelsDiffer(const v1::ObjectMeta& meta) const;
  // Kubernetes' ownedBy: some ownerReference is apiVersion v1, kind Service, the service's uid.
  bool Owned(const v1::ObjectMeta& meta) const;
  // Kubernetes' placeholder comparison: namespace, exact labels, ownerReferences, address type,
  // no ports, no endpoints.
  bool EqualsPlaceholder(const Slice& s, absl::string_view address_type) const;

 private:
  bool SharedCompatible(const v1::ObjectMeta& old, bool keep_labels) const;

  const v1::ServiceRecord& service_;
  std::string trigger_time_;
  std::string prefix_;
  std::map<std::string, std::string> labels_;       // wanted, reserved keys included
  std::map<std::string, std::string> user_labels_;  // wanted, non-reserved only
  v1::OwnerReference owner_;
  std::string wanted_signature_;
  MetaPtr shared_;
  // The last old metadata ForUpdate found SharedCompatible, without and with keep_labels (old
  // versions are immutable and outlive the builder).
  const v1::ObjectMeta* compatible_[2] = {nullptr, nullptr};
};

// Signature of non-reserved labels plus the uids of Service owners (see state.h).
std::string MetaSignature(const v1::ObjectMeta& meta);

}  // namespace slicekeeper::reconcile::internal

#endif  // SLICEKEEPER_SERVER_RECONCILE_INTERNAL_META_H_
