#include "server/metrics/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slicekeeper::metrics {
namespace {

enum Kind { kCounter = 0, kGauge = 1, kHistogram = 2 };
constexpr const char* kKindNames[] = {"counter", "gauge", "histogram"};

[[noreturn]] void Die(absl::string_view what) {
  std::fprintf(stderr, "metrics: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

bool ValidName(absl::string_view s, bool allow_colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (allow_colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// Atomic add for doubles without relying on every libstdc++ having fetch_add for floating types.
void AtomicAdd(std::atomic<double>& a, double v) {
  double old = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(old, old + v, std::memory_order_relaxed)) {
  }
}

// Go's strconv.FormatFloat(v, 'g', -1, 64) spelling, which Prometheus clients use: shortest
// round-trip digits; +Inf / -Inf / NaN.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, end);
}

void AppendEscaped(std::string* out, absl::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// `{a="x",b="y"}` (plus an optional trailing le), or "" when there are no labels.
std::string LabelString(const std::vector<std::string>& names,
                        const std::vector<std::string>& values, absl::string_view le = {}) {
  if (names.empty() && le.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, names[i], "=\"");
    AppendEscaped(&out, values[i], /*quote=*/true);
    out.push_back('"');
  }
  if (!le.empty()) absl::StrAppend(&out, names.empty() ? "" : ",", "le=\"", le, "\"");
  out.push_back('}');
  return out;
}

void AppendHistogram(std::string* out, absl::string_view name,
                     const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const Histogram& h) {
  Histogram::Snapshot s = h.Read();
  for (size_t i = 0; i <= s.bounds.size(); ++i) {
    std::string le = i < s.bounds.size() ? FormatValue(s.bounds[i]) : "+Inf";
    absl::StrAppend(out, name, "_bucket", LabelString(names, values, le), " ", s.cumulative[i],
                    "\n");
  }
  std::string labels = LabelString(names, values);
  absl::StrAppend(out, name, "_sum", labels, " ", FormatValue(s.sum), "\n");
  absl::StrAppend(out, name, "_count", labels, " ", s.count, "\n");
}

template <typename T>
std::unique_ptr<T> MakeChild(const std::vector<double>& bounds) {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(bounds);
  } else {
    return std::make_unique<T>();
  }
}

}  // namespace

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (start <= 0 || factor <= 1 || count < 1) Die("ExponentialBuckets: bad arguments");
  std::vector<double> out;
  out.reserve(count);
  for (double b = start; count-- > 0; b *= factor) out.push_back(b);
  return out;
}

std::vector<double> LinearBuckets(double start, double width, int count) {
  if (width <= 0 || count < 1) Die("LinearBuckets: bad arguments");
  std::vector<double> out;
  out.reserve(count);
  for (int i = 0; i < count; ++i) out.push_back(start + width * i);
  return out;
}

void Counter::Inc(double v) {
  if (v < 0) return;
  AtomicAdd(value_, v);
}

void Gauge::Add(double v) { AtomicAdd(value_, v); }

void Gauge::SetCallback(std::function<double()> callback) {
  absl::MutexLock l(&mu_);
  has_callback_.store(callback != nullptr, std::memory_order_release);
  callback_ = std::move(callback);
}

