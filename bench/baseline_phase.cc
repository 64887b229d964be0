#include "bench/baseline_phase.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/percentile.h"

namespace slicekeeper::bench {
namespace {

constexpr absl::Duration kDrainTimeout = absl::Seconds(15);

struct BatchRecord {
  int service = 0;
  int64_t send_ns = 0;
  int64_t ack_ns = 0;
  int64_t revision = 0;
  bool acked = false;
  bool ok = false;
};

// Every batch of a phase with its send and ack, and the in-flight count the sender waits on.
class Ledger {
 public:
  // Records a batch of `service` sent now; returns its id.
  uint64_t Add(int service) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    records_.push_back({.service = service, .send_ns = NowNs()});
    ++outstanding_;
    return records_.size() - 1;
  }
  void Ack(uint64_t id, int64_t revision, bool ok, int64_t ns, const std::string& message)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    BatchRecord& r = records_[id];
    r.acked = true;
    r.ok = ok;
    r.revision = revision;
    r.ack_ns = ns;
    --outstanding_;
    if (!ok && first_error_.empty()) first_error_ = message;
  }
  // Waits until fewer than `max` batches are unacked; false when `deadline_ns` came first.
  bool AwaitRoom(int max, int64_t deadline_ns) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    auto room = [this, max]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return outstanding_ < max; };
    return mu_.AwaitWithDeadline(absl::Condition(&room),
                                 absl::Now() + absl::Nanoseconds(deadline_ns - NowNs()));
  }
  std::vector<BatchRecord> Take(std::string* first_error) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    *first_error = first_error_;
    return std::move(records_);
  }

 private:
  absl::Mutex mu_;
  std::vector<BatchRecord> records_ ABSL_GUARDED_BY(mu_);
  int64_t outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  std::string first_error_ ABSL_GUARDED_BY(mu_);
};

void SendLoop(ChangeWriter& writer, Churn& churn, Ledger& ledger, const Workload& wl, double rate,
              int64_t start, int64_t end) {
  for (uint64_t i = 0;; ++i) {
    if (rate > 0) {
      const int64_t due = start + static_cast<int64_t>(i * wl.batch * 1e9 / rate);
      if (due >= end) break;
      const int64_t now = NowNs();
      if (due > now) absl::SleepFor(absl::Nanoseconds(due - now));  // pacing
    } else if (NowNs() >= end) {
      break;
    }
    if (wl.max_batches > 0 && static_cast<int64_t>(i) >= wl.max_batches) break;
    if (!ledger.AwaitRoom(wl.max_inflight, end)) break;
    const int s = static_cast<int>(i % wl.services);
    std::vector<v1::EndpointChange> changes = churn.Batch(s, wl.batch, false);
    const uint64_t id = ledger.Add(s);
    if (!writer.Send(id, s, std::move(changes))) {
      ledger.Ack(id, 0, false, NowNs(), "send failed: the stream is broken");
      break;
    }
  }
}

// Waits until every watcher has the newest acked revision of each service it watches.
void Drain(DeliveryLog& log, const Workload& wl, const std::vector<int64_t>& newest) {
  const absl::Time deadline = absl::Now() + kDrainTimeout;
  for (size_t w = 0; w < wl.watch.size(); ++w) {
    for (int s : wl.watch[w]) {
      while (log.Max(w, s) < newest[s] && absl::Now() < deadline) {
        absl::SleepFor(absl::Milliseconds(2));
      }
    }
  }
}

// Joins batches with deliveries: a batch reached watcher w at w's first delivery of its service
// with a revision >= the batch's.
void Join(const std::vector<BatchRecord>& batches,
          std::vector<std::vector<DeliveryLog::Delivery>> log, const Workload& wl, PhaseResult* p) {
  std::vector<std::vector<const BatchRecord*>> by_service(wl.services);
  for (const BatchRecord& b : batches) {
    if (b.ok) by_service[b.service].push_back(&b);
  }
  for (auto& v : by_service) {
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->revision < b->revision; });
  }
  std::vector<double> ack_ms, send_ms;
  for (size_t w = 0; w < wl.watch.size(); ++w) {
    std::vector<DeliveryLog::Delivery>& d = log[w];
    std::stable_sort(d.begin(), d.end(), [](auto& a, auto& b) { return a.service < b.service; });
    for (int s : wl.watch[w]) {
      auto j =
          std::lower_bound(d.begin(), d.end(), s, [](auto& x, int svc) { return x.service < svc; });
      int64_t previous = 0;
      for (const BatchRecord* b : by_service[s]) {
        if (b->revision <= previous) continue;  // changed nothing: no revision of its own
        previous = b->revision;
        while (j != d.end() && j->service == s && j->revision < b->revision) ++j;
        if (j == d.end() || j->service != s) {
          ++p->missing;
          continue;
        }
        ++p->deliveries;
        ack_ms.push_back((j->ns - b->ack_ns) / 1e6);
        send_ms.push_back((j->ns - b->send_ns) / 1e6);
      }
    }
  }
  p->ack_p50 = Percentile(absl::MakeSpan(ack_ms), 0.5);
  p->ack_p99 = Percentile(absl::MakeSpan(ack_ms), 0.99);
  p->ack_p999 = Percentile(absl::MakeSpan(ack_ms), 0.999);
  p->send_p50 = Percentile(absl::MakeSpan(send_ms), 0.5);
  p->send_p99 = Percentile(absl::MakeSpan(send_ms), 0.99);
  p->send_p999 = Percentile(absl::MakeSpan(send_ms), 0.999);
}

}  // namespace

