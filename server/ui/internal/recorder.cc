#include "server/ui/internal/recorder.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace slicekeeper::ui::internal {
namespace {

// Nil-defaulted ready / serving / terminating as three bits.
int ConditionBits(const EndpointRecord& e) {
  const RecordConditions c = e.conditions();
  return (c.has_ready() ? c.ready() : true) | (c.has_serving() ? c.serving() : true) << 1 |
         (c.has_terminating() && c.terminating()) << 2;
}

// An endpoint as the churn counts see it: its slice's address type and its first address, viewed
// in the snapshot (alive while Apply compares two versions: no string is built per endpoint).
using EndpointKey = std::pair<absl::string_view, absl::string_view>;

// An endpoint object of a slice version, with that slice's address type.
struct Held {
  const EndpointRecord* e;
  const std::string* address_type;
  friend bool operator<(const Held& a, const Held& b) { return a.e < b.e; }
};

void HoldAll(const Slice& s, std::vector<Held>& out) {
  for (const EndpointPtr& e : s.endpoints) out.push_back(Held{e.get(), &s.address_type});
}

// The endpoint objects of `old_version` that `new_version` (the same slice, rewritten) does not
// hold, into `old_out`, and those of `new_version` that `old_version` does not hold, into
// `new_out`. A new version keeps its predecessor's endpoints in order, so the position after the
// last one found usually holds the next; the pointers of `new_version` are hashed only on the
// first miss.
void DiffVersions(const Slice& old_version, const Slice& new_version, std::vector<Held>& old_out,
                  std::vector<Held>& new_out) {
  const EndpointList& before = old_version.endpoints;
  const std::vector<const EndpointRecord*> after = new_version.endpoints.Records();
  std::vector<char> kept(after.size(), 0);
  absl::flat_hash_map<const EndpointRecord*, size_t> index;
  size_t cursor = 0;
  for (const EndpointPtr& e : before) {
    size_t at = after.size();
    if (cursor < after.size() && after[cursor] == e.get()) {
      at = cursor;
    } else {
      if (index.empty()) {
        index.reserve(after.size());
        for (size_t j = 0; j < after.size(); ++j) index.emplace(after[j], j);
      }
      if (auto it = index.find(e.get()); it != index.end()) at = it->second;
    }
    if (at == after.size()) {
      old_out.push_back(Held{e.get(), &old_version.address_type});
      continue;
    }
    kept[at] = 1;
    cursor = at + 1;
  }
  for (size_t j = 0; j < after.size(); ++j) {
    if (!kept[j]) new_out.push_back(Held{after[j], &new_version.address_type});
  }
}

// Conditions of the endpoints one version holds and the other does not hold as the same object,
// keyed by address type and first address: `first` of `before`, `second` of `after`. Endpoint
// objects are immutable and shared between slice versions, so an object both versions hold is
// unchanged: slices shared whole are skipped, the two versions of a rewritten slice are compared
// by position, and what is left on either side (endpoints that arrived or left, and those of
// slices created or deleted) is sorted and merged by pointer, so that an endpoint moved from one
// slice to another is not counted either. Only the objects new to one side are read. An endpoint
// object that two slices of one version hold is compared slice by slice (the reconciler never
// places an identity twice).
using ConditionsByKey = absl::flat_hash_map<EndpointKey, int>;
std::pair<ConditionsByKey, ConditionsByKey> ChangedEndpoints(const store::ServiceSnapshot* before,
                                                             const store::ServiceSnapshot* after) {
  static const std::vector<SlicePtr> kNone;
  const std::vector<SlicePtr>& old_slices = before != nullptr ? before->slices : kNone;
  const std::vector<SlicePtr>& new_slices = after != nullptr ? after->slices : kNone;
  std::vector<Held> old_held, new_held;
  // Both lists are sorted by name (ServiceSnapshot).
  size_t a = 0, b = 0;
  while (a < old_slices.size() || b < new_slices.size()) {
    const Slice* o = a < old_slices.size() ? old_slices[a].get() : nullptr;
    const Slice* n = b < new_slices.size() ? new_slices[b].get() : nullptr;
    if (n == nullptr || (o != nullptr && o->name < n->name)) {
      HoldAll(*o, old_held);
      ++a;
    } else if (o == nullptr || n->name < o->name) {
      HoldAll(*n, new_held);
      ++b;
    } else {
      if (o != n) DiffVersions(*o, *n, old_held, new_held);
      ++a;
      ++b;
    }
  }
  std::sort(old_held.begin(), old_held.end());
  std::sort(new_held.begin(), new_held.end());
  std::pair<ConditionsByKey, ConditionsByKey> out;
  auto note = [](ConditionsByKey& into, const Held& h) {
    if (h.e->addresses_size() == 0) return;
    into[EndpointKey(*h.address_type, h.e->addresses(0))] = ConditionBits(*h.e);
  };
  size_t i = 0, j = 0;
  while (i < old_held.size() || j < new_held.size()) {
    if (j == new_held.size() || (i < old_held.size() && old_held[i].e < new_held[j].e)) {
      note(out.first, old_held[i++]);
    } else if (i == old_held.size() || new_held[j].e < old_held[i].e) {
      note(out.second, new_held[j++]);
    } else {  // the same object on both sides (a run of it, if a version holds it twice)
      const EndpointRecord* same = old_held[i].e;
      while (i < old_held.size() && old_held[i].e == same) ++i;
      while (j < new_held.size() && new_held[j].e == same) ++j;
    }
  }
  return out;
}

// The `q` quantile of the observations counted in `counts` (one per bound, +Inf last), by
// linear interpolation inside the bucket; -1 when there are none.
double Quantile(const std::vector<double>& bounds, const std::vector<uint64_t>& counts, double q) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0) return -1;
  const double rank = q * static_cast<double>(total);
  double seen = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0) continue;
    const double lower = i == 0 ? 0 : bounds[i - 1];
    if (i == bounds.size()) return lower;  // +Inf bucket: its lower bound
    if (seen + static_cast<double>(counts[i]) >= rank) {
      const double within = (rank - seen) / static_cast<double>(counts[i]);
      return lower + within * (bounds[i] - lower);
    }
    seen += static_cast<double>(counts[i]);
  }
  return bounds.empty() ? -1 : bounds.back();
}

}  // namespace

