// Interned strings: one shared, reference-counted copy of each distinct value, for the few values
// that millions of endpoints repeat (node and zone, target kind and namespace). An `Interned` is
// one pointer; two are equal exactly when their values are, so comparing them is a pointer
// comparison. A value's copy is freed when the last `Interned` naming it goes away, so pods on
// short-lived nodes do not leak their node names.
//
// Thread-safety: `Intern` and the copy, move and destruction of `Interned` may run concurrently
// from any thread (the pool is split into 16 mutex-guarded shards; only the release of a value's
// last reference takes its shard's lock). An `Interned` object itself is a plain value.
//
// Example:
//   Interned zone = Intern("zone-a");
//   assert(zone == Intern("zone-a") && zone.view() == "zone-a");
#ifndef SLICEKEEPER_COMMON_INTERN_H_
#define SLICEKEEPER_COMMON_INTERN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/strings/string_view.h"

namespace slicekeeper {

namespace intern_internal {
// One interned value: its count of references, its size and (trailing) its bytes.
struct Entry {
  mutable std::atomic<int64_t> refs;
  uint64_t hash;
  uint32_t size;
  const char* data() const { return reinterpret_cast<const char*>(this + 1); }
};
void Unref(const Entry* e);
}  // namespace intern_internal

class Interned {
 public:
  // The empty value; costs nothing.
  Interned() = default;
  Interned(const Interned& o) : e_(o.e_) {
    if (e_ != nullptr) e_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Interned(Interned&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Interned& operator=(Interned o) noexcept {
    std::swap(e_, o.e_);
    return *this;
  }
  ~Interned() {
    if (e_ != nullptr) intern_internal::Unref(e_);
  }

  absl::string_view view() const {
    return e_ == nullptr ? absl::string_view() : absl::string_view(e_->data(), e_->size);
  }
  bool empty() const { return e_ == nullptr; }
  // The same value interned is the same pointer.
  friend bool operator==(const Interned& a, const Interned& b) { return a.e_ == b.e_; }
  friend bool operator!=(const Interned& a, const Interned& b) { return a.e_ != b.e_; }
  template <typename H>
  friend H AbslHashValue(H h, const Interned& s) {
    return H::combine(std::move(h), s.e_);
  }

 private:
  friend Interned Intern(absl::string_view value);
  explicit Interned(const intern_internal::Entry* e) : e_(e) {}
  const intern_internal::Entry* e_ = nullptr;
};

// The interned copy of `value` ("" is the empty Interned and allocates nothing).
Interned Intern(absl::string_view value);

// What the pool holds now: distinct values and their bytes (entries included).
struct InternStats {
  int64_t values = 0;
  int64_t bytes = 0;
};
InternStats InternPoolStats();

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_INTERN_H_
