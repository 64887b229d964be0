// Internal to common/validation: lazily rendered field paths and the capped error accumulator.
//
// A `FieldPath` is a chain of stack objects ("changes[3]" -> "endpoint" -> "addresses" -> [0]) that
// is turned into text only when an error is reported, so validating valid input allocates nothing.
// REQUIRES: a FieldPath never outlives its parent; build children as named locals or as temporaries
// inside the call that uses them, never store a chain of temporaries.
//
// `ErrorList` collects "<path>: <rule>" violations, renders at most kMaxListed of them and counts
// the rest, so a batch of a million bad changes yields a short message.
//
// Thread-safety: plain values, one thread at a time.
#ifndef SLICEKEEPER_COMMON_INTERNAL_FIELD_PATH_H_
#define SLICEKEEPER_COMMON_INTERNAL_FIELD_PATH_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::validation::internal {

class FieldPath {
 public:
  // The root: "" or a caller-given prefix such as "changes[3]" or "slice".
  explicit FieldPath(absl::string_view root) : name_(root) {}

  FieldPath Field(absl::string_view name) const { return FieldPath(this, Kind::kField, name, 0); }
  FieldPath Index(size_t i) const { return FieldPath(this, Kind::kIndex, {}, i); }
  // A map key; long keys are shortened when rendered.
  FieldPath Key(absl::string_view key) const { return FieldPath(this, Kind::kKey, key, 0); }

  std::string ToString() const;
  void AppendTo(std::string& out) const;

 private:
  enum class Kind { kField, kIndex, kKey };
  // `start` is where this path's text begins in `out` (no leading '.').
  void AppendFrom(std::string& out, size_t start) const;
  FieldPath(const FieldPath* parent, Kind kind, absl::string_view name, size_t index)
      : parent_(parent), kind_(kind), name_(name), index_(index) {}

  const FieldPath* parent_ = nullptr;
  Kind kind_ = Kind::kField;
  absl::string_view name_;
  size_t index_ = 0;
};

class ErrorList {
 public:
  static constexpr size_t kMaxListed = 20;

  // Records one violation; renders it only while fewer than kMaxListed are listed.
  void Add(const FieldPath& path, absl::string_view rule);

  bool ok() const { return total_ == 0; }
  size_t size() const { return total_; }
  // OK when empty, else INVALID_ARGUMENT "<p1>: <r1>; <p2>: <r2>[; (and N more)]".
  absl::Status ToStatus() const;

 private:
  std::string message_;
  size_t total_ = 0;
};

}  // namespace slicekeeper::validation::internal

#endif  // SLICEKEEPER_COMMON_INTERNAL_FIELD_PATH_H_
