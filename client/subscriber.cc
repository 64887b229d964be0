#include "client/subscriber.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/slice.h"
#include "google/protobuf/util/message_differencer.h"

namespace slicekeeper::client {
namespace {

bool SameEndpoints(const EndpointList& a, const EndpointList& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!google::protobuf::util::MessageDifferencer::Equals(a[i], b[i])) return false;
  }
  return true;
}

EndpointList MergeCache(const std::map<std::string, v1::EndpointSlice>& slices,
                        const std::string& address_type) {
  std::vector<const v1::EndpointSlice*> ptrs;
  ptrs.reserve(slices.size());
  for (const auto& [name, slice] : slices) ptrs.push_back(&slice);
  return MergeSlices(ptrs, address_type);
}

}  // namespace

Subscriber::Subscriber(Client* client, SubscriberOptions options, ChangeCallback on_change)
    : client_(client), options_(std::move(options)), on_change_(std::move(on_change)) {}

Subscriber::~Subscriber() { Stop(); }

void Subscriber::Start() {
  thread_ = std::thread([this] { Run(); });
}

void Subscriber::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (context_ != nullptr) context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void Subscriber::Run() {
  Backoff backoff(options_.backoff);
  while (true) {
    grpc::Status status = RunStream();
    absl::Duration delay;
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
      // A stream that reached SYNCED was healthy: start the next wait from the beginning.
      if (synced_) backoff.Reset();
      synced_ = false;
      if (status.error_code() == grpc::StatusCode::OUT_OF_RANGE) revision_ = 0;
      delay = backoff.Next();
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE) client_->Failover();
    absl::MutexLock l(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), delay);
    if (stopping_) return;
  }
}

grpc::Status Subscriber::RunStream() {
  grpc::ClientContext context;
  v1::WatchRequest request;
  request.set_namespace_(options_.namespace_);
  for (const std::string& s : options_.services) request.add_services(s);
  request.set_view(v1::SLICES);
  request.set_bookmarks(options_.bookmarks);
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return grpc::Status::CANCELLED;
    context_ = &context;
    request.set_resume_revision(revision_);
    in_snapshot_ = revision_ == 0;
    staging_.clear();
    max_event_revision_ = 0;
    ++stats_.connects;
    stats_.last_resume = revision_;
  }
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
      client_->discovery()->Watch(&context, request);
  v1::WatchResponse response;
  while (reader->Read(&response)) {
    std::vector<Notification> notifications;
    {
      absl::MutexLock l(&mu_);
      notifications = ApplyLocked(response);
    }
    Notify(notifications);
  }
  grpc::Status status = reader->Finish();
  absl::MutexLock l(&mu_);
  context_ = nullptr;
  return status;
}

std::string Subscriber::KeyOf(const v1::EndpointSlice& slice) const {
  auto it = slice.metadata().labels().find(kLabelServiceName);
  if (it == slice.metadata().labels().end() || it->second.empty()) return "";
  if (slice.address_type() == kAddressTypeFQDN) return "";
  if (!options_.address_type.empty() && slice.address_type() != options_.address_type) return "";
  return absl::StrCat(slice.metadata().namespace_(), "/", it->second);
}

std::vector<Subscriber::Notification> Subscriber::ApplyLocked(const v1::WatchResponse& response) {
  std::vector<Notification> out;
  absl::flat_hash_set<std::string> dirty;
  for (const v1::WatchEvent& event : response.events()) {
    switch (event.type()) {
      case v1::WatchEvent::ADDED:
      case v1::WatchEvent::MODIFIED:
      case v1::WatchEvent::DELETED: {
        ++stats_.events;
        // Events come in revision order: everything below this one has been received.
        if (!in_snapshot_ && event.revision() > max_event_revision_) {
          revision_ = std::max(revision_, event.revision() - 1);
        }
        max_event_revision_ = std::max(max_event_revision_, event.revision());
        const std::string key = KeyOf(event.slice());
        if (key.empty()) break;
        Cache& target = in_snapshot_ ? staging_ : cache_;
        const std::string& name = event.slice().metadata().name();
        if (event.type() == v1::WatchEvent::DELETED) {
          auto it = target.find(key);
          if (it != target.end()) it->second.slices.erase(name);
        } else {
          target[key].slices[name] = event.slice();
        }
        if (!in_snapshot_) dirty.insert(key);
        break;
      }
      case v1::WatchEvent::RESET:
        ++stats_.resets;
        in_snapshot_ = true;
        staging_.clear();
        synced_ = false;
        break;
      case v1::WatchEvent::SYNCED:
        RemergeLocked(dirty, &out);
        dirty.clear();
        if (in_snapshot_) SwapInSnapshotLocked(&out);
        in_snapshot_ = false;
        synced_ = true;
        ++stats_.syncs;
        revision_ = event.revision();
        break;
      case v1::WatchEvent::BOOKMARK:
        if (!in_snapshot_) revision_ = std::max(revision_, event.revision());
        break;
      default:
        break;
    }
  }
  RemergeLocked(dirty, &out);
  return out;
}

