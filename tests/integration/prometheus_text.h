// A strict parser of the Prometheus text exposition format (version 0.0.4), for checking what
// slicekeeper serves on /metrics.
//
// Accepted lines, each terminated by '\n':
//   # HELP <name> <text>        at most once per family; text escapes only \\ and \n
//   # TYPE <name> <type>        counter | gauge | histogram | summary | untyped; at most once per
//                               family, before any of its samples
//   <name>[{l="v",...}] <value> [<timestamp>]
//                               one space between parts; label names [a-zA-Z_][a-zA-Z0-9_]*,
//                               values escape only \\ \" \n; value a decimal float, +Inf, -Inf or
//                               NaN; timestamp an integer
//   empty lines and other comments (ignored)
// Also enforced: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*; every sample belongs to a family
// with a TYPE (histograms: <f>_bucket with an `le` label, <f>_sum, <f>_count; summaries: <f>,
// <f>_sum, <f>_count); a family's lines form one group; no series (name + label set) repeats; per
// histogram series, buckets are cumulative and the +Inf bucket equals _count.
//
// Thread-safety: stateless function; the result is a plain value.
#ifndef SLICEKEEPER_TESTS_INTEGRATION_PROMETHEUS_TEXT_H_
#define SLICEKEEPER_TESTS_INTEGRATION_PROMETHEUS_TEXT_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::integration {

using Labels = std::map<std::string, std::string>;

struct MetricFamily {
  std::string type;
  std::string help;
};

struct Exposition {
  // By family name.
  std::map<std::string, MetricFamily> families;
  // By sample name, then label set.
  std::map<std::string, std::map<Labels, double>> samples;

  // The value of one series, nullopt when absent.
  std::optional<double> Value(const std::string& name, const Labels& labels = {}) const;
};

// Parses `text`. Errors: INVALID_ARGUMENT "line N: <what is wrong>: <line>".
absl::StatusOr<Exposition> ParsePrometheusText(absl::string_view text);

}  // namespace slicekeeper::integration

#endif  // SLICEKEEPER_TESTS_INTEGRATION_PROMETHEUS_TEXT_H_
