// NamespacedName: the "namespace/name" key of a namespaced object (a service or a slice), as
// Kubernetes' types.NamespacedName prints it. The one spelling of that key for every in-memory
// index (store shards, the slice-name index, the watch hub and its subscribers, merged views)
// and for messages that name an object. Namespaces are DNS labels and names DNS subdomains, so
// '/' cannot occur in either half and the key is unambiguous.
//
// Thread-safety: a stateless function.
#ifndef SLICEKEEPER_COMMON_NAMESPACED_NAME_H_
#define SLICEKEEPER_COMMON_NAMESPACED_NAME_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slicekeeper {

inline std::string NamespacedName(absl::string_view ns, absl::string_view name) {
  return absl::StrCat(ns, "/", name);
}

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_NAMESPACED_NAME_H_
