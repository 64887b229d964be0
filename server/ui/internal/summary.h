// SummaryCache: a service's summary (query::Summarize) kept up to date from one snapshot to the
// next at the cost of the slices that changed, not of the whole service. Private to server/ui.
//
// The operator page's recorder summarises every service a commit changes. Summarize walks every
// endpoint of the service, so a 1000-endpoint service cost 1000 endpoint reads per change, and on
// a heap fragmented by churn that walk was the server's largest single cost (BENCHMARKS.md, "The
// operator page's summaries"). The cache keeps, per slice version it has seen, that slice's
// counts by zone and the sorted hashes of its endpoints' first addresses. A new snapshot reuses
// the entries of the slice versions it shares with the previous one (slices are immutable and
// shared by pointer between versions), and a new version of a slice starts from its previous
// version's entry: endpoint objects are immutable and shared between versions too, so only the
// endpoints that left or arrived are read. The summary is the sum of
// the slices' counts, corrected for the addresses that appear in more than one entry (found by
// their hashes; only the slices holding such a hash are read again, and the addresses themselves
// compared): each is one merged endpoint, counted as query::MergeEndpoints' rule picks it. The
// result equals query::Summarize(snapshot).
//
// Small services keep nothing: a service of at most `keep_above` counted endpoints (the
// constructor's argument: kKeepAbove = 256, two and a half default slices) is summarised by reading
// its slices whole, as the first snapshot of any service is, and its entries are dropped again.
// Reading a few hundred endpoints costs about what diffing them against the previous version does
// (the diff hashes every endpoint pointer of the changed slice), and the recorder coalesces a
// service's changes over its interval; an entry costs ~130 bytes plus 64 per zone plus 4 per
// endpoint, which for the 100-endpoint services of a 1 M-endpoint server was 7.5 MB of memory that
// bought nothing.
//
// Memory: for services above `keep_above`, 4 bytes per counted endpoint (32 bits of its first
// address's hash; it was 16 with the full hash and the endpoint's address, 16 MB of a
// 1 M-endpoint server) plus a few counters per slice and zone; the entries hold the slices of the
// last snapshot passed to Update (shared, not copied). For smaller services, nothing between calls.
//
// Thread-safety: none; one owner (the recorder's thread, under its mutex).
#ifndef SLICEKEEPER_SERVER_UI_INTERNAL_SUMMARY_H_
#define SLICEKEEPER_SERVER_UI_INTERNAL_SUMMARY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::ui::internal {

// Endpoints by nil-defaulted condition.
struct EndpointCounts {
  int64_t total = 0;
  int64_t ready = 0;
  int64_t serving = 0;
  int64_t terminating = 0;

  void Add(const EndpointCounts& c, int sign) {
    total += sign * c.total;
    ready += sign * c.ready;
    serving += sign * c.serving;
    terminating += sign * c.terminating;
  }
  bool operator==(const EndpointCounts&) const = default;
};

// What query::Summarize says of a service, without the protobuf message: the recorder keeps one
// per service, and a message with a map of zones was ~330 bytes of it.
struct Summary {
  int64_t slices = 0;
  int64_t mod_revision = 0;
  EndpointCounts endpoints;
  // By zone name ("" for endpoints without one), only zones with endpoints.
  std::vector<std::pair<std::string, EndpointCounts>> zones;
};

// As query::Summarize returns it (tests compare the two).
v1::ServiceSummary ToProto(const Summary& s, absl::string_view namespace_, absl::string_view name);

class SummaryCache {
 public:
  // Services of at most this many counted endpoints keep no entries (see above); a negative
  // `keep_above` keeps them for every service (tests of the diffing path).
  static constexpr int64_t kKeepAbove = 256;

  explicit SummaryCache(int64_t keep_above = kKeepAbove);
  ~SummaryCache();
  SummaryCache(SummaryCache&&) noexcept;
  SummaryCache& operator=(SummaryCache&&) noexcept;

  // query::Summarize(snapshot), reusing what the previous call learnt of the slices `snapshot`
  // shares with the previous snapshot.
  Summary Update(const store::ServiceSnapshot& snapshot);

  // Over the cache's life (tests): slice versions not seen before (or read again because the
  // service was small), and hashes found in more than one entry.
  int64_t slices_read() const { return slices_read_; }
  int64_t repeats() const { return repeats_; }
  // The keys held (tests): one per counted endpoint of the last snapshot passed to Update, none
  // when it had at most `keep_above`.
  int64_t keys_held() const;
  // The key an endpoint is held by: 32 bits of its first address's hash (tests find collisions).
  static uint32_t AddressKey(absl::string_view address);

 private:
  struct Part;

  int64_t keep_above_;
  std::vector<std::shared_ptr<const Part>> parts_;
  int64_t slices_read_ = 0;
  int64_t repeats_ = 0;
};

}  // namespace slicekeeper::ui::internal

#endif  // SLICEKEEPER_SERVER_UI_INTERNAL_SUMMARY_H_
