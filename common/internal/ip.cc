#include "common/internal/ip.h"

#include <arpa/inet.h>

#include <cstring>

namespace slicekeeper::validation::internal {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Go's sloppy parseIPv4: exactly four decimal parts of any number of digits, each <= 255.
bool ParseIPv4Into(absl::string_view s, uint8_t* out) {
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= s.size() || s[pos] != '.') return false;
      ++pos;
    }
    size_t start = pos;
    unsigned value = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      value = value * 10 + static_cast<unsigned>(s[pos] - '0');
      if (value > 255) return false;
      ++pos;
    }
    if (pos == start) return false;
    out[part] = static_cast<uint8_t>(value);
  }
  return pos == s.size();
}

size_t FormatIPv4(const uint8_t* b, char* buf) {
  size_t n = 0;
  for (int i = 0; i < 4; ++i) {
    if (i > 0) buf[n++] = '.';
    unsigned v = b[i];
    if (v >= 100) buf[n++] = static_cast<char>('0' + v / 100);
    if (v >= 10) buf[n++] = static_cast<char>('0' + v / 10 % 10);
    buf[n++] = static_cast<char>('0' + v % 10);
  }
  return n;
}

// inet_pton rejects leading zeros in an embedded dotted quad ("::ffff:010.1.2.3") that Go accepts:
// rewrite the tail canonically first. Returns false for text no parser would accept.
bool ParseIPv6Into(absl::string_view s, uint8_t* out) {
  char buf[128];
  if (s.size() >= sizeof(buf)) return false;
  size_t dot = s.find('.');
  size_t n = s.size();
  if (dot == absl::string_view::npos) {
    std::memcpy(buf, s.data(), n);
  } else {
    size_t colon = s.rfind(':');
    if (colon == absl::string_view::npos || colon > dot) return false;
    uint8_t v4[4];
    if (!ParseIPv4Into(s.substr(colon + 1), v4)) return false;
    std::memcpy(buf, s.data(), colon + 1);
    n = colon + 1 + FormatIPv4(v4, buf + colon + 1);
  }
  buf[n] = '\0';
  return inet_pton(AF_INET6, buf, out) == 1;
}

constexpr char kHex[] = "0123456789abcdef";

size_t FormatIPv6(const uint8_t* b, char* buf) {
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(b[2 * i] << 8 | b[2 * i + 1]);
  // The longest run of >= 2 zero groups; the first one wins a tie (RFC 5952, Go).
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    if (g[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j;
  }
  size_t n = 0;
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      buf[n++] = ':';
      buf[n++] = ':';
      i += best_len - 1;
      continue;
    }
    if (i > 0 && i != best + best_len) buf[n++] = ':';
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      unsigned nibble = (g[i] >> shift) & 0xf;
      if (nibble != 0 || started || shift == 0) {
        buf[n++] = kHex[nibble];
        started = true;
      }
    }
  }
  return n;
}

}  // namespace

std::optional<IpAddress> ParseIp(absl::string_view text) {
  IpAddress ip;
  for (char c : text) {
    if (c == '.') {
      if (!ParseIPv4Into(text, ip.bytes + 12)) return std::nullopt;
      std::memcpy(ip.bytes, kV4MappedPrefix, sizeof(kV4MappedPrefix));
      ip.is_v4 = true;
      return ip;
    }
    if (c == ':') {
      if (!ParseIPv6Into(text, ip.bytes)) return std::nullopt;
      ip.is_v4 = std::memcmp(ip.bytes, kV4MappedPrefix, sizeof(kV4MappedPrefix)) == 0;
      return ip;
    }
  }
  return std::nullopt;
}

size_t FormatIp(const IpAddress& ip, char* buf) {
  return ip.is_v4 ? FormatIPv4(ip.bytes + 12, buf) : FormatIPv6(ip.bytes, buf);
}

bool IsLoopback(const IpAddress& ip) {
  if (ip.is_v4) return ip.bytes[12] == 127;
  for (int i = 0; i < 15; ++i) {
    if (ip.bytes[i] != 0) return false;
  }
  return ip.bytes[15] == 1;
}

const char* RejectedRangeRule(const IpAddress& ip) {
  const uint8_t* b = ip.bytes;
  if (ip.is_v4) {
    const uint8_t* v4 = b + 12;
    if ((v4[0] | v4[1] | v4[2] | v4[3]) == 0) return "may not be unspecified (0.0.0.0, ::)";
    if (v4[0] == 127) return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
    if (v4[0] == 169 && v4[1] == 254) {
      return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
    }
    if (v4[0] == 224 && v4[1] == 0 && v4[2] == 0) {
      return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
    }
    return nullptr;
  }
  bool zero15 = true;
  for (int i = 0; i < 15; ++i) zero15 = zero15 && b[i] == 0;
  if (zero15 && b[15] == 0) return "may not be unspecified (0.0.0.0, ::)";
  if (zero15 && b[15] == 1) return "may not be in the loopback range (127.0.0.0/8, ::1/128)";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    return "may not be in the link-local range (169.254.0.0/16, fe80::/10)";
  }
  // Go's IsLinkLocalMulticast: multicast with scope 2, whatever the flags (ff02::, ff12::, ...).
  if (b[0] == 0xff && (b[1] & 0x0f) == 0x02) {
    return "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)";
  }
  return nullptr;
}

}  // namespace slicekeeper::validation::internal
