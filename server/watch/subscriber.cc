#include "server/watch/subscriber.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/wire.h"
#include "google/protobuf/io/coded_stream.h"

namespace slicekeeper::watch {

namespace {

// WatchResponse wire format, written directly so that a slice's or an endpoint's cached bytes are
// copied, not re-encoded, per subscriber: field 1 (events) repeated, each a length-delimited
// WatchEvent with type = 1 (varint), revision = 2 (varint), slice = 3 (bytes of an EndpointSlice),
// namespace = 4, service = 5 (strings), endpoint = 6 (bytes of a ServiceEndpoint).
constexpr uint32_t kEventsTag = wire::LengthDelimitedTag(1);
constexpr uint32_t kTypeTag = wire::VarintTag(1);
constexpr uint32_t kRevisionTag = wire::VarintTag(2);
constexpr uint32_t kSliceTag = wire::LengthDelimitedTag(3);
constexpr uint32_t kNamespaceTag = wire::LengthDelimitedTag(4);
constexpr uint32_t kServiceTag = wire::LengthDelimitedTag(5);
constexpr uint32_t kEndpointTag = wire::LengthDelimitedTag(6);
// ServiceEndpoint's address = 1 and address_type = 2 (all a DELETED event carries).
constexpr uint32_t kAddressTag = wire::LengthDelimitedTag(1);
constexpr uint32_t kAddressTypeTag = wire::LengthDelimitedTag(2);

using google::protobuf::io::CodedOutputStream;
using wire::AppendField;
using wire::AppendVarint;
using wire::FieldSize;

// The bytes of a WatchEvent's type and revision fields (proto3: zero values are omitted), built on
// the stack: one per event of every message.
class Header {
 public:
  Header(v1::WatchEvent::Type type, int64_t revision) {
    uint8_t* p = bytes_;
    if (type != 0) {
      p = CodedOutputStream::WriteVarint32ToArray(kTypeTag, p);
      p = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(type), p);
    }
    if (revision != 0) {
      p = CodedOutputStream::WriteVarint32ToArray(kRevisionTag, p);
      p = CodedOutputStream::WriteVarint64ToArray(static_cast<uint64_t>(revision), p);
    }
    size_ = static_cast<size_t>(p - bytes_);
  }
  size_t size() const { return size_; }
  void AppendTo(std::string* out) const {
    out->append(reinterpret_cast<const char*>(bytes_), size_);
  }

 private:
  uint8_t bytes_[2 * (1 + 10)];
  size_t size_ = 0;
};

void AppendSliceEvent(v1::WatchEvent::Type type, int64_t revision, const std::string& slice,
                      std::string* out) {
  const Header header(type, revision);
  AppendVarint(kEventsTag, out);
  AppendVarint(header.size() + FieldSize(kSliceTag, slice.size()), out);
  header.AppendTo(out);
  AppendField(kSliceTag, slice, out);
}

void AppendControlEvent(v1::WatchEvent::Type type, int64_t revision, std::string* out) {
  const Header header(type, revision);
  AppendVarint(kEventsTag, out);
  AppendVarint(header.size(), out);
  header.AppendTo(out);
}

// A DELETED event's endpoint: a ServiceEndpoint with only address = 1 and address_type = 2.
std::string EndpointKey(const v1::ServiceEndpoint& e) {
  std::string out;
  out.reserve(FieldSize(kAddressTag, e.address().size()) +
              FieldSize(kAddressTypeTag, e.address_type().size()));
  if (!e.address().empty()) AppendField(kAddressTag, e.address(), &out);
  if (!e.address_type().empty()) AppendField(kAddressTypeTag, e.address_type(), &out);
  return out;
}

// An ENDPOINTS-view event; `endpoint` is a ServiceEndpoint's bytes. (proto3: an empty string
// field is omitted; the endpoint message field is always present.)
void AppendEndpointEvent(v1::WatchEvent::Type type, int64_t revision, const std::string& ns,
                         const std::string& service, absl::string_view endpoint, std::string* out) {
  const Header header(type, revision);
  const size_t size = header.size() + (ns.empty() ? 0 : FieldSize(kNamespaceTag, ns.size())) +
                      (service.empty() ? 0 : FieldSize(kServiceTag, service.size())) +
                      FieldSize(kEndpointTag, endpoint.size());
  AppendVarint(kEventsTag, out);
  AppendVarint(size, out);
  header.AppendTo(out);
  if (!ns.empty()) AppendField(kNamespaceTag, ns, out);
  if (!service.empty()) AppendField(kServiceTag, service, out);
  AppendField(kEndpointTag, endpoint, out);
}

bool InFilter(const Selection& sel, const v1::ServiceEndpoint& e) {
  return (sel.zone.empty() || e.zone() == sel.zone) &&
         (sel.node.empty() || e.node_name() == sel.node);
}

}  // namespace

