#include "server/http/internal/tls.h"

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <microhttpd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spdlog/spdlog.h"

namespace slicekeeper::http::internal {
namespace {

// A chain longer than this is not a server certificate chain.
constexpr unsigned kMaxChain = 16;
// Retired generations stay alive this long for handshakes that started before a swap.
constexpr absl::Duration kRetiredLife = absl::Minutes(5);

bool ReadWhole(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = std::move(s).str();
  return true;
}

gnutls_datum_t Datum(const std::string& s) {
  return gnutls_datum_t{reinterpret_cast<unsigned char*>(const_cast<char*>(s.data())),
                        static_cast<unsigned int>(s.size())};
}

absl::Status Bad(absl::string_view flag, absl::string_view path, int err) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": ", path, ": ", gnutls_strerror(err)));
}

// The TlsContext of a libmicrohttpd connection's session (see Retrieve), or null.
TlsContext* ContextOf(gnutls_session_t session) {
  auto* conn = static_cast<MHD_Connection*>(gnutls_session_get_ptr(session));
  if (conn == nullptr) return nullptr;
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info == nullptr ? nullptr : static_cast<TlsContext*>(info->socket_context);
}

}  // namespace

struct TlsContext::Generation {
  // The files' bytes, to notice a change.
  std::string cert_pem, key_pem, ca_pem;
  std::vector<gnutls_pcert_st> chain;
  gnutls_privkey_t key = nullptr;
  // Null without a client CA file.
  gnutls_x509_trust_list_t trust = nullptr;
  absl::Time retired_at = absl::InfiniteFuture();

  ~Generation() {
    for (gnutls_pcert_st& c : chain) gnutls_pcert_deinit(&c);
    if (key != nullptr) gnutls_privkey_deinit(key);
    if (trust != nullptr) gnutls_x509_trust_list_deinit(trust, 1);
  }

  // 0 when `certs` (DER, leaf first) verifies for a TLS client against `trust`.
  bool Verifies(const gnutls_datum_t* certs, unsigned n) const {
    if (trust == nullptr || n == 0) return false;
    std::vector<gnutls_x509_crt_t> crts;
    bool ok = true;
    for (unsigned i = 0; i < n && i < kMaxChain && ok; ++i) {
      gnutls_x509_crt_t crt;
      if (gnutls_x509_crt_init(&crt) < 0) return false;
      crts.push_back(crt);
      ok = gnutls_x509_crt_import(crt, &certs[i], GNUTLS_X509_FMT_DER) >= 0;
    }
    unsigned status = 1;
    if (ok) {
      gnutls_typed_vdata_st purpose{};
      purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
      purpose.data = reinterpret_cast<unsigned char*>(const_cast<char*>(GNUTLS_KP_TLS_WWW_CLIENT));
      ok = gnutls_x509_trust_list_verify_crt2(trust, crts.data(), crts.size(), &purpose, 1, 0,
                                              &status, nullptr) >= 0;
    }
    for (gnutls_x509_crt_t crt : crts) gnutls_x509_crt_deinit(crt);
    return ok && status == 0;
  }
};

TlsContext::TlsContext(auth::TlsOptions options) : options_(std::move(options)) {}

TlsContext::~TlsContext() = default;

absl::StatusOr<std::shared_ptr<TlsContext::Generation>> TlsContext::Load(
    const auth::TlsOptions& options) {
  auto g = std::make_shared<Generation>();
  if (!ReadWhole(options.cert_file, &g->cert_pem)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert_file: cannot read ", options.cert_file));
  }
  if (!ReadWhole(options.key_file, &g->key_pem)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_key_file: cannot read ", options.key_file));
  }
  if (!options.client_ca_file.empty() && !ReadWhole(options.client_ca_file, &g->ca_pem)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_client_ca_file: cannot read ", options.client_ca_file));
  }
  gnutls_datum_t cert = Datum(g->cert_pem), key = Datum(g->key_pem);
  // The pair must match: GnuTLS's own credentials check it (mid-rotation files often do not).
  gnutls_certificate_credentials_t check;
  if (int err = gnutls_certificate_allocate_credentials(&check); err < 0) {
    return Bad("tls_cert_file", options.cert_file, err);
  }
  const int pair =
      gnutls_certificate_set_x509_key_mem2(check, &cert, &key, GNUTLS_X509_FMT_PEM, nullptr, 0);
  gnutls_certificate_free_credentials(check);
  if (pair < 0) return Bad("tls_cert_file, --tls_key_file", options.cert_file, pair);

  g->chain.resize(kMaxChain);
  unsigned n = kMaxChain;
  if (int err =
          gnutls_pcert_list_import_x509_raw(g->chain.data(), &n, &cert, GNUTLS_X509_FMT_PEM, 0);
      err < 0) {
    g->chain.clear();
    return Bad("tls_cert_file", options.cert_file, err);
  }
  g->chain.resize(n);
  if (int err = gnutls_privkey_init(&g->key); err < 0) return Bad("tls_key_file", "", err);
  if (int err = gnutls_privkey_import_x509_raw(g->key, &key, GNUTLS_X509_FMT_PEM, nullptr, 0);
      err < 0) {
    return Bad("tls_key_file", options.key_file, err);
  }
  if (!g->ca_pem.empty()) {
    if (int err = gnutls_x509_trust_list_init(&g->trust, 0); err < 0) {
      return Bad("tls_client_ca_file", options.client_ca_file, err);
    }
    gnutls_datum_t ca = Datum(g->ca_pem);
    const int added =
        gnutls_x509_trust_list_add_trust_mem(g->trust, &ca, nullptr, GNUTLS_X509_FMT_PEM, 0, 0);
    if (added <= 0) {
      return Bad("tls_client_ca_file", options.client_ca_file,
                 added < 0 ? added : GNUTLS_E_NO_CERTIFICATE_FOUND);
    }
  }
  return g;
}

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::Create(const auth::TlsOptions& options) {
  absl::StatusOr<std::shared_ptr<Generation>> g = Load(options);
  if (!g.ok()) return g.status();
  std::unique_ptr<TlsContext> context(new TlsContext(options));
  absl::MutexLock l(&context->mu_);
  context->current_ = *std::move(g);
  return context;
}

