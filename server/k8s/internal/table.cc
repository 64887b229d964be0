#include "server/k8s/internal/table.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/k8s/codec.h"
#include "server/k8s/internal/json_writer.h"

namespace slicekeeper::k8s::internal {
namespace {

constexpr char kNameDoc[] =
    "Name must be unique within a namespace. Is required when creating resources, although some "
    "resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
constexpr char kAgeDoc[] =
    "CreationTimestamp is a timestamp representing the server time when this object was created. "
    "It is not guaranteed to be set in happens-before order across separate operations. Clients "
    "may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by "
    "the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/"
    "api-conventions.md#metadata";

constexpr TableColumn kSliceColumns[] = {
    {"Name", "string", "name", kNameDoc},
    {"AddressType", "string", "",
     "addressType specifies the type of address carried by this EndpointSlice. All addresses in "
     "this slice must be the same type. This field is immutable after creation."},
    {"Ports", "string", "",
     "ports specifies the list of network ports exposed by each endpoint "
     "in this slice."},
    {"Endpoints", "string", "",
     "endpoints is a list of unique endpoints in this slice. Each slice may include a maximum of "
     "1000 endpoints."},
    {"Age", "string", "", kAgeDoc},
};

constexpr TableColumn kNamespaceColumns[] = {
    {"Name", "string", "name", kNameDoc},
    {"Status", "string", "", "The status of the namespace"},
    {"Age", "string", "", kAgeDoc},
};

// listWithMoreString of the printers.
std::string ListWithMore(const std::vector<std::string>& list, bool more, int count, int max) {
  std::string out = absl::StrJoin(list, ",");
  if (more && count - max > 0) absl::StrAppend(&out, " + ", count - max, " more...");
  return out.empty() ? "<unset>" : out;
}

std::string FormatPorts(const PortList& ports) {
  constexpr int kMax = 3;
  std::vector<std::string> list;
  bool more = false;
  int count = 0;
  for (const v1::EndpointPort& p : ports) {
    if (static_cast<int>(list.size()) < kMax) {
      list.push_back(p.has_port() ? absl::StrCat(p.port()) : p.has_name() ? p.name() : "*");
    } else {
      more = true;
    }
    ++count;
  }
  return ListWithMore(list, more, count, kMax);
}

std::string FormatEndpoints(const EndpointList& endpoints) {
  constexpr int kMax = 3;
  std::vector<std::string> list;
  bool more = false;
  int count = 0;
  for (const EndpointPtr& e : endpoints) {
    for (absl::string_view address : e->addresses()) {
      if (static_cast<int>(list.size()) < kMax) {
        list.emplace_back(address);
      } else {
        more = true;
      }
      ++count;
    }
  }
  return ListWithMore(list, more, count, kMax);
}

void WriteColumns(absl::Span<const TableColumn> columns, JsonWriter& w) {
  w.Key("columnDefinitions");
  w.BeginArray();
  for (const TableColumn& c : columns) {
    w.BeginObject();
    w.Field("name", c.name);
    w.Field("type", c.type);
    w.Field("format", c.format);
    w.Field("description", c.description);
    w.IntField("priority", 0);
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string TableJson(absl::Span<const TableColumn> columns, const std::vector<TableRow>& rows,
                      const TableMeta& meta, bool no_headers) {
  std::string out;
  JsonWriter w(&out);
  w.BeginTyped("Table", "meta.k8s.io/v1");
  w.ListMeta(meta.resource_version, meta.continue_token, meta.remaining);
  if (!no_headers) WriteColumns(columns, w);
  w.Key("rows");
  w.BeginArray();
  for (const TableRow& row : rows) {
    w.BeginObject();
    w.Key("cells");
    w.BeginArray();
    for (const std::string& cell : row.cells) w.String(cell);
    w.EndArray();
    if (!row.object.empty()) {
      w.Key("object");
      w.Raw(row.object);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

absl::Span<const TableColumn> SliceColumns() { return kSliceColumns; }
absl::Span<const TableColumn> NamespaceColumns() { return kNamespaceColumns; }

TableRow SliceRow(const SlicePtr& slice, int64_t resource_version, Output::RowObject row_object,
                  absl::Time now, JsonCache* cache) {
  TableRow row;
  row.cells = {slice->name, slice->address_type, FormatPorts(*slice->ports),
               FormatEndpoints(slice->endpoints), Age(slice->creation_timestamp, now)};
  if (row_object == Output::RowObject::kObject) {
    row.object = *cache->Get(slice, resource_version);
  } else if (row_object == Output::RowObject::kMetadata) {
    JsonWriter w(&row.object);
    w.BeginTyped("PartialObjectMetadata", "meta.k8s.io/v1");
    w.Key("metadata");
    WriteMetadata(*slice, resource_version, w);
    w.EndObject();
  }
  return row;
}

std::string HumanDuration(absl::Duration d) {
  const int64_t seconds = absl::ToInt64Seconds(d);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return absl::StrCat(seconds, "s");
  const int64_t minutes = seconds / 60;
  if (minutes < 10) {
    const int64_t s = seconds % 60;
    return s == 0 ? absl::StrCat(minutes, "m") : absl::StrCat(minutes, "m", s, "s");
  }
  if (minutes < 60 * 3) return absl::StrCat(minutes, "m");
  const int64_t hours = minutes / 60;
  if (hours < 8) {
    const int64_t m = minutes % 60;
    return m == 0 ? absl::StrCat(hours, "h") : absl::StrCat(hours, "h", m, "m");
  }
  if (hours < 48) return absl::StrCat(hours, "h");
  if (hours < 24 * 8) {
    const int64_t h = hours % 24;
    return h == 0 ? absl::StrCat(hours / 24, "d") : absl::StrCat(hours / 24, "d", h, "h");
  }
  if (hours < 24 * 365 * 2) return absl::StrCat(hours / 24, "d");
  if (hours < 24 * 365 * 8) {
    const int64_t dy = (hours / 24) % 365;
    return dy == 0 ? absl::StrCat(hours / 24 / 365, "y")
                   : absl::StrCat(hours / 24 / 365, "y", dy, "d");
  }
  return absl::StrCat(hours / 24 / 365, "y");
}

std::string Age(absl::string_view creation_timestamp, absl::Time now) {
  absl::Time created;
  std::string error;
  if (creation_timestamp.empty() ||
      !absl::ParseTime(absl::RFC3339_full, creation_timestamp, &created, &error)) {
    return "<unknown>";
  }
  return HumanDuration(now - created);
}

}  // namespace slicekeeper::k8s::internal
