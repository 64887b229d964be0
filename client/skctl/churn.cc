// skctl churn: the synthetic pod-churn harness. Streams ChurnModel's changes through
// StreamChanges with at most --inflight batches unacknowledged, paced to --rate, and reports what
// was sent and acknowledged, the achieved rate, ack latency percentiles and errors by code.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/skctl/commands.h"
#include "client/skctl/documents.h"
#include "client/skctl/flags.h"
#include "client/skctl/output.h"
#include "common/percentile.h"
#include "common/status_util.h"
#include "workload/churn_model.h"
#include "workload/trace_file.h"

ABSL_FLAG(int, services, 10, "churn: services");
ABSL_FLAG(int, endpoints, 100, "churn: endpoint slots per service");
ABSL_FLAG(double, rate, 0, "churn: target changes per second (0: as fast as acks allow)");
ABSL_FLAG(absl::Duration, duration, absl::ZeroDuration(), "churn: stop after this long");
ABSL_FLAG(int64_t, changes, 0,
          "churn: stop after this many changes, the initial adds included (default: the initial "
          "adds plus as many churn changes, unless --duration is set)");
ABSL_FLAG(int, batch, 100, "churn: changes per batch");
ABSL_FLAG(int, inflight, 8, "churn: batches in flight at most");
ABSL_FLAG(std::string, mix, "add=1,remove=1,ready=2,terminate=1,replace=0",
          "churn: operation weights");
ABSL_FLAG(int, zones, 3, "churn: zones to spread endpoints over");
ABSL_FLAG(uint64_t, seed, 1, "churn: random seed");
ABSL_FLAG(std::string, prefix, "churn", "churn: service name prefix (<prefix>-<i>)");
ABSL_FLAG(std::string, record, "",
          "churn: also write every batch sent to this trace file (JSON lines, "
          "bench/distribution_sim replays it)");

