// EndpointRecord: the store's compact, immutable form of one v1::Endpoint (issue 20 item 3).
//
// A protobuf v1::Endpoint with its strings and sub-messages takes ~550 bytes in ~10 allocations;
// the store holds one per endpoint per slice version it keeps. A record is one allocation of
// ~60-110 bytes for a typical pod endpoint (a 32-byte header and the endpoint's own strings):
//   - conditions and every has_ bit are bits;
//   - (node, zone) and (target kind, target namespace) are interned pairs (common/intern.h):
//     millions of endpoints share a few hundred of each;
//   - addresses, hostname, target name and uid trail the header in the same allocation;
//   - the rare fields (hints, deprecated_topology, target apiVersion / resourceVersion /
//     fieldPath) live in an overflow object, absent for most endpoints;
//   - the reference count is intrusive, so a `RecordPtr` is one pointer (8 bytes, not the 16 of
//     a shared_ptr) and copying one touches the record's first cache line only.
// The accessors mirror v1::Endpoint's (strings come back as string_view), so code written against
// the protobuf reads a record unchanged; protobuf is produced only at the edges (ToProto), and
// AppendWire writes exactly the bytes protobuf's deterministic serialization of ToProto() would.
//
// Thread-safety: a record is immutable; any number of threads may read it and copy, move and
// destroy RecordPtrs to it concurrently. A RecordPtr object itself is a plain value.
//
// Example:
//   RecordPtr r = EndpointRecord::FromProto(endpoint);
//   if (r->conditions().ready()) Use(r->addresses(0), r->zone());
#ifndef SLICEKEEPER_COMMON_ENDPOINT_RECORD_H_
#define SLICEKEEPER_COMMON_ENDPOINT_RECORD_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "common/intern.h"
#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper {

class EndpointRecord;

// An owning pointer to an immutable record: 8 bytes, intrusive count.
//
// A pointer may instead be *borrowed* (Borrow): it takes no reference, so copying and destroying
// it touch no count. The reconciler's scratch lists hold the endpoints of the slice versions it
// reads that way (a rewrite copies a whole slice's list, and locked increments of records scattered
// through the heap were most of its cost). A borrowed pointer is valid only while another owner
// holds the record; EndpointList (common/endpoint_list.h), where endpoints are kept, turns every
// pointer it stores into an owning one.
class RecordPtr {
 public:
  RecordPtr() = default;
  RecordPtr(std::nullptr_t) {}  // NOLINT: like shared_ptr
  RecordPtr(const RecordPtr& o);
  RecordPtr(RecordPtr&& o) noexcept : bits_(std::exchange(o.bits_, 0)) {}
  RecordPtr& operator=(RecordPtr o) noexcept {
    std::swap(bits_, o.bits_);
    return *this;
  }
  ~RecordPtr();

  // A non-owning copy of `o` (null stays null); copies of it are borrowed too. REQUIRES: used
  // only while something else owns the record.
  static RecordPtr Borrow(const RecordPtr& o) {
    RecordPtr r;
    r.bits_ = o.bits_ == 0 ? 0 : (o.bits_ | kBorrowed);
    return r;
  }
  bool borrowed() const { return (bits_ & kBorrowed) != 0; }
  // Makes this pointer an owning one: takes a reference if it was borrowed.
  void Own();

  const EndpointRecord* get() const {
    return reinterpret_cast<const EndpointRecord*>(bits_ & ~kBorrowed);
  }
  // Asks for the record's first cache line (its count) ahead of a copy or release: those are
  // locked read-modify-writes, which let no later load start early, so a loop over records
  // scattered through the heap takes one cache miss at a time unless it prefetches.
  void Prefetch() const { __builtin_prefetch(get(), /*rw=*/1); }
  const EndpointRecord& operator*() const { return *get(); }
  const EndpointRecord* operator->() const { return get(); }
  explicit operator bool() const { return bits_ != 0; }
  // Equal when they point to the same record, owning or not.
  friend bool operator==(const RecordPtr& a, const RecordPtr& b) { return a.get() == b.get(); }
  friend bool operator==(const RecordPtr& a, std::nullptr_t) { return a.bits_ == 0; }