Queue::Taken Queue::Take() {
  Taken out;
  absl::MutexLock l(&mu_);
  out.resync = std::exchange(resync_, false);
  out.sample = std::exchange(sample_, false);
  out.keys.assign(keys_.begin(), keys_.end());
  keys_.clear();
  out.events.assign(events_.begin(), events_.end());
  events_.clear();
  out.dropped_events = std::exchange(dropped_events_, 0);
  return out;
}

void Queue::Push(const std::vector<std::string>& keys, const std::vector<Event>& events,
                 bool sample) {
  {
    absl::MutexLock l(&mu_);
    if (!resync_) {
      for (const std::string& k : keys) {
        if (!keys_.insert(k).second) ++coalesced_;
      }
      if (keys_.size() > max_keys_) {
        // Too many to send one by one: the page refetches the whole table instead.
        keys_.clear();
        resync_ = true;
        ++resyncs_;
      }
    }
    for (const Event& e : events) {
      events_.push_back(e);
      if (events_.size() > max_events_) {
        events_.pop_front();
        ++dropped_events_;
      }
    }
    sample_ = sample_ || sample;
    high_water_ = std::max(high_water_, keys_.size() + events_.size());
  }
  notify_();
}

size_t Queue::high_water() const {
  absl::MutexLock l(&mu_);
  return high_water_;
}

int64_t Queue::coalesced() const {
  absl::MutexLock l(&mu_);
  return coalesced_;
}

int64_t Queue::resyncs() const {
  absl::MutexLock l(&mu_);
  return resyncs_;
}

Recorder::Recorder(store::Store* store, watch::Hub* hub, Options options)
    : store_(store),
      hub_(hub),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? options_.clock : RealClock()) {}

Recorder::~Recorder() { Stop(); }

void Recorder::Start() {
  watch::Selection all;
  all.marks_only = true;
  all.peer = "operator view";
  {
    absl::MutexLock l(&mu_);
    sampled_revision_ = store_->revision();
    current_.unix_seconds = absl::ToUnixSeconds(clock_->Now());
    if (options_.lag != nullptr) {
      metrics::Histogram::Snapshot lag = options_.lag->Read();
      lag_counts_.resize(lag.cumulative.size());
      for (size_t i = 0; i < lag.cumulative.size(); ++i) {
        lag_counts_[i] = lag.cumulative[i] - (i == 0 ? 0 : lag.cumulative[i - 1]);
      }
    }
  }
  sub_ = hub_->Subscribe(all, /*resume_revision=*/0, this);
  Process();
  thread_ = std::thread([this] { Run(); });
}

