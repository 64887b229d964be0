// TokenFile: the bearer tokens of --token_file, in the format of the Kubernetes API server's
// static token file: one `token,identity,groups` line per token, groups separated by commas and
// optionally quoted ("a,b"); blank lines and lines starting with '#' are ignored.
//
//   s3cr3t-deployer,deployer,"team-a,writers"
//   s3cr3t-dashboard,dashboard
//
// Lookup compares the presented token with every listed token in constant time (the time
// depends on neither where nor whether it matches). The file is re-read when it changes on disk
// (checked at most once per `reload_interval`, on lookup: no thread); a rewrite that does not
// parse keeps the previous tokens and is logged. Token values are never logged.
//
// Thread-safety: every method may be called concurrently.
#ifndef SLICEKEEPER_SERVER_AUTH_TOKEN_FILE_H_
#define SLICEKEEPER_SERVER_AUTH_TOKEN_FILE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/auth/identity.h"
#include "server/auth/internal/file_version.h"

namespace slicekeeper::auth {

class TokenFile {
 public:
  struct Entry {
    std::string token;
    Identity identity;
  };

  // Parses the file's text. Errors: INVALID_ARGUMENT naming the line and the rule (an empty
  // token or identity, a duplicate token); the message never contains a token.
  static absl::StatusOr<std::vector<Entry>> Parse(absl::string_view text);

  // Reads and parses `path`. Errors: NOT_FOUND / PERMISSION_DENIED (unreadable), as Parse.
  // `clock` null: the real clock; else must outlive the result.
  static absl::StatusOr<std::unique_ptr<TokenFile>> Load(std::string path,
                                                         absl::Duration reload_interval,
                                                         Clock* clock = nullptr);

  // The identity of `token`, or nullopt. Reloads the file first when it changed.
  std::optional<Identity> Lookup(absl::string_view token) ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the file if it changed on disk since the last load, whatever the interval.
  // Returns the outcome of the parse (OK when unchanged).
  absl::Status ReloadIfChanged() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  TokenFile(std::string path, absl::Duration reload_interval, Clock* clock);
  absl::Status ReloadIfChangedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Immutable after construction.
  const std::string path_;
  const absl::Duration reload_interval_;
  Clock* const clock_;

  absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  internal::FileVersion version_ ABSL_GUARDED_BY(mu_);
  absl::Time next_check_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_TOKEN_FILE_H_