bool Selection::Matches(absl::string_view ns, absl::string_view name) const {
  if (!namespace_.empty() && ns != namespace_) return false;
  if (allowed_namespaces != nullptr && !allowed_namespaces->contains(ns)) return false;
  if (services.empty()) return true;
  return std::find(services.begin(), services.end(), name) != services.end();
}

Subscriber::Subscriber(Selection selection, store::Store* store,
                       const std::atomic<int64_t>* dispatched, Sink* sink, Options options)
    : selection_(std::move(selection)),
      store_(store),
      dispatched_(dispatched),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()),
      sink_(sink) {}

Subscriber::Catalog Subscriber::TakeCatalog(int64_t* revision) {
  Catalog out;
  // One named service: a single snapshot is consistent by itself, and this avoids walking every
  // service of the namespace for the most common subscription.
  if (!selection_.namespace_.empty() && selection_.services.size() == 1) {
    int64_t rev = store_->revision();
    store::ServiceSnapshotPtr s = store_->GetService(selection_.namespace_, selection_.services[0]);
    // A namespace the caller may not read looks empty (allowed_namespaces).
    if (s != nullptr && !selection_.Matches(s->namespace_, s->name)) s = nullptr;
    if (s != nullptr) rev = std::max(rev, s->mod_revision);
    if (s != nullptr)
      out.emplace_back(NamespacedName(s->namespace_, s->name), ServiceVersion{s, rev});
    *revision = rev;
    return out;
  }
  store::CatalogPtr cat = store_->Snapshot(selection_.namespace_);
  for (const store::ServiceSnapshotPtr& s : cat->services) {
    if (!selection_.Matches(s->namespace_, s->name)) continue;
    out.emplace_back(NamespacedName(s->namespace_, s->name), ServiceVersion{s, cat->revision});
  }
  *revision = cat->revision;
  return out;
}

void Subscriber::Start(int64_t resume_revision) {
  absl::MutexLock l(&send_mu_);
  if (selection_.marks_only) {
    BeginMarks();
  } else if (resume_revision > 0) {
    BeginResume(resume_revision);
  } else {
    BeginSnapshot(/*reset=*/false);
  }
  started_ = true;
}

void Subscriber::BeginSnapshot(bool reset) {
  int64_t rev = 0;
  Catalog catalog = TakeCatalog(&rev);
  pending_.clear();
  last_sent_.clear();
  base_revision_ = rev;
  {
    absl::MutexLock l(&mu_);
    reset_requested_ = false;
    floor_revision_ = rev;
    absl::erase_if(dirty_, [rev](const auto& kv) { return kv.second.revision <= rev; });
  }
  // A RESET carries the last revision sent, so revisions never go backwards on the stream.
  if (reset) {
    Control(v1::WatchEvent::RESET, last_revision_sent_);
    stats_.resets.fetch_add(1, std::memory_order_relaxed);
  }
  for (auto& [key, version] : catalog) {
    DiffService(key, ServiceVersion{nullptr, 0}, version, Dating{.snapshot = true});
  }
  sync_after_pending_ = std::max(rev, last_revision_sent_);
}

