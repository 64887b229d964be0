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
// Memory: 4 bytes per counted endpoint (32 bits of its first address's hash; it was 16 with the
// full hash and the endpoint's address, 16 MB of a 1 M-endpoint server) plus a few counters per
// slice and zone; the entries hold the slices of the last snapshot passed to Update (shared, not
// copied).
//
// Thread-safety: none; one owner (the recorder's thread, under its mutex).
#ifndef SLICEKEEPER_SERVER_UI_INTERNAL_SUMMARY_H_
#define SLICEKEEPER_SERVER_UI_INTERNAL_SUMMARY_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/store/store.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::ui::internal {

class SummaryCache {
 public:
  SummaryCache();
  ~SummaryCache();
  SummaryCache(SummaryCache&&) noexcept;
  SummaryCache& operator=(SummaryCache&&) noexcept;

  // query::Summarize(snapshot), reusing what the previous call learnt of the slices `snapshot`
  // shares with the previous snapshot.
  v1::ServiceSummary Update(const store::ServiceSnapshot& snapshot);

  // Over the cache's life (tests): slice versions not seen before, and hashes found in more
  // than one entry.
  int64_t slices_read() const { return slices_read_; }
  int64_t repeats() const { return repeats_; }
  // The keys held (tests): one per counted endpoint of the last snapshot passed to Update.
  int64_t keys_held() const;
  // The key an endpoint is held by: 32 bits of its first address's hash (tests find collisions).
  static uint32_t AddressKey(absl::string_view address);

 private:
  struct Part;

  std::vector<std::shared_ptr<const Part>> parts_;
  int64_t slices_read_ = 0;
  int64_t repeats_ = 0;
};

}  // namespace slicekeeper::ui::internal

#endif  // SLICEKEEPER_SERVER_UI_INTERNAL_SUMMARY_H_
