// Trace files: JSON lines, one slicekeeper.v1.TraceRecord per line (proto/slicekeeper/v1/
// trace.proto), in protobuf's JSON mapping. `skctl churn --record` writes them; the distribution
// simulator reads them (and the traces of its models can be written out the same way).
//
// Thread-safety: a TraceWriter is for one thread; ReadTrace is a plain function.
//
// Example:
//   std::ofstream out("churn.jsonl");
//   TraceWriter w(&out);
//   w.Write(batch.changes());            // batch 1
//   ...
//   std::ifstream in("churn.jsonl");
//   absl::StatusOr<Trace> t = ReadTrace(in, "churn");
#ifndef SLICEKEEPER_WORKLOAD_TRACE_FILE_H_
#define SLICEKEEPER_WORKLOAD_TRACE_FILE_H_

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "slicekeeper/v1/change.pb.h"
#include "workload/traces.h"

namespace slicekeeper::workload {

class TraceWriter {
 public:
  // `out` must outlive the writer.
  explicit TraceWriter(std::ostream* out) : out_(out) {}

  // Writes `changes` as the next batch (numbered from 1), one line each.
  // Errors: INTERNAL when a change cannot be printed, DATA_LOSS when the stream fails.
  absl::Status Write(absl::Span<const v1::EndpointChange> changes, bool warmup = false);
  absl::Status Write(const google::protobuf::RepeatedPtrField<v1::EndpointChange>& changes,
                     bool warmup = false);
  // Every batch of `trace`.
  absl::Status Write(const Trace& trace);

 private:
  template <typename Changes>
  absl::Status WriteBatch(const Changes& changes, bool warmup);

  std::ostream* out_;
  uint32_t batch_ = 0;
};

// Reads a whole trace file. Blank lines are skipped. Errors: INVALID_ARGUMENT "line N: ..." for a
// line that is not a TraceRecord, or a record without a change.
absl::StatusOr<Trace> ReadTrace(std::istream& in, const std::string& name);

}  // namespace slicekeeper::workload

#endif  // SLICEKEEPER_WORKLOAD_TRACE_FILE_H_
