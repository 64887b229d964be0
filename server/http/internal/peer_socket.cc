#include "server/http/internal/peer_socket.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <string>

namespace slicekeeper::http::internal {
namespace {

// The port of `addr`, and its address as text in `ip`; -1 for non-IP sockets.
int PortAndIp(const sockaddr_storage& addr, std::string* ip) {
  char text[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    if (ip != nullptr) inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    if (ip != nullptr) *ip = text;
    return ntohs(in->sin_port);
  }
  if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    if (ip != nullptr) inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    if (ip != nullptr) *ip = text;
    return ntohs(in6->sin6_port);
  }
  return -1;
}

bool Matches(int fd, absl::string_view remote_ip, int remote_port, int local_port) {
  sockaddr_storage addr = {};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  if (PortAndIp(addr, nullptr) != local_port) return false;
  len = sizeof(addr);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return false;
  std::string ip;
  if (PortAndIp(addr, &ip) != remote_port) return false;
  // civetweb prints IPv4-mapped peers of an IPv6 listener as plain IPv4.
  absl::string_view got = ip;
  if (got.substr(0, 7) == "::ffff:" && remote_ip.find(':') == absl::string_view::npos) {
    got.remove_prefix(7);
  }
  return got == remote_ip;
}

}  // namespace

int FindPeerSocket(absl::string_view remote_ip, int remote_port, int local_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  int found = -1;
  const int own = dirfd(dir);
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd == own) continue;
    if (Matches(static_cast<int>(fd), remote_ip, remote_port, local_port)) {
      found = static_cast<int>(fd);
      break;
    }
  }
  closedir(dir);
  return found;
}

}  // namespace slicekeeper::http::internal
