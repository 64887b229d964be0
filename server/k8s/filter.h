// Filter: which slices a list or watch request selects — the namespace of its path, its
// labelSelector (kubectl's -l syntax, query::LabelSelector) and its fieldSelector. EndpointSlices
// support the field selectors every Kubernetes resource has: metadata.name and metadata.namespace,
// with =, == and !=, requirements joined by commas (`\` escapes a ',', '=' or '\' in a value).
//
// Thread-safety: immutable after Parse; may be shared between threads.
//
// Example:
//   SK_ASSIGN_OR_RETURN(Filter f, Filter::Parse("default", "app=web", "metadata.name!=x"));
//   if (f.Matches(*slice)) ...
#ifndef SLICEKEEPER_SERVER_K8S_FILTER_H_
#define SLICEKEEPER_SERVER_K8S_FILTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/slice.h"
#include "server/query/label_selector.h"

namespace slicekeeper::k8s {

class Filter {
 public:
  // Errors: INVALID_ARGUMENT for a selector that does not parse, or a field selector on a field
  // other than metadata.name / metadata.namespace ("field label not supported: <field>").
  static absl::StatusOr<Filter> Parse(absl::string_view ns, absl::string_view label_selector,
                                      absl::string_view field_selector);

  // Only slices of these namespaces match from now on (what an authorized caller may read,
  // auth::NamespaceFilter::set()); null: no limit.
  void LimitNamespaces(std::shared_ptr<const absl::flat_hash_set<std::string>> allowed) {
    allowed_ = std::move(allowed);
  }

  bool Matches(const Slice& slice) const;
  // False when the namespace limit excludes `ns`.
  bool Allows(absl::string_view ns) const { return allowed_ == nullptr || allowed_->contains(ns); }

  // "" = every namespace.
  const std::string& namespace_() const { return ns_; }
  // The services every selected slice belongs to, when the label selector pins the
  // kubernetes.io/service-name label to a set (`=`, `==` or `in`); empty: any service. A watch
  // subscribes to only these.
  const std::vector<std::string>& services() const { return services_; }
  // The namespace limit (null: none); a watch's hub selection carries it.
  const std::shared_ptr<const absl::flat_hash_set<std::string>>& allowed_namespaces() const {
    return allowed_;
  }
  // True when nothing but the namespace (or the namespace limit, which the hub applies to a
  // watch's events before they get here) is selected on.
  bool everything() const { return labels_.empty() && fields_.empty(); }

 private:
  struct FieldRequirement {
    bool name = true;  // metadata.name, else metadata.namespace
    bool equals = true;
    std::string value;
  };

  std::string ns_;
  query::LabelSelector labels_;
  std::vector<FieldRequirement> fields_;
  std::vector<std::string> services_;
  std::shared_ptr<const absl::flat_hash_set<std::string>> allowed_;
};

}  // namespace slicekeeper::k8s

#endif  // SLICEKEEPER_SERVER_K8S_FILTER_H_
