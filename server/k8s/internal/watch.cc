#include "server/k8s/internal/watch.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "common/namespaced_name.h"
#include "server/k8s/codec.h"
#include "server/k8s/filter.h"
#include "server/k8s/internal/json_writer.h"
#include "server/k8s/internal/reads.h"
#include "server/k8s/internal/table.h"

namespace slicekeeper::k8s::internal {
namespace {

using EventType = v1::WatchEvent::Type;

// A chunk is written once it holds this much; a batch of events always ends one.
constexpr size_t kChunkBytes = 256 << 10;

struct WatchPlan {
  Output output;
  Filter filter;
  bool bookmarks = false;
  // sendInitialEvents=true: end the initial ADDED events with the annotated BOOKMARK.
  bool initial_end_bookmark = false;
  // The hub's resume revision (0: the current objects first).
  int64_t resume = 0;
  absl::Time deadline;
};

std::string Key(const Slice& s) { return NamespacedName(s.namespace_, s.name); }

// Which resourceVersion an event's object carries: a DELETED event's is the delete's revision.
int64_t ObjectRevision(const watch::SliceEvent& e) {
  return e.type == v1::WatchEvent::DELETED ? e.revision : e.slice->resource_version;
}

// Whether `commit` removed the slice `ns/name` from its service `service`.
bool RemovedIn(const store::Commit& commit, const Slice& slice) {
  auto has = [&](const store::ServiceSnapshotPtr& s) {
    if (s == nullptr) return false;
    auto it = std::lower_bound(s->slices.begin(), s->slices.end(), slice.name,
                               [](const SlicePtr& x, const std::string& n) { return x->name < n; });
    return it != s->slices.end() && (*it)->name == slice.name;
  };
  for (const store::ServiceChange& change : commit.services) {
    const store::ServiceSnapshot& any = change.after != nullptr ? *change.after : *change.before;
    if (any.namespace_ == slice.namespace_ && any.name == slice.ServiceName()) {
      return has(change.before) && !has(change.after);
    }
  }
  return false;
}

// rv, or rv - 1 when the commit at rv wrote more than one slice the watch selects: the client may
// have seen only some of the events carrying rv, so all of them are sent again.
int64_t ResumePoint(const Context& ctx, const Filter& filter, int64_t rv) {
  absl::StatusOr<std::vector<store::CommitPtr>> commits = ctx.store->ChangesSince(rv - 1, 1);
  if (!commits.ok() || commits->empty() || (*commits)[0]->revision != rv) return rv;
  static const std::vector<SlicePtr> kNone;
  int touched = 0;
  for (const store::ServiceChange& change : (*commits)[0]->services) {
    const std::vector<SlicePtr>& a = change.before ? change.before->slices : kNone;
    const std::vector<SlicePtr>& b = change.after ? change.after->slices : kNone;
    for (size_t i = 0, j = 0; i < a.size() || j < b.size();) {
      const bool take_a = j == b.size() || (i < a.size() && a[i]->name <= b[j]->name);
      const bool take_b = i == a.size() || (j < b.size() && b[j]->name <= a[i]->name);
      const SlicePtr& x = take_a ? a[i] : b[j];
      const SlicePtr& y = take_b ? b[j] : a[i];
      if (x != y || !(take_a && take_b)) {
        if (filter.Matches(*x) || filter.Matches(*y)) ++touched;
      }
      i += take_a;
      j += take_b;
    }
  }
  return touched > 1 ? rv - 1 : rv;
}

// Checks sendInitialEvents / resourceVersionMatch / allowWatchBookmarks as the apiserver does.
ApiOr<bool> CheckWatchParams(const http::Request& request, bool bookmarks) {
  const std::string match = request.Param("resourceVersionMatch").value_or("");
  if (!request.Param("sendInitialEvents").has_value()) {
    if (!match.empty()) {
      return BadRequest(
          "resourceVersionMatch is forbidden for watch unless sendInitialEvents "
          "is provided");
    }
    return true;
  }
  ApiOr<bool> initial = BoolParam(request, "sendInitialEvents");
  if (!initial.ok()) return initial.error();
  if (match != "NotOlderThan" && (*initial || !match.empty())) {
    return BadRequest("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
  }
  if (*initial && !bookmarks) {
    return BadRequest("sendInitialEvents requires setting allowWatchBookmarks to true");
  }
  return true;
}

// Where the stream starts (see watch.h).
ApiOr<bool> PlanStart(const Context& ctx, const http::Request& request, WatchPlan& plan) {
  ApiOr<ResourceVersion> rv = ParseResourceVersion(request);
  if (!rv.ok()) return rv.error();
  if (rv->revision > 0) {
    ApiOr<bool> reached = AwaitResourceVersion(ctx, rv->revision);
    if (!reached.ok()) return reached.error();
  }
  if (request.Param("sendInitialEvents").has_value()) {
    ApiOr<bool> initial = BoolParam(request, "sendInitialEvents");
    plan.initial_end_bookmark = *initial;
    if (!*initial) plan.resume = rv->revision > 0 ? rv->revision : ctx.store->revision();
    return true;
  }
  if (rv->revision > 0) plan.resume = ResumePoint(ctx, plan.filter, rv->revision);
  return true;
}

ApiOr<WatchPlan> Plan(const Context& ctx, const http::Request& request, absl::string_view ns) {
  WatchPlan plan;
  ApiOr<Output> output = NegotiateOutput(request);
  if (!output.ok()) return output.error();
  plan.output = *output;
  absl::StatusOr<Filter> filter = Filter::Parse(ns, request.Param("labelSelector").value_or(""),
                                                request.Param("fieldSelector").value_or(""));
  if (!filter.ok()) return BadRequest(std::string(filter.status().message()));
  plan.filter = std::move(*filter);
  plan.filter.LimitNamespaces(request.caller.readable.set());
  ApiOr<bool> bookmarks = BoolParam(request, "allowWatchBookmarks");
  if (!bookmarks.ok()) return bookmarks.error();
  plan.bookmarks = *bookmarks;
  ApiOr<bool> valid = CheckWatchParams(request, plan.bookmarks);
  if (!valid.ok()) return valid.error();
  ApiOr<int64_t> timeout = IntParam(request, "timeoutSeconds", 0);
  if (!timeout.ok()) return timeout.error();
  absl::Duration lasts = absl::Seconds(*timeout);
  if (*timeout == 0) {
    absl::BitGen gen;
    lasts = ctx.min_watch_timeout * absl::Uniform(gen, 1.0, 2.0);
  }
  plan.deadline = absl::Now() + lasts;
  ApiOr<bool> started = PlanStart(ctx, request, plan);
  if (!started.ok()) return started.error();
  return plan;
}

// The events of one write: pieces written with one gather write, so the shared encoding of a
// slice goes to the socket without being copied into a buffer first.
class Batch {
 public:
  // A string literal.
  void Literal(absl::string_view s) { Add(s); }
  void Shared(std::shared_ptr<const std::string> s) {
    Add(*s);
    shared_.push_back(std::move(s));
  }
  void Owned(std::string s) {
    owned_.push_back(std::move(s));
    Add(owned_.back());
  }
  size_t size() const { return size_; }
  // Writes and empties the batch; false when the stream is over.
  bool Flush(http::ResponseStream* stream) {
    const bool ok = pieces_.empty() || stream->WriteGather(pieces_);
    pieces_.clear();
    shared_.clear();
    owned_.clear();
    size_ = 0;
    return ok;
  }

 private:
  void Add(absl::string_view s) {
    pieces_.push_back(s);
    size_ += s.size();
  }
  std::vector<absl::string_view> pieces_;
  std::vector<std::shared_ptr<const std::string>> shared_;
  std::deque<std::string> owned_;  // stable addresses as it grows
  size_t size_ = 0;
};

class Session final : public watch::Sink {
 public:
  Session(const Context& ctx, WatchPlan plan, http::ResponseStream* stream, std::string peer)
      : ctx_(ctx), plan_(std::move(plan)), stream_(stream), peer_(std::move(peer)) {}

  void Wake() override { stream_->Notify(); }

  // Serves the watch until it ends.
  void Run();

 private:
  // Writes a batch of events; false when the stream must end.
  bool Deliver(std::vector<watch::SliceEvent>& events);
  // Gives each DELETED event the revision of the delete itself (see the .cc).
  void DateDeletes(std::vector<watch::SliceEvent>& events) const;
  // A data event after selector translation, or nothing.
  void Data(const watch::SliceEvent& e, Batch* out);
  void ObjectEvent(absl::string_view type, const SlicePtr& slice, int64_t rv, Batch* out);
  void Bookmark(int64_t rv, bool initial_end, Batch* out);

  const Context& ctx_;
  const WatchPlan plan_;
  http::ResponseStream* const stream_;
  const std::string peer_;
  // With selectors: the keys of the objects the client holds.
  absl::flat_hash_set<std::string> visible_;
  bool headers_sent_ = false;
  // Every change up to this revision has been written (the resume point, then the newest
  // revision of each batch).
  int64_t delivered_ = 0;
};

// A subscriber that fell behind folds several commits of a service into one diff, and labels a
// slice it finds gone with the revision of the service's newest version. A client resumes from
// the resourceVersion of the last event it processed, so a DELETED event must carry the revision
// of the delete itself: it is found among the commits since the previous batch (every change up
// to delivered_ was in earlier batches, so the delete is later). A caught-up watcher's batch
// covers one commit, and its labels are exact already.
void Session::DateDeletes(std::vector<watch::SliceEvent>& events) const {
  int64_t newest = 0;
  for (const watch::SliceEvent& e : events) {
    if (e.type == v1::WatchEvent::DELETED) newest = std::max(newest, e.revision);
  }
  if (newest <= delivered_ + 1) return;
  absl::StatusOr<std::vector<store::CommitPtr>> commits =
      ctx_.store->ChangesSince(delivered_, static_cast<size_t>(newest - delivered_));
  if (!commits.ok()) return;
  for (watch::SliceEvent& e : events) {
    if (e.type != v1::WatchEvent::DELETED) continue;
    // The last removal in the window: a name deleted, re-created and deleted again.
    for (const store::CommitPtr& c : *commits) {
      if (c->revision > e.revision) break;
      if (RemovedIn(*c, *e.slice)) e.revision = c->revision;
    }
  }
}

void Session::Run() {
  if (!plan_.filter.everything() && plan_.resume > 0) {
    absl::StatusOr<store::CatalogPtr> then =
        ctx_.store->SnapshotAt(plan_.filter.namespace_(), plan_.resume);
    for (const store::ServiceSnapshotPtr& s :
         then.ok() ? (*then)->services : std::vector<store::ServiceSnapshotPtr>{}) {
      for (const SlicePtr& slice : s->slices) {
        if (plan_.filter.Matches(*slice)) visible_.insert(Key(*slice));
      }
    }
  }
  delivered_ = plan_.resume;
  watch::Selection selection;
  selection.namespace_ = plan_.filter.namespace_();
  selection.services = plan_.filter.services();
  selection.allowed_namespaces = plan_.filter.allowed_namespaces();
  selection.bookmarks = plan_.bookmarks;
  selection.peer = peer_;
  std::shared_ptr<watch::Subscriber> sub = ctx_.hub->Subscribe(selection, plan_.resume, this);
  while (true) {
    std::vector<watch::SliceEvent> events = sub->NextEvents(SIZE_MAX);
    if (!events.empty()) {
      if (!Deliver(events)) break;
      continue;
    }
    if (stream_->Wait(plan_.deadline) != http::ResponseStream::WaitResult::kNotified) break;
  }
  ctx_.hub->Unsubscribe(sub);
}

bool Session::Deliver(std::vector<watch::SliceEvent>& events) {
  DateDeletes(events);
  for (const watch::SliceEvent& e : events) delivered_ = std::max(delivered_, e.revision);
  // Order each run of object events by their objects' resourceVersions (coalescing may send an
  // older object change with a newer batch), so a resuming client never skips one.
  for (auto run = events.begin(); run != events.end();) {
    auto end = std::find_if(run, events.end(), [](const watch::SliceEvent& e) { return !e.slice; });
    std::stable_sort(run, end, [](const auto& a, const auto& b) {
      return ObjectRevision(a) < ObjectRevision(b);
    });
    run = end == events.end() ? end : end + 1;
  }
  Batch out;
  for (const watch::SliceEvent& e : events) {
    if (e.type == v1::WatchEvent::RESET) {
      // The subscriber fell too far behind (or its resume point left the history meanwhile).
      const ApiError gone = Expired(absl::StrCat(
          "too old resource version: the watch fell behind; the objects changed after ", e.revision,
          " are no longer available; list again"));
      out.Owned(absl::StrCat(R"({"type":"ERROR","object":)", StatusJson(gone), "}\n"));
      out.Flush(stream_);
      return false;
    }
    if (e.type == v1::WatchEvent::SYNCED) {
      if (plan_.initial_end_bookmark) Bookmark(e.revision, true, &out);
    } else if (e.type == v1::WatchEvent::BOOKMARK) {
      if (plan_.bookmarks) Bookmark(e.revision, false, &out);
    } else {
      Data(e, &out);
    }
    if (out.size() >= kChunkBytes && !out.Flush(stream_)) return false;
  }
  return out.Flush(stream_);
}

void Session::Data(const watch::SliceEvent& e, Batch* out) {
  const bool deleted = e.type == v1::WatchEvent::DELETED;
  if (plan_.filter.everything()) {
    ObjectEvent(deleted                           ? "DELETED"
                : e.type == v1::WatchEvent::ADDED ? "ADDED"
                                                  : "MODIFIED",
                e.slice, deleted ? e.revision : 0, out);
    return;
  }
  const std::string key = Key(*e.slice);
  const bool was = visible_.contains(key);
  const bool is = !deleted && plan_.filter.Matches(*e.slice);
  if (is) {
    ObjectEvent(was ? "MODIFIED" : "ADDED", e.slice, 0, out);
    visible_.insert(key);
  } else if (was) {
    // Deleted, or no longer selected: the apiserver sends the object's last state as DELETED.
    ObjectEvent("DELETED", e.slice, deleted ? e.revision : 0, out);
    visible_.erase(key);
  }
}

void Session::ObjectEvent(absl::string_view type, const SlicePtr& slice, int64_t rv, Batch* out) {
  // `type` is one of the literals of Data.
  out->Literal(type == "ADDED"     ? R"({"type":"ADDED","object":)"
               : type == "DELETED" ? R"({"type":"DELETED","object":)"
                                   : R"({"type":"MODIFIED","object":)");
  if (plan_.output.table) {
    std::vector<TableRow> rows = {
        SliceRow(slice, rv, plan_.output.row_object, ctx_.clock->Now(), ctx_.cache)};
    // Column definitions come with the first event only, as from the apiserver.
    out->Owned(TableJson(SliceColumns(), rows,
                         TableMeta{rv != 0 ? rv : slice->resource_version, "", -1}, headers_sent_));
    headers_sent_ = true;
  } else {
    out->Shared(ctx_.cache->Get(slice, rv));
  }
  out->Literal("}\n");
}

void Session::Bookmark(int64_t rv, bool initial_end, Batch* batch) {
  std::string line;
  std::string* out = &line;
  JsonWriter w(out);
  w.BeginObject();
  w.Field("type", "BOOKMARK");
  w.Key("object");
  w.BeginTyped(kKind, kApiVersion);
  w.Key("metadata");
  w.BeginObject();
  w.Field("resourceVersion", absl::StrCat(rv));
  w.Key("creationTimestamp");
  w.Null();
  if (initial_end) {
    w.Key("annotations");
    w.BeginObject();
    w.Field("k8s.io/initial-events-end", "true");
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  w.EndObject();
  out->push_back('\n');
  batch->Owned(std::move(line));
}

}  // namespace

void ServeWatch(const Context& ctx, const http::Request& request, http::Response& response,
                absl::string_view ns) {
  ApiOr<WatchPlan> plan = Plan(ctx, request, ns);
  if (!plan.ok()) {
    Reply r = ErrorReply(plan.error());
    response.Send(r.code, r.content_type, r.body, r.headers);
    return;
  }
  // One of the caller's stream slots (--max_streams_per_identity) for as long as it watches.
  absl::StatusOr<std::unique_ptr<auth::StreamLimiter::Slot>> slot = auth::AcquireStream(
      ctx.authorizer, request.caller, request.access.value_or(auth::Request{.rpc = "watch"}));
  if (!slot.ok()) {
    Reply r = ErrorReply(TooManyRequests(std::string(slot.status().message())));
    response.Send(r.code, r.content_type, r.body, r.headers);
    return;
  }
  absl::StatusOr<http::ResponseStream*> stream =
      response.StartStream(200, plan->output.table ? kTableJson : kJson);
  if (!stream.ok()) {
    Reply r = ErrorReply(TooManyRequests(std::string(stream.status().message())));
    response.Send(r.code, r.content_type, r.body, r.headers);
    return;
  }
  if (plan->resume > 0) {
    absl::StatusOr<std::vector<store::CommitPtr>> since = ctx.store->ChangesSince(plan->resume, 1);
    if (!since.ok()) {
      // What informers expect before they relist: one ERROR event with 410 Expired.
      const ApiError gone = Expired(absl::StrCat("too old resource version: ", plan->resume, " (",
                                                 since.status().message(), ")"));
      (*stream)->Write(absl::StrCat(R"({"type":"ERROR","object":)", StatusJson(gone), "}\n"));
      return;
    }
  }
  Session session(ctx, std::move(*plan), *stream, request.remote);
  session.Run();
}

}  // namespace slicekeeper::k8s::internal
