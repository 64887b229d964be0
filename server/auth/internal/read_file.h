// Reading a whole configuration file into a string with a status naming the path.
//
// Thread-safety: stateless.
#ifndef SLICEKEEPER_SERVER_AUTH_INTERNAL_READ_FILE_H_
#define SLICEKEEPER_SERVER_AUTH_INTERNAL_READ_FILE_H_

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace slicekeeper::auth::internal {

inline absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string what = absl::StrCat("cannot read ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(what) : absl::PermissionDeniedError(what);
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace slicekeeper::auth::internal

#endif  // SLICEKEEPER_SERVER_AUTH_INTERNAL_READ_FILE_H_
