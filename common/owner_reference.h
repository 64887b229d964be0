// Equality of two ownerReferences entries (v1::OwnerReference), field by field with presence:
// the reconciler's ownership checks and the history delta's metadata diff compare them on every
// commit, where protobuf's reflection-based MessageDifferencer was most of the cost.
// tests/store/delta_test.cc pins the message's field count, so a field added to OwnerReference
// fails there until it is compared here.
//
// Thread-safety: a pure function.
#ifndef SLICEKEEPER_COMMON_OWNER_REFERENCE_H_
#define SLICEKEEPER_COMMON_OWNER_REFERENCE_H_

#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper {

inline bool SameOwnerReference(const v1::OwnerReference& a, const v1::OwnerReference& b) {
  return a.api_version() == b.api_version() && a.kind() == b.kind() && a.name() == b.name() &&
         a.uid() == b.uid() && a.has_controller() == b.has_controller() &&
         a.controller() == b.controller() &&
         a.has_block_owner_deletion() == b.has_block_owner_deletion() &&
         a.block_owner_deletion() == b.block_owner_deletion();
}

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_OWNER_REFERENCE_H_
