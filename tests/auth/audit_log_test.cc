#include "server/auth/audit_log.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "server/auth/internal/read_file.h"
#include "tests/test_util.h"

namespace slicekeeper::auth {
namespace {

std::string ReadAll(const std::string& path) { return internal::ReadFile(path).value_or(""); }

// A record is one JSON line with every field, strings escaped.
TEST(AuditLineTest, Format) {
  AuditRecord r{.time = absl::FromUnixSeconds(1'700'000'000),
                .identity = Identity{"a\"b", {"g"}},
                .peer = "ipv4:127.0.0.1:5",
                .rpc = "ApplyChanges",
                .namespaces = {"ns1", "ns2"},
                .services = {"web"},
                .changes = 3,
                .code = absl::StatusCode::kPermissionDenied,
                .message = "line\nbreak",
                .revision = 0};
  EXPECT_EQ(AuditLine(r),
            "{\"time\":\"2023-11-14T22:13:20.000000Z\",\"identity\":\"a\\\"b\",\"groups\":[\"g\"],"
            "\"peer\":\"ipv4:127.0.0.1:5\",\"rpc\":\"ApplyChanges\",\"namespaces\":[\"ns1\","
            "\"ns2\"],\"services\":[\"web\"],\"changes\":3,\"code\":\"PERMISSION_DENIED\","
            "\"message\":\"line\\nbreak\",\"revision\":0}\n");
}

// The file rotates when the next line would pass max_bytes, keeping max_files old files.
TEST(AuditLogTest, RotatesBySize) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "sk_audit_XXXXXX").string();
  const std::string dir = mkdtemp(tmpl.data());
  const std::string path = dir + "/audit.log";
  const AuditRecord r{.time = absl::UnixEpoch(), .rpc = "PutNodes"};
  const size_t line = AuditLine(r).size();
  auto log = AuditLog::Open(
      AuditLog::Options{.path = path, .max_bytes = static_cast<int64_t>(2 * line), .max_files = 2});
  ASSERT_OK(log.status());
  for (int i = 0; i < 7; ++i) (*log)->Write(r);
  EXPECT_EQ(ReadAll(path).size(), line);  // the 7th
  EXPECT_EQ(ReadAll(path + ".1").size(), 2 * line);
  EXPECT_EQ(ReadAll(path + ".2").size(), 2 * line);
  EXPECT_FALSE(std::filesystem::exists(path + ".3"));
  log->reset();
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace slicekeeper::auth
