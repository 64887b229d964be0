// FindPeerSocket: the file descriptor of this process's TCP socket connected from `remote_ip`
// port `remote_port` to local port `local_port`, or -1. Private to server/http.
//
// civetweb keeps a connection's socket to itself; a stream needs it only to poll for the peer
// hanging up. A TCP connection is unique by its address pair, so the match is exact; the scan
// over /proc/self/fd costs two syscalls per open descriptor, paid once when a stream starts.
// The descriptor stays owned by civetweb: never close it.
//
// Thread-safety: stateless; safe from any thread.
#ifndef SLICEKEEPER_SERVER_HTTP_INTERNAL_PEER_SOCKET_H_
#define SLICEKEEPER_SERVER_HTTP_INTERNAL_PEER_SOCKET_H_

#include "absl/strings/string_view.h"

namespace slicekeeper::http::internal {

int FindPeerSocket(absl::string_view remote_ip, int remote_port, int local_port);

}  // namespace slicekeeper::http::internal

#endif  // SLICEKEEPER_SERVER_HTTP_INTERNAL_PEER_SOCKET_H_