double CpuUsPerChange(const PhaseResult& p) {
  double sum = 0;
  for (const ProcessCost& c : p.processes) sum += c.cpu_us_per_change;
  return sum;
}

int64_t RssKiBTotal(const PhaseResult& p) {
  int64_t sum = 0;
  for (const ProcessCost& c : p.processes) sum += c.rss_kib;
  return sum;
}

CostMeter::CostMeter(std::vector<std::pair<std::string, int>> processes)
    : processes_(std::move(processes)) {
  for (const auto& [name, pid] : processes_) before_.push_back(ReadProcStats(pid));
}

std::vector<ProcessCost> CostMeter::Cost(int64_t changes, int64_t batches) const {
  std::vector<ProcessCost> out;
  const double per_change = 1.0 / std::max<int64_t>(1, changes);
  const double per_batch = 1.0 / std::max<int64_t>(1, batches);
  for (size_t i = 0; i < processes_.size(); ++i) {
    const ProcStats now = ReadProcStats(processes_[i].second);
    const ProcStats& then = before_[i];
    ProcessCost c{.name = processes_[i].first, .ok = now.ok && then.ok};
    if (c.ok) {
      c.cpu_us_per_change = (now.cpu_seconds() - then.cpu_seconds()) * 1e6 * per_change;
      c.voluntary_switches_per_batch =
          (now.voluntary_switches - then.voluntary_switches) * per_batch;
      c.involuntary_switches_per_batch =
          (now.involuntary_switches - then.involuntary_switches) * per_batch;
      c.minor_faults_per_batch = (now.minor_faults - then.minor_faults) * per_batch;
      c.rss_kib = now.rss_kib;
    }
    out.push_back(std::move(c));
  }
  return out;
}

PhaseResult RunLoad(System& sys, const Churn& churn, DeliveryLog& log, const Workload& wl) {
  PhaseResult p;
  p.phase = "load";
  const CostMeter meter(sys.Processes());
  const int64_t start = NowNs();
  if (absl::Status s = sys.Fill(churn, wl.services); !s.ok()) {
    p.first_error = s.ToString();
    return p;
  }
  if (absl::Status s = sys.Watch(wl.watch, &log); !s.ok()) {
    p.first_error = s.ToString();
    return p;
  }
  p.batches_sent = p.batches_acked = wl.services;
  p.achieved = static_cast<double>(wl.services) * wl.endpoints / ((NowNs() - start) / 1e9);
  p.saturated = true;
  p.processes = meter.Cost(static_cast<int64_t>(wl.services) * wl.endpoints, wl.services);
  return p;
}

PhaseResult RunPhase(System& sys, Churn& churn, DeliveryLog& log, const Workload& wl, double rate) {
  PhaseResult p;
  p.target_rate = rate;
  log.Take();  // deliveries of earlier phases
  Ledger ledger;
  absl::StatusOr<std::unique_ptr<ChangeWriter>> writer = sys.NewWriter(
      [&ledger](uint64_t id, int64_t rev, bool ok, int64_t ns, const std::string& message) {
        ledger.Ack(id, rev, ok, ns, message);
      });
  if (!writer.ok()) {
    p.first_error = writer.status().ToString();
    return p;
  }
  const CostMeter meter(sys.Processes());
  const int64_t start = NowNs();
  SendLoop(**writer, churn, ledger, wl, rate, start, start + absl::ToInt64Nanoseconds(wl.duration));
  (*writer)->Finish();
  writer->reset();
  const std::vector<BatchRecord> batches = ledger.Take(&p.first_error);
  std::vector<int64_t> newest(wl.services, 0);
  int64_t last_ack = start;
  for (const BatchRecord& b : batches) {
    ++p.batches_sent;
    if (!b.ok) {
      ++p.batches_failed;
      continue;
    }
    ++p.batches_acked;
    newest[b.service] = std::max(newest[b.service], b.revision);
    last_ack = std::max(last_ack, b.ack_ns);
  }
  std::vector<double> write_ms;
  for (const BatchRecord& b : batches) {
    if (b.ok) write_ms.push_back((b.ack_ns - b.send_ns) / 1e6);
  }
  p.write_p50 = Percentile(absl::MakeSpan(write_ms), 0.5);
  p.write_p99 = Percentile(absl::MakeSpan(write_ms), 0.99);
  if (last_ack > start) p.achieved = p.batches_acked * wl.batch / ((last_ack - start) / 1e9);
  p.saturated = rate <= 0 || p.achieved < 0.95 * rate;
  Drain(log, wl, newest);
  Join(batches, log.Take(), wl, &p);
  p.processes = meter.Cost(p.batches_acked * wl.batch, p.batches_acked);
  return p;
}

}  // namespace slicekeeper::bench