void Recorder::Stop() {
  {
    absl::MutexLock l(&wake_mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (sub_ != nullptr) hub_->Unsubscribe(sub_);
  if (thread_.joinable()) thread_.join();
}

void Recorder::Wake() {
  absl::MutexLock l(&wake_mu_);
  woken_ = true;
}

void Recorder::Run() {
  // Real time, not clock_: the waits below are on the real clock (see Options::clock).
  absl::Time next_tick = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 1);
  while (true) {
    bool woken = false;
    {
      absl::MutexLock l(&wake_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_) { return woken_ || stopping_; };
      wake_mu_.AwaitWithDeadline(absl::Condition(&ready), next_tick);
      if (stopping_) return;
      woken = std::exchange(woken_, false);
    }
    if (woken) {
      Process();
      // Let the marks coalesce before the next round (see Options::min_interval).
      absl::MutexLock l(&wake_mu_);
      wake_mu_.AwaitWithDeadline(absl::Condition(&stopping_),
                                 std::min(next_tick, absl::Now() + options_.min_interval));
    }
    if (absl::Now() >= next_tick) {
      Tick();
      next_tick = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 1);
    }
  }
}

int64_t Recorder::Process() {
  // Every commit up to `revision` is in the marks taken after reading it.
  const int64_t revision = hub_->dispatched_revision();
  absl::flat_hash_map<std::string, watch::ServiceVersion> marks = sub_->TakeMarks();
  const absl::Time now = clock_->Now();
  std::vector<std::string> keys;
  std::vector<Event> events;
  keys.reserve(marks.size());
  absl::MutexLock l(&mu_);
  for (auto& [key, version] : marks) {
    Apply(key, version, now, &events);
    keys.push_back(key);
  }
  totals_.revision = std::max(totals_.revision, revision);
  std::sort(events.begin(), events.end(),
            [](const Event& a, const Event& b) { return a.revision < b.revision; });
  for (const Event& e : events) {
    events_.push_back(e);
    if (events_.size() > options_.events) events_.pop_front();
  }
  if (!keys.empty()) {
    for (Queue* q : queues_) q->Push(keys, events, /*sample=*/false);
  }
  return totals_.revision;
}

void Recorder::Apply(const std::string& key, const watch::ServiceVersion& version, absl::Time now,
                     std::vector<Event>* events) {
  auto it = rows_.find(key);
  const store::ServiceSnapshot* before =
      it == rows_.end() ? nullptr : it->second.row.snapshot.get();
  const store::ServiceSnapshot* after = version.snapshot.get();
  // A mark older than what the row already has (see Subscriber::TakeMarks): keep the row.
  if (before != nullptr && after != nullptr && after->mod_revision <= before->mod_revision) return;
  if (before == nullptr && after == nullptr) return;
  if (before != nullptr && after == nullptr && version.revision <= before->mod_revision) return;

  Event e;
  e.time = now;
  e.revision = after != nullptr ? after->mod_revision : version.revision;
  const auto changed = ChangedEndpoints(before, after);
  const ConditionsByKey& old_eps = changed.first;
  const ConditionsByKey& new_eps = changed.second;
  for (const auto& [addr, bits] : new_eps) {
    auto o = old_eps.find(addr);
    if (o == old_eps.end()) {
      ++e.added;
    } else if (o->second != bits) {
      ++e.flips;
    }
  }
  for (const auto& [addr, bits] : old_eps) {
    if (!new_eps.contains(addr)) ++e.removed;
  }
  current_.added += e.added;
  current_.removed += e.removed;
  current_.flips += e.flips;

  if (it != rows_.end()) {
    e.namespace_ = it->second.row.snapshot->namespace_;
    e.name = it->second.row.snapshot->name;
    AddToTotals(it->second.row.summary, -1);
  }
  if (after == nullptr) {
    e.deleted = true;
    rows_.erase(it);
  } else {
    Tracked& tracked = rows_[key];
    ServiceRow& row = tracked.row;
    const Summary summary = tracked.summaries.Update(*after);
    row.summary = RowSummary{.slices = summary.slices,
                             .mod_revision = summary.mod_revision,
                             .endpoints = summary.endpoints,
                             .zones = static_cast<int64_t>(summary.zones.size())};
    row.snapshot = version.snapshot;
    row.last_change = now;
    ++row.changes;
    AddToTotals(row.summary, +1);
    e.namespace_ = after->namespace_;
    e.name = after->name;
    e.ready = row.summary.endpoints.ready;
    e.total = row.summary.endpoints.total;
  }
  events->push_back(std::move(e));
}

