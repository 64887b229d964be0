#include "client/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"

namespace slicekeeper::client {
namespace {

absl::StatusOr<std::string> ReadPem(const char* field, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(field, ": cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

}  // namespace

SecurityOptions SecurityFromEnvironment() {
  return SecurityOptions{.ca_file = Env("SLICEKEEPER_CA"),
                         .cert_file = Env("SLICEKEEPER_CERT"),
                         .key_file = Env("SLICEKEEPER_KEY"),
                         .token = Env("SLICEKEEPER_TOKEN")};
}

SecurityOptions Merge(SecurityOptions base, const SecurityOptions& overrides) {
  if (!overrides.ca_file.empty()) base.ca_file = overrides.ca_file;
  if (!overrides.cert_file.empty()) base.cert_file = overrides.cert_file;
  if (!overrides.key_file.empty()) base.key_file = overrides.key_file;
  if (!overrides.token.empty()) base.token = overrides.token;
  return base;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(
    const SecurityOptions& options) {
  if (!options.tls()) return grpc::InsecureChannelCredentials();
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError("cert, key: set both or neither");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadPem("ca", options.ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
  }
  if (!options.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadPem("cert", options.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem("key", options.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *std::move(cert);
    ssl.pem_private_key = *std::move(key);
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::SslCredentials(ssl);
  if (options.token.empty()) return creds;
  return grpc::CompositeChannelCredentials(creds, grpc::AccessTokenCredentials(options.token));
}

}  // namespace slicekeeper::client
