#include "server/store/internal/memory.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"

namespace slicekeeper::store::internal {
namespace {

// A Swiss table of `capacity` slots of `slot` bytes: the slots and one control byte each.
int64_t SwissBytes(size_t capacity, size_t slot) {
  return static_cast<int64_t>(capacity * (slot + 1));
}

// A shared protobuf message made by std::make_shared.
int64_t SharedMessageBytes(const google::protobuf::Message& m) {
  return kSharedBlockBytes + static_cast<int64_t>(m.SpaceUsedLong());
}

// A map from a service key (a string) to a pointer-sized value, with the keys' heap bytes.
template <typename Map>
int64_t KeyedMapBytes(const Map& map) {
  int64_t total = SwissBytes(map.capacity(), sizeof(typename Map::value_type));
  for (const auto& [key, value] : map) total += StringHeapBytes(key);
  return total;
}

}  // namespace

MemoryUsage MeasureMemory(const Core& core) {
  MemoryUsage u;
  // The live state: every published snapshot, at one revision. Objects shared between slices
  // (metadata and port lists a batch writes) or snapshots (records) are counted once.
  const CatalogPtr catalog = core.sequencer.Snapshot("");
  absl::flat_hash_set<const void*> seen;
  for (const ServiceSnapshotPtr& svc : catalog->services) {
    u.services += kSharedBlockBytes + static_cast<int64_t>(sizeof(ServiceSnapshot)) +
                  StringHeapBytes(svc->namespace_) + StringHeapBytes(svc->name) +
                  static_cast<int64_t>(svc->slices.capacity() * sizeof(SlicePtr));
    if (svc->record != nullptr && seen.insert(svc->record.get()).second) {
      u.services += SharedMessageBytes(*svc->record);
    }
    for (const SlicePtr& s : svc->slices) {
      u.live_endpoints += static_cast<int64_t>(s->endpoints.size());
      u.endpoints += s->EndpointBytes();
      u.slices += s->OwnBytes();
      if (seen.insert(s->meta.get()).second) u.slices += SharedMessageBytes(*s->meta);
      if (seen.insert(s->ports.get()).second) {
        u.slices += kSharedBlockBytes + static_cast<int64_t>(sizeof(PortList));
        for (const v1::EndpointPort& p : *s->ports) {
          u.slices += static_cast<int64_t>(p.SpaceUsedLong());
        }
      }
      if (std::shared_ptr<const std::string> bytes = s->serialized.Peek()) {
        u.serialized +=
            kSharedBlockBytes + static_cast<int64_t>(sizeof(std::string)) + StringHeapBytes(*bytes);
      }
    }
  }
  // The maps holding them, and the writer side: per service its entry and the reconciler's
  // indexes (the slices they point to are the published ones, counted above).
  for (const std::unique_ptr<Shard>& shard : core.shards) {
    {
      absl::MutexLock l(&shard->read_mu);
      u.services += KeyedMapBytes(shard->published);
    }
    absl::MutexLock l(&shard->write_mu);
    u.services += KeyedMapBytes(shard->services);
    for (const auto& [key, entry] : shard->services) {
      u.services += static_cast<int64_t>(sizeof(ServiceEntry)) +
                    StringHeapBytes(entry->namespace_) + StringHeapBytes(entry->name) +
                    KeyedMapBytes(entry->foreign);
      u.reconciler += entry->state.IndexBytes();
    }
  }
  u.history = core.sequencer.HistoryUsage().second;
  return u;
}

}  // namespace slicekeeper::store::internal
