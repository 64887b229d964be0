#include "client/skctl/flags.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, server, "",
          "Server address(es), comma-separated; default "
          "$SLICEKEEPER_SERVER or 127.0.0.1:50051");
ABSL_FLAG(std::string, namespace, "", "Namespace (-n); default \"default\"");
ABSL_FLAG(bool, all_namespaces, false, "Every namespace (-A)");
ABSL_FLAG(std::string, selector, "", "Label selector (-l), kubectl syntax");
ABSL_FLAG(std::string, output, "", "Output format (-o): table, wide, yaml or json");
ABSL_FLAG(std::string, filename, "", "File to apply (-f); - for stdin");
ABSL_FLAG(std::string, zone, "", "Zone filter");
ABSL_FLAG(bool, prefer_zone, false, "query: fall back to every zone when --zone has none");
ABSL_FLAG(std::string, node, "", "Node filter");
ABSL_FLAG(std::string, condition, "routable", "query: routable, ready, serving or any");
ABSL_FLAG(std::string, port, "", "query: only this port name");
ABSL_FLAG(bool, hints, false, "query: apply kube-proxy's topology-hint rule for --zone/--node");
ABSL_FLAG(int64_t, resume, 0, "watch: resume after this revision");
ABSL_FLAG(int64_t, max_events, 0, "watch: exit after this many events (0: never)");
ABSL_FLAG(std::string, ca, "",
          "CA bundle (PEM) verifying the server; turns TLS on (env SLICEKEEPER_CA)");
ABSL_FLAG(std::string, cert, "", "Client certificate (PEM) for mTLS (env SLICEKEEPER_CERT)");
ABSL_FLAG(std::string, key, "", "Private key (PEM) of --cert (env SLICEKEEPER_KEY)");
ABSL_FLAG(std::string, token, "", "Bearer token; needs TLS (env SLICEKEEPER_TOKEN)");
ABSL_FLAG(absl::Duration, request_timeout, absl::Seconds(10), "Deadline of each request");

namespace slicekeeper::skctl {
namespace {

std::string LongName(const std::string& name) {
  if (name == "n") return "namespace";
  if (name == "A") return "all_namespaces";
  if (name == "l") return "selector";
  if (name == "o") return "output";
  if (name == "f") return "filename";
  return absl::StrReplaceAll(name, {{"-", "_"}});
}

// Sets one flag. `value` is empty-optional when the argument had no "=value".
absl::Status SetFlag(const std::string& shown, const std::string& name, std::string* value,
                     bool has_value, int* i, int argc, char** argv) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  if (flag == nullptr) return absl::InvalidArgumentError(absl::StrCat("unknown flag: ", shown));
  if (!has_value) {
    if (flag->IsOfType<bool>()) {
      *value = "true";
    } else if (*i + 1 < argc) {
      *value = argv[++*i];
    } else {
      return absl::InvalidArgumentError(absl::StrCat("flag needs an argument: ", shown));
    }
  }
  std::string error;
  if (!flag->ParseFrom(*value, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid argument \"", *value, "\" for \"", shown, "\" flag: ", error));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseArgs(int argc, char** argv) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional.push_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    const bool single_dash = arg[1] != '-';
    std::string body = arg.substr(single_dash ? 1 : 2);
    std::string value;
    bool has_value = false;
    if (size_t eq = body.find('='); eq != std::string::npos) {
      value = body.substr(eq + 1);
      body = body.substr(0, eq);
      has_value = true;
    }
    std::string name = LongName(body);
    // -oyaml, -nkube-system: a short flag with its value attached.
    if (single_dash && !has_value && body.size() > 1 &&
        absl::FindCommandLineFlag(name) == nullptr &&
        std::string("nlof").find(body[0]) != std::string::npos) {
      name = LongName(body.substr(0, 1));
      value = body.substr(1);
      has_value = true;
    }
    if (name == "h" || name == "help") {
      std::fputs(UsageText(), stdout);
      std::exit(kExitOk);
    }
    if (name == "helpfull") {
      PrintAllFlags();
      std::exit(kExitOk);
    }
    absl::Status s = SetFlag(arg.substr(0, arg.find('=')), name, &value, has_value, &i, argc, argv);
    if (!s.ok()) return s;
  }
  return positional;
}

std::string Namespace() {
  std::string ns = absl::GetFlag(FLAGS_namespace);
  return ns.empty() ? "default" : ns;
}

std::vector<std::string> ServerAddresses() {
  std::string servers = absl::GetFlag(FLAGS_server);
  if (servers.empty()) {
    const char* env = std::getenv("SLICEKEEPER_SERVER");
    servers = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  }
  return absl::StrSplit(servers, ',', absl::SkipEmpty());
}

