#include "server/ui/operator_view.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/json_string.h"
#include "common/namespaced_name.h"
#include "server/query/label_selector.h"
#include "server/ui/assets.h"

namespace slicekeeper::ui {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kApiPrefix[] = "/api/ui/v1/";

std::string Str(absl::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

std::string ErrorJson(absl::string_view message) {
  return absl::StrCat(R"({"error":)", Str(message), "}");
}

void SendError(http::Response& response, int status, absl::string_view message) {
  response.Send(status, kJson, ErrorJson(message));
}

void SendJson(http::Response& response, std::string body) {
  response.Send(200, kJson, body, {{"Cache-Control", "no-store"}});
}

std::string Counts(const internal::EndpointCounts& c) {
  return absl::StrCat(R"({"total":)", c.total, R"(,"ready":)", c.ready, R"(,"serving":)", c.serving,
                      R"(,"terminating":)", c.terminating, "}");
}

// Seconds since the Unix epoch, or null for InfinitePast.
std::string TimeJson(absl::Time t) {
  if (t == absl::InfinitePast()) return "null";
  return absl::StrFormat("%.3f", absl::ToDoubleSeconds(t - absl::UnixEpoch()));
}

// The table row of one service.
std::string RowJson(const internal::ServiceRow& row, int max_per_slice) {
  const internal::RowSummary& s = row.summary;
  const int64_t capacity = s.slices * max_per_slice;
  std::string out = absl::StrCat(R"({"namespace":)", Str(row.snapshot->namespace_), R"(,"name":)",
                                 Str(row.snapshot->name), R"(,"endpoints":)", Counts(s.endpoints),
                                 R"(,"slices":)", s.slices, R"(,"zones":)", s.zones);
  absl::StrAppend(&out, R"(,"fill":)",
                  capacity == 0 ? 0.0 : static_cast<double>(s.endpoints.total) / capacity,
                  R"(,"mod_revision":)", s.mod_revision, R"(,"last_change":)",
                  TimeJson(row.last_change), R"(,"changes":)", row.changes, "}");
  return out;
}

std::string EventJson(const internal::Event& e) {
  return absl::StrCat(R"({"time":)", TimeJson(e.time), R"(,"revision":)", e.revision,
                      R"(,"namespace":)", Str(e.namespace_), R"(,"name":)", Str(e.name),
                      R"(,"deleted":)", e.deleted ? "true" : "false", R"(,"added":)", e.added,
                      R"(,"removed":)", e.removed, R"(,"flips":)", e.flips, R"(,"ready":)", e.ready,
                      R"(,"total":)", e.total, "}");
}

template <typename T, typename Fn>
std::string JsonArray(const std::vector<T>& items, Fn fn) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, fn(items[i]));
  }
  out.push_back(']');
  return out;
}

// The namespace of a "namespace/name" key.
absl::string_view NamespaceOf(absl::string_view key) { return key.substr(0, key.find('/')); }

const v1::ServiceRecord& RecordOf(const internal::ServiceRow& row) {
  static const v1::ServiceRecord* const kEmpty = new v1::ServiceRecord();
  return row.snapshot->record != nullptr ? *row.snapshot->record : *kEmpty;
}

}  // namespace

OperatorView::OperatorView(store::Store* store, watch::Hub* hub, Options options)
    : store_(store),
      hub_(hub),
      options_(std::move(options)),
      recorder_(
          store, hub,
          internal::Recorder::Options{.clock = options_.clock, .lag = options_.propagation_lag}) {}

OperatorView::~OperatorView() { Stop(); }

void OperatorView::Install(http::HttpServer* server) {
  for (const char* prefix : {"/", "/ui", "/api/ui/"}) server->Route(prefix, this);
}

void OperatorView::Start() { recorder_.Start(); }

void OperatorView::Stop() { recorder_.Stop(); }

void OperatorView::Refuse(const http::Request& request, http::Response& response, int status,
                          absl::string_view message) {
  if (absl::StartsWith(request.path, "/api/")) {
    SendError(response, status, message);
  } else {
    http::Handler::Refuse(request, response, status, message);
  }
}

std::optional<auth::Request> OperatorView::Access(const http::Request& request) const {
  // The page's files carry no data: public, so that a browser without a token loads the page
  // that asks for one.
  if (!absl::StartsWith(request.path, kApiPrefix)) return std::nullopt;
  auth::Request access{.rpc = absl::StrCat(request.method, " ", request.path)};
  const std::vector<absl::string_view> p = absl::StrSplit(
      absl::string_view(request.path).substr(sizeof(kApiPrefix) - 1), '/', absl::SkipEmpty());
  if (p.size() == 3 && p[0] == "services") {
    access.namespaces.emplace_back(p[1]);
  } else if (p.size() == 1 && (p[0] == "series" || p[0] == "subscribers")) {
    // Cluster-wide figures: no namespaces, not all_namespaces, asks for a cluster-wide reader.
  } else {
    access.all_namespaces = true;
  }
  return access;
}

