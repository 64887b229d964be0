#include "server/watch/hub.h"

#include <algorithm>
#include <utility>

namespace slicekeeper::watch {
namespace {

void Erase(std::vector<Subscriber*>* list, Subscriber* s) {
  list->erase(std::remove(list->begin(), list->end(), s), list->end());
}

// The hub of this thread's innermost InlineDispatch scope, and whether the thread claimed a
// dispatch from it (OnCommit on this thread).
thread_local Hub* inline_hub = nullptr;
thread_local bool inline_claimed = false;

}  // namespace

Hub::InlineDispatch::InlineDispatch(Hub* hub)
    : previous_hub_(inline_hub), previous_claimed_(inline_claimed) {
  inline_hub = hub;
  inline_claimed = false;
}

Hub::InlineDispatch::~InlineDispatch() {
  Hub* const hub = inline_hub;
  const bool claimed = inline_claimed;
  inline_hub = previous_hub_;
  inline_claimed = previous_claimed_;
  if (claimed) hub->DispatchClaimed();
}

void Hub::DispatchClaimed() {
  if (dispatch_mu_.TryLock()) {
    DispatchLocked();
    dispatch_mu_.Unlock();
  }
  // With no claim left, marks still pending (another thread's, or ours when another thread was
  // dispatching and took them before ours arrived) wake the dispatcher thread.
  absl::MutexLock l(&pending_mu_);
  --claims_;
}

Hub::Hub(store::Store* store, Options options)
    : store_(store),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : RealClock()) {}

Hub::~Hub() { Stop(); }

void Hub::Start() {
  {
    absl::MutexLock l(&mu_);
    if (started_) return;
    started_ = true;
  }
  // Registering and reading the revision together: everything after it reaches OnCommit.
  store::CatalogPtr at_start = store_->SnapshotAndListen("", this);
  dispatched_.store(at_start->revision, std::memory_order_release);
  {
    absl::MutexLock l(&resume_mu_);
    resume_running_ = true;
  }
  thread_ = std::thread([this] { Run(); });
  resume_thread_ = std::thread([this] { RunResumes(); });
}

void Hub::RunResumes() {
  absl::MutexLock l(&resume_mu_);
  while (true) {
    resume_mu_.Await(absl::Condition(
        +[](Hub* h) ABSL_EXCLUSIVE_LOCKS_REQUIRED(h->resume_mu_) {
          return !h->resume_running_ || !h->resumes_.empty();
        },
        this));
    if (!resume_running_) return;
    auto [weak, revision] = std::move(resumes_.front());
    resumes_.erase(resumes_.begin());
    resume_mu_.Unlock();
    if (std::shared_ptr<Subscriber> sub = weak.lock()) {
      sub->Start(revision);
      sub->Wake();
    }
    resume_mu_.Lock();
  }
}

