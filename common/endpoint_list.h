// EndpointList: the endpoints of one slice version, kept as shared immutable runs (issue 20).
//
// Kubernetes' reconciler writes a new version of every slice a batch touches. With a plain vector
// of RecordPtrs, a new version copied its predecessor's vector: one locked increment per kept
// endpoint, and one locked decrement when the old version died, scattered through the heap. For
// 100-change batches into 10k-endpoint services that was three quarters of the reconcile. An
// EndpointList holds its endpoints in runs of at most kRunCapacity records, each run counted
// once. Patch makes a new version from positional edits (the reconciler's rewrite of a slice for
// a few changes) and Rebuild from a whole new sequence; both share every run of the old version
// the edits leave whole, so a rewrite costs one increment per shared run plus one per endpoint of
// the runs it breaks (and the same again in decrements when the old version dies). Patch never
// reads the records of the runs it shares.
//
// Reading is a const std::vector's: size, empty, operator[] (a walk over the runs; prefer
// iteration), front, back and forward iteration yielding `const RecordPtr&`. Mutation (push_back,
// Set, erase, pop_back, clear) is for a list not published yet: a run another list shares is
// copied before it is changed. Every pointer a list stores owns its record (RecordPtr::Own), so a
// borrowed pointer may be handed in.
//
// Thread-safety: a plain value, as std::vector is. A published list (one no thread modifies any
// more) may be read and copied from any number of threads; the runs it shares are immutable.
//
// Example:
//   EndpointList next = EndpointList::Rebuild(old, std::move(edited));  // shares old's runs
//   EndpointList flip = EndpointList::Patch(old, {{7, false}}, {replacement});  // reads one run
//   for (const EndpointPtr& e : next) Use(*e);
#ifndef SLICEKEEPER_COMMON_ENDPOINT_LIST_H_
#define SLICEKEEPER_COMMON_ENDPOINT_LIST_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "common/endpoint_record.h"

namespace slicekeeper {

namespace endpoint_list_internal {

// A run: a count, a size and up to `capacity` RecordPtrs trailing it in the same allocation.
class Run {
 public:
  static Run* New(uint32_t capacity);
  // A copy of `items[0, n)` (references taken) with room for `capacity` >= n.
  static Run* Copy(const RecordPtr* items, uint32_t n, uint32_t capacity);

  RecordPtr* items() { return reinterpret_cast<RecordPtr*>(this + 1); }
  const RecordPtr* items() const { return reinterpret_cast<const RecordPtr*>(this + 1); }
  uint32_t size() const { return size_; }
  uint32_t capacity() const { return capacity_; }
  void set_size(uint32_t n) { size_ = n; }
  // True when no other list shares the run: it may be changed in place.
  bool unique() const { return refs_.load(std::memory_order_acquire) == 1; }
  void Ref() const { refs_.fetch_add(1, std::memory_order_relaxed); }
  // Releases a reference; the last one releases the records (prefetching ahead) and the run.
  void Unref() const;
  // The run's allocation.
  int64_t Bytes() const {
    return static_cast<int64_t>(sizeof(Run) + capacity_ * sizeof(RecordPtr));
  }

 private:
  explicit Run(uint32_t capacity) : capacity_(capacity) {}
  mutable std::atomic<uint32_t> refs_{1};
  uint16_t size_ = 0;
  uint16_t capacity_;
};
static_assert(sizeof(Run) == 8 && alignof(RecordPtr) <= 8);

// An owning pointer to a run.
class RunPtr {
 public:
  RunPtr() = default;
  explicit RunPtr(Run* r) : r_(r) {}  // adopts a reference
  RunPtr(const RunPtr& o) : r_(o.r_) {
    if (r_ != nullptr) r_->Ref();
  }
  RunPtr(RunPtr&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  RunPtr& operator=(RunPtr o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  ~RunPtr() {
    if (r_ != nullptr) r_->Unref();
  }
  Run* get() const { return r_; }
  Run* operator->() const { return r_; }

 private:
  Run* r_ = nullptr;
};

}  // namespace endpoint_list_internal

class EndpointList {
 public:
  // The most records a run holds. Rewriting a slice copies the runs it breaks (a few edits break
  // a few runs) and counts a reference per run it shares: 16 balances the two for 100-endpoint
  // slices.
  static constexpr uint32_t kRunCapacity = 16;
  // Runs held in the list object itself before the run vector moves to the heap.
  static constexpr size_t kInlineRuns = 8;

  using value_type = RecordPtr;
  using size_type = size_t;
  using reference = const RecordPtr&;
  using const_reference = const RecordPtr&;

  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = RecordPtr;
    using difference_type = std::ptrdiff_t;
    using pointer = const RecordPtr*;
    using reference = const RecordPtr&;
    const_iterator() = default;
    reference operator*() const { return (*run_)->items()[i_]; }
    pointer operator->() const { return &(*run_)->items()[i_]; }
    const_iterator& operator++() {
      if (++i_ == (*run_)->size()) {
        ++run_;
        i_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.run_ == b.run_ && a.i_ == b.i_;
    }
    friend bool operator!=(const const_iterator& a, const const_iterator& b) { return !(a == b); }

   private:
    friend class EndpointList;
    const_iterator(const endpoint_list_internal::RunPtr* run, uint32_t i) : run_(run), i_(i) {}
    const endpoint_list_internal::RunPtr* run_ = nullptr;
    uint32_t i_ = 0;
  };
  using iterator = const_iterator;