void OperatorView::Serve(const http::Request& request, http::Response& response) {
  const bool read = request.method == "GET" || request.method == "HEAD";
  if (request.path == "/" || request.path == "/ui") {
    response.Send(302, "text/plain", "see /ui/\n", {{"Location", "/ui/"}});
    return;
  }
  if (absl::StartsWith(request.path, "/ui/")) {
    const absl::string_view file = absl::string_view(request.path).substr(4);
    for (const Asset& a : Assets()) {
      if (a.path == file) {
        response.Send(read ? 200 : 405, a.content_type, read ? a.body : "method not allowed\n",
                      {{"Cache-Control", "no-cache"}});
        return;
      }
    }
  }
  if (!absl::StartsWith(request.path, kApiPrefix)) {
    response.Send(404, "text/plain; charset=utf-8", "not found\n");
    return;
  }
  if (!read) {
    SendError(response, 405, "the operator API is read-only: use GET");
    return;
  }
  const std::vector<absl::string_view> p = absl::StrSplit(
      absl::string_view(request.path).substr(sizeof(kApiPrefix) - 1), '/', absl::SkipEmpty());
  if (p.size() == 1 && p[0] == "overview") {
    SendJson(response, OverviewJson(request.caller.readable));
  } else if (p.size() == 1 && p[0] == "services") {
    ServeServices(request, response);
  } else if (p.size() == 3 && p[0] == "services") {
    ServeService(p[1], p[2], response);
  } else if (p.size() == 1 && p[0] == "series") {
    ServeSeries(response);
  } else if (p.size() == 1 && p[0] == "subscribers") {
    ServeSubscribers(response);
  } else if (p.size() == 1 && p[0] == "events") {
    ServeEvents(request, response);
  } else {
    SendError(response, 404, absl::StrCat("no such operator API path: ", request.path));
  }
}

std::string OperatorView::OverviewJson(const auth::NamespaceFilter& readable) const {
  if (!readable.all()) {
    // Only the namespaces the caller may read, and none of the cluster-wide figures.
    const internal::Totals t = recorder_.TotalsOf(
        [&](const internal::ServiceRow& r) { return readable.Allows(r.snapshot->namespace_); });
    std::vector<std::string> names(readable.set()->begin(), readable.set()->end());
    std::sort(names.begin(), names.end());
    return absl::StrCat(
        R"({"revision":)", t.revision, R"(,"store_revision":)", store_->revision(),
        R"(,"services":)", t.services, R"(,"slices":)", t.slices, R"(,"endpoints":)",
        Counts(t.endpoints), R"(,"namespaces":)", JsonArray(names, Str),
        R"(,"writes_per_second":null,"changes_per_second":null,"subscribers":null,)",
        R"("history":null,"storage":null,"pages":null,"page_built":)",
        AssetsBuilt() ? "true" : "false", "}");
  }
  const internal::Totals t = recorder_.totals();
  const internal::Sample last = recorder_.LastSample();
  const watch::HubStats hub = hub_->stats();
  const auto [history_commits, history_bytes] = store_->history_usage();
  const absl::Status health = store_->health();
  const internal::Recorder::QueueStats q = recorder_.queue_stats();
  std::string out = absl::StrCat(
      R"({"revision":)", t.revision, R"(,"store_revision":)", store_->revision(), R"(,"services":)",
      t.services, R"(,"slices":)", t.slices, R"(,"endpoints":)", Counts(t.endpoints),
      R"(,"writes_per_second":)", last.writes, R"(,"changes_per_second":{"added":)", last.added,
      R"(,"removed":)", last.removed, R"(,"flips":)", last.flips, "}");
  // The view's own marks subscriber is not an xDS stream.
  absl::StrAppend(&out, R"(,"subscribers":{"watch":)",
                  hub.subscribers_slices + hub.subscribers_endpoints, R"(,"xds":)",
                  std::max<int64_t>(0, hub.subscribers_marks - 1), R"(,"pages":)", q.open,
                  R"(,"max_lag_seconds":)", absl::ToDoubleSeconds(hub.max_lag), R"(,"coalesced":)",
                  hub.coalesced, R"(,"resets":)", hub.resets, "}");
  absl::StrAppend(&out, R"(,"history":{"commits":)", history_commits, R"(,"bytes":)", history_bytes,
                  R"(,"floor_revision":)", store_->history_floor(), "}");
  absl::StrAppend(&out, R"(,"storage":{"backend":)", Str(options_.storage_backend),
                  R"(,"healthy":)", health.ok() ? "true" : "false", R"(,"message":)",
                  Str(health.message()), "}");
  absl::StrAppend(&out, R"(,"pages":{"open":)", q.open, R"(,"max_queued":)", q.max_high_water,
                  R"(,"coalesced":)", q.coalesced, R"(,"resyncs":)", q.resyncs, "}");
  absl::StrAppend(&out, R"(,"namespaces":null,"page_built":)", AssetsBuilt() ? "true" : "false",
                  "}");
  return out;
}