bool TlsContext::Reload() {
  std::shared_ptr<Generation> current = Current();
  std::string cert, key, ca;
  if (!ReadWhole(options_.cert_file, &cert) || !ReadWhole(options_.key_file, &key) ||
      (!options_.client_ca_file.empty() && !ReadWhole(options_.client_ca_file, &ca))) {
    return false;  // mid-rotation; the next check sees the files
  }
  if (cert == current->cert_pem && key == current->key_pem && ca == current->ca_pem) return false;
  absl::StatusOr<std::shared_ptr<Generation>> next = Load(options_);
  if (!next.ok()) {
    spdlog::warn("http TLS: keeping the previous certificate: {}", next.status().ToString());
    return false;
  }
  const absl::Time now = absl::Now();
  absl::MutexLock l(&mu_);
  current_->retired_at = now;
  retired_.push_back(std::move(current_));
  current_ = *std::move(next);
  while (!retired_.empty() && now - retired_.front()->retired_at > kRetiredLife) {
    retired_.pop_front();
  }
  spdlog::info("http TLS: reloaded {}, {}{}{}", options_.cert_file, options_.key_file,
               options_.client_ca_file.empty() ? "" : ", ", options_.client_ca_file);
  return true;
}

std::shared_ptr<TlsContext::Generation> TlsContext::Current() const {
  absl::MutexLock l(&mu_);
  return current_;
}

int TlsContext::Retrieve(gnutls_session_t session, const gnutls_datum_t*, int,
                         const gnutls_pk_algorithm_t*, int, gnutls_pcert_st** pcert,
                         unsigned int* pcert_length, gnutls_privkey_t* privkey) {
  TlsContext* self = ContextOf(session);
  if (self == nullptr) return -1;
  // Retired generations outlive the handshake (kRetiredLife), so the raw pointers stay valid.
  std::shared_ptr<Generation> g = self->Current();
  *pcert = g->chain.data();
  *pcert_length = static_cast<unsigned int>(g->chain.size());
  *privkey = g->key;
  // Called while the ClientHello is processed, before the server's CertificateRequest.
  switch (self->options_.client_auth) {
    case auth::ClientAuth::kNone:
      break;
    case auth::ClientAuth::kRequest:
    case auth::ClientAuth::kRequire:
      gnutls_certificate_server_set_request(
          session, self->options_.client_auth == auth::ClientAuth::kRequire ? GNUTLS_CERT_REQUIRE
                                                                            : GNUTLS_CERT_REQUEST);
      gnutls_certificate_send_x509_rdn_sequence(session, 1);
      gnutls_session_set_verify_function(session, &TlsContext::VerifyPeer);
      break;
  }
  return 0;
}

int TlsContext::VerifyPeer(gnutls_session_t session) {
  TlsContext* self = ContextOf(session);
  if (self == nullptr) return -1;
  unsigned n = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &n);
  if (certs == nullptr || n == 0) {
    return self->options_.client_auth == auth::ClientAuth::kRequire ? -1 : 0;
  }
  return self->Current()->Verifies(certs, n) ? 0 : -1;
}

absl::StatusOr<PeerCertificate> TlsContext::PeerOf(gnutls_session_t session) const {
  PeerCertificate peer;
  unsigned n = 0;
  const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &n);
  if (certs == nullptr || n == 0) {
    if (options_.client_auth == auth::ClientAuth::kRequire) {
      return absl::PermissionDeniedError("a client certificate is required");
    }
    return peer;
  }
  if (options_.client_auth == auth::ClientAuth::kNone) return peer;
  if (!Current()->Verifies(certs, n)) {
    return absl::PermissionDeniedError("the client certificate does not verify");
  }
  gnutls_x509_crt_t leaf;
  if (gnutls_x509_crt_init(&leaf) < 0) return absl::InternalError("gnutls_x509_crt_init");
  if (gnutls_x509_crt_import(leaf, &certs[0], GNUTLS_X509_FMT_DER) >= 0) {
    char buf[1024];
    for (unsigned i = 0;; ++i) {
      size_t size = sizeof(buf);
      unsigned critical = 0;
      const int type = gnutls_x509_crt_get_subject_alt_name(leaf, i, buf, &size, &critical);
      if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE) break;
      if (type == GNUTLS_SAN_URI && absl::StartsWith(absl::string_view(buf, size), "spiffe://")) {
        peer.spiffe_id.assign(buf, size);
        break;
      }
    }
    size_t size = sizeof(buf);
    if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0) {
      peer.common_name.assign(buf, size);
    }
  }
  gnutls_x509_crt_deinit(leaf);
  return peer;
}

}  // namespace slicekeeper::http::internal