namespace slicekeeper::skctl {
namespace {

using workload::ChurnMix;
using workload::ChurnModel;
using workload::ChurnOptions;

struct Sent {
  absl::Time at;
  int changes;
};

// Shared between the writer (main thread) and the ack reader.
struct Progress {
  absl::Mutex mu;
  std::deque<Sent> inflight ABSL_GUARDED_BY(mu);
  int64_t sent ABSL_GUARDED_BY(mu) = 0;
  int64_t acked ABSL_GUARDED_BY(mu) = 0;
  int64_t batches ABSL_GUARDED_BY(mu) = 0;
  int64_t failed_batches ABSL_GUARDED_BY(mu) = 0;
  int64_t last_revision ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, int64_t> errors ABSL_GUARDED_BY(mu);  // by code name, in changes
  std::vector<double> latencies_ms ABSL_GUARDED_BY(mu);
  bool reader_done ABSL_GUARDED_BY(mu) = false;
};

std::string CodeName(int code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

void ReadAcks(grpc::ClientReaderWriter<v1::ChangeBatch, v1::ChangeAck>* stream, Progress* p) {
  v1::ChangeAck ack;
  while (stream->Read(&ack)) {
    const absl::Time now = absl::Now();
    absl::MutexLock l(&p->mu);
    if (p->inflight.empty()) break;  // an ack we did not ask for: protocol error
    Sent s = p->inflight.front();
    p->inflight.pop_front();
    p->latencies_ms.push_back(absl::ToDoubleMilliseconds(now - s.at));
    ++p->batches;
    if (ack.code() == 0) {
      p->acked += s.changes;
      p->last_revision = std::max(p->last_revision, ack.revision());
    } else {
      ++p->failed_batches;
      p->errors[CodeName(ack.code())] += s.changes;
    }
  }
  absl::MutexLock l(&p->mu);
  p->reader_done = true;
}

void PrintProgress(Progress* p, absl::Time start) {
  absl::MutexLock l(&p->mu);
  const double secs = std::max(1e-9, absl::ToDoubleSeconds(absl::Now() - start));
  int64_t errors = 0;
  for (const auto& [code, n] : p->errors) errors += n;
  std::fprintf(stderr, "\rchurn: sent %lld  acked %lld  %.0f changes/s  errors %lld   ",
               static_cast<long long>(p->sent), static_cast<long long>(p->acked),
               static_cast<double>(p->acked) / secs, static_cast<long long>(errors));
}

// Empties every service of the run, so the model's starting point is the server's.
int ResetServices(client::Client& c, const ChurnModel& model, const ChurnOptions& options) {
  for (int i = 0; i < options.services; ++i) {
    v1::ReplaceEndpointsRequest request;
    request.set_namespace_(options.namespace_);
    request.set_service(model.ServiceName(i));
    auto r = c.ReplaceEndpoints(request);
    if (!r.ok()) return ServerError(r.status());
    if (r->code() != 0) {
      return ServerError(absl::Status(static_cast<absl::StatusCode>(r->code()), r->message()));
    }
  }
  return kExitOk;
}

void Report(Progress* p, const ChurnModel& model, const ChurnOptions& options, absl::Duration took,
            const grpc::Status& stream_status, Format format) {
  absl::MutexLock l(&p->mu);
  const double secs = std::max(1e-9, absl::ToDoubleSeconds(took));
  const double rate = static_cast<double>(p->acked) / secs;
  std::vector<double> latencies = p->latencies_ms;
  const double p50 = Percentile(absl::MakeSpan(latencies), 0.5),
               p99 = Percentile(absl::MakeSpan(latencies), 0.99),
               p999 = Percentile(absl::MakeSpan(latencies), 0.999);
  if (!stream_status.ok()) {
    p->errors[CodeName(stream_status.error_code())] += p->sent - p->acked;
  }
  const workload::PodCounts e = model.Expected();
  if (format == Format::kJson) {
    std::string errors;
    for (const auto& [code, n] : p->errors) {
      absl::StrAppend(&errors, errors.empty() ? "" : ",", "\"", code, "\":", n);
    }
    std::printf(
        "{\"changesSent\":%lld,\"changesAcked\":%lld,\"batches\":%lld,\"batchesFailed\":%lld,"
        "\"durationSeconds\":%.3f,\"changesPerSecond\":%.1f,\"ackLatencyMs\":{\"p50\":%.3f,"
        "\"p99\":%.3f,\"p999\":%.3f},\"errorsByCode\":{%s},\"lastRevision\":%lld,"
        "\"expected\":{\"namespace\":\"%s\",\"services\":%d,\"endpoints\":%lld,\"ready\":%lld,"
        "\"serving\":%lld,\"terminating\":%lld}}\n",
        static_cast<long long>(p->sent), static_cast<long long>(p->acked),
        static_cast<long long>(p->batches), static_cast<long long>(p->failed_batches), secs, rate,
        p50, p99, p999, errors.c_str(), static_cast<long long>(p->last_revision),
        options.namespace_.c_str(), options.services, static_cast<long long>(e.endpoints),
        static_cast<long long>(e.ready), static_cast<long long>(e.serving),
        static_cast<long long>(e.terminating));
    return;
  }
  std::string errors;
  for (const auto& [code, n] : p->errors) absl::StrAppend(&errors, " ", code, "=", n);
  std::printf("changes sent:     %lld\n", static_cast<long long>(p->sent));
  std::printf("changes acked:    %lld\n", static_cast<long long>(p->acked));
  std::printf("batches:          %lld (%lld failed)\n", static_cast<long long>(p->batches),
              static_cast<long long>(p->failed_batches));
  std::printf("duration:         %.3fs\n", secs);
  std::printf("achieved rate:    %.0f changes/s\n", rate);
  std::printf("ack latency:      p50 %.3fms  p99 %.3fms  p999 %.3fms\n", p50, p99, p999);
  std::printf("errors by code:  %s\n", errors.empty() ? " none" : errors.c_str());
  std::printf("last revision:    %lld\n", static_cast<long long>(p->last_revision));
  std::printf(
      "expected state:   %d services, %lld endpoints (%lld ready, %lld serving, %lld "
      "terminating)\n",
      options.services, static_cast<long long>(e.endpoints), static_cast<long long>(e.ready),
      static_cast<long long>(e.serving), static_cast<long long>(e.terminating));
}

absl::StatusOr<ChurnOptions> Options() {
  ChurnOptions o;
  o.namespace_ = Namespace();
  o.prefix = absl::GetFlag(FLAGS_prefix);
  o.services = absl::GetFlag(FLAGS_services);
  o.endpoints = absl::GetFlag(FLAGS_endpoints);
  o.zones = absl::GetFlag(FLAGS_zones);
  o.seed = absl::GetFlag(FLAGS_seed);
  if (o.services < 1 || o.endpoints < 1 ||
      int64_t{o.services} * o.endpoints > ChurnModel::kMaxEndpoints) {
    return absl::InvalidArgumentError(
        absl::StrCat("--services and --endpoints must be >= 1, with at most ",
                     ChurnModel::kMaxEndpoints, " endpoints in all"));
  }
  if (o.zones < 1) return absl::InvalidArgumentError("--zones must be >= 1");
  if (absl::GetFlag(FLAGS_batch) < 1) return absl::InvalidArgumentError("--batch must be >= 1");
  if (absl::GetFlag(FLAGS_inflight) < 1) {
    return absl::InvalidArgumentError("--inflight must be >= 1");
  }
  if (absl::GetFlag(FLAGS_rate) < 0) return absl::InvalidArgumentError("--rate must be >= 0");
  auto mix = ChurnMix::Parse(absl::GetFlag(FLAGS_mix));
  if (!mix.ok()) return mix.status();
  o.mix = *mix;
  return o;
}

// How the run is paced and bounded.
struct Pace {
  int64_t limit = 0;  // changes in all; 0: no limit
  absl::Duration duration;
  double rate = 0;  // changes per second; 0: unpaced
  int batch_size = 100;
  size_t max_inflight = 8;
  bool tty = false;
};

// Waits until fewer than max_inflight batches are unacknowledged; false once the reader is done.
bool AwaitRoom(Progress* p, size_t max_inflight) {
  absl::MutexLock l(&p->mu);
  auto room = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu) {
    return p->inflight.size() < max_inflight || p->reader_done;
  };
  p->mu.Await(absl::Condition(&room));
  return !p->reader_done;
}

// --record: the batches sent, as a trace file. Batches that only fill the services are warmup.
struct Recording {
  std::ofstream file;
  std::optional<workload::TraceWriter> writer;
  int64_t fill = 0;  // the changes that fill every service
  absl::Status status;

