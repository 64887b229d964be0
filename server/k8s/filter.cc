#include "server/k8s/filter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace slicekeeper::k8s {
namespace {

// Splits `text` at unescaped commas. The parts keep their escapes: an escaped '=' must not be
// taken for the operator (FindOperator), so values are unescaped only after it is found.
std::vector<std::string> SplitUnescaped(absl::string_view text) {
  std::vector<std::string> parts(1);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 1 < text.size()) {
      parts.back().push_back(text[i]);
      parts.back().push_back(text[++i]);
    } else if (text[i] == ',') {
      parts.emplace_back();
    } else {
      parts.back().push_back(text[i]);
    }
  }
  return parts;
}

std::string Unescape(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out.push_back(s[i]);
  }
  return out;
}

// The first unescaped "!=", "==" or "=" of `part`: its position and length, or npos.
std::pair<size_t, size_t> FindOperator(absl::string_view part) {
  for (size_t i = 0; i < part.size(); ++i) {
    if (part[i] == '\\') {
      ++i;
      continue;
    }
    if (part.substr(i, 2) == "!=" || part.substr(i, 2) == "==") return {i, 2};
    if (part[i] == '=') return {i, 1};
  }
  return {absl::string_view::npos, 0};
}

}  // namespace

absl::StatusOr<Filter> Filter::Parse(absl::string_view ns, absl::string_view label_selector,
                                     absl::string_view field_selector) {
  Filter f;
  f.ns_ = std::string(ns);
  absl::StatusOr<query::LabelSelector> labels = query::LabelSelector::Parse(label_selector);
  if (!labels.ok()) return labels.status();
  f.labels_ = std::move(*labels);
  for (const query::LabelSelector::Requirement& r : f.labels_.requirements()) {
    if (r.key != kLabelServiceName) continue;
    if (r.op == query::LabelSelector::Op::kEquals || r.op == query::LabelSelector::Op::kIn) {
      f.services_ = r.values;
    }
  }
  if (absl::StripAsciiWhitespace(field_selector).empty()) return f;
  for (const std::string& raw : SplitUnescaped(field_selector)) {
    absl::string_view part = absl::StripAsciiWhitespace(raw);
    auto [pos, len] = FindOperator(part);
    if (pos == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid field selector: '", part, "'; can't understand '", part, "'"));
    }
    const absl::string_view field = absl::StripAsciiWhitespace(part.substr(0, pos));
    if (field != "metadata.name" && field != "metadata.namespace") {
      return absl::InvalidArgumentError(absl::StrCat("field label not supported: ", field));
    }
    f.fields_.push_back(
        FieldRequirement{.name = field == "metadata.name",
                         .equals = part.substr(pos, len) != "!=",
                         .value = Unescape(absl::StripAsciiWhitespace(part.substr(pos + len)))});
  }
  return f;
}

bool Filter::Matches(const Slice& slice) const {
  if (!ns_.empty() && slice.namespace_ != ns_) return false;
  if (!Allows(slice.namespace_)) return false;
  for (const FieldRequirement& r : fields_) {
    const std::string& actual = r.name ? slice.name : slice.namespace_;
    if ((actual == r.value) != r.equals) return false;
  }
  return labels_.Matches(slice.meta->labels());
}

}  // namespace slicekeeper::k8s