double Gauge::Value() const {
  if (!has_callback_.load(std::memory_order_acquire)) {
    return value_.load(std::memory_order_relaxed);
  }
  absl::MutexLock l(&mu_);
  return callback_ ? callback_() : value_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 1; i < bounds_.size(); ++i) {
    if (!(bounds_[i - 1] < bounds_[i])) Die("Histogram: bounds must be strictly increasing");
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  AtomicAdd(sum_, v);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = total;
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

template <typename T>
T* Family<T>::WithLabels(absl::Span<const absl::string_view> values) {
  if (values.size() != label_names_.size()) {
    Die(absl::StrCat("WithLabels: got ", values.size(), " values for ", label_names_.size(),
                     " label names"));
  }
  std::vector<std::string> key(values.begin(), values.end());
  absl::MutexLock l(&mu_);
  std::unique_ptr<T>& child = children_[std::move(key)];
  if (child == nullptr) child = MakeChild<T>(bounds_);
  return child.get();
}

template <typename T>
void Family<T>::ForEach(
    const std::function<void(const std::vector<std::string>&, const T&)>& fn) const {
  absl::MutexLock l(&mu_);
  for (const auto& [values, child] : children_) fn(values, *child);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// One registered name. Unlabelled metrics are a family with no label names and one child.
struct Registry::Entry {
  std::string help;
  int kind = kCounter;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  std::unique_ptr<Family<Counter>> counters;
  std::unique_ptr<Family<Gauge>> gauges;
  std::unique_ptr<Family<Histogram>> histograms;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Registry& Registry::Default() {
  static Registry* registry = new Registry();
  return *registry;
}

Registry::Entry* Registry::FindOrAdd(absl::string_view name, absl::string_view help, int kind,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds) {
  if (!ValidName(name, /*allow_colon=*/true)) Die(absl::StrCat("invalid metric name: ", name));
  for (const std::string& l : label_names) {
    if (!ValidName(l, false) || l == "le") Die(absl::StrCat(name, ": invalid label name ", l));
  }
  absl::MutexLock l(&mu_);
  auto it = entries_.find(name);
  if (it != entries_.end()) {
    Entry* e = it->second.get();
    if (e->kind != kind || e->label_names != label_names || e->bounds != bounds) {
      Die(absl::StrCat(name, ": registered again with a different type, labels or buckets"));
    }
    return e;
  }
  auto e = std::make_unique<Entry>();
  e->help = std::string(help);
  e->kind = kind;
  e->label_names = label_names;
  e->bounds = bounds;
  if (kind == kCounter) e->counters = std::make_unique<Family<Counter>>(label_names, bounds);
  if (kind == kGauge) e->gauges = std::make_unique<Family<Gauge>>(label_names, bounds);
  if (kind == kHistogram) {
    e->histograms = std::make_unique<Family<Histogram>>(label_names, bounds);
  }
  Entry* raw = e.get();
  entries_.emplace(std::string(name), std::move(e));
  return raw;
}

Counter* Registry::AddCounter(absl::string_view name, absl::string_view help) {
  return FindOrAdd(name, help, kCounter, {}, {})->counters->WithLabels({});
}

Gauge* Registry::AddGauge(absl::string_view name, absl::string_view help) {
  return FindOrAdd(name, help, kGauge, {}, {})->gauges->WithLabels({});
}

Gauge* Registry::AddCallbackGauge(absl::string_view name, absl::string_view help,
                                  std::function<double()> callback) {
  Gauge* g = AddGauge(name, help);
  g->SetCallback(std::move(callback));
  return g;
}

Histogram* Registry::AddHistogram(absl::string_view name, absl::string_view help,
                                  std::vector<double> bounds) {
  return FindOrAdd(name, help, kHistogram, {}, std::move(bounds))->histograms->WithLabels({});
}

Family<Counter>* Registry::AddCounterFamily(absl::string_view name, absl::string_view help,
                                            std::vector<std::string> label_names) {
  return FindOrAdd(name, help, kCounter, std::move(label_names), {})->counters.get();
}

Family<Gauge>* Registry::AddGaugeFamily(absl::string_view name, absl::string_view help,
                                        std::vector<std::string> label_names) {
  return FindOrAdd(name, help, kGauge, std::move(label_names), {})->gauges.get();
}

Family<Histogram>* Registry::AddHistogramFamily(absl::string_view name, absl::string_view help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> bounds) {
  return FindOrAdd(name, help, kHistogram, std::move(label_names), std::move(bounds))
      ->histograms.get();
}

std::string Registry::Exposition() const {
  std::string out;
  absl::MutexLock l(&mu_);
  for (const auto& entry : entries_) {
    // A named reference, not a structured binding: lambdas below capture it (clang 14 cannot
    // capture structured bindings).
    const std::string& name = entry.first;
    const auto& e = entry.second;
    absl::StrAppend(&out, "# HELP ", name, " ");
    AppendEscaped(&out, e->help, /*quote=*/false);
    absl::StrAppend(&out, "\n# TYPE ", name, " ", kKindNames[e->kind], "\n");
    const std::vector<std::string>& names = e->label_names;
    if (e->kind == kCounter) {
      e->counters->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
        absl::StrAppend(&out, name, LabelString(names, values), " ", FormatValue(c.Value()), "\n");
      });
    } else if (e->kind == kGauge) {
      e->gauges->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
        absl::StrAppend(&out, name, LabelString(names, values), " ", FormatValue(g.Value()), "\n");
      });
    } else {
      e->histograms->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
        AppendHistogram(&out, name, names, values, h);
      });
    }
  }
  return out;
}

}  // namespace slicekeeper::metrics
