// Fuzz target: continue-token decoding (server/api/continue_tokens.h). The first input byte picks
// how the rest is used: as a whole token (anything a client can send), or as the "<offset>" part
// of a token whose id is a live listing's (so the offset parsing and bounds are reached). Every
// token either resolves to a page inside its listing or is refused with INVALID_ARGUMENT /
// OUT_OF_RANGE.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/escaping.h"
#include "server/api/continue_tokens.h"

namespace {

using slicekeeper::api::ContinueTokens;

struct Fixture {
  ContinueTokens tokens{ContinueTokens::Options{}};
  std::string id;  // the live listing's id, as its tokens spell it
  size_t slices = 5;

  Fixture() {
    auto listing = std::make_shared<slicekeeper::api::Listing>();
    listing->revision = 7;
    listing->filter_key = "ns|svc|sel";
    for (size_t i = 0; i < slices; ++i) listing->slices.push_back(nullptr);
    std::string raw;
    absl::WebSafeBase64Unescape(tokens.Put(listing, 1), &raw);
    id = raw.substr(0, raw.find(':'));
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const bool live_id = data[0] & 1;
  const std::string token = live_id ? absl::WebSafeBase64Escape(fixture->id + ":" + rest) : rest;
  const std::string filter = data[0] & 2 ? "other" : "ns|svc|sel";
  absl::StatusOr<ContinueTokens::Page> page = fixture->tokens.Get(token, filter);
  if (!page.ok()) {
    const absl::StatusCode code = page.status().code();
    if (code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kOutOfRange) {
      std::abort();
    }
    return 0;
  }
  if (page->offset < 0 || page->offset > static_cast<int64_t>(fixture->slices)) std::abort();
  if (page->listing == nullptr || page->listing->filter_key != filter) std::abort();
#ifdef SK_FUZZ_PLANTED
  // The planted bug (scripts/fuzz.sh proves the harness finds it): a page at offset 3.
  if (page->offset == 3) __builtin_trap();
#endif
  return 0;
}
