// The name and value predicates of common/validation.h (Kubernetes apimachinery
// pkg/util/validation), hand-written: they run several times per change on the write path, where
// std::regex would dominate the cost.
#include "common/validation.h"

namespace slicekeeper::validation {
namespace {

constexpr size_t kLabelMaxChars = 63;
constexpr size_t kSubdomainMaxChars = 253;

constexpr bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
constexpr bool IsAlnum(char c) { return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z'); }

// [a-z0-9]([-a-z0-9]*[a-z0-9])?, any length.
bool IsLabelShape(absl::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], at most 63: a non-empty label value or name part.
bool IsNamePart(absl::string_view s) {
  if (s.empty() || s.size() > kLabelMaxChars) return false;
  if (!IsAlnum(s.front()) || !IsAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// Calls `fn` on each '.'-separated label; false as soon as one fails.
template <typename Fn>
bool AllLabels(absl::string_view s, Fn fn) {
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    if (dot == absl::string_view::npos) return fn(s.substr(start));
    if (!fn(s.substr(start, dot - start))) return false;
    start = dot + 1;
  }
}

}  // namespace

bool IsDns1123Label(absl::string_view s) { return s.size() <= kLabelMaxChars && IsLabelShape(s); }

bool IsDns1123Subdomain(absl::string_view s) {
  if (s.empty() || s.size() > kSubdomainMaxChars) return false;
  return AllLabels(s, IsLabelShape);
}

bool IsLabelValue(absl::string_view s) { return s.empty() || IsNamePart(s); }

bool IsQualifiedName(absl::string_view s) {
  size_t slash = s.find('/');
  if (slash == absl::string_view::npos) return IsNamePart(s);
  if (s.find('/', slash + 1) != absl::string_view::npos) return false;
  return IsDns1123Subdomain(s.substr(0, slash)) && IsNamePart(s.substr(slash + 1));
}

bool IsLabelKey(absl::string_view s) { return IsQualifiedName(s); }

bool IsFqdnAddress(absl::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (!IsDns1123Subdomain(s) || s.find('.') == absl::string_view::npos) return false;
  return AllLabels(s, [](absl::string_view label) { return label.size() <= kLabelMaxChars; });
}

}  // namespace slicekeeper::validation