std::string OperatorView::SampleJson(const internal::Sample& s) const {
  auto ms = [](double v) { return v < 0 ? std::string("null") : absl::StrCat(v); };
  return absl::StrCat(R"({"t":)", s.unix_seconds, R"(,"writes":)", s.writes, R"(,"added":)",
                      s.added, R"(,"removed":)", s.removed, R"(,"flips":)", s.flips,
                      R"(,"lag_p50_ms":)", ms(s.lag_p50_ms), R"(,"lag_p99_ms":)", ms(s.lag_p99_ms),
                      "}");
}

void OperatorView::ServeServices(const http::Request& request, http::Response& response) const {
  const std::string ns = request.Param("namespace").value_or("");
  std::optional<query::LabelSelector> selector;
  if (std::optional<std::string> text = request.Param("selector"); text && !text->empty()) {
    absl::StatusOr<query::LabelSelector> parsed = query::LabelSelector::Parse(*text);
    if (!parsed.ok()) {
      SendError(response, 400, absl::StrCat("selector: ", parsed.status().message()));
      return;
    }
    selector = *std::move(parsed);
  }
  const int64_t revision = recorder_.totals().revision;
  std::vector<internal::ServiceRow> rows = recorder_.Rows([&](const internal::ServiceRow& row) {
    if (!ns.empty() && row.snapshot->namespace_ != ns) return false;
    if (!request.caller.readable.Allows(row.snapshot->namespace_)) return false;
    return !selector.has_value() || selector->Matches(RecordOf(row).labels());
  });
  SendJson(response, absl::StrCat(R"({"revision":)", revision, R"(,"services":)",
                                  JsonArray(rows,
                                            [&](const internal::ServiceRow& r) {
                                              return RowJson(r, options_.max_endpoints_per_slice);
                                            }),
                                  "}"));
}

void OperatorView::ServeService(absl::string_view ns, absl::string_view name,
                                http::Response& response) const {
  const std::string key = NamespacedName(ns, name);
  internal::ServiceRow row;
  if (!recorder_.Row(key, &row)) {
    SendError(response, 404, absl::StrCat("service ", key, " not found"));
    return;
  }
  // The row keeps no zones (recorder.h): one summary of the snapshot it holds gives them.
  const internal::Summary summary = internal::SummaryCache().Update(*row.snapshot);
  std::string zones = "[";
  for (const auto& [zone, counts] : summary.zones) {  // sorted by name
    if (zones.size() > 1) zones.push_back(',');
    absl::StrAppend(&zones, R"({"zone":)", Str(zone), R"(,"endpoints":)", Counts(counts), "}");
  }
  zones.push_back(']');
  std::string slices = JsonArray(row.snapshot->slices, [&](const SlicePtr& s) {
    int64_t ready = 0;
    for (const EndpointPtr& e : s->endpoints) {
      ready += e->conditions().has_ready() ? e->conditions().ready() : 1;
    }
    const double fill =
        static_cast<double>(s->endpoints.size()) / std::max(1, options_.max_endpoints_per_slice);
    return absl::StrCat(R"({"name":)", Str(s->name), R"(,"address_type":)", Str(s->address_type),
                        R"(,"managed":)", s->Managed() ? "true" : "false", R"(,"endpoints":)",
                        s->endpoints.size(), R"(,"ready":)", ready, R"(,"fill":)", fill,
                        R"(,"resource_version":)", s->resource_version, "}");
  });
  std::string labels = "{";
  for (const auto& [k, v] : RecordOf(row).labels()) {
    if (labels.size() > 1) labels.push_back(',');
    absl::StrAppend(&labels, Str(k), ":", Str(v));
  }
  labels.push_back('}');
  SendJson(response,
           absl::StrCat(R"({"service":)", RowJson(row, options_.max_endpoints_per_slice),
                        R"(,"labels":)", labels, R"(,"zones":)", zones, R"(,"slices":)", slices,
                        R"(,"events":)", JsonArray(recorder_.Events(key), EventJson), "}"));
}

