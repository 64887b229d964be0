#include "server/k8s/json_cache.h"

#include "absl/hash/hash.h"
#include "server/k8s/codec.h"

namespace slicekeeper::k8s {

std::shared_ptr<const std::string> JsonCache::Get(const SlicePtr& slice,
                                                  int64_t resource_version) {
  const Key key{slice.get(), resource_version};
  Shard& shard = shards_[absl::Hash<Key>{}(key) % kShards];
  absl::MutexLock l(&shard.mu);
  auto it = shard.entries.find(key);
  if (it != shard.entries.end()) {
    // A live weak reference to this very object: the address was not reused.
    if (it->second.slice.lock() == slice) {
      ++shard.hits;
      return it->second.json;
    }
    shard.bytes -= it->second.json->size();
    shard.entries.erase(it);
  }
  ++shard.misses;
  auto json = std::make_shared<const std::string>(EncodeSlice(*slice, resource_version));
  shard.entries[key] = Entry{slice, json};
  shard.order.push_back(key);
  shard.bytes += json->size();
  while (shard.bytes > shard_bytes_ && shard.order.size() > 1) {
    auto old = shard.entries.find(shard.order.front());
    // An entry replaced after an address reuse is listed twice; only the live one counts.
    if (old != shard.entries.end() && old->first != key) {
      shard.bytes -= old->second.json->size();
      shard.entries.erase(old);
    }
    shard.order.pop_front();
  }
  return json;
}

JsonCache::Stats JsonCache::stats() const {
  Stats out;
  for (const Shard& shard : shards_) {
    absl::MutexLock l(&shard.mu);
    out.hits += shard.hits;
    out.misses += shard.misses;
  }
  return out;
}

}  // namespace slicekeeper::k8s