void Subscriber::BeginMarks() {
  int64_t rev = 0;
  Catalog catalog = TakeCatalog(&rev);
  absl::MutexLock l(&mu_);
  floor_revision_ = rev;
  // Named services absent from the catalog do not exist at `rev`: say so, so that the sender
  // knows every selected service's state after its first TakeMarks.
  if (!selection_.namespace_.empty()) {
    for (const std::string& name : selection_.services) {
      dirty_.try_emplace(NamespacedName(selection_.namespace_, name), ServiceVersion{nullptr, rev});
    }
  }
  for (auto& [key, version] : catalog) dirty_[key] = std::move(version);
  if (!dirty_.empty()) oldest_unsent_ = clock_->Now();
}

absl::flat_hash_map<std::string, ServiceVersion> Subscriber::TakeMarks() {
  absl::flat_hash_map<std::string, ServiceVersion> out;
  absl::MutexLock l(&mu_);
  out.swap(dirty_);
  oldest_unsent_ = absl::InfiniteFuture();
  if (!out.empty()) last_send_ = clock_->Now();
  return out;
}

void Subscriber::BeginResume(int64_t resume_revision) {
  // The client's state is the store's at resume_revision: each service changed since is diffed
  // from its state then (rebuilt from the history) to its state now.
  absl::StatusOr<store::Rewound> rewound =
      store_->Rewind(selection_.namespace_, selection_.services, resume_revision);
  // Compacted, from the future (a memory store that restarted) or unreadable: start over.
  if (!rewound.ok()) {
    BeginSnapshot(/*reset=*/true);
    return;
  }
  const int64_t rev = rewound->now->revision;
  pending_.clear();
  last_sent_.clear();
  base_revision_ = rev;
  {
    absl::MutexLock l(&mu_);
    floor_revision_ = rev;
    absl::erase_if(dirty_, [rev](const auto& kv) { return kv.second.revision <= rev; });
  }
  for (const store::ServiceSnapshotPtr& s : rewound->now->services) {
    if (selection_.Matches(s->namespace_, s->name)) {
      last_sent_[NamespacedName(s->namespace_, s->name)] = ServiceVersion{s, rev};
    }
  }
  for (const store::Rewound::Service& c : rewound->changed) {
    const store::ServiceSnapshot& any = c.now != nullptr ? *c.now : *c.then;
    if (!selection_.Matches(any.namespace_, any.name)) continue;
    DiffService(NamespacedName(any.namespace_, any.name), ServiceVersion{c.then, resume_revision},
                ServiceVersion{c.now, rev}, Dating{.rewound = &c});
  }
  std::stable_sort(
      pending_.begin(), pending_.end(),
      [](const PendingEvent& a, const PendingEvent& b) { return a.revision < b.revision; });
  sync_after_pending_ = std::max(rev, last_revision_sent_);
}

bool Subscriber::TakeDirty() {
  absl::flat_hash_map<std::string, ServiceVersion> dirty;
  {
    absl::MutexLock l(&mu_);
    dirty.swap(dirty_);
    oldest_unsent_ = absl::InfiniteFuture();
  }
  if (dirty.empty()) return false;
  size_t start = pending_.size();
  for (auto& [key, version] : dirty) {
    auto it = last_sent_.find(key);
    ServiceVersion before =
        it != last_sent_.end() ? it->second : ServiceVersion{nullptr, base_revision_};
    // Marks not newer than what was sent are leftovers of the snapshot/dispatch race.
    if (version.revision <= before.revision) continue;
    DiffService(key, before, version, Dating{});
  }
  // Usually one service, or services of one commit: already in order.
  auto by_revision = [](const PendingEvent& a, const PendingEvent& b) {
    return a.revision < b.revision;
  };
  if (!std::is_sorted(pending_.begin() + start, pending_.end(), by_revision)) {
    std::stable_sort(pending_.begin() + start, pending_.end(), by_revision);
  }
  return true;
}

// Event revisions (docs/watch.md): a snapshot's events carry the snapshot's revision; a change
// carries the revision of the state it sends — a slice's resourceVersion, a service's
// mod_revision for its endpoints, a delete's own revision when the history says it (else the
// revision of the newest version seen without the object) — kept within (before, after], so a
// stream's revisions never decrease (events are sent sorted by revision).
int64_t Subscriber::EventRevision(int64_t object_revision, const ServiceVersion& before,
                                  const ServiceVersion& after, const Dating& dating) {
  if (dating.snapshot) return after.revision;
  return std::clamp(object_revision, before.revision + 1,
                    std::max(after.revision, before.revision + 1));
}

