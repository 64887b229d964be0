// meta.k8s.io/v1 Tables: what `kubectl get` prints, computed by the server as the apiserver's
// printers do (pkg/printers/internalversion). EndpointSlices: NAME, ADDRESSTYPE, PORTS, ENDPOINTS,
// AGE, with at most three ports / addresses listed and " + N more..." after them; namespaces:
// NAME, STATUS, AGE. Private to server/k8s.
//
// Thread-safety: stateless functions; safe from any thread.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_TABLE_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/slice.h"
#include "server/k8s/internal/context.h"

namespace slicekeeper::k8s::internal {

struct TableColumn {
  const char* name;
  const char* type;
  const char* format;
  const char* description;
};

struct TableRow {
  std::vector<std::string> cells;
  // The row's "object" (JSON), or "" for none.
  std::string object;
};

// The list metadata of a Table.
struct TableMeta {
  int64_t resource_version = 0;
  std::string continue_token;
  int64_t remaining = -1;  // -1: not set
};

// The Table, with columnDefinitions unless `no_headers` (a watch sends them only once).
std::string TableJson(absl::Span<const TableColumn> columns, const std::vector<TableRow>& rows,
                      const TableMeta& meta, bool no_headers);

absl::Span<const TableColumn> SliceColumns();
// The row of one slice; its object per `row_object` (a PartialObjectMetadata, or the slice).
// `resource_version` as in EncodeSlice.
TableRow SliceRow(const SlicePtr& slice, int64_t resource_version, Output::RowObject row_object,
                  absl::Time now, JsonCache* cache);

absl::Span<const TableColumn> NamespaceColumns();

// Kubernetes' duration.HumanDuration: "45s", "3m12s", "4h5m", "3d2h", "2y30d", ...
std::string HumanDuration(absl::Duration d);
// The AGE cell of an RFC 3339 creationTimestamp ("<unknown>" when empty or unparseable).
std::string Age(absl::string_view creation_timestamp, absl::Time now);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_TABLE_H_
