// AuditLog: --audit_log, one JSON object per line for every write and every denied request.
//
//   {"time":"2026-12-04T08:01:02.345678Z","identity":"deployer","groups":["team-a"],
//    "peer":"ipv4:127.0.0.1:50412","rpc":"ApplyChanges","namespaces":["team-a"],
//    "services":["web"],"changes":3,"code":"OK","message":"","revision":42}
//
// `code` is the canonical status name (OK, PERMISSION_DENIED, UNAUTHENTICATED, ...); `revision`
// is the store revision the write produced (0 when it failed or was denied). Token values are
// never written: records carry identities, never credentials.
//
// Rotation by size: when the file would exceed `max_bytes`, it is renamed to PATH.1 (PATH.1 to
// PATH.2, ... up to `max_files` old files, the oldest dropped) and a new PATH is started. Lines
// are written whole with one write(2) each and flushed, so a crash loses at most the line being
// written.
//
// Thread-safety: Write may be called concurrently; lines never interleave.
#ifndef SLICEKEEPER_SERVER_AUTH_AUDIT_LOG_H_
#define SLICEKEEPER_SERVER_AUTH_AUDIT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/auth/identity.h"

namespace slicekeeper::auth {

struct AuditRecord {
  absl::Time time;
  Identity identity;
  std::string peer;
  std::string rpc;
  std::vector<std::string> namespaces;
  std::vector<std::string> services;
  int64_t changes = 0;
  absl::StatusCode code = absl::StatusCode::kOk;
  std::string message;
  int64_t revision = 0;
};

// The record as one JSON line (with the trailing newline).
std::string AuditLine(const AuditRecord& record);

class AuditLog {
 public:
  struct Options {
    std::string path;
    int64_t max_bytes = 100 << 20;
    int max_files = 5;
  };

  // Opens (appends to) `options.path`. Errors: PERMISSION_DENIED / NOT_FOUND with the path.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(Options options);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends the record; an I/O error is logged (once per failure streak), never returned: the
  // request it describes has already been decided.
  void Write(const AuditRecord& record) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit AuditLog(Options options) : options_(std::move(options)) {}
  absl::Status OpenLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RotateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;

  absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  bool failing_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_AUDIT_LOG_H_
