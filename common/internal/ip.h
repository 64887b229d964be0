// Internal to common/validation: IP parsing and canonical formatting with Go's (and therefore
// Kubernetes') semantics.
//
// Kubernetes parses with netutils.ParseIPSloppy (Go 1.16's net.ParseIP): IPv4 octets may carry
// leading zeros and are always decimal ("010.1.2.3" is 10.1.2.3), the text decides the family by
// whichever of '.' or ':' comes first, and an IPv4-mapped IPv6 text (::ffff:a.b.c.d) *is* an IPv4
// address (To4() != nil). Canonical text is Go's IP.String(): dotted quad for IPv4, RFC 5952 for
// IPv6 (lowercase, no leading zeros, the longest run of two or more zero groups as "::", the first
// on a tie, never an embedded dotted quad).
//
// Deviation: IPv6 groups of more than 4 hex digits (Go accepts "00001::") are rejected, as glibc's
// inet_pton does.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_COMMON_INTERNAL_IP_H_
#define SLICEKEEPER_COMMON_INTERNAL_IP_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"

namespace slicekeeper::validation::internal {

struct IpAddress {
  // IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), as Go does.
  uint8_t bytes[16] = {};
  bool is_v4 = false;
};

// Longest canonical text ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff") plus slack.
inline constexpr size_t kMaxCanonicalIpChars = 48;

std::optional<IpAddress> ParseIp(absl::string_view text);

// Writes the canonical text into `buf` (at least kMaxCanonicalIpChars) and returns its length.
size_t FormatIp(const IpAddress& ip, char* buf);

// The Kubernetes ValidateEndpointIP rule the address breaks (unspecified, loopback, link-local
// unicast, link-local multicast), or nullptr when it is allowed.
const char* RejectedRangeRule(const IpAddress& ip);
// 127.0.0.0/8 or ::1.
bool IsLoopback(const IpAddress& ip);

}  // namespace slicekeeper::validation::internal

#endif  // SLICEKEEPER_COMMON_INTERNAL_IP_H_
