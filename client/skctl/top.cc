// skctl top: the operator view's overview in the terminal, as `kubectl top` / htop show theirs:
// totals, rates, propagation lag and subscribers, then the services that changed most. It reads
// the JSON API of the HTTP port (GET /api/ui/v1/overview, /services, /series; docs/ui.md), which
// yaml-cpp parses (JSON is YAML). Refreshes every --interval until interrupted; --once prints one
// frame without clearing the screen, for scripts.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "absl/flags/flag.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/skctl/commands.h"
#include "client/skctl/flags.h"

ABSL_FLAG(std::string, http, "127.0.0.1:9090", "top: the server's HTTP address host:port");
ABSL_FLAG(bool, once, false, "top: print one frame and exit");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(2), "top: refresh interval");
ABSL_FLAG(int, limit, 20, "top: services shown");

namespace slicekeeper::skctl {
namespace {

// GET http://`address``path`; the body of a 200 answer. Errors: UNAVAILABLE (connect, read),
// INTERNAL (another status).
absl::StatusOr<std::string> HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--http=", address, ": want host:port"));
  }
  const std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", address));
  }
  const int fd = socket(found->ai_family, found->ai_socktype, found->ai_protocol);
  const bool connected = fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0;
  freeaddrinfo(found);
  if (!connected) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to ", address));
  }
  timeval timeout = absl::ToTimeval(absl::GetFlag(FLAGS_request_timeout));
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  // HTTP/1.0: the body ends when the server closes, no chunking to undo.
  // The port's bearer token (--token), as the gRPC calls send it.
  const std::string token = SecurityFlags().token;
  const std::string request = absl::StrCat(
      "GET ", path, " HTTP/1.0\r\nHost: ", address, "\r\nAccept: application/json\r\n",
      token.empty() ? "" : absl::StrCat("Authorization: Bearer ", token, "\r\n"), "\r\n");
  std::string reply;
  bool ok = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size());
  char buf[16384];
  while (ok) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) ok = false;
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  const size_t head_end = reply.find("\r\n\r\n");
  int status = 0;
  if (!ok || head_end == std::string::npos || reply.size() < 12 ||
      !absl::SimpleAtoi(reply.substr(9, 3), &status)) {
    return absl::UnavailableError(absl::StrCat("no HTTP answer from ", address, path));
  }
  std::string body = reply.substr(head_end + 4);
  if (status != 200) {
    return absl::InternalError(absl::StrCat("GET ", path, ": HTTP ", status, ": ", body));
  }
  return body;
}

absl::StatusOr<YAML::Node> GetJson(const std::string& path) {
  absl::StatusOr<std::string> body = HttpGet(absl::GetFlag(FLAGS_http), path);
  if (!body.ok()) return body.status();
  try {
    return YAML::Load(*body);
  } catch (const YAML::Exception& e) {
    return absl::DataLossError(absl::StrCat("GET ", path, ": not JSON: ", e.what()));
  }
}

int64_t Int(const YAML::Node& n) { return n && !n.IsNull() ? n.as<int64_t>() : 0; }

std::string Ms(const YAML::Node& n) {
  return n && !n.IsNull() ? absl::StrFormat("%.1fms", n.as<double>()) : std::string("-");
}

// One frame. Errors: those of GetJson.
absl::StatusOr<std::string> Frame() {
  absl::StatusOr<YAML::Node> o = GetJson("/api/ui/v1/overview");
  if (!o.ok()) return o.status();
  absl::StatusOr<YAML::Node> svcs = GetJson("/api/ui/v1/services");
  if (!svcs.ok()) return svcs.status();
  const YAML::Node& ov = *o;
  // A reader limited to some namespaces sees their services and totals, no cluster-wide figures.
  const bool cluster = !ov["namespaces"] || ov["namespaces"].IsNull();
  absl::StatusOr<YAML::Node> series = YAML::Node();
  if (cluster) series = GetJson("/api/ui/v1/series");
  if (!series.ok()) return series.status();
  const YAML::Node eps = ov["endpoints"], chg = ov["changes_per_second"], subs = ov["subscribers"];
  const YAML::Node st = ov["storage"], hist = ov["history"];
  YAML::Node last;
  if (cluster) {
    for (const YAML::Node& s : (*series)["samples"]) last = s;
  }
  std::string out = absl::StrFormat(
      "slicekeeper  revision %d  storage %s %s  history %d commits\n"
      "services %d  slices %d  endpoints %d  ready %d  serving %d  terminating %d\n"
      "writes/s %d  changes/s %d (added %d, removed %d, flips %d)  lag p50 %s p99 %s\n"
      "subscribers: watch %d  xds %d  pages %d\n\n",
      Int(ov["revision"]), cluster ? st["backend"].as<std::string>() : "-",
      !cluster                   ? "-"
      : st["healthy"].as<bool>() ? "ok"
                                 : "UNHEALTHY",
      Int(hist["commits"]), Int(ov["services"]), Int(ov["slices"]), Int(eps["total"]),
      Int(eps["ready"]), Int(eps["serving"]), Int(eps["terminating"]), Int(ov["writes_per_second"]),
      Int(chg["added"]) + Int(chg["removed"]) + Int(chg["flips"]), Int(chg["added"]),
      Int(chg["removed"]), Int(chg["flips"]), last ? Ms(last["lag_p50_ms"]) : "-",
      last ? Ms(last["lag_p99_ms"]) : "-", Int(subs["watch"]), Int(subs["xds"]),
      Int(subs["pages"]));
  // By index: assigning a YAML::Node assigns the node it refers to, so nodes cannot be sorted.
  const YAML::Node list = (*svcs)["services"];
  std::vector<size_t> order(list.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return Int(list[a]["changes"]) > Int(list[b]["changes"]);
  });
  absl::StrAppendFormat(&out, "%-20s %-32s %9s %6s %5s %6s %5s %8s\n", "NAMESPACE", "NAME",
                        "ENDPOINTS", "READY%", "ZONES", "SLICES", "FILL%", "CHANGES");
  const size_t limit = static_cast<size_t>(std::max(0, absl::GetFlag(FLAGS_limit)));
  for (size_t i = 0; i < order.size() && i < limit; ++i) {
    const YAML::Node r = list[order[i]];
    const int64_t total = Int(r["endpoints"]["total"]);
    absl::StrAppendFormat(
        &out, "%-20s %-32s %9d %6s %5d %6d %5d %8d\n", r["namespace"].as<std::string>(),
        r["name"].as<std::string>(), total,
        total == 0 ? std::string("-") : absl::StrCat(100 * Int(r["endpoints"]["ready"]) / total),
        Int(r["zones"]), Int(r["slices"]), static_cast<int>(100 * r["fill"].as<double>() + 0.5),
        Int(r["changes"]));
  }
  if (order.size() > limit) absl::StrAppendFormat(&out, "... %d more\n", order.size() - limit);
  return out;
}

}  // namespace

int RunTop(const Args& args) {
  if (!args.empty()) return UsageError("top takes no arguments");
  while (true) {
    absl::StatusOr<std::string> frame = Frame();
    if (!frame.ok()) return ServerError(frame.status());
    if (absl::GetFlag(FLAGS_once)) {
      std::fputs(frame->c_str(), stdout);
      return kExitOk;
    }
    std::printf("\x1b[H\x1b[2J%s", frame->c_str());
    std::fflush(stdout);
    absl::SleepFor(absl::GetFlag(FLAGS_interval));
  }
}

}  // namespace slicekeeper::skctl
