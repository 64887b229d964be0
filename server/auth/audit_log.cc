#include "server/auth/audit_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "common/json_string.h"

namespace slicekeeper::auth {
namespace {

void AppendJsonStrings(const std::vector<std::string>& list, std::string* out) {
  out->push_back('[');
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendJsonString(list[i], out);
  }
  out->push_back(']');
}

}  // namespace

std::string AuditLine(const AuditRecord& r) {
  std::string out = "{\"time\":";
  AppendJsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", r.time, absl::UTCTimeZone()), &out);
  out.append(",\"identity\":");
  AppendJsonString(r.identity.name, &out);
  out.append(",\"groups\":");
  AppendJsonStrings(r.identity.groups, &out);
  out.append(",\"peer\":");
  AppendJsonString(r.peer, &out);
  out.append(",\"rpc\":");
  AppendJsonString(r.rpc, &out);
  out.append(",\"namespaces\":");
  AppendJsonStrings(r.namespaces, &out);
  out.append(",\"services\":");
  AppendJsonStrings(r.services, &out);
  absl::StrAppend(&out, ",\"changes\":", r.changes, ",\"code\":");
  AppendJsonString(absl::StatusCodeToString(r.code), &out);
  out.append(",\"message\":");
  AppendJsonString(r.message, &out);
  absl::StrAppend(&out, ",\"revision\":", r.revision, "}\n");
  return out;
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(Options options) {
  std::unique_ptr<AuditLog> log(new AuditLog(std::move(options)));
  absl::MutexLock l(&log->mu_);
  absl::Status status = log->OpenLocked();
  if (!status.ok()) return status;
  return log;
}

AuditLog::~AuditLog() {
  absl::MutexLock l(&mu_);
  if (fd_ >= 0) ::close(fd_);
}

absl::Status AuditLog::OpenLocked() {
  fd_ = ::open(options_.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int err = errno;
    std::string what = absl::StrCat("cannot open audit log ", options_.path, ": ", strerror(err));
    return err == ENOENT ? absl::NotFoundError(what) : absl::PermissionDeniedError(what);
  }
  struct stat st {};
  size_ = ::fstat(fd_, &st) == 0 ? static_cast<int64_t>(st.st_size) : 0;
  return absl::OkStatus();
}

void AuditLog::RotateLocked() {
  ::close(fd_);
  fd_ = -1;
  const std::string& base = options_.path;
  for (int i = options_.max_files - 1; i >= 1; --i) {
    ::rename(absl::StrCat(base, ".", i).c_str(), absl::StrCat(base, ".", i + 1).c_str());
  }
  if (options_.max_files >= 1) {
    ::rename(base.c_str(), absl::StrCat(base, ".1").c_str());
  } else {
    ::unlink(base.c_str());
  }
  absl::Status status = OpenLocked();
  if (!status.ok()) spdlog::error("audit log rotation failed: {}", std::string(status.message()));
}

void AuditLog::Write(const AuditRecord& record) {
  const std::string line = AuditLine(record);
  absl::MutexLock l(&mu_);
  if (fd_ >= 0 && size_ > 0 && size_ + static_cast<int64_t>(line.size()) > options_.max_bytes) {
    RotateLocked();
  }
  const ssize_t n = fd_ >= 0 ? ::write(fd_, line.data(), line.size()) : -1;
  if (n == static_cast<ssize_t>(line.size())) {
    size_ += n;
    failing_ = false;
    return;
  }
  if (!failing_) spdlog::error("audit log {}: write failed: {}", options_.path, strerror(errno));
  failing_ = true;
}

}  // namespace slicekeeper::auth
