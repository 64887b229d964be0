#include "server/auth/token_file.h"

#include <utility>

#include <spdlog/spdlog.h>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/auth/internal/read_file.h"

namespace slicekeeper::auth {
namespace {

// Constant time in the length of `known` and independent of where the bytes differ; a length
// mismatch is folded into the result instead of returning early.
bool ConstantTimeEquals(absl::string_view presented, absl::string_view known) {
  unsigned diff = presented.size() == known.size() ? 0u : 1u;
  for (size_t i = 0; i < known.size(); ++i) {
    const unsigned char p = i < presented.size() ? static_cast<unsigned char>(presented[i]) : 0;
    diff |= p ^ static_cast<unsigned char>(known[i]);
  }
  return diff == 0;
}

absl::string_view Unquote(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

absl::StatusOr<std::vector<TokenFile::Entry>> TokenFile::Parse(absl::string_view text) {
  std::vector<Entry> entries;
  absl::flat_hash_set<std::string> seen;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields = absl::StrSplit(line, absl::MaxSplits(',', 2));
    Entry e;
    e.token = std::string(absl::StripAsciiWhitespace(fields[0]));
    if (fields.size() >= 2) e.identity.name = std::string(absl::StripAsciiWhitespace(fields[1]));
    if (e.token.empty() || e.identity.name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_no, ": want token,identity[,groups]"));
    }
    if (fields.size() == 3) {
      for (absl::string_view g : absl::StrSplit(Unquote(fields[2]), ',', absl::SkipWhitespace())) {
        e.identity.groups.emplace_back(absl::StripAsciiWhitespace(g));
      }
    }
    if (!seen.insert(e.token).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("token file line ", line_no, ": duplicate token"));
    }
    entries.push_back(std::move(e));
  }
  return entries;
}

TokenFile::TokenFile(std::string path, absl::Duration reload_interval, Clock* clock)
    : path_(std::move(path)),
      reload_interval_(reload_interval),
      clock_(clock != nullptr ? clock : RealClock()) {}

absl::StatusOr<std::unique_ptr<TokenFile>> TokenFile::Load(std::string path,
                                                           absl::Duration reload_interval,
                                                           Clock* clock) {
  std::unique_ptr<TokenFile> file(new TokenFile(std::move(path), reload_interval, clock));
  absl::MutexLock l(&file->mu_);
  file->version_.size = -2;  // never equal to a real version: the first check loads
  absl::Status status = file->ReloadIfChangedLocked();
  if (!status.ok()) return status;
  return file;
}

absl::Status TokenFile::ReloadIfChanged() {
  absl::MutexLock l(&mu_);
  return ReloadIfChangedLocked();
}

absl::Status TokenFile::ReloadIfChangedLocked() {
  next_check_ = clock_->Now() + reload_interval_;
  const internal::FileVersion now = internal::FileVersion::Of(path_);
  if (now == version_) return absl::OkStatus();
  absl::StatusOr<std::string> text = internal::ReadFile(path_);
  absl::StatusOr<std::vector<Entry>> entries =
      text.ok() ? Parse(*text) : absl::StatusOr<std::vector<Entry>>(text.status());
  if (text.ok() && !entries.ok()) {
    // Parse names the line; the operator needs the file too (never a token: Parse shows none).
    entries = absl::InvalidArgumentError(absl::StrCat(path_, ": ", entries.status().message()));
  }
  if (!entries.ok()) {
    if (version_.size != -2) {
      spdlog::error("token file not reloaded, keeping the previous tokens: {}",
                    std::string(entries.status().message()));
      version_ = now;  // do not retry the same broken version on every request
    }
    return entries.status();
  }
  const bool first = version_.size == -2;
  entries_ = *std::move(entries);
  version_ = now;
  spdlog::info("token file {} {}: tokens={}", path_, first ? "loaded" : "reloaded",
               entries_.size());
  return absl::OkStatus();
}

std::optional<Identity> TokenFile::Lookup(absl::string_view token) {
  absl::MutexLock l(&mu_);
  if (clock_->Now() >= next_check_) ReloadIfChangedLocked().IgnoreError();
  const Entry* found = nullptr;
  // Every entry is compared, so the time does not tell which (or whether one) matched.
  for (const Entry& e : entries_) {
    if (ConstantTimeEquals(token, e.token)) found = &e;
  }
  if (found == nullptr) return std::nullopt;
  return found->identity;
}

}  // namespace slicekeeper::auth
