#include "common/endpoint_list.h"

#include <algorithm>
#include <new>

#include "absl/container/inlined_vector.h"

namespace slicekeeper {

namespace endpoint_list_internal {

Run* Run::New(uint32_t capacity) {
  void* mem = ::operator new(sizeof(Run) + capacity * sizeof(RecordPtr));
  return new (mem) Run(capacity);
}

Run* Run::Copy(const RecordPtr* items, uint32_t n, uint32_t capacity) {
  Run* r = New(std::max(n, capacity));
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kRecordPrefetchDistance < n) items[i + kRecordPrefetchDistance].Prefetch();
    new (&r->items()[i]) RecordPtr(items[i]);
  }
  r->size_ = static_cast<uint16_t>(n);
  return r;
}

void Run::Unref() const {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  auto* self = const_cast<Run*>(this);
  RecordPtr* items = self->items();
  const uint32_t n = size_;
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kRecordPrefetchDistance < n) items[i + kRecordPrefetchDistance].Prefetch();
    items[i].~RecordPtr();
  }
  self->~Run();
  ::operator delete(self);
}

}  // namespace endpoint_list_internal

using endpoint_list_internal::Run;
using endpoint_list_internal::RunPtr;

namespace {

// A run of exactly `n` records moved out of `items` (each made owning).
RunPtr RunOf(RecordPtr* items, uint32_t n) {
  Run* r = Run::New(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (i + kRecordPrefetchDistance < n) items[i + kRecordPrefetchDistance].Prefetch();
    items[i].Own();
    new (&r->items()[i]) RecordPtr(std::move(items[i]));
  }
  r->set_size(n);
  return RunPtr(r);
}

// Rebuild's and Patch's rule for a run of `len` records of the old list that the new one could
// share: copy it instead, merged with its neighbours, when it is short (a list must not fray into
// small runs), when it fits beside the `waiting` records already being copied, or when it is the
// old list's last run and fits with the `after` records that follow it in the new one. A short
// last run with nothing to merge is shared: a list's size is rarely a multiple of kRunCapacity.
bool CopyRatherThanShare(uint32_t len, size_t waiting, bool last, size_t after) {
  constexpr uint32_t kCapacity = EndpointList::kRunCapacity;
  if (waiting != 0 && waiting + len <= kCapacity) return true;
  if (last && after > 0 && waiting + len + after <= kCapacity) return true;
  const bool short_tail = last && waiting == 0 && after == 0;
  return len < kCapacity / 2 && !short_tail;
}

}  // namespace

EndpointList::EndpointList(std::vector<RecordPtr>&& endpoints) : size_(endpoints.size()) {
  runs_.reserve((size_ + kRunCapacity - 1) / kRunCapacity);
  for (size_t i = 0; i < size_; i += kRunCapacity) {
    runs_.push_back(
        RunOf(&endpoints[i], static_cast<uint32_t>(std::min<size_t>(kRunCapacity, size_ - i))));
  }
}

EndpointList EndpointList::Rebuild(const EndpointList& old, std::vector<RecordPtr>&& endpoints) {
  constexpr size_t kSearchedRuns = 3;
  EndpointList out;
  const size_t n = endpoints.size();
  out.size_ = n;
  out.runs_.reserve(old.runs_.size() + 2);
  // The first record of each old run: a run can only be shared where its first record is.
  absl::InlinedVector<const EndpointRecord*, 16> firsts;
  firsts.reserve(old.runs_.size());
  for (const RunPtr& r : old.runs_) firsts.push_back(r->items()[0].get());
  size_t next_run = 0;   // old runs before it are behind the cursor: never shared
  size_t copy_from = 0;  // endpoints[copy_from, p) are waiting to be copied into new runs
  auto flush = [&](size_t end) {
    while (copy_from < end) {
      const auto len = static_cast<uint32_t>(std::min<size_t>(kRunCapacity, end - copy_from));
      out.runs_.push_back(RunOf(&endpoints[copy_from], len));
      copy_from += len;
    }
  };
  size_t p = 0;
  while (p < n) {
    // Looked for a few runs ahead only: a rewrite breaks a few runs, and a reordered list (the
    // packed repack) shares none, which an unbounded search would find in O(n * runs).
    const EndpointRecord* e = endpoints[p].get();
    const auto window_end =
        firsts.begin() + static_cast<ptrdiff_t>(std::min(firsts.size(), next_run + kSearchedRuns));
    auto it = std::find(firsts.begin() + static_cast<ptrdiff_t>(next_run), window_end, e);
    if (it == window_end) {
      ++p;
      continue;
    }
    const size_t k = static_cast<size_t>(it - firsts.begin());
    const Run& run = *old.runs_[k].get();
    const uint32_t len = run.size();
    bool whole = p + len <= n;
    for (uint32_t i = 1; whole && i < len; ++i) {
      whole = endpoints[p + i].get() == run.items()[i].get();
    }
    if (!whole) {
      ++p;
      continue;
    }
    next_run = k + 1;
    const size_t waiting = (p - copy_from) % kRunCapacity;
    if (CopyRatherThanShare(len, waiting, k + 1 == old.runs_.size(), n - (p + len))) {
      p += len;
      continue;
    }
    flush(p);
    out.runs_.push_back(old.runs_[k]);
    p += len;
    copy_from = p;
  }
  flush(n);
  return out;
}