client::SecurityOptions SecurityFlags() {
  return client::Merge(client::SecurityFromEnvironment(),
                       client::SecurityOptions{.ca_file = absl::GetFlag(FLAGS_ca),
                                               .cert_file = absl::GetFlag(FLAGS_cert),
                                               .key_file = absl::GetFlag(FLAGS_key),
                                               .token = absl::GetFlag(FLAGS_token)});
}

std::unique_ptr<client::Client> MakeClient() {
  client::ClientOptions options;
  options.addresses = ServerAddresses();
  options.deadline = absl::GetFlag(FLAGS_request_timeout);
  options.max_read_attempts = 3;
  options.security = SecurityFlags();
  auto c = client::Client::Create(options);
  if (!c.ok()) {
    UsageError(std::string(c.status().message()));
    std::exit(kExitUsage);
  }
  return std::move(*c);
}

int UsageError(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return kExitUsage;
}

std::string Reason(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kNotFound:
      return "NotFound";
    case absl::StatusCode::kInvalidArgument:
      return "Invalid";
    case absl::StatusCode::kAlreadyExists:
      return "AlreadyExists";
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kFailedPrecondition:
      return "Conflict";
    case absl::StatusCode::kOutOfRange:
      return "Gone";
    case absl::StatusCode::kResourceExhausted:
      return "TooManyRequests";
    case absl::StatusCode::kDeadlineExceeded:
      return "Timeout";
    case absl::StatusCode::kPermissionDenied:
      return "Forbidden";
    case absl::StatusCode::kUnauthenticated:
      return "Unauthorized";
    case absl::StatusCode::kUnavailable:
      return "ServiceUnavailable";
    default:
      return "InternalError";
  }
}

int ServerError(const absl::Status& status) {
  if (status.code() == absl::StatusCode::kUnavailable) {
    std::string servers = absl::GetFlag(FLAGS_server);
    if (servers.empty() && std::getenv("SLICEKEEPER_SERVER") != nullptr) {
      servers = std::getenv("SLICEKEEPER_SERVER");
    }
    if (servers.empty()) servers = "127.0.0.1:50051";
    std::fprintf(stderr,
                 "The connection to the server %s was refused - did you specify the right host "
                 "or port? (%s)\n",
                 servers.c_str(), std::string(status.message()).c_str());
    return kExitServerError;
  }
  std::fprintf(stderr, "Error from server (%s): %s\n", Reason(status.code()).c_str(),
               std::string(status.message()).c_str());
  return kExitServerError;
}

const char* UsageText() {
  return R"(skctl controls a slicekeeper server (kubectl's habits; see docs/skctl.md).

Usage:
  skctl apply -f FILE|- [-n NS]
  skctl get slices|services|endpoints [NAME] [-n NS | -A] [-l SELECTOR] [-o table|wide|yaml|json]
            [--zone Z]
  skctl query SERVICE [-n NS] [--zone Z] [--prefer-zone] [--node N]
            [--condition routable|ready|serving|any] [--port NAME] [--hints] [-o ...]
  skctl watch slices|endpoints [SERVICE...] [-n NS | -A] [-o table|json|yaml] [--resume REV]
            [--zone Z] [--node N] [--max-events N]
  skctl delete service|slice NAME [-n NS]
  skctl churn [--services N] [--endpoints M] [--rate R] [--duration D | --changes C]
            [--mix add=1,remove=1,ready=2,terminate=1] [--zones Z] [--seed S] [--batch B]
            [--inflight K] [--record FILE] [-o json]
  skctl health [--service NAME] [--timeout D]   exit 0 only when every --server is SERVING
  skctl top [--http ADDR] [--once] [--interval D] [--limit N]
            the operator overview from the HTTP port's /api/ui/v1/ (services by churn)

Global flags:
  --server ADDR[,ADDR...]   default $SLICEKEEPER_SERVER, else 127.0.0.1:50051
  --request-timeout D       deadline of each request (default 10s)
  --ca FILE                 CA (PEM) verifying the server: TLS on ($SLICEKEEPER_CA)
  --cert FILE --key FILE    client certificate and key for mTLS ($SLICEKEEPER_CERT/_KEY)
  --token T                 bearer token, sent over TLS only ($SLICEKEEPER_TOKEN);
                            top sends it to --http (the HTTP port's tokens)
  --helpfull                every flag

Exit codes: 0 ok, 1 server-side error, 2 usage or input error.
)";
}

void PrintAllFlags() {
  std::vector<std::pair<std::string, const absl::CommandLineFlag*>> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    flags.emplace_back(absl::StrReplaceAll(name, {{"_", "-"}}), flag);
  }
  std::sort(flags.begin(), flags.end());
  for (const auto& [name, flag] : flags) {
    std::printf("  --%s (%s); default: %s\n", name.c_str(), flag->Help().c_str(),
                flag->DefaultValue().c_str());
  }
}

}  // namespace slicekeeper::skctl