void Subscriber::RemergeLocked(const absl::flat_hash_set<std::string>& dirty,
                               std::vector<Notification>* out) {
  for (const std::string& key : dirty) {
    auto it = cache_.find(key);
    if (it == cache_.end()) continue;
    EndpointList merged = MergeCache(it->second.slices, options_.address_type);
    if (!SameEndpoints(merged, it->second.merged)) {
      out->push_back({key, it->second.merged, merged});
      it->second.merged = std::move(merged);
    }
    if (it->second.slices.empty()) cache_.erase(it);
  }
}

void Subscriber::SwapInSnapshotLocked(std::vector<Notification>* out) {
  for (auto& [key, entry] : staging_) {
    entry.merged = MergeCache(entry.slices, options_.address_type);
    auto old = cache_.find(key);
    const EndpointList empty;
    const EndpointList& previous = old == cache_.end() ? empty : old->second.merged;
    if (!SameEndpoints(previous, entry.merged)) out->push_back({key, previous, entry.merged});
  }
  for (auto& [key, entry] : cache_) {
    if (!staging_.contains(key) && !entry.merged.empty()) out->push_back({key, entry.merged, {}});
  }
  cache_ = std::move(staging_);
  staging_.clear();
  ++stats_.snapshots;
}

void Subscriber::Notify(const std::vector<Notification>& notifications) {
  if (notifications.empty()) return;
  {
    absl::MutexLock l(&mu_);
    stats_.callbacks += static_cast<int64_t>(notifications.size());
  }
  if (!on_change_) return;
  for (const Notification& n : notifications) on_change_(n.service, n.previous, n.current);
}

std::string Subscriber::Resolve(const std::string& service) const {
  if (service.find('/') != std::string::npos) return service;
  return absl::StrCat(options_.namespace_.empty() ? "default" : options_.namespace_, "/", service);
}

EndpointList Subscriber::Endpoints(const std::string& service, const EndpointFilter& filter) const {
  const std::string key = Resolve(service);
  absl::MutexLock l(&mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return {};
  return FilterEndpoints(it->second.merged, filter);
}

EndpointList Subscriber::Routable(const std::string& service, const Location& location) const {
  const std::string key = Resolve(service);
  absl::MutexLock l(&mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return {};
  return RoutableEndpoints(it->second.merged, location);
}

std::vector<std::string> Subscriber::Services() const {
  std::vector<std::string> out;
  {
    absl::MutexLock l(&mu_);
    for (const auto& [key, entry] : cache_) out.push_back(key);
  }
  std::sort(out.begin(), out.end());
  return out;
}

int64_t Subscriber::revision() const {
  absl::MutexLock l(&mu_);
  return revision_;
}

bool Subscriber::AwaitRevision(int64_t revision, absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  auto ready = [&]()
                   ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return synced_ && revision_ >= revision; };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

bool Subscriber::AwaitSnapshots(int64_t n, absl::Duration timeout) const {
  return AwaitStats([n](const SubscriberStats& s) { return s.snapshots >= n; }, timeout);
}

bool Subscriber::AwaitStats(const std::function<bool(const SubscriberStats&)>& done,
                            absl::Duration timeout) const {
  absl::MutexLock l(&mu_);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return synced_ && done(stats_); };
  return mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
}

SubscriberStats Subscriber::stats() const {
  absl::MutexLock l(&mu_);
  return stats_;
}

}  // namespace slicekeeper::client
