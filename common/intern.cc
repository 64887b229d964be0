#include "common/intern.h"

#include <array>
#include <cstring>
#include <new>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"

namespace slicekeeper {
namespace intern_internal {
namespace {

constexpr int kShards = 16;

// Hashes and compares entries by value, and looks them up by string_view.
struct EntryHash {
  using is_transparent = void;
  size_t operator()(const Entry* e) const { return e->hash; }
  size_t operator()(absl::string_view v) const { return absl::Hash<absl::string_view>{}(v); }
};
struct EntryEq {
  using is_transparent = void;
  static absl::string_view View(const Entry* e) { return {e->data(), e->size}; }
  static absl::string_view View(absl::string_view v) { return v; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return View(a) == View(b);
  }
};

struct Shard {
  absl::Mutex mu;
  absl::flat_hash_set<const Entry*, EntryHash, EntryEq> entries ABSL_GUARDED_BY(mu);
  int64_t bytes ABSL_GUARDED_BY(mu) = 0;
};

// Never destroyed: Interned values may outlive static destruction order.
std::array<Shard, kShards>& Shards() {
  static auto* shards = new std::array<Shard, kShards>();
  return *shards;
}

Shard& ShardOf(uint64_t hash) { return Shards()[(hash >> 56) % kShards]; }

size_t EntryBytes(uint32_t size) { return sizeof(Entry) + size; }

}  // namespace

void Unref(const Entry* e) {
  // Only the release of the last reference takes the lock, so Intern never hands out an entry
  // that is being freed: it finds it with at least one reference, or not at all.
  int64_t refs = e->refs.load(std::memory_order_relaxed);
  while (refs > 1) {
    if (e->refs.compare_exchange_weak(refs, refs - 1, std::memory_order_acq_rel)) return;
  }
  Shard& shard = ShardOf(e->hash);
  absl::MutexLock l(&shard.mu);
  if (e->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  shard.entries.erase(e);
  shard.bytes -= static_cast<int64_t>(EntryBytes(e->size));
  e->~Entry();
  ::operator delete(const_cast<Entry*>(e));
}

}  // namespace intern_internal

Interned Intern(absl::string_view value) {
  using intern_internal::Entry;
  if (value.empty()) return Interned();
  const uint64_t hash = absl::Hash<absl::string_view>{}(value);
  intern_internal::Shard& shard = intern_internal::ShardOf(hash);
  absl::MutexLock l(&shard.mu);
  auto it = shard.entries.find(value);
  if (it != shard.entries.end()) {
    (*it)->refs.fetch_add(1, std::memory_order_relaxed);
    return Interned(*it);
  }
  const size_t bytes = intern_internal::EntryBytes(static_cast<uint32_t>(value.size()));
  auto* e = new (::operator new(bytes)) Entry{{1}, hash, static_cast<uint32_t>(value.size())};
  std::memcpy(const_cast<char*>(e->data()), value.data(), value.size());
  shard.entries.insert(e);
  shard.bytes += static_cast<int64_t>(bytes);
  return Interned(e);
}

InternStats InternPoolStats() {
  InternStats out;
  for (intern_internal::Shard& shard : intern_internal::Shards()) {
    absl::MutexLock l(&shard.mu);
    out.values += static_cast<int64_t>(shard.entries.size());
    out.bytes += shard.bytes;
  }
  return out;
}

}  // namespace slicekeeper
