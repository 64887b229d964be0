// FileVersion: a cheap fingerprint of a file on disk (inode, size, mtime in nanoseconds), to
// notice that a configuration file was rewritten or replaced (a rename over it, as Kubernetes
// secret volumes do) without reading it.
//
// Thread-safety: plain values; Of() is a stat(2).
#ifndef SLICEKEEPER_SERVER_AUTH_INTERNAL_FILE_VERSION_H_
#define SLICEKEEPER_SERVER_AUTH_INTERNAL_FILE_VERSION_H_

#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace slicekeeper::auth::internal {

struct FileVersion {
  uint64_t inode = 0;
  int64_t size = -1;
  int64_t mtime_ns = 0;

  // The file's version now; size -1 when it cannot be stat'ed.
  static FileVersion Of(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return FileVersion{};
    return FileVersion{
        static_cast<uint64_t>(st.st_ino), static_cast<int64_t>(st.st_size),
        static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  }
  bool operator==(const FileVersion&) const = default;
};

}  // namespace slicekeeper::auth::internal

#endif  // SLICEKEEPER_SERVER_AUTH_INTERNAL_FILE_VERSION_H_
