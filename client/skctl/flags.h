// skctl's flags, argument parsing and the conventions every command shares: exit codes, the
// server address, and kubectl-style error lines.
//
// Flags are absl flags, parsed by ParseArgs with kubectl's habits: `-n NS`, `-n=NS`, `-oyaml`,
// `--all-namespaces` (dashes read as underscores), `-` as a value (stdin), flags anywhere among
// the positional arguments, `--` ending the flags. Short forms: -n namespace, -A all_namespaces,
// -l selector, -o output, -f filename.
//
// Thread-safety: ParseArgs runs once on the main thread before anything else; the rest are plain
// functions (the flag values are read-only afterwards).
#ifndef SLICEKEEPER_CLIENT_SKCTL_FLAGS_H_
#define SLICEKEEPER_CLIENT_SKCTL_FLAGS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"

ABSL_DECLARE_FLAG(std::string, server);
ABSL_DECLARE_FLAG(std::string, namespace);
ABSL_DECLARE_FLAG(bool, all_namespaces);
ABSL_DECLARE_FLAG(std::string, selector);
ABSL_DECLARE_FLAG(std::string, output);
ABSL_DECLARE_FLAG(std::string, filename);
ABSL_DECLARE_FLAG(std::string, zone);
ABSL_DECLARE_FLAG(bool, prefer_zone);
ABSL_DECLARE_FLAG(std::string, node);
ABSL_DECLARE_FLAG(std::string, condition);
ABSL_DECLARE_FLAG(std::string, port);
ABSL_DECLARE_FLAG(bool, hints);
ABSL_DECLARE_FLAG(int64_t, resume);
ABSL_DECLARE_FLAG(int64_t, max_events);
ABSL_DECLARE_FLAG(absl::Duration, request_timeout);

namespace slicekeeper::skctl {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;
inline constexpr int kExitUsage = 2;

// Parses argv into the absl flags; returns the positional arguments (the command first).
// -h / --help print UsageText() and --helpfull every flag (PrintAllFlags) to stdout, then exit 0.
// Errors: INVALID_ARGUMENT naming the flag (unknown flag, missing or bad value).
absl::StatusOr<std::vector<std::string>> ParseArgs(int argc, char** argv);

// The namespace to use: --namespace, else "default".
std::string Namespace();

// The addresses of --server (comma-separated), else of $SLICEKEEPER_SERVER, else
// {"127.0.0.1:50051"}. Never empty unless --server holds only commas.
std::vector<std::string> ServerAddresses();

// A client for ServerAddresses(). Reads retry on UNAVAILABLE a few times.
std::unique_ptr<client::Client> MakeClient();

// --ca, --cert, --key, --token over SLICEKEEPER_CA/CERT/KEY/TOKEN.
client::SecurityOptions SecurityFlags();

// Prints "error: <message>" to stderr and returns kExitUsage.
int UsageError(const std::string& message);
// Prints a server-side error as kubectl prints API errors ("Error from server (NotFound): ...";
// UNAVAILABLE as kubectl's connection-refused line) and returns kExitServerError.
int ServerError(const absl::Status& status);
// kubectl's reason for a canonical code: NotFound, Invalid, Conflict, ...
std::string Reason(absl::StatusCode code);

// The usage text of skctl.
const char* UsageText();

// Prints every flag skctl accepts, one a line, sorted: "  --request-timeout (Deadline of each
// request); default: 10s". Names are shown with dashes; underscores work as well.
void PrintAllFlags();

}  // namespace slicekeeper::skctl

#endif  // SLICEKEEPER_CLIENT_SKCTL_FLAGS_H_
