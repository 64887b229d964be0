#include "tests/integration/prometheus_text.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace slicekeeper::integration {
namespace {

bool IsNameChar(char c, bool first, bool colon_ok) {
  if (absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_') return true;
  if (colon_ok && c == ':') return true;
  return !first && absl::ascii_isdigit(static_cast<unsigned char>(c));
}

// The longest prefix of `s` that is a name (metric names may contain ':', label names not).
absl::string_view TakeName(absl::string_view& s, bool colon_ok) {
  size_t n = 0;
  while (n < s.size() && IsNameChar(s[n], n == 0, colon_ok)) ++n;
  absl::string_view name = s.substr(0, n);
  s.remove_prefix(n);
  return name;
}

bool IsMetricName(absl::string_view s) {
  return !s.empty() && TakeName(s, /*colon_ok=*/true).size() > 0 && s.empty();
}

// [+-]?(digits[.digits*]|.digits)([eE][+-]?digits)?, or +Inf / -Inf / NaN (Go's ParseFloat
// accepts more, but nothing else is what a well-behaved exporter writes).
std::optional<double> ParseValue(absl::string_view s) {
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  absl::string_view rest = s;
  absl::ConsumePrefix(&rest, "+") || absl::ConsumePrefix(&rest, "-");
  size_t digits = 0, i = 0;
  while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) ++i, ++digits;
  if (i < rest.size() && rest[i] == '.') {
    ++i;
    while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i])))
      ++i, ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < rest.size() && (rest[i] == 'e' || rest[i] == 'E')) {
    ++i;
    if (i < rest.size() && (rest[i] == '+' || rest[i] == '-')) ++i;
    const size_t exp_start = i;
    while (i < rest.size() && absl::ascii_isdigit(static_cast<unsigned char>(rest[i]))) ++i;
    if (i == exp_start) return std::nullopt;
  }
  if (i != rest.size()) return std::nullopt;
  double v = 0;
  if (!absl::SimpleAtod(s, &v)) return std::nullopt;
  return v;
}

// Unescapes `s` allowing only the escapes in `allowed` ('\\' always; 'n'; '"').
std::optional<std::string> Unescape(absl::string_view s, absl::string_view allowed) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 1 == s.size() || !absl::StrContains(allowed, s[i + 1])) return std::nullopt;
    out.push_back(s[++i] == 'n' ? '\n' : s[i]);
  }
  return out;
}

class Parser {
 public:
  absl::StatusOr<Exposition> Run(absl::string_view text);

 private:
  absl::Status ParseLine(absl::string_view line);
  absl::Status ParseComment(absl::string_view line);
  absl::Status ParseSample(absl::string_view line);
  absl::Status ParseLabels(absl::string_view& s, Labels& labels);
  // The family a sample name belongs to, "" when none.
  std::string FamilyOf(const std::string& sample_name, const Labels& labels) const;
  // Makes `family` the current group; error if its group was closed before.
  absl::Status EnterFamily(const std::string& family);
  absl::Status CheckHistograms() const;

  Exposition out_;
  std::string current_;
  std::set<std::string> closed_;
  std::set<std::string> has_samples_;
  std::set<std::string> helped_;
};

absl::StatusOr<Exposition> Parser::Run(absl::string_view text) {
  if (!text.empty() && text.back() != '\n') {
    return absl::InvalidArgumentError("the last line is not terminated by \\n");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  lines.pop_back();  // After the final '\n'.
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::Status s = ParseLine(lines[i]); !s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", i + 1, ": ", s.message(), ": ", lines[i]));
    }
  }
  if (absl::Status s = CheckHistograms(); !s.ok()) return s;
  return std::move(out_);
}

absl::Status Parser::ParseLine(absl::string_view line) {
  if (line.empty()) return absl::OkStatus();
  if (line[0] == '#') return ParseComment(line);
  return ParseSample(line);
}

absl::Status Parser::EnterFamily(const std::string& family) {
  if (family == current_) return absl::OkStatus();
  if (closed_.count(family) > 0) {
    return absl::InvalidArgumentError(absl::StrCat("family ", family, " is not one group"));
  }
  if (!current_.empty()) closed_.insert(current_);
  current_ = family;
  return absl::OkStatus();
}

absl::Status Parser::ParseComment(absl::string_view line) {
  const bool help = absl::StartsWith(line, "# HELP ");
  const bool type = absl::StartsWith(line, "# TYPE ");
  if (!help && !type) return absl::OkStatus();  // A plain comment.
  absl::string_view rest = line.substr(7);
  std::string name(TakeName(rest, /*colon_ok=*/true));
  if (name.empty() || !IsMetricName(name)) return absl::InvalidArgumentError("bad metric name");
  if (absl::Status s = EnterFamily(name); !s.ok()) return s;
  MetricFamily& family = out_.families[name];
  if (help) {
    if (!helped_.insert(name).second) return absl::InvalidArgumentError("second HELP");
    if (!rest.empty() && !absl::ConsumePrefix(&rest, " ")) {
      return absl::InvalidArgumentError("no space after the name");
    }
    std::optional<std::string> text = Unescape(rest, "\\n");
    if (!text.has_value()) return absl::InvalidArgumentError("bad escape in HELP");
    family.help = *text;
    return absl::OkStatus();
  }
  if (!family.type.empty()) return absl::InvalidArgumentError("second TYPE");
  if (has_samples_.count(name) > 0) return absl::InvalidArgumentError("TYPE after samples");
  if (!absl::ConsumePrefix(&rest, " ")) return absl::InvalidArgumentError("no type");
  static const std::set<absl::string_view> kTypes = {"counter", "gauge", "histogram", "summary",
                                                     "untyped"};
  if (kTypes.count(rest) == 0) return absl::InvalidArgumentError("unknown type");
  family.type = std::string(rest);
  return absl::OkStatus();
}