int64_t Subscriber::DeleteRevision(absl::string_view slice, const ServiceVersion& after,
                                   const Dating& dating) {
  if (dating.rewound != nullptr) {
    auto it = dating.rewound->slices_deleted_at.find(slice);
    if (it != dating.rewound->slices_deleted_at.end()) return it->second;
    if (dating.rewound->deleted_at != 0) return dating.rewound->deleted_at;
  }
  return after.snapshot != nullptr ? after.snapshot->mod_revision : after.revision;
}

void Subscriber::DiffService(const std::string& key, const ServiceVersion& before,
                             const ServiceVersion& after, const Dating& dating) {
  if (selection_.view == v1::ENDPOINTS) {
    DiffEndpoints(before, after, dating);
  } else {
    DiffSlices(before, after, dating);
  }
  if (after.snapshot == nullptr) {
    last_sent_.erase(key);
  } else {
    last_sent_[key] = after;
  }
}

// Both slice lists are sorted by name; unchanged slices are the same pointer in both.
void Subscriber::DiffSlices(const ServiceVersion& before, const ServiceVersion& after,
                            const Dating& dating) {
  static const std::vector<SlicePtr> kNone;
  const std::vector<SlicePtr>& a = before.snapshot ? before.snapshot->slices : kNone;
  const std::vector<SlicePtr>& b = after.snapshot ? after.snapshot->slices : kNone;
  // Builds the event; pushing stays in this function, where the analysis sees send_mu_ held.
  auto event = [&](v1::WatchEvent::Type type, const SlicePtr& s) {
    const int64_t object = type == v1::WatchEvent::DELETED ? DeleteRevision(s->name, after, dating)
                                                           : s->resource_version;
    return PendingEvent{
        .revision = EventRevision(object, before, after, dating), .type = type, .slice = s};
  };
  size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (j == b.size() || (i < a.size() && a[i]->name < b[j]->name)) {
      pending_.push_back(event(v1::WatchEvent::DELETED, a[i++]));
    } else if (i == a.size() || b[j]->name < a[i]->name) {
      pending_.push_back(event(v1::WatchEvent::ADDED, b[j++]));
    } else {
      if (a[i] != b[j]) {
        pending_.push_back(event(v1::WatchEvent::MODIFIED, b[j]));
      }
      ++i;
      ++j;
    }
  }
}

void Subscriber::DiffEndpoints(const ServiceVersion& before, const ServiceVersion& after,
                               const Dating& dating) {
  if (before.snapshot == nullptr && after.snapshot == nullptr) return;
  // Endpoints have no revision of their own: the state sent is the service's at its mod revision.
  const int64_t revision = EventRevision(
      after.snapshot != nullptr ? after.snapshot->mod_revision : DeleteRevision("", after, dating),
      before, after, dating);
  // Builds the event; pushing stays in this function, where the analysis sees send_mu_ held.
  auto event = [revision](v1::WatchEvent::Type type, const query::MergedViews::Ptr& view,
                          int32_t index) {
    return PendingEvent{.revision = revision, .type = type, .view = view, .index = index};
  };
  if (before.snapshot == nullptr || after.snapshot == nullptr) {
    // A snapshot (every selected endpoint ADDED) or a deleted service (every one DELETED).
    const bool added = after.snapshot != nullptr;
    query::MergedViews::Ptr view = MergedView(added ? after.snapshot : before.snapshot);
    for (size_t i = 0; i < view->size(); ++i) {
      if (InFilter(selection_, (*view)[i])) {
        pending_.push_back(event(added ? v1::WatchEvent::ADDED : v1::WatchEvent::DELETED, view,
                                 static_cast<int32_t>(i)));
      }
    }
    return;
  }
  // Every subscriber of the service diffs the same two versions: the diff is computed once, and
  // each subscriber only applies its zone / node filter to it. An endpoint that moves into or out
  // of the filter is ADDED or DELETED for this subscriber.
  std::shared_ptr<const query::ViewDiff> diff = ViewDiff(before.snapshot, after.snapshot);
  for (const query::ViewDiff::Change& c : diff->changes) {
    const bool was = c.before >= 0 && InFilter(selection_, (*diff->before)[c.before]);
    const bool is = c.after >= 0 && InFilter(selection_, (*diff->after)[c.after]);
    if (is) {
      pending_.push_back(
          event(was ? v1::WatchEvent::MODIFIED : v1::WatchEvent::ADDED, diff->after, c.after));
    } else if (was) {
      pending_.push_back(event(v1::WatchEvent::DELETED, diff->before, c.before));
    }
  }
}

