// Internal to server/xds: what a stream's state found changed for one resource type since it was
// last asked (StreamState::Evaluate, LedsState::Evaluate): the response a session builds.
//
// Thread-safety: a plain value.
#ifndef SLICEKEEPER_SERVER_XDS_INTERNAL_CHANGES_H_
#define SLICEKEEPER_SERVER_XDS_INTERNAL_CHANGES_H_

#include <string>
#include <utility>
#include <vector>

#include "server/xds/resource_cache.h"

namespace slicekeeper::xds::internal {

struct Changes {
  // Resources whose version differs from what the client holds (now recorded as held).
  std::vector<std::pair<std::string, ResourcePtr>> updated;
  // Names the client held, or subscribed to and was not yet told about, that do not exist.
  std::vector<std::string> removed;
  bool empty() const { return updated.empty() && removed.empty(); }
};

}  // namespace slicekeeper::xds::internal

#endif  // SLICEKEEPER_SERVER_XDS_INTERNAL_CHANGES_H_
