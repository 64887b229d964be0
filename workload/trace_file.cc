#include "workload/trace_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/json_util.h"
#include "slicekeeper/v1/trace.pb.h"

namespace slicekeeper::workload {

absl::Status TraceWriter::Write(absl::Span<const v1::EndpointChange> changes, bool warmup) {
  return WriteBatch(changes, warmup);
}

absl::Status TraceWriter::Write(
    const google::protobuf::RepeatedPtrField<v1::EndpointChange>& changes, bool warmup) {
  return WriteBatch(changes, warmup);
}

template <typename Changes>
absl::Status TraceWriter::WriteBatch(const Changes& changes, bool warmup) {
  ++batch_;
  v1::TraceRecord record;
  record.set_batch(batch_);
  record.set_warmup(warmup);
  std::string line;
  for (const v1::EndpointChange& c : changes) {
    *record.mutable_change() = c;
    line.clear();
    auto printed = google::protobuf::util::MessageToJsonString(record, &line);
    if (!printed.ok()) return absl::InternalError(std::string(printed.message()));
    *out_ << line << '\n';
  }
  if (!out_->good()) return absl::DataLossError("trace file: write failed");
  return absl::OkStatus();
}

absl::Status TraceWriter::Write(const Trace& trace) {
  for (const TraceBatch& b : trace.batches) {
    if (absl::Status s = Write(b.changes, b.warmup); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Trace> ReadTrace(std::istream& in, const std::string& name) {
  Trace trace;
  trace.name = name;
  std::string line;
  int64_t number = 0;
  bool have_batch = false;
  uint32_t current = 0;
  v1::TraceRecord record;
  while (std::getline(in, line)) {
    ++number;
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    record.Clear();
    auto parsed = google::protobuf::util::JsonStringToMessage(line, &record);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", number, ": ", parsed.message().as_string()));
    }
    if (!record.has_change()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", number, ": change is required"));
    }
    if (!have_batch || record.batch() != current) {
      trace.batches.push_back(TraceBatch{{}, record.warmup()});
      current = record.batch();
      have_batch = true;
    }
    trace.batches.back().changes.push_back(std::move(*record.mutable_change()));
  }
  return trace;
}

}  // namespace slicekeeper::workload