query::MergedViews::Ptr Subscriber::MergedView(const store::ServiceSnapshotPtr& snapshot) const {
  if (options_.merged_views != nullptr) return options_.merged_views->Get(snapshot);
  return std::make_shared<const query::MergedView>(snapshot);
}

std::shared_ptr<const query::ViewDiff> Subscriber::ViewDiff(
    const store::ServiceSnapshotPtr& before, const store::ServiceSnapshotPtr& after) const {
  if (options_.merged_views != nullptr) return options_.merged_views->Diff(before, after);
  return query::DiffViews(MergedView(before), MergedView(after));
}

void Subscriber::Control(v1::WatchEvent::Type type, int64_t revision) {
  PendingEvent e;
  e.type = type;
  e.revision = revision;
  pending_.push_front(std::move(e));
}

class Subscriber::Out {
 public:
  virtual ~Out() = default;
  virtual void Event(const PendingEvent& e) = 0;
  virtual void Control(v1::WatchEvent::Type type, int64_t revision) = 0;
  // The batch is complete; later events go into the next one.
  virtual bool Full() const = 0;
};

// A serialized WatchResponse of about max_bytes.
class Subscriber::WireOut final : public Subscriber::Out {
 public:
  explicit WireOut(size_t max_bytes) : max_bytes_(max_bytes) {}
  void Event(const PendingEvent& p) override {
    if (p.slice != nullptr) {
      // The slice's bytes are shared by every subscriber sent this version.
      AppendSliceEvent(p.type, p.revision, *p.slice->SerializedProto(), &bytes_);
    } else if (p.view != nullptr) {
      const query::MergedView& view = *p.view;
      if (p.type == v1::WatchEvent::DELETED) {
        AppendEndpointEvent(p.type, p.revision, view.namespace_(), view.name(),
                            EndpointKey(view[p.index]), &bytes_);
      } else {
        // The endpoint's bytes are shared by every subscriber sent this version.
        AppendEndpointEvent(p.type, p.revision, view.namespace_(), view.name(), view.Bytes(p.index),
                            &bytes_);
      }
    } else {
      AppendControlEvent(p.type, p.revision, &bytes_);
    }
  }
  void Control(v1::WatchEvent::Type type, int64_t revision) override {
    AppendControlEvent(type, revision, &bytes_);
  }
  bool Full() const override { return bytes_.size() >= max_bytes_; }
  std::string& bytes() { return bytes_; }

 private:
  const size_t max_bytes_;
  std::string bytes_;
};

class Subscriber::EventsOut final : public Subscriber::Out {
 public:
  explicit EventsOut(size_t max_events) : max_events_(max_events) {}
  void Event(const PendingEvent& p) override {
    events_.push_back(SliceEvent{p.type, p.revision, p.slice});
  }
  void Control(v1::WatchEvent::Type type, int64_t revision) override {
    events_.push_back(SliceEvent{type, revision, nullptr});
  }
  bool Full() const override { return events_.size() >= max_events_; }
  std::vector<SliceEvent>& events() { return events_; }

 private:
  const size_t max_events_;
  std::vector<SliceEvent> events_;
};

bool Subscriber::Emit(Out& out) {
  int events = 0;
  while (!pending_.empty() && !out.Full()) {
    PendingEvent& p = pending_.front();
    out.Event(p);
    ++events;
    last_revision_sent_ = std::max(last_revision_sent_, p.revision);
    pending_.pop_front();
  }
  if (pending_.empty() && sync_after_pending_ >= 0 && !out.Full()) {
    out.Control(v1::WatchEvent::SYNCED, sync_after_pending_);
    ++events;
    last_revision_sent_ = std::max(last_revision_sent_, sync_after_pending_);
    sync_after_pending_ = kNoSync;
  }
  if (events == 0) return false;
  stats_.events_sent.fetch_add(events, std::memory_order_relaxed);
  absl::MutexLock l(&mu_);
  last_send_ = clock_->Now();
  return true;
}

