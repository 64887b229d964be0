#include "server/storage/etcd/internal/channels.h"

#include <climits>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"

namespace slicekeeper::etcd::internal {
namespace {

absl::StatusOr<std::string> ReadFile(absl::string_view what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  if (!in || !(contents << in.rdbuf())) {
    return absl::InvalidArgumentError(absl::StrCat("etcd ", what, " ", path, ": cannot read"));
  }
  return contents.str();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials(const ClientOptions& options,
                                                                      bool tls) {
  const bool has_cert = !options.cert_file.empty(), has_key = !options.key_file.empty();
  if (has_cert != has_key) {
    return absl::InvalidArgumentError("etcd client TLS: cert_file and key_file go together");
  }
  if (!tls) {
    if (has_cert) {
      return absl::InvalidArgumentError(
          "etcd client TLS: a client certificate needs TLS (set ca_file or use https://)");
    }
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    // Empty pem_root_certs means gRPC's default roots, which is what https:// alone asks for.
    auto ca = ReadFile("ca_file", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (has_cert) {
    auto cert = ReadFile("cert_file", options.cert_file);
    if (!cert.ok()) return cert.status();
    auto key = ReadFile("key_file", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  return grpc::SslCredentials(ssl);
}

grpc::ChannelArguments ChannelArgs() {
  grpc::ChannelArguments args;
  // etcd answers a large Range in one message; its own client accepts any size.
  args.SetMaxReceiveMessageSize(-1);
  // A restarted member is dialled again within a second, not after gRPC's default 2-minute cap.
  // (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays at its 20 s: it is also how long one connection
  // attempt may take, and a member that is starting accepts TCP long before it answers.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // A member that vanishes without closing its connections (host down, network cut) breaks an
  // open watch within ~15 s. etcd's server refuses pings more often than every 5 s
  // (--grpc-keepalive-min-time) and pings without a call (PermitWithoutStream=false).
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  // Each endpoint keeps its own connection, even when two Clients dial the same member.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return args;
}

}  // namespace

grpc::Status AwaitConnected(grpc::Channel& channel, absl::Time deadline,
                            absl::Duration failure_grace) {
  grpc_connectivity_state state = channel.GetState(/*try_to_connect=*/true);
  if (state == GRPC_CHANNEL_READY) return grpc::Status::OK;
  // TRANSIENT_FAILURE at entry is an earlier attempt's news, and gRPC keeps reporting it while it
  // retries after its backoff ("sticky"): give that retry a grace before giving up.
  const absl::Time failure_until = absl::Now() + failure_grace;
  const absl::Time wait_until =
      state == GRPC_CHANNEL_TRANSIENT_FAILURE ? std::min(deadline, failure_until) : deadline;
  bool connecting = false;
  while (state != GRPC_CHANNEL_READY) {
    if (state == GRPC_CHANNEL_CONNECTING) connecting = true;
    if (state == GRPC_CHANNEL_SHUTDOWN || (state == GRPC_CHANNEL_TRANSIENT_FAILURE && connecting)) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot connect");
    }
    if (!channel.WaitForStateChange(state, absl::ToChronoTime(wait_until))) {
      if (state == GRPC_CHANNEL_TRANSIENT_FAILURE && absl::Now() >= failure_until) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "cannot connect");
      }
      return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "not connected before the deadline");
    }
    state = channel.GetState(/*try_to_connect=*/true);
  }
  return grpc::Status::OK;
}

absl::StatusOr<std::string> ParseEndpoint(absl::string_view endpoint, std::optional<bool>* tls) {
  absl::string_view rest = endpoint;
  *tls = std::nullopt;
  if (absl::ConsumePrefix(&rest, "http://")) {
    *tls = false;
  } else if (absl::ConsumePrefix(&rest, "https://")) {
    *tls = true;
  }
  absl::ConsumeSuffix(&rest, "/");
  const size_t colon = rest.rfind(':');
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint \"", endpoint, "\": ", why, " (want [http[s]://]host:port)"));
  };
  if (colon == absl::string_view::npos || colon == 0) return bad("no host:port");
  const absl::string_view host = rest.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(rest.substr(colon + 1), &port) || port < 1 || port > 65535) {
    return bad("bad port");
  }
  if (host.find_first_of("/?#@ ") != absl::string_view::npos ||
      (host.find(':') != absl::string_view::npos && (host.front() != '[' || host.back() != ']'))) {
    return bad("bad host");
  }
  return std::string(rest);
}

absl::StatusOr<std::shared_ptr<Channels>> Channels::Create(const ClientOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("etcd client: no endpoints");
  }
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("etcd client: timeout must be positive");
  }
  std::vector<std::string> targets;
  std::optional<bool> scheme_tls;
  for (const std::string& endpoint : options.endpoints) {
    std::optional<bool> tls;
    auto target = ParseEndpoint(endpoint, &tls);
    if (!target.ok()) return target.status();
    if (tls.has_value()) {
      if (scheme_tls.has_value() && *scheme_tls != *tls) {
        return absl::InvalidArgumentError("etcd client: endpoints mix http:// and https://");
      }
      scheme_tls = tls;
    }
    targets.push_back(*std::move(target));
  }
  if (scheme_tls == false && !options.ca_file.empty()) {
    return absl::InvalidArgumentError("etcd client: ca_file set for http:// endpoints");
  }
  const bool tls = scheme_tls.value_or(!options.ca_file.empty());
  auto credentials = Credentials(options, tls);
  if (!credentials.ok()) return credentials.status();

  std::vector<std::unique_ptr<Endpoint>> endpoints;
  for (std::string& target : targets) {
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->channel = grpc::CreateCustomChannel(target, *credentials, ChannelArgs());
    endpoint->kv = etcdserverpb::KV::NewStub(endpoint->channel);
    endpoint->lease = etcdserverpb::Lease::NewStub(endpoint->channel);
    endpoint->watch = etcdserverpb::Watch::NewStub(endpoint->channel);
    endpoint->target = std::move(target);
    endpoints.push_back(std::move(endpoint));
  }
  return std::shared_ptr<Channels>(new Channels(std::move(endpoints)));
}

}  // namespace slicekeeper::etcd::internal