 private:
  friend class EndpointRecord;
  static constexpr uintptr_t kBorrowed = 1;    // records are 8-aligned: the low bit is free
  explicit RecordPtr(const EndpointRecord* r)  // adopts a reference
      : bits_(reinterpret_cast<uintptr_t>(r)) {}
  bool owning() const { return bits_ != 0 && (bits_ & kBorrowed) == 0; }
  uintptr_t bits_ = 0;
};

// v1::EndpointConditions, as bits.
class RecordConditions {
 public:
  bool has_ready() const { return bits_ & kHasReady; }
  bool ready() const { return bits_ & kReady; }
  bool has_serving() const { return bits_ & kHasServing; }
  bool serving() const { return bits_ & kServing; }
  bool has_terminating() const { return bits_ & kHasTerminating; }
  bool terminating() const { return bits_ & kTerminating; }

 private:
  friend class EndpointRecord;
  static constexpr uint16_t kHasReady = 1 << 0;
  static constexpr uint16_t kReady = 1 << 1;
  static constexpr uint16_t kHasServing = 1 << 2;
  static constexpr uint16_t kServing = 1 << 3;
  static constexpr uint16_t kHasTerminating = 1 << 4;
  static constexpr uint16_t kTerminating = 1 << 5;
  explicit RecordConditions(uint16_t bits) : bits_(bits) {}
  uint16_t bits_;
};

// v1::ObjectReference of a record; valid while the record is.
class RecordTargetRef {
 public:
  absl::string_view kind() const;
  absl::string_view namespace_() const;
  absl::string_view name() const;
  absl::string_view uid() const;
  absl::string_view api_version() const;
  absl::string_view resource_version() const;
  absl::string_view field_path() const;
  void ToProto(v1::ObjectReference* out) const;

 private:
  friend class EndpointRecord;
  explicit RecordTargetRef(const EndpointRecord* r) : r_(r) {}
  const EndpointRecord* r_;
};

// A record's addresses as string_views (for range-for and container constructors).
class RecordAddresses {
 public:
  using value_type = absl::string_view;
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = absl::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = const absl::string_view*;
    using reference = absl::string_view;
    const_iterator() = default;
    absl::string_view operator*() const;
    const_iterator& operator++() {
      ++i_;
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++i_;
      return old;
    }
    friend bool operator==(const_iterator a, const_iterator b) { return a.i_ == b.i_; }
    friend bool operator!=(const_iterator a, const_iterator b) { return a.i_ != b.i_; }

   private:
    friend class RecordAddresses;
    const_iterator(const EndpointRecord* r, int i) : r_(r), i_(i) {}
    const EndpointRecord* r_ = nullptr;
    int i_ = 0;
  };
  using iterator = const_iterator;
  const_iterator begin() const { return {r_, 0}; }
  const_iterator end() const;
  size_t size() const;
  bool empty() const { return size() == 0; }

 private:
  friend class EndpointRecord;
  explicit RecordAddresses(const EndpointRecord* r) : r_(r) {}
  const EndpointRecord* r_;
};

class EndpointRecord {
 public:
  // The record of `e` (any endpoint: nothing is too long for a record).
  static RecordPtr FromProto(const v1::Endpoint& e);

  EndpointRecord(const EndpointRecord&) = delete;
  EndpointRecord& operator=(const EndpointRecord&) = delete;

  int addresses_size() const { return static_cast<int>(lengths().naddr); }
  absl::string_view addresses(int i) const;
  // All addresses, in order.
  RecordAddresses addresses() const { return RecordAddresses(this); }

  bool has_conditions() const { return bits_ & kHasConditions; }
  RecordConditions conditions() const { return RecordConditions(bits_ & kConditionBits); }
  bool has_hostname() const { return bits_ & kHasHostname; }
  absl::string_view hostname() const;
  bool has_target_ref() const { return bits_ & kHasTargetRef; }
  RecordTargetRef target_ref() const { return RecordTargetRef(this); }
  bool has_node_name() const { return bits_ & kHasNodeName; }
  absl::string_view node_name() const { return where_.view().substr(0, lengths().node); }
  bool has_zone() const { return bits_ & kHasZone; }
  absl::string_view zone() const;
  bool has_hints() const { return bits_ & kHasHints; }
  // The default (empty) hints when !has_hints().
  const v1::EndpointHints& hints() const;
  // Sorted by key.
  const std::vector<std::pair<std::string, std::string>>& deprecated_topology() const;