std::optional<v1::WatchResponse> Subscriber::Next() {
  std::optional<std::string> bytes = NextSerialized();
  if (!bytes.has_value()) return std::nullopt;
  v1::WatchResponse out;
  out.ParseFromString(*bytes);
  return out;
}

std::optional<std::string> Subscriber::NextSerialized() {
  absl::MutexLock l(&send_mu_);
  WireOut out(options_.max_message_bytes);
  if (!Pull(out)) return std::nullopt;
  return std::move(out.bytes());
}

std::vector<SliceEvent> Subscriber::NextEvents(size_t max_events) {
  absl::MutexLock l(&send_mu_);
  EventsOut out(std::max<size_t>(max_events, 1));
  Pull(out);
  return std::move(out.events());
}

bool Subscriber::Pull(Out& out) {
  if (!started_) return false;
  bool reset = false;
  {
    absl::MutexLock m(&mu_);
    reset = reset_requested_;
  }
  if (reset) BeginSnapshot(/*reset=*/true);
  if (pending_.empty() && sync_after_pending_ == kNoSync) TakeDirty();
  if (!pending_.empty() || sync_after_pending_ != kNoSync) return Emit(out);
  // Idle: a bookmark, if one is due. Every commit up to max(dispatched, marked) that concerns
  // this subscriber has been sent, because its dirty set is empty.
  int64_t dispatched = dispatched_->load(std::memory_order_acquire);
  absl::MutexLock m(&mu_);
  if (!bookmark_requested_ || !dirty_.empty()) return false;
  bookmark_requested_ = false;
  int64_t rev = std::max({dispatched, marked_revision_, last_revision_sent_});
  last_revision_sent_ = rev;
  out.Control(v1::WatchEvent::BOOKMARK, rev);
  last_send_ = clock_->Now();
  stats_.events_sent.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool Subscriber::MarkDirty(std::vector<std::pair<std::string, ServiceVersion>> marks,
                           int64_t round_revision) {
  absl::MutexLock l(&mu_);
  bool was_clean = dirty_.empty();
  marked_revision_ = std::max(marked_revision_, round_revision);
  for (auto& [key, version] : marks) {
    // Already in the snapshot the subscriber started from: no wake, nothing to diff.
    if (version.revision <= floor_revision_) continue;
    auto [it, inserted] = dirty_.try_emplace(key, version);
    if (inserted) continue;
    stats_.coalesced.fetch_add(1, std::memory_order_relaxed);
    if (version.revision > it->second.revision) it->second = std::move(version);
  }
  if (was_clean && !dirty_.empty()) {
    oldest_unsent_ = clock_->Now();
    return true;
  }
  return false;
}

bool Subscriber::RequestBookmark() {
  absl::MutexLock l(&mu_);
  if (bookmark_requested_) return false;
  bookmark_requested_ = true;
  return true;
}

void Subscriber::RequestReset() {
  absl::MutexLock s(&send_mu_);
  pending_.clear();
  last_sent_.clear();
  sync_after_pending_ = kNoSync;
  absl::MutexLock l(&mu_);
  dirty_.clear();
  reset_requested_ = true;
  oldest_unsent_ = absl::InfiniteFuture();
}

absl::Time Subscriber::OldestUnsent() const {
  absl::MutexLock l(&mu_);
  return oldest_unsent_;
}

absl::Time Subscriber::LastSend() const {
  absl::MutexLock l(&mu_);
  return last_send_;
}

void Subscriber::Wake() {
  absl::MutexLock l(&sink_mu_);
  if (sink_ != nullptr) sink_->Wake();
}

void Subscriber::Detach() {
  absl::MutexLock l(&sink_mu_);
  sink_ = nullptr;
}

}  // namespace slicekeeper::watch
