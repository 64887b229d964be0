// TlsContext: the HTTP port's TLS (GnuTLS, through libmicrohttpd) from auth::TlsOptions, the
// same flags and rules as the gRPC listener's FileWatcherCertificateProvider. Private to
// server/http.
//
// - The server certificate chain and key are handed to each handshake by GnuTLS's certificate
//   retrieve callback (libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK) from the current
//   generation of credentials. Reload() re-reads the three files (HttpServer calls it every
//   reload_interval); when they changed and load (the key matches the certificate, the CA
//   bundle parses), new handshakes use them; a broken or half-written rotation keeps the previous
//   generation (logged). Established connections keep what they negotiated.
// - Client certificates: the same callback sets the session's request mode (none: not asked;
//   request: asked, optional; require: the handshake fails without one) and a verify callback
//   that checks a presented chain against the current client CA bundle (expiry included, and the
//   TLS client purpose), so a foreign or expired certificate fails the handshake. No CA names
//   are sent in the CertificateRequest, so clients (Go's crypto/tls: kubectl) present their
//   certificate whatever CA the bundle is rotated to.
// - PeerCertificate() re-checks the chain after the handshake and returns the identity fields
//   (URI SAN spiffe://... and subject CN) for auth::Peer.
// TLS 1.2 is the minimum (priority string below); the port is TLS-only once this exists.
//
// Thread-safety: every method may be called from any thread; handshakes read the current
// generation under a mutex while Reload swaps it.
#ifndef SLICEKEEPER_SERVER_HTTP_INTERNAL_TLS_H_
#define SLICEKEEPER_SERVER_HTTP_INTERNAL_TLS_H_

#include <deque>
#include <memory>
#include <string>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/auth/tls_options.h"

namespace slicekeeper::http::internal {

// GnuTLS priorities of the port: the system's defaults, TLS 1.2 and 1.3 only.
inline constexpr char kTlsPriorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

struct PeerCertificate {
  // Set when the client presented a certificate that verified against the client CA bundle.
  std::string spiffe_id;
  std::string common_name;
};

class TlsContext {
 public:
  // Loads the files. Errors: INVALID_ARGUMENT naming the flag whose file does not parse (or a
  // key that does not match the certificate). REQUIRES: options.Validate() is OK and enabled().
  static absl::StatusOr<std::unique_ptr<TlsContext>> Create(const auth::TlsOptions& options);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Re-reads the files; swaps in a new generation when they changed and load. Returns true when
  // it swapped.
  bool Reload() ABSL_LOCKS_EXCLUDED(mu_);

  // GnuTLS's certificate retrieve callback (gnutls_certificate_retrieve_function2) for
  // libmicrohttpd. It finds the context through the session's libmicrohttpd connection, whose
  // socket context HttpServer sets to this object when the connection starts.
  static int Retrieve(gnutls_session_t session, const gnutls_datum_t* req_ca_dn, int nreqs,
                      const gnutls_pk_algorithm_t* pk_algos, int pk_algos_length,
                      gnutls_pcert_st** pcert, unsigned int* pcert_length,
                      gnutls_privkey_t* privkey);

  // The verified client certificate of a finished handshake; empty fields without one.
  // PERMISSION_DENIED when a presented chain does not verify now, or none was presented under
  // `require` (defence in depth: the handshake already refused both).
  absl::StatusOr<PeerCertificate> PeerOf(gnutls_session_t session) const ABSL_LOCKS_EXCLUDED(mu_);

  auth::ClientAuth client_auth() const { return options_.client_auth; }

 private:
  struct Generation;

  explicit TlsContext(auth::TlsOptions options);
  static absl::StatusOr<std::shared_ptr<Generation>> Load(const auth::TlsOptions& options);
  std::shared_ptr<Generation> Current() const ABSL_LOCKS_EXCLUDED(mu_);
  static int VerifyPeer(gnutls_session_t session);

  const auth::TlsOptions options_;
  mutable absl::Mutex mu_;
  std::shared_ptr<Generation> current_ ABSL_GUARDED_BY(mu_);
  // Earlier generations, kept alive for handshakes that still point at their certificates
  // (GnuTLS keeps the retrieve callback's pointers until the handshake ends); the oldest go once
  // there are more than a few.
  std::deque<std::shared_ptr<Generation>> retired_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slicekeeper::http::internal

#endif  // SLICEKEEPER_SERVER_HTTP_INTERNAL_TLS_H_
