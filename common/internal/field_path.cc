#include "common/internal/field_path.h"

#include "absl/strings/str_cat.h"

namespace slicekeeper::validation::internal {
namespace {

// Keys come from clients and may be huge; a path only needs enough to find the entry.
constexpr size_t kMaxKeyChars = 64;

}  // namespace

void FieldPath::AppendTo(std::string& out) const { AppendFrom(out, out.size()); }

void FieldPath::AppendFrom(std::string& out, size_t start) const {
  if (parent_ != nullptr) parent_->AppendFrom(out, start);
  switch (kind_) {
    case Kind::kField:
      if (out.size() > start && !name_.empty()) out.push_back('.');
      out.append(name_.data(), name_.size());
      break;
    case Kind::kIndex:
      absl::StrAppend(&out, "[", index_, "]");
      break;
    case Kind::kKey:
      if (name_.size() <= kMaxKeyChars) {
        absl::StrAppend(&out, "[", name_, "]");
      } else {
        absl::StrAppend(&out, "[", name_.substr(0, kMaxKeyChars), "...]");
      }
      break;
  }
}

std::string FieldPath::ToString() const {
  std::string out;
  AppendTo(out);
  return out;
}

void ErrorList::Add(const FieldPath& path, absl::string_view rule) {
  if (total_ < kMaxListed) {
    if (total_ > 0) message_.append("; ");
    path.AppendTo(message_);
    absl::StrAppend(&message_, ": ", rule);
  }
  ++total_;
}

absl::Status ErrorList::ToStatus() const {
  if (total_ == 0) return absl::OkStatus();
  if (total_ <= kMaxListed) return absl::InvalidArgumentError(message_);
  return absl::InvalidArgumentError(
      absl::StrCat(message_, "; (and ", total_ - kMaxListed, " more)"));
}

}  // namespace slicekeeper::validation::internal