void Hub::Stop() {
  {
    absl::MutexLock l(&mu_);
    if (!started_) return;
    started_ = false;
  }
  store_->RemoveListener(this);
  {
    absl::MutexLock l(&pending_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  {
    absl::MutexLock l(&resume_mu_);
    resume_running_ = false;
  }
  if (resume_thread_.joinable()) resume_thread_.join();
  absl::MutexLock l(&mu_);
  for (auto& [raw, sub] : subscribers_) sub->Detach();
}

void Hub::Run() {
  absl::Time next_tick = clock_->Now() + options_.tick;
  while (true) {
    {
      absl::MutexLock l(&pending_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pending_mu_) {
        return stopping_ || (!pending_.empty() && claims_ == 0);
      };
      pending_mu_.AwaitWithDeadline(absl::Condition(&ready), next_tick);
      if (stopping_) return;
    }
    DispatchOnce();
    if (clock_->Now() >= next_tick) {
      TickOnce();
      next_tick = clock_->Now() + options_.tick;
    }
  }
}

void Hub::OnCommit(const store::CommitPtr& commit) {
  absl::MutexLock l(&pending_mu_);
  for (const store::ServiceChange& sc : commit->services) {
    const store::ServiceSnapshot& any = sc.after != nullptr ? *sc.after : *sc.before;
    Mark& m = pending_[NamespacedName(any.namespace_, any.name)];
    m.ns = any.namespace_;
    m.name = any.name;
    m.version = ServiceVersion{sc.after, commit->revision};
  }
  pending_revision_ = commit->revision;
  const absl::Time now = clock_->Now();
  const bool back_to_back = now - last_commit_ < options_.inline_min_gap;
  last_commit_ = now;
  if (inline_hub == this && !inline_claimed && !back_to_back) {
    inline_claimed = true;
    ++claims_;
  }
}

void Hub::Collect(const Mark& mark, std::vector<Subscriber*>* out) const {
  auto add = [out](const auto& map, const std::string& key) {
    auto it = map.find(key);
    if (it != map.end()) out->insert(out->end(), it->second.begin(), it->second.end());
  };
  add(by_key_, NamespacedName(mark.ns, mark.name));
  add(by_name_, mark.name);
  add(by_namespace_, mark.ns);
  out->insert(out->end(), all_.begin(), all_.end());
}

bool Hub::DispatchOnce() {
  absl::MutexLock l(&dispatch_mu_);
  return DispatchLocked();
}

bool Hub::DispatchLocked() {
  absl::flat_hash_map<std::string, Mark> marks;
  int64_t round = 0;
  {
    absl::MutexLock l(&pending_mu_);
    marks.swap(pending_);
    round = pending_revision_;
  }
  if (marks.empty()) return false;
  std::vector<std::shared_ptr<Subscriber>> wake;
  {
    absl::MutexLock l(&mu_);
    absl::flat_hash_map<Subscriber*, std::vector<std::pair<std::string, ServiceVersion>>> per_sub;
    std::vector<Subscriber*> interested;
    for (auto& [key, mark] : marks) {
      interested.clear();
      Collect(mark, &interested);
      for (Subscriber* s : interested) {
        // A subscriber over every namespace may be limited to some (authorization).
        const auto& allowed = s->selection().allowed_namespaces;
        if (allowed != nullptr && !allowed->contains(mark.ns)) continue;
        per_sub[s].emplace_back(key, mark.version);
      }
    }
    for (auto& [s, list] : per_sub) {
      if (s->MarkDirty(std::move(list), round)) wake.push_back(subscribers_.at(s));
    }
  }
  dispatched_.store(round, std::memory_order_release);
  for (const std::shared_ptr<Subscriber>& s : wake) s->Wake();
  return true;
}

void Hub::TickOnce() {
  absl::Time now = clock_->Now();
  std::vector<std::shared_ptr<Subscriber>> reset, bookmark;
  {
    absl::MutexLock l(&mu_);
    for (auto& [raw, sub] : subscribers_) {
      // A marks-only subscriber pins at most one version per service: nothing to free.
      if (sub->selection().marks_only) continue;
      if (now - sub->OldestUnsent() > options_.max_lag) {
        reset.push_back(sub);
      } else if (sub->selection().bookmarks &&
                 now - sub->LastSend() >= options_.bookmark_interval) {
        bookmark.push_back(sub);
      }
    }
  }
  for (const auto& s : reset) {
    s->RequestReset();
    s->Wake();
  }
  lag_resets_.fetch_add(static_cast<int64_t>(reset.size()), std::memory_order_relaxed);
  for (const auto& s : bookmark) {
    if (s->RequestBookmark()) s->Wake();
  }
}

void Hub::Index(Subscriber* s, bool add) {
  const Selection& sel = s->selection();
  auto apply = [&](SubscriberList* list) {
    if (add) {
      list->push_back(s);
    } else {
      Erase(list, s);
    }
  };
  if (sel.services.empty()) {
    apply(sel.namespace_.empty() ? &all_ : &by_namespace_[sel.namespace_]);
    return;
  }
  for (const std::string& name : sel.services) {
    apply(sel.namespace_.empty() ? &by_name_[name]
                                 : &by_key_[NamespacedName(sel.namespace_, name)]);
  }
}

std::shared_ptr<Subscriber> Hub::Subscribe(Selection selection, int64_t resume_revision,
                                           Sink* sink) {
  // Duplicate names would be indexed twice and marked twice.
  std::sort(selection.services.begin(), selection.services.end());
  selection.services.erase(std::unique(selection.services.begin(), selection.services.end()),
                           selection.services.end());
  Subscriber::Options so;
  so.max_message_bytes = options_.max_message_bytes;
  so.merged_views = options_.merged_views;
  so.clock = clock_;
  auto sub = std::make_shared<Subscriber>(std::move(selection), store_, &dispatched_, sink, so);
  bool started = false;
  {
    absl::MutexLock l(&mu_);
    subscribers_.emplace(sub.get(), sub);
    Index(sub.get(), /*add=*/true);
    started = started_;
  }
  // Registered first, snapshot second: a commit between the two is either in the snapshot or
  // dispatched to the subscriber later (and dropped there if the snapshot already has it).
  if (resume_revision > 0 && started) {
    absl::MutexLock l(&resume_mu_);
    resumes_.emplace_back(sub, resume_revision);
    return sub;
  }
  sub->Start(resume_revision);
  sub->Wake();
  return sub;
}

void Hub::Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  {
    absl::MutexLock l(&mu_);
    if (subscribers_.erase(subscriber.get()) == 0) return;
    Index(subscriber.get(), /*add=*/false);
    const SubscriberStats& st = subscriber->stats();
    closed_events_ += st.events_sent.load(std::memory_order_relaxed);
    closed_coalesced_ += st.coalesced.load(std::memory_order_relaxed);
    closed_resets_ += st.resets.load(std::memory_order_relaxed);
  }
  subscriber->Detach();
}

HubStats Hub::stats() const {
  HubStats out;
  absl::Time now = clock_->Now();
  absl::MutexLock l(&mu_);
  out.events_sent = closed_events_;
  out.coalesced = closed_coalesced_;
  out.resets = closed_resets_;
  for (const auto& [raw, sub] : subscribers_) {
    if (sub->selection().marks_only) {
      out.subscribers_marks++;
      continue;  // not a watch stream: its lag is its front-end's to report
    }
    (sub->selection().view == v1::ENDPOINTS ? out.subscribers_endpoints : out.subscribers_slices)++;
    const SubscriberStats& st = sub->stats();
    out.events_sent += st.events_sent.load(std::memory_order_relaxed);
    out.coalesced += st.coalesced.load(std::memory_order_relaxed);
    out.resets += st.resets.load(std::memory_order_relaxed);
    out.max_lag = std::max(out.max_lag, std::max(absl::ZeroDuration(), now - sub->OldestUnsent()));
  }
  out.dispatched_revision = dispatched_revision();
  out.lag_resets = lag_resets_.load(std::memory_order_relaxed);
  return out;
}

std::pair<std::vector<SubscriberInfo>, size_t> Hub::Subscribers(size_t limit) const {
  std::vector<SubscriberInfo> out;
  const absl::Time now = clock_->Now();
  size_t total = 0;
  auto more_lag = [](const SubscriberInfo& a, const SubscriberInfo& b) { return a.lag > b.lag; };
  absl::MutexLock l(&mu_);
  total = subscribers_.size();
  out.reserve(std::min(limit, total) + 1);
  for (const auto& [raw, sub] : subscribers_) {
    const Selection& sel = sub->selection();
    const SubscriberStats& st = sub->stats();
    SubscriberInfo info;
    info.peer = sel.peer;
    info.namespace_ = sel.namespace_;
    info.services = sel.services.size();
    info.view = sel.marks_only ? "marks" : sel.view == v1::ENDPOINTS ? "endpoints" : "slices";
    if (!sel.marks_only) info.lag = std::max(absl::ZeroDuration(), now - sub->OldestUnsent());
    info.events_sent = st.events_sent.load(std::memory_order_relaxed);
    info.coalesced = st.coalesced.load(std::memory_order_relaxed);
    info.resets = st.resets.load(std::memory_order_relaxed);
    // A heap of the `limit` most lagging: the least lagging on top.
    out.push_back(std::move(info));
    std::push_heap(out.begin(), out.end(), more_lag);
    if (out.size() > limit) {
      std::pop_heap(out.begin(), out.end(), more_lag);
      out.pop_back();
    }
  }
  std::sort_heap(out.begin(), out.end(), more_lag);
  return {std::move(out), total};
}

}  // namespace slicekeeper::watch