void OperatorView::ServeSeries(http::Response& response) const {
  SendJson(response,
           absl::StrCat(R"({"interval_seconds":1,"lag_available":)",
                        options_.propagation_lag != nullptr ? "true" : "false", R"(,"samples":)",
                        JsonArray(recorder_.Samples(),
                                  [this](const internal::Sample& s) { return SampleJson(s); }),
                        "}"));
}

void OperatorView::ServeSubscribers(http::Response& response) const {
  constexpr size_t kLimit = 500;
  auto [subs, total] = hub_->Subscribers(kLimit);
  std::string list = JsonArray(subs, [](const watch::SubscriberInfo& s) {
    return absl::StrCat(R"({"peer":)", Str(s.peer), R"(,"namespace":)", Str(s.namespace_),
                        R"(,"services":)", s.services, R"(,"view":)", Str(s.view),
                        R"(,"lag_seconds":)", absl::ToDoubleSeconds(s.lag), R"(,"events_sent":)",
                        s.events_sent, R"(,"coalesced":)", s.coalesced, R"(,"resets":)", s.resets,
                        "}");
  });
  SendJson(response, absl::StrCat(R"({"total":)", total, R"(,"subscribers":)", list, "}"));
}

std::string OperatorView::ServicesEvent(const std::vector<std::string>& keys,
                                        const auth::NamespaceFilter& readable) const {
  std::string rows = "[", deleted = "[";
  for (const std::string& key : keys) {
    if (!readable.Allows(NamespaceOf(key))) continue;
    internal::ServiceRow row;
    if (recorder_.Row(key, &row)) {
      if (rows.size() > 1) rows.push_back(',');
      absl::StrAppend(&rows, RowJson(row, options_.max_endpoints_per_slice));
    } else {
      if (deleted.size() > 1) deleted.push_back(',');
      absl::StrAppend(&deleted, Str(key));
    }
  }
  if (rows.size() == 1 && deleted.size() == 1) return "";
  return absl::StrCat("event: services\ndata: {\"revision\":", recorder_.totals().revision,
                      R"(,"rows":)", rows, R"(],"deleted":)", deleted, "]}\n\n");
}

void OperatorView::ServeEvents(const http::Request& request, http::Response& response) {
  const std::string service = request.Param("service").value_or("");
  const auth::NamespaceFilter& readable = request.caller.readable;
  absl::StatusOr<http::ResponseStream*> started =
      response.StartStream(200, "text/event-stream", {{"Cache-Control", "no-store"}});
  if (!started.ok()) {
    SendError(response, 429, started.status().message());
    return;
  }
  http::ResponseStream* stream = *started;
  internal::Queue queue([stream] { stream->Notify(); }, options_.max_queue_keys,
                        options_.max_queue_events);
  recorder_.AddQueue(&queue);
  bool open = stream->Write(
      absl::StrCat("retry: 2000\nevent: overview\ndata: ", OverviewJson(readable), "\n\n"));
  while (open) {
    const http::ResponseStream::WaitResult w = stream->Wait(absl::Now() + options_.keepalive);
    if (w == http::ResponseStream::WaitResult::kClosed) break;
    if (w == http::ResponseStream::WaitResult::kDeadline) {
      open = stream->Write(": keepalive\n\n");
      continue;
    }
    internal::Queue::Taken taken = queue.Take();
    std::string out;
    if (taken.resync) {
      out = "event: resync\ndata: {}\n\n";
    } else if (!taken.keys.empty()) {
      std::sort(taken.keys.begin(), taken.keys.end());
      out = ServicesEvent(taken.keys, readable);
    }
    std::vector<internal::Event> events;
    for (internal::Event& e : taken.events) {
      if (!readable.Allows(e.namespace_)) continue;
      if (service.empty() || NamespacedName(e.namespace_, e.name) == service) {
        events.push_back(std::move(e));
      }
    }
    if (!events.empty() || taken.dropped_events > 0) {
      absl::StrAppend(&out, "event: events\ndata: {\"dropped\":", taken.dropped_events,
                      R"(,"events":)", JsonArray(events, EventJson), "}\n\n");
    }
    if (taken.sample) {
      // A caller limited to some namespaces gets no cluster-wide sample, only its own totals.
      absl::StrAppend(&out, "event: sample\ndata: {\"sample\":",
                      readable.all() ? SampleJson(recorder_.LastSample()) : "null",
                      R"(,"overview":)", OverviewJson(readable), "}\n\n");
    }
    if (!out.empty()) open = stream->Write(out);
  }
  recorder_.RemoveQueue(&queue);
}

}  // namespace slicekeeper::ui
