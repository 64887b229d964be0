#include "server/k8s/internal/reads.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/k8s/codec.h"
#include "server/k8s/filter.h"
#include "server/k8s/internal/continue_token.h"
#include "server/k8s/internal/json_writer.h"
#include "server/k8s/internal/table.h"

namespace slicekeeper::k8s::internal {
namespace {

constexpr char kContinueExpired[] =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter.";

struct Page {
  int64_t revision = 0;
  std::vector<SlicePtr> items;
  std::string continue_token;
  int64_t remaining = -1;
};

// The catalog a list without `continue` reads (see the header's table).
ApiOr<store::CatalogPtr> ReadCatalog(const Context& ctx, absl::string_view ns,
                                     const ResourceVersion& rv, absl::string_view match) {
  if (match == "Exact" && rv.set && rv.revision > 0) {
    ApiOr<bool> reached = AwaitResourceVersion(ctx, rv.revision);
    if (!reached.ok()) return reached.error();
    absl::StatusOr<store::CatalogPtr> at = ctx.store->SnapshotAt(ns, rv.revision);
    if (!at.ok()) {
      return Expired(absl::StrCat("too old resource version: ", rv.revision, " (",
                                  at.status().message(), ")"));
    }
    return *at;
  }
  if (rv.revision > 0) {
    ApiOr<bool> reached = AwaitResourceVersion(ctx, rv.revision);
    if (!reached.ok()) return reached.error();
  }
  return ctx.store->Snapshot(ns);
}

// Checks the combination of paging and resourceVersion parameters.
ApiOr<bool> CheckListParams(const ResourceVersion& rv, absl::string_view match, bool has_continue) {
  if (!match.empty() && match != "Exact" && match != "NotOlderThan") {
    return BadRequest(absl::StrCat("resourceVersionMatch: Unsupported value: \"", match,
                                   "\": supported values: \"Exact\", \"NotOlderThan\""));
  }
  if (has_continue && (rv.set || !match.empty())) {
    return BadRequest("specifying resource version is not allowed when using continue");
  }
  if (!match.empty() && !rv.set) {
    return BadRequest("resourceVersionMatch is forbidden unless resourceVersion is provided");
  }
  if (match == "Exact" && rv.revision == 0) {
    return BadRequest("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"");
  }
  return true;
}

// The matching slices of `catalog` after `after` (a continue point), at most `limit` (0: all).
Page Cut(const store::Catalog& catalog, const Filter& filter, const ContinuePoint* after,
         int64_t limit) {
  std::vector<SlicePtr> all;
  const std::vector<std::string>& services = filter.services();
  for (const store::ServiceSnapshotPtr& service : catalog.services) {
    if (!filter.Allows(service->namespace_)) continue;
    if (!services.empty() &&
        std::find(services.begin(), services.end(), service->name) == services.end()) {
      continue;
    }
    for (const SlicePtr& slice : service->slices) {
      if (filter.Matches(*slice)) all.push_back(slice);
    }
  }
  auto key = [](const SlicePtr& s) { return std::tie(s->namespace_, s->name); };
  std::sort(all.begin(), all.end(),
            [&](const SlicePtr& a, const SlicePtr& b) { return key(a) < key(b); });
  auto first = all.begin();
  if (after != nullptr) {
    first = std::upper_bound(all.begin(), all.end(), std::tie(after->ns, after->name),
                             [&](const auto& k, const SlicePtr& s) { return k < key(s); });
  }
  Page page;
  page.revision = catalog.revision;
  const int64_t left = all.end() - first;
  const int64_t take = limit > 0 ? std::min(limit, left) : left;
  page.items.assign(first, first + take);
  if (take < left) {
    const SlicePtr& last = page.items.back();
    page.continue_token = EncodeContinue({catalog.revision, last->namespace_, last->name});
    if (filter.everything()) page.remaining = left - take;
  }
  return page;
}

std::string ListJson(const Page& page, JsonCache* cache) {
  std::string out;
  JsonWriter w(&out);
  w.BeginTyped(kListKind, kApiVersion);
  w.ListMeta(page.revision, page.continue_token, page.remaining);
  w.Key("items");
  w.BeginArray();
  for (const SlicePtr& slice : page.items) w.Raw(*cache->Get(slice));
  w.EndArray();
  w.EndObject();
  return out;
}

Reply Render(const Context& ctx, const Output& output, const Page& page) {
  Reply reply;
  if (!output.table) {
    reply.body = ListJson(page, ctx.cache);
    return reply;
  }
  std::vector<TableRow> rows;
  rows.reserve(page.items.size());
  const absl::Time now = ctx.clock->Now();
  for (const SlicePtr& slice : page.items) {
    rows.push_back(SliceRow(slice, 0, output.row_object, now, ctx.cache));
  }
  reply.content_type = kTableJson;
  reply.body = TableJson(SliceColumns(), rows,
                         TableMeta{page.revision, page.continue_token, page.remaining}, false);
  return reply;
}

ApiOr<Page> ListPage(const Context& ctx, const http::Request& request, absl::string_view ns) {
  absl::StatusOr<Filter> filter = Filter::Parse(ns, request.Param("labelSelector").value_or(""),
                                                request.Param("fieldSelector").value_or(""));
  if (!filter.ok()) return BadRequest(std::string(filter.status().message()));
  filter->LimitNamespaces(request.caller.readable.set());
  ApiOr<int64_t> limit = IntParam(request, "limit", 0);
  if (!limit.ok()) return limit.error();
  ApiOr<ResourceVersion> rv = ParseResourceVersion(request);
  if (!rv.ok()) return rv.error();
  const std::string match = request.Param("resourceVersionMatch").value_or("");
  const std::string token = request.Param("continue").value_or("");
  ApiOr<bool> valid = CheckListParams(*rv, match, !token.empty());
  if (!valid.ok()) return valid.error();
  if (token.empty()) {
    ApiOr<store::CatalogPtr> catalog = ReadCatalog(ctx, ns, *rv, match);
    if (!catalog.ok()) return catalog.error();
    return Cut(**catalog, *filter, nullptr, *limit);
  }
  absl::StatusOr<ContinuePoint> point = DecodeContinue(token);
  if (!point.ok()) return BadRequest(std::string(point.status().message()));
  absl::StatusOr<store::CatalogPtr> catalog = ctx.store->SnapshotAt(ns, point->revision);
  if (absl::IsOutOfRange(catalog.status())) return Expired(kContinueExpired);
  if (!catalog.ok())
    return BadRequest(absl::StrCat("continue key is not valid: ", catalog.status().message()));
  return Cut(**catalog, *filter, &*point, *limit);
}

}  // namespace

ApiOr<ResourceVersion> ParseResourceVersion(const http::Request& request) {
  ResourceVersion rv;
  const std::string text = request.Param("resourceVersion").value_or("");
  if (text.empty()) return rv;
  rv.set = true;
  if (!absl::SimpleAtoi(text, &rv.revision) || rv.revision < 0) {
    return BadRequest(absl::StrCat("resourceVersion: Invalid value: \"", text,
                                   "\": must be a non-negative integer"));
  }
  return rv;
}

ApiOr<bool> AwaitResourceVersion(const Context& ctx, int64_t revision) {
  if (ctx.store->AwaitRevision(revision, absl::Now() + ctx.resource_version_wait)) return true;
  return TooLargeResourceVersion(revision, ctx.store->revision());
}

Reply ListSlices(const Context& ctx, const http::Request& request, absl::string_view ns) {
  ApiOr<Output> output = NegotiateOutput(request);
  if (!output.ok()) return ErrorReply(output.error());
  ApiOr<Page> page = ListPage(ctx, request, ns);
  if (!page.ok()) return ErrorReply(page.error());
  return Render(ctx, *output, *page);
}

Reply GetSlice(const Context& ctx, const http::Request& request, absl::string_view ns,
               absl::string_view name) {
  ApiOr<Output> output = NegotiateOutput(request);
  if (!output.ok()) return ErrorReply(output.error());
  ApiOr<ResourceVersion> rv = ParseResourceVersion(request);
  if (!rv.ok()) return ErrorReply(rv.error());
  if (rv->revision > 0) {
    ApiOr<bool> reached = AwaitResourceVersion(ctx, rv->revision);
    if (!reached.ok()) return ErrorReply(reached.error());
  }
  absl::StatusOr<std::pair<SlicePtr, int64_t>> slice = ctx.store->GetSlice(ns, name);
  if (!slice.ok()) return ErrorReply(FromStatus(slice.status(), name));
  if (!output->table) return Reply{.body = *ctx.cache->Get(slice->first)};
  std::vector<TableRow> rows = {
      SliceRow(slice->first, 0, output->row_object, ctx.clock->Now(), ctx.cache)};
  return Reply{.content_type = kTableJson,
               .body = TableJson(SliceColumns(), rows, TableMeta{slice->second, "", -1}, false)};
}

}  // namespace slicekeeper::k8s::internal
