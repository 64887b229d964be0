// Identity: who a request comes from, and the transport facts it is derived from.
//
// Every front-end (gRPC, xDS, Kubernetes REST, web) builds a `Peer` from its own transport (the
// verified client certificate, the Authorization header, the peer address) and hands it to
// auth::Authorizer (authorizer.h), which turns it into an `Identity`. Nothing here depends on a
// transport library, so every front-end shares one notion of who is calling.
//
// Identity rules (docs/security.md):
//   1. a verified client certificate: its URI SAN `spiffe://...` if it has one, else its subject
//      CN; groups are empty;
//   2. else `Authorization: Bearer TOKEN` with a token listed in --token_file: that line's
//      identity and groups;
//   3. else anonymous (an empty name), allowed only while no policy is set.
// A bearer token that is present but unknown is always UNAUTHENTICATED, even with a certificate.
//
// Thread-safety: plain values.
#ifndef SLICEKEEPER_SERVER_AUTH_IDENTITY_H_
#define SLICEKEEPER_SERVER_AUTH_IDENTITY_H_

#include <string>
#include <vector>

namespace slicekeeper::auth {

// What the transport knows about the caller. Front-ends fill only what they verified.
struct Peer {
  // The peer address, for the audit log ("ipv4:127.0.0.1:50412").
  std::string address;
  // A verified client certificate's SPIFFE ID (its URI SAN `spiffe://...`), else "".
  std::string cert_spiffe_id;
  // A verified client certificate's subject common name, else "".
  std::string cert_common_name;
  // The raw Authorization header value ("Bearer abc"), "" when absent.
  std::string authorization;
};

struct Identity {
  // "" = anonymous.
  std::string name;
  std::vector<std::string> groups;

  bool anonymous() const { return name.empty(); }
};

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_IDENTITY_H_
