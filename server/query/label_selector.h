// kubectl's label selector syntax (k8s.io/apimachinery/pkg/labels), for ListEndpointSlices and
// every front-end that filters by labels. Keys and values follow the same rules as object labels
// (common/validation.h), with the same rule texts in errors.
//
// Thread-safety: a `LabelSelector` is immutable after Parse and may be shared between threads.
//
// Example:
//   SK_ASSIGN_OR_RETURN(query::LabelSelector sel, query::LabelSelector::Parse("app in (a,b),!x"));
//   if (sel.Matches(slice.meta->labels())) { ... }
#ifndef SLICEKEEPER_SERVER_QUERY_LABEL_SELECTOR_H_
#define SLICEKEEPER_SERVER_QUERY_LABEL_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/map.h"

namespace slicekeeper::query {

// A parsed kubectl `-l` selector: comma-separated requirements, all of which must hold.
//   a=b   a==b   a!=b   a in (x,y)   a notin (x)   a   !a
// Whitespace around tokens is ignored. `!=` and `notin` match objects without the key (as in
// Kubernetes). The empty selector matches everything.
class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
  struct Requirement {
    std::string key;
    Op op = Op::kExists;
    // One value for kEquals / kNotEquals; >= 1 for kIn / kNotIn; none otherwise. Sorted, unique.
    std::vector<std::string> values;
  };

  // The empty selector (matches everything).
  LabelSelector() = default;

  // Parses `text`. Errors: INVALID_ARGUMENT with the 0-based byte position and what was expected,
  // e.g. "label selector: position 4: expected a value", for syntax errors, empty value sets,
  // and keys or values that are not valid label keys (qualified names) / label values.
  static absl::StatusOr<LabelSelector> Parse(absl::string_view text);

  // True when every requirement holds for `labels`.
  bool Matches(const google::protobuf::Map<std::string, std::string>& labels) const;

  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

}  // namespace slicekeeper::query

#endif  // SLICEKEEPER_SERVER_QUERY_LABEL_SELECTOR_H_