EndpointList EndpointList::Patch(const EndpointList& old, absl::Span<const Change> changes,
                                 std::vector<RecordPtr>&& fresh) {
  EndpointList out;
  out.runs_.reserve(old.runs_.size() + 2);
  // The run being filled with copied records (null: none), written in place: no staging copy.
  Run* open = nullptr;
  auto put = [&](RecordPtr e) {
    if (open == nullptr) open = Run::New(kRunCapacity);
    e.Own();
    new (&open->items()[open->size()]) RecordPtr(std::move(e));
    open->set_size(open->size() + 1);
    if (open->size() == kRunCapacity) {
      out.runs_.emplace_back(open);
      open = nullptr;
    }
  };
  auto close = [&] {
    if (open != nullptr) out.runs_.emplace_back(std::exchange(open, nullptr));
  };
  size_t next_fresh = 0;
  size_t c = 0;     // next change
  size_t base = 0;  // position of the current run's first record in `old`
  size_t replaced = 0;
  for (const Change& ch : changes) replaced += ch.remove ? 0 : 1;
  const size_t appended = fresh.size() - replaced;
  for (size_t r = 0; r < old.runs_.size(); ++r) {
    const Run& run = *old.runs_[r].get();
    const uint32_t len = run.size();
    const RecordPtr* items = run.items();
    if (c < changes.size() && changes[c].pos < base + len) {
      // Each copy takes a reference: the records' counts are fetched together, not one by one.
      for (uint32_t i = 0; i < len; ++i) items[i].Prefetch();
      for (uint32_t i = 0; i < len; ++i) {
        if (c < changes.size() && changes[c].pos == base + i) {
          if (!changes[c].remove) put(std::move(fresh[next_fresh++]));
          ++c;
        } else {
          put(items[i]);
        }
      }
    } else {
      const size_t waiting = open != nullptr ? open->size() : 0;
      if (CopyRatherThanShare(len, waiting, r + 1 == old.runs_.size(), appended)) {
        for (uint32_t i = 0; i < len; ++i) put(items[i]);
      } else {
        close();
        out.runs_.push_back(old.runs_[r]);
      }
    }
    base += len;
  }
  while (next_fresh < fresh.size()) put(std::move(fresh[next_fresh++]));
  close();
  for (const RunPtr& run : out.runs_) out.size_ += run->size();
  return out;
}

const RecordPtr& EndpointList::operator[](size_t i) const {
  const auto [r, at] = Locate(i);
  return runs_[r]->items()[at];
}

std::pair<size_t, uint32_t> EndpointList::Locate(size_t i) const {
  size_t r = 0;
  while (i >= runs_[r]->size()) i -= runs_[r++]->size();
  return {r, static_cast<uint32_t>(i)};
}

std::vector<RecordPtr> EndpointList::ToVector() const { return {begin(), end()}; }

std::vector<RecordPtr> EndpointList::Borrowed() const {
  std::vector<RecordPtr> out;
  out.reserve(size_);
  for (const RecordPtr& e : *this) out.push_back(RecordPtr::Borrow(e));
  return out;
}

size_t EndpointList::IndexOf(const EndpointRecord* e) const {
  size_t base = 0;
  for (const RunPtr& run : runs_) {
    const RecordPtr* items = run->items();
    for (uint32_t i = 0, n = run->size(); i < n; ++i) {
      if (items[i].get() == e) return base + i;
    }
    base += run->size();
  }
  return size_;
}

std::vector<const EndpointRecord*> EndpointList::Records() const {
  std::vector<const EndpointRecord*> out;
  out.reserve(size_);
  for (const RecordPtr& e : *this) out.push_back(e.get());
  return out;
}

void EndpointList::AppendBorrowed(std::vector<RecordPtr>& out,
                                  std::vector<const EndpointRecord*>& records) const {
  const size_t at = out.size();
  const size_t records_at = records.size();
  out.resize(at + size_);
  records.resize(records_at + size_);
  RecordPtr* o = out.data() + at;
  const EndpointRecord** r = records.data() + records_at;
  for (const RunPtr& run : runs_) {
    const RecordPtr* items = run->items();
    for (uint32_t i = 0, n = run->size(); i < n; ++i) {
      *o++ = RecordPtr::Borrow(items[i]);
      *r++ = items[i].get();
    }
  }
}

Run* EndpointList::Unique(size_t r) {
  Run* run = runs_[r].get();
  if (run->unique()) return run;
  runs_[r] = RunPtr(Run::Copy(run->items(), run->size(), run->capacity()));
  return runs_[r].get();
}

void EndpointList::push_back(RecordPtr e) {
  e.Own();
  Run* last = runs_.empty() ? nullptr : runs_.back().get();
  if (last == nullptr || last->size() == last->capacity() || !last->unique()) {
    last = Run::New(kRunCapacity);
    runs_.emplace_back(last);
  }
  new (&last->items()[last->size()]) RecordPtr(std::move(e));
  last->set_size(last->size() + 1);
  ++size_;
}

void EndpointList::Set(size_t i, RecordPtr e) {
  const auto [r, at] = Locate(i);
  e.Own();
  Unique(r)->items()[at] = std::move(e);
}

void EndpointList::erase(size_t i) {
  const auto [r, at] = Locate(i);
  Run* run = Unique(r);
  RecordPtr* items = run->items();
  std::move(items + at + 1, items + run->size(), items + at);
  items[run->size() - 1].~RecordPtr();
  run->set_size(run->size() - 1);
  if (run->size() == 0) runs_.erase(runs_.begin() + static_cast<ptrdiff_t>(r));
  --size_;
}

void EndpointList::pop_back() { erase(size_ - 1); }

int64_t EndpointList::HeapBytes() const {
  int64_t total =
      runs_.capacity() > kInlineRuns ? static_cast<int64_t>(runs_.capacity() * sizeof(RunPtr)) : 0;
  for (const RunPtr& r : runs_) total += r->Bytes();
  return total;
}

bool operator==(const EndpointList& a, const EndpointList& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace slicekeeper