void Recorder::AddToTotals(const RowSummary& s, int sign) {
  totals_.services += sign;
  totals_.slices += sign * s.slices;
  totals_.endpoints.Add(s.endpoints, sign);
}

void Recorder::Tick() {
  const int64_t revision = store_->revision();
  absl::MutexLock l(&mu_);
  current_.writes = std::max<int64_t>(0, revision - sampled_revision_);
  sampled_revision_ = revision;
  if (options_.lag != nullptr) {
    metrics::Histogram::Snapshot lag = options_.lag->Read();
    std::vector<uint64_t> counts(lag.cumulative.size());
    for (size_t i = 0; i < lag.cumulative.size(); ++i) {
      const uint64_t now_count = lag.cumulative[i] - (i == 0 ? 0 : lag.cumulative[i - 1]);
      counts[i] = now_count - std::min(now_count, i < lag_counts_.size() ? lag_counts_[i] : 0);
      if (i < lag_counts_.size()) {
        lag_counts_[i] = now_count;
      } else {
        lag_counts_.push_back(now_count);
      }
    }
    const double p50 = Quantile(lag.bounds, counts, 0.5);
    const double p99 = Quantile(lag.bounds, counts, 0.99);
    current_.lag_p50_ms = p50 < 0 ? -1 : p50 * 1e3;
    current_.lag_p99_ms = p99 < 0 ? -1 : p99 * 1e3;
  }
  samples_.push_back(current_);
  if (samples_.size() > options_.samples) samples_.pop_front();
  current_ = Sample{};
  current_.unix_seconds = absl::ToUnixSeconds(clock_->Now());
  for (Queue* q : queues_) q->Push({}, {}, /*sample=*/true);
}

Totals Recorder::totals() const {
  absl::MutexLock l(&mu_);
  return totals_;
}

Totals Recorder::TotalsOf(const std::function<bool(const ServiceRow&)>& keep) const {
  Totals out;
  absl::MutexLock l(&mu_);
  out.revision = totals_.revision;
  for (const auto& [key, tracked] : rows_) {
    if (!keep(tracked.row)) continue;
    ++out.services;
    out.slices += tracked.row.summary.slices;
    out.endpoints.Add(tracked.row.summary.endpoints, +1);
  }
  return out;
}

std::vector<ServiceRow> Recorder::Rows(const std::function<bool(const ServiceRow&)>& keep) const {
  std::vector<ServiceRow> out;
  absl::MutexLock l(&mu_);
  for (const auto& [key, tracked] : rows_) {
    if (keep(tracked.row)) out.push_back(tracked.row);
  }
  return out;
}

bool Recorder::Row(absl::string_view key, ServiceRow* out) const {
  absl::MutexLock l(&mu_);
  auto it = rows_.find(std::string(key));
  if (it == rows_.end()) return false;
  *out = it->second.row;
  return true;
}

std::vector<Sample> Recorder::Samples() const {
  absl::MutexLock l(&mu_);
  return {samples_.begin(), samples_.end()};
}

Sample Recorder::LastSample() const {
  absl::MutexLock l(&mu_);
  return samples_.empty() ? Sample{} : samples_.back();
}

std::vector<Event> Recorder::Events(absl::string_view key) const {
  std::vector<Event> out;
  absl::MutexLock l(&mu_);
  for (const Event& e : events_) {
    if (key.empty() || absl::StrCat(e.namespace_, "/", e.name) == key) out.push_back(e);
  }
  return out;
}

void Recorder::AddQueue(Queue* q) {
  absl::MutexLock l(&mu_);
  queues_.push_back(q);
}

void Recorder::RemoveQueue(Queue* q) {
  absl::MutexLock l(&mu_);
  queues_.erase(std::remove(queues_.begin(), queues_.end(), q), queues_.end());
  closed_coalesced_ += q->coalesced();
  closed_resyncs_ += q->resyncs();
}

Recorder::QueueStats Recorder::queue_stats() const {
  QueueStats out;
  absl::MutexLock l(&mu_);
  out.open = static_cast<int64_t>(queues_.size());
  out.coalesced = closed_coalesced_;
  out.resyncs = closed_resyncs_;
  for (const Queue* q : queues_) {
    out.max_high_water = std::max<int64_t>(out.max_high_water, q->high_water());
    out.coalesced += q->coalesced();
    out.resyncs += q->resyncs();
  }
  return out;
}

}  // namespace slicekeeper::ui::internal