  void Write(const v1::ChangeBatch& batch, int64_t sent_before) {
    if (!writer.has_value() || !status.ok()) return;
    status = writer->Write(batch.changes(), sent_before + batch.changes_size() <= fill);
  }
};

// The writer: sends the model's changes in batches until a bound is reached or the stream breaks.
void SendAll(grpc::ClientReaderWriter<v1::ChangeBatch, v1::ChangeAck>* stream, ChurnModel& model,
             const Pace& pace, absl::Time start, Progress* progress, Recording* recording) {
  absl::Time last_print = start;
  int64_t sent = 0;
  uint64_t batch_id = 0;
  while ((pace.limit <= 0 || sent < pace.limit) &&
         (pace.duration <= absl::ZeroDuration() || absl::Now() - start < pace.duration)) {
    const int n = static_cast<int>(
        pace.limit > 0 ? std::min<int64_t>(pace.batch_size, pace.limit - sent) : pace.batch_size);
    // Pacing: batch k may leave at start + (changes before it) / rate.
    if (pace.rate > 0) absl::SleepFor(start + absl::Seconds(sent / pace.rate) - absl::Now());
    if (!AwaitRoom(progress, pace.max_inflight)) break;
    v1::ChangeBatch batch;
    batch.set_batch_id(++batch_id);
    for (int i = 0; i < n; ++i) *batch.add_changes() = model.Next();
    {
      absl::MutexLock l(&progress->mu);
      progress->inflight.push_back({absl::Now(), n});
      progress->sent += n;
    }
    sent += n;
    if (!stream->Write(batch)) break;
    recording->Write(batch, sent - n);
    if (pace.tty && absl::Now() - last_print > absl::Milliseconds(250)) {
      PrintProgress(progress, start);
      last_print = absl::Now();
    }
  }
}

Pace PaceFromFlags(const ChurnOptions& options, Format format) {
  Pace pace;
  pace.duration = absl::GetFlag(FLAGS_duration);
  pace.limit = absl::GetFlag(FLAGS_changes);
  if (pace.limit <= 0 && pace.duration <= absl::ZeroDuration()) {
    pace.limit = 2 * int64_t{options.services} * options.endpoints;
  }
  pace.rate = absl::GetFlag(FLAGS_rate);
  pace.batch_size = absl::GetFlag(FLAGS_batch);
  pace.max_inflight = static_cast<size_t>(absl::GetFlag(FLAGS_inflight));
  pace.tty = isatty(STDERR_FILENO) && format != Format::kJson;
  return pace;
}

}  // namespace

int RunChurn(const Args& args) {
  if (!args.empty()) return UsageError(absl::StrCat("unexpected argument \"", args[0], "\""));
  auto format = OutputFormat();
  if (!format.ok()) return UsageError(std::string(format.status().message()));
  auto options = Options();
  if (!options.ok()) return UsageError(std::string(options.status().message()));
  const Pace pace = PaceFromFlags(*options, *format);

  ChurnModel model(*options);
  Recording recording;
  if (const std::string path = absl::GetFlag(FLAGS_record); !path.empty()) {
    recording.file.open(path, std::ios::trunc);
    if (!recording.file) return UsageError(absl::StrCat("--record: cannot open ", path));
    recording.writer.emplace(&recording.file);
    recording.fill = int64_t{options->services} * options->endpoints;
  }
  std::unique_ptr<client::Client> c = MakeClient();
  if (int rc = ResetServices(*c, model, *options); rc != kExitOk) return rc;

  grpc::ClientContext context;
  auto stream = c->registry()->StreamChanges(&context);
  Progress progress;
  std::thread reader([&] { ReadAcks(stream.get(), &progress); });
  const absl::Time start = absl::Now();
  SendAll(stream.get(), model, pace, start, &progress, &recording);
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  const absl::Duration took = absl::Now() - start;
  if (pace.tty) {
    PrintProgress(&progress, start);
    std::fprintf(stderr, "\n");
  }
  Report(&progress, model, *options, took, status, *format);
  if (recording.writer.has_value()) recording.file.flush();
  if (!recording.status.ok() || (recording.writer.has_value() && !recording.file)) {
    std::fprintf(stderr, "churn: --record: %s\n",
                 recording.status.ok() ? "write failed" : recording.status.ToString().c_str());
    return kExitServerError;
  }
  absl::MutexLock l(&progress.mu);
  if (!status.ok() || !progress.errors.empty()) return kExitServerError;
  return kExitOk;
}

}  // namespace slicekeeper::skctl
