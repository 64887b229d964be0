// A small Prometheus metrics registry: counters, gauges and histograms, optionally labelled,
// rendered in the Prometheus text exposition format 0.0.4.
//
// Hot paths touch only atomics: `Counter::Inc`, `Gauge::Set/Add` and `Histogram::Observe` take no
// lock and allocate nothing. Labelled metrics live in a `Family`; `WithLabels({...})` looks a child
// up under the family's mutex (hashing the label values), so resolve children once and keep the
// returned pointer on hot paths. Metric objects are owned by the registry and live as long as it;
// the pointers it returns are stable.
//
// Registering the same name twice with the same type, label names (and buckets) returns the
// existing metric; with a different shape it is a programming error and aborts with a message.
//
// Exposition lists metric families sorted by name, children sorted by label values.
//
// Thread-safety: every method of every class here is safe to call concurrently. A scrape reads
// each atomic once; it may see an in-flight Observe in the buckets but not yet in _sum (Prometheus
// clients accept the same); _count always equals the +Inf bucket.
//
// Example:
//   metrics::Registry registry;
//   metrics::Counter* writes = registry.AddCounter("slicekeeper_writes_total", "Write RPCs.");
//   metrics::Family<metrics::Counter>* changes = registry.AddCounterFamily(
//       "endpoint_slice_controller_changes", "Slice writes.", {"operation"});
//   metrics::Counter* creates = changes->WithLabels({"create"});   // cache this pointer
//   metrics::Histogram* added = registry.AddHistogram(
//       "endpoint_slice_controller_endpoints_added_per_sync", "Endpoints added per sync.",
//       metrics::ExponentialBuckets(2, 2, 15));
//   writes->Inc();  creates->Inc();  added->Observe(7);
//   registry.AddCallbackGauge("slicekeeper_services", "Services.", [&] { return n.load(); });
//   std::string text = registry.Exposition();
#ifndef SLICEKEEPER_SERVER_METRICS_METRICS_H_
#define SLICEKEEPER_SERVER_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace slicekeeper::metrics {

// `count` upper bounds start, start*factor, ..., start*factor^(count-1) (Kubernetes'
// ExponentialBuckets; exp(2,2,15) = 2, 4, ..., 32768). REQUIRES: start > 0, factor > 1, count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);
// `count` upper bounds start, start+width, ... REQUIRES: width > 0, count >= 1.
std::vector<double> LinearBuckets(double start, double width, int count);

// A monotonically increasing value.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Adds `v`. REQUIRES: v >= 0 (negative values are ignored). Lock-free.
  void Inc(double v = 1);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// A value that goes up and down, or is computed by a callback at scrape time.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  // Lock-free.
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v);
  void Inc() { Add(1); }
  void Dec() { Add(-1); }

  // From now on Value() returns `callback()` (evaluated on the scraping thread, so it must be
  // thread-safe and must not call back into the registry). Null reverts to the stored value.
  void SetCallback(std::function<double()> callback) ABSL_LOCKS_EXCLUDED(mu_);
  // The callback's value if one is set, else the stored value.
  double Value() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  std::atomic<double> value_{0};
  std::atomic<bool> has_callback_{false};
  mutable absl::Mutex mu_;
  std::function<double()> callback_ ABSL_GUARDED_BY(mu_);
};

// Observations counted into fixed buckets, with their sum and count.
class Histogram {
 public:
  // `bounds`: the finite upper bounds, strictly increasing (+Inf is implicit).
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Counts `v` into the first bucket whose bound is >= v. Lock-free, no allocation.
  void Observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    // Cumulative counts, one per bound plus the +Inf bucket last.
    std::vector<uint64_t> cumulative;
    double sum = 0;
    // == cumulative.back().
    uint64_t count = 0;
  };
  Snapshot Read() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  // Non-cumulative; bounds_.size() + 1 entries (the last is +Inf).
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0};
};

// Metrics of one name that differ by label values. T is Counter, Gauge or Histogram.
template <typename T>
class Family {
 public:
  // Use Registry::Add*Family.
  Family(std::vector<std::string> label_names, std::vector<double> bounds)
      : label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}
  Family(const Family&) = delete;
  Family& operator=(const Family&) = delete;

  // The child for these label values (created on first use), in label-name order. The pointer is
  // stable for the registry's lifetime: cache it. Takes the family's mutex.
  // REQUIRES: values.size() == label_names().size() (aborts otherwise).
  T* WithLabels(std::initializer_list<absl::string_view> values) ABSL_LOCKS_EXCLUDED(mu_) {
    return WithLabels(absl::MakeConstSpan(values.begin(), values.size()));
  }
  T* WithLabels(absl::Span<const absl::string_view> values) ABSL_LOCKS_EXCLUDED(mu_);

  const std::vector<std::string>& label_names() const { return label_names_; }

  // Calls `fn(label_values, child)` for every child, sorted by label values, under the mutex.
  void ForEach(const std::function<void(const std::vector<std::string>&, const T&)>& fn) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::vector<std::string> label_names_;
  // Histogram bounds (Histogram families only).
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_ ABSL_GUARDED_BY(mu_);
};

// Owns metrics and renders them.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // A process-wide registry, for code that has no Registry passed in. Never destroyed.
  static Registry& Default();

  // Each Add* registers (or returns the already-registered) metric `name` with help text `help`.
  // REQUIRES: `name` matches [a-zA-Z_:][a-zA-Z0-9_:]*, label names match [a-zA-Z_][a-zA-Z0-9_]*
  // and are not "le"; the name is not registered with a different type / labels / buckets.
  // Violations abort (they are programming errors, not input).
  Counter* AddCounter(absl::string_view name, absl::string_view help);
  Gauge* AddGauge(absl::string_view name, absl::string_view help);
  // A gauge whose value is `callback()` at scrape time (see Gauge::SetCallback).
  Gauge* AddCallbackGauge(absl::string_view name, absl::string_view help,
                          std::function<double()> callback);
  Histogram* AddHistogram(absl::string_view name, absl::string_view help,
                          std::vector<double> bounds);

  Family<Counter>* AddCounterFamily(absl::string_view name, absl::string_view help,
                                    std::vector<std::string> label_names);
  Family<Gauge>* AddGaugeFamily(absl::string_view name, absl::string_view help,
                                std::vector<std::string> label_names);
  Family<Histogram>* AddHistogramFamily(absl::string_view name, absl::string_view help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> bounds);

  // Every metric in the Prometheus text format 0.0.4 (content type
  // "text/plain; version=0.0.4; charset=utf-8"): "# HELP" and "# TYPE" lines, then samples;
  // histograms as _bucket{le="..."} (cumulative, +Inf last), _sum and _count. Help text escapes
  // '\\' and newline; label values escape '\\', '"' and newline. Families without children render
  // only their HELP and TYPE lines.
  std::string Exposition() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry;
  Entry* FindOrAdd(absl::string_view name, absl::string_view help, int kind,
                   std::vector<std::string> label_names, std::vector<double> bounds)
      ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  // Sorted by name.
  std::map<std::string, std::unique_ptr<Entry>, std::less<>> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::metrics

#endif  // SLICEKEEPER_SERVER_METRICS_METRICS_H_