absl::Status Parser::ParseLabels(absl::string_view& s, Labels& labels) {
  // s starts after '{'.
  while (!absl::ConsumePrefix(&s, "}")) {
    std::string name(TakeName(s, /*colon_ok=*/false));
    if (name.empty()) return absl::InvalidArgumentError("bad label name");
    if (!absl::ConsumePrefix(&s, "=\"")) return absl::InvalidArgumentError("expected =\"");
    size_t end = 0;
    while (end < s.size() && s[end] != '"') end += s[end] == '\\' ? 2 : 1;
    if (end >= s.size()) return absl::InvalidArgumentError("unterminated label value");
    std::optional<std::string> value = Unescape(s.substr(0, end), "\\\"n");
    if (!value.has_value()) return absl::InvalidArgumentError("bad escape in label value");
    if (!labels.emplace(name, *value).second) {
      return absl::InvalidArgumentError(absl::StrCat("label ", name, " repeated"));
    }
    s.remove_prefix(end + 1);
    if (!absl::ConsumePrefix(&s, ",") && !absl::StartsWith(s, "}")) {
      return absl::InvalidArgumentError("expected , or }");
    }
  }
  return absl::OkStatus();
}

std::string Parser::FamilyOf(const std::string& name, const Labels& labels) const {
  auto type_of = [&](const std::string& f) -> std::string {
    auto it = out_.families.find(f);
    return it == out_.families.end() ? "" : it->second.type;
  };
  const std::string own = type_of(name);
  if (!own.empty() && own != "histogram") return name;
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!absl::EndsWith(name, suffix)) continue;
    std::string base = name.substr(0, name.size() - suffix.size());
    const std::string type = type_of(base);
    if (type == "histogram" && (suffix != "_bucket" || labels.count("le") > 0)) return base;
    if (type == "summary" && suffix != "_bucket") return base;
  }
  return "";
}

absl::Status Parser::ParseSample(absl::string_view line) {
  absl::string_view s = line;
  std::string name(TakeName(s, /*colon_ok=*/true));
  if (name.empty()) return absl::InvalidArgumentError("bad metric name");
  Labels labels;
  if (absl::ConsumePrefix(&s, "{")) {
    if (absl::Status st = ParseLabels(s, labels); !st.ok()) return st;
  }
  if (!absl::ConsumePrefix(&s, " ")) return absl::InvalidArgumentError("expected one space");
  std::vector<absl::string_view> parts = absl::StrSplit(s, ' ');
  if (parts.size() > 2) return absl::InvalidArgumentError("extra fields");
  std::optional<double> value = ParseValue(parts[0]);
  if (!value.has_value()) return absl::InvalidArgumentError("bad value");
  int64_t timestamp = 0;
  if (parts.size() == 2 && !absl::SimpleAtoi(parts[1], &timestamp)) {
    return absl::InvalidArgumentError("bad timestamp");
  }
  const std::string family = FamilyOf(name, labels);
  if (family.empty()) return absl::InvalidArgumentError("sample of a family without TYPE");
  if (absl::Status st = EnterFamily(family); !st.ok()) return st;
  has_samples_.insert(family);
  if (!out_.samples[name].emplace(labels, *value).second) {
    return absl::InvalidArgumentError("series repeated");
  }
  return absl::OkStatus();
}

absl::Status Parser::CheckHistograms() const {
  for (const auto& entry : out_.families) {
    const std::string& family = entry.first;  // captured below: not a structured binding
    if (entry.second.type != "histogram") continue;
    auto samples = [&](absl::string_view suffix) -> const std::map<Labels, double>& {
      static const std::map<Labels, double> kNone;
      auto it = out_.samples.find(absl::StrCat(family, suffix));
      return it == out_.samples.end() ? kNone : it->second;
    };
    // Per series (labels without le): (le, count) pairs.
    std::map<Labels, std::vector<std::pair<double, double>>> buckets;
    for (const auto& [labels, count] : samples("_bucket")) {
      Labels series = labels;
      std::optional<double> le = ParseValue(series["le"]);
      if (!le.has_value()) return absl::InvalidArgumentError(absl::StrCat(family, ": bad le"));
      series.erase("le");
      buckets[series].emplace_back(*le, count);
    }
    for (auto& [series, list] : buckets) {
      std::sort(list.begin(), list.end());
      for (size_t i = 1; i < list.size(); ++i) {
        if (list[i].second < list[i - 1].second) {
          return absl::InvalidArgumentError(absl::StrCat(family, ": buckets not cumulative"));
        }
      }
      auto count = samples("_count").find(series);
      if (!std::isinf(list.back().first) || count == samples("_count").end() ||
          count->second != list.back().second || samples("_sum").count(series) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(family, ": +Inf bucket, _count and _sum must agree"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<double> Exposition::Value(const std::string& name, const Labels& labels) const {
  auto it = samples.find(name);
  if (it == samples.end()) return std::nullopt;
  auto series = it->second.find(labels);
  if (series == it->second.end()) return std::nullopt;
  return series->second;
}

absl::StatusOr<Exposition> ParsePrometheusText(absl::string_view text) {
  return Parser().Run(text);
}

}  // namespace slicekeeper::integration