  EndpointList() = default;
  EndpointList(const EndpointList&) = default;  // shares every run
  EndpointList(EndpointList&& o) noexcept
      : runs_(std::move(o.runs_)), size_(std::exchange(o.size_, 0)) {}
  EndpointList& operator=(const EndpointList&) = default;
  EndpointList& operator=(EndpointList&& o) noexcept {
    runs_ = std::move(o.runs_);
    size_ = std::exchange(o.size_, 0);
    return *this;
  }
  // Full runs of the given endpoints, in order.
  EndpointList(std::vector<RecordPtr>&& endpoints);      // NOLINT: a vector's drop-in
  EndpointList(const std::vector<RecordPtr>& endpoints)  // NOLINT
      : EndpointList(std::vector<RecordPtr>(endpoints)) {}
  EndpointList(std::initializer_list<RecordPtr> endpoints)
      : EndpointList(std::vector<RecordPtr>(endpoints)) {}

  // `endpoints` as a list that shares each run of `old` found whole and in order in it (runs of
  // fewer than kRunCapacity / 2 records are copied instead, and merged with their neighbours, so
  // that a list does not fray into small runs over many rewrites; a short last run is shared when
  // nothing follows it). Same elements as EndpointList(endpoints). `old` and `endpoints` may hold
  // the same records.
  static EndpointList Rebuild(const EndpointList& old, std::vector<RecordPtr>&& endpoints);

  // One change Patch makes: the endpoint at `pos` removed, or replaced by the next of its `fresh`.
  struct Change {
    size_t pos;
    bool remove;
  };
  // `old` with `changes` applied, then the rest of `fresh` appended. Every run of `old` no change
  // falls in is shared, by Rebuild's rule for small runs. Costs O(runs of old + records of the
  // runs it copies + fresh), never reading the records it shares: the reconciler's rewrite of a
  // slice for a few edits. REQUIRES: positions ascending, distinct and < old.size(); `fresh`
  // holds at least one endpoint per replacement (a caller's bug otherwise, not bad input).
  static EndpointList Patch(const EndpointList& old, absl::Span<const Change> changes,
                            std::vector<RecordPtr>&& fresh);

  const_iterator begin() const { return {runs_.data(), 0}; }
  const_iterator end() const { return {runs_.data() + runs_.size(), 0}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const RecordPtr& operator[](size_t i) const;
  const RecordPtr& front() const { return runs_.front()->items()[0]; }
  const RecordPtr& back() const { return runs_.back()->items()[runs_.back()->size() - 1]; }

  // Owning copies of the endpoints, in order.
  std::vector<RecordPtr> ToVector() const;
  // Borrowed copies (RecordPtr::Borrow): no reference counted. REQUIRES: used only while this
  // list (or another owner of the records) is alive.
  std::vector<RecordPtr> Borrowed() const;
  // The position of the first endpoint whose record is `e`; size() when there is none.
  size_t IndexOf(const EndpointRecord* e) const;
  // The records, in order (for positional lookups: operator[] walks the runs).
  std::vector<const EndpointRecord*> Records() const;
  // Appends Borrowed()'s elements to `out` and their records to `records`, run by run (the
  // reconciler's copy of a slice it rewrites). REQUIRES: as Borrowed().
  void AppendBorrowed(std::vector<RecordPtr>& out,
                      std::vector<const EndpointRecord*>& records) const;

  void push_back(RecordPtr e);
  void emplace_back(RecordPtr e) { push_back(std::move(e)); }
  // Makes endpoint `i` be `e`.
  void Set(size_t i, RecordPtr e);
  void erase(size_t i);
  void pop_back();
  void clear() {
    runs_.clear();
    size_ = 0;
  }
  void reserve(size_t n) { runs_.reserve((n + kRunCapacity - 1) / kRunCapacity); }

  // The runs and their bookkeeping (runs shared with other lists included). O(runs).
  int64_t HeapBytes() const;
  size_t run_count() const { return runs_.size(); }
  // True when run `i` of this list is the same object as run `j` of `other`.
  bool SharesRun(size_t i, const EndpointList& other, size_t j) const {
    return runs_[i].get() == other.runs_[j].get();
  }

  // Same records in the same order.
  friend bool operator==(const EndpointList& a, const EndpointList& b);
  friend bool operator!=(const EndpointList& a, const EndpointList& b) { return !(a == b); }

 private:
  // The run holding endpoint `i`, and the position in it.
  std::pair<size_t, uint32_t> Locate(size_t i) const;
  // Makes runs_[r] unique (copies it if shared).
  endpoint_list_internal::Run* Unique(size_t r);

  // None empty. Inline up to kInlineRuns (a 100-endpoint slice under churn holds 7-9 runs): a
  // rewrite allocates no vector for them, and reading a slice follows one pointer fewer.
  absl::InlinedVector<endpoint_list_internal::RunPtr, kInlineRuns> runs_;
  size_t size_ = 0;
};

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_ENDPOINT_LIST_H_