  // A copy with exactly `hints` (no hints when null), sharing everything else.
  RecordPtr WithHints(const v1::EndpointHints* hints) const;
  // A copy with conditions.ready set to `ready`.
  RecordPtr WithReady(bool ready) const;

  v1::Endpoint ToProto() const;
  void ToProto(v1::Endpoint* out) const;
  // The size and bytes of ToProto()'s serialization (the message body, no tag or length), as
  // protobuf writes it deterministically (map entries by key).
  size_t ByteSizeLong() const;
  void AppendWire(std::string* out) const;
  std::string SerializeAsString() const {
    std::string out;
    AppendWire(&out);
    return out;
  }
  // Writes the ByteSizeLong() bytes at `p`; returns the end.
  uint8_t* SerializeToArray(uint8_t* p) const;

  // Bytes allocated for this record (its allocation and overflow, not the shared interned
  // values).
  size_t SpaceUsed() const;

  // Every field equal (resource_version included).
  friend bool operator==(const EndpointRecord& a, const EndpointRecord& b);
  friend bool operator!=(const EndpointRecord& a, const EndpointRecord& b) { return !(a == b); }
  template <typename H>
  friend H AbslHashValue(H h, const EndpointRecord& r) {
    const Lengths l = r.lengths();
    h = H::combine(std::move(h), r.bits_, l.naddr, r.where_, r.target_);
    h = H::combine(std::move(h), absl::string_view(r.chars(l), r.chars_size(l)));
    if (const Overflow* o = r.overflow(); o != nullptr) {
      h = H::combine(std::move(h), o->Wire(), o->api_version, o->resource_version, o->field_path);
    }
    return h;
  }

  // Reference counting, for RecordPtr.
  void Ref() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() const;

 private:
  friend class RecordTargetRef;
  // The rare fields.
  struct Overflow {
    bool has_hints = false;
    v1::EndpointHints hints;
    std::vector<std::pair<std::string, std::string>> topology;
    std::string api_version;
    std::string resource_version;
    std::string field_path;
    // Hints and topology as they end the endpoint's wire form (fields 7 and 8, map entries by
    // key as protobuf's deterministic serialization writes them).
    // Computed once by Seal() (the object is immutable afterwards): serializing a hinted slice
    // does not re-encode every endpoint's hints twice.
    const std::string& Wire() const { return wire; }
    void Seal();
    std::string wire;
    size_t SpaceUsed() const;
    bool Empty() const {
      return !has_hints && topology.empty() && api_version.empty() && resource_version.empty() &&
             field_path.empty();
    }
  };
  static constexpr uint16_t kConditionBits = 0x3f;
  static constexpr uint16_t kHasConditions = 1 << 6;
  static constexpr uint16_t kHasHostname = 1 << 7;
  static constexpr uint16_t kHasTargetRef = 1 << 8;
  static constexpr uint16_t kHasNodeName = 1 << 9;
  static constexpr uint16_t kHasZone = 1 << 10;
  static constexpr uint16_t kHasHints = 1 << 11;

  static constexpr uint16_t kHasOverflow = 1 << 12;
  static constexpr uint16_t kWide = 1 << 13;

  // The lengths: in the header when they fit its fields (every validated endpoint's do), else
  // (kWide) in the tail.
  struct Lengths {
    uint32_t naddr = 0;     // addresses
    uint32_t hostname = 0;  // hostname bytes
    uint32_t name = 0;      // target name bytes
    uint32_t uid = 0;       // target uid bytes
    uint32_t node = 0;      // node_name is where_[0, node), the zone follows a '\0'
    uint32_t kind = 0;      // the target kind is target_[0, kind), the namespace follows a '\0'
  };

  EndpointRecord() = default;
  ~EndpointRecord() = default;
  // A new record with `bits` (kHasOverflow and kWide are set here), `lengths`, no interned
  // values and uninitialized trailing data, the overflow slot set to `overflow` when not null.
  static EndpointRecord* Allocate(uint16_t bits, const Lengths& lengths, size_t chars,
                                  const Overflow* overflow);
  size_t TargetRefBodySize() const;
  // A fresh copy (count 1) for the With* modifiers, to be changed before it is shared; it owns
  // `overflow` (may be null).
  EndpointRecord* Clone(std::unique_ptr<const Overflow> overflow) const;

  // The tail after the 32-byte header: the overflow pointer when kHasOverflow, the Lengths when
  // kWide, `naddr` uint32 end offsets, then the characters of the addresses, hostname, target
  // name and uid.
  const char* tail() const { return reinterpret_cast<const char*>(this + 1); }
  const Overflow* overflow() const {
    const Overflow* o = nullptr;
    if ((bits_ & kHasOverflow) != 0) std::memcpy(&o, tail(), sizeof(o));
    return o;
  }
  Lengths lengths() const {
    if ((bits_ & kWide) != 0) {
      Lengths l;
      std::memcpy(&l, tail() + ((bits_ & kHasOverflow) != 0 ? sizeof(void*) : 0), sizeof(l));
      return l;
    }
    return {naddr_, hostname_len_, name_len_, uid_len_, node_len_, kind_len_};
  }
  static size_t PrefixSize(uint16_t bits) {
    return ((bits & kHasOverflow) != 0 ? sizeof(void*) : 0) +
           ((bits & kWide) != 0 ? sizeof(Lengths) : 0);
  }
  const uint32_t* ends() const {
    return reinterpret_cast<const uint32_t*>(tail() + PrefixSize(bits_));
  }
  const char* chars(const Lengths& l) const {
    return reinterpret_cast<const char*>(ends() + l.naddr);
  }
  uint32_t addr_bytes(const Lengths& l) const { return l.naddr == 0 ? 0 : ends()[l.naddr - 1]; }
  size_t chars_size(const Lengths& l) const {
    return static_cast<size_t>(addr_bytes(l)) + l.hostname + l.name + l.uid;
  }
  // The tail after the prefix: end offsets and characters.
  size_t body_size(const Lengths& l) const { return 4 * size_t{l.naddr} + chars_size(l); }
  size_t AllocSize() const {
    const Lengths l = lengths();
    return sizeof(EndpointRecord) + PrefixSize(bits_) + body_size(l);
  }
  absl::string_view TargetName() const {
    const Lengths l = lengths();
    return {chars(l) + addr_bytes(l) + l.hostname, l.name};
  }
  absl::string_view TargetUid() const {
    const Lengths l = lengths();
    return {chars(l) + addr_bytes(l) + l.hostname + l.name, l.uid};
  }

  // 32 bytes: a pod endpoint's record (one address, a target name) fits jemalloc's 64-byte class.
  mutable std::atomic<uint32_t> refs_{1};
  uint16_t bits_ = 0;
  uint16_t naddr_ = 0;
  uint16_t hostname_len_ = 0;
  uint16_t name_len_ = 0;
  uint16_t uid_len_ = 0;
  uint8_t node_len_ = 0;
  uint8_t kind_len_ = 0;
  Interned where_;   // "node\0zone"
  Interned target_;  // "kind\0namespace"
};

static_assert(sizeof(EndpointRecord) == 32);
static_assert(alignof(EndpointRecord) >= 2, "RecordPtr keeps its borrowed bit in bit 0");

inline absl::string_view RecordAddresses::const_iterator::operator*() const {
  return r_->addresses(i_);
}
inline RecordAddresses::const_iterator RecordAddresses::end() const {
  return {r_, r_->addresses_size()};
}
inline size_t RecordAddresses::size() const { return static_cast<size_t>(r_->addresses_size()); }

// How far ahead (in records) loops that copy or release many RecordPtrs prefetch.
inline constexpr size_t kRecordPrefetchDistance = 8;

inline RecordPtr::RecordPtr(const RecordPtr& o) : bits_(o.bits_) {
  if (owning()) get()->Ref();
}
inline RecordPtr::~RecordPtr() {
  if (owning()) get()->Unref();
}
inline void RecordPtr::Own() {
  if (!borrowed()) return;
  bits_ &= ~kBorrowed;
  get()->Ref();
}

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_ENDPOINT_RECORD_H_
