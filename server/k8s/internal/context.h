// What the Kubernetes API's request handlers share (private to server/k8s): the store, the hub,
// the JSON cache and the options, plus the reply type and the small request helpers every
// handler uses (content negotiation, integer parameters).
//
// Thread-safety: a Context is immutable and points at thread-safe objects; the helpers are
// stateless.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_CONTEXT_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_CONTEXT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/time/time.h"
#include "common/clock.h"
#include "server/auth/authorizer.h"
#include "server/http/handler.h"
#include "server/k8s/json_cache.h"
#include "server/k8s/status.h"
#include "server/store/store.h"
#include "server/watch/hub.h"

namespace slicekeeper::k8s::internal {

inline constexpr char kJson[] = "application/json";
inline constexpr char kTableJson[] = "application/json;as=Table;v=v1;g=meta.k8s.io";

struct Context {
  store::Store* store = nullptr;
  watch::Hub* hub = nullptr;
  JsonCache* cache = nullptr;
  Clock* clock = nullptr;
  // Watches without timeoutSeconds end after a random time in [min, 2 * min).
  absl::Duration min_watch_timeout = absl::Minutes(30);
  // How long a read waits for a resourceVersion the store has not reached yet.
  absl::Duration resource_version_wait = absl::Seconds(3);
  // Watches hold one of their caller's stream slots; writes are audited. Null: no limits, no
  // audit (admission itself is the HTTP port's, see HttpServer::Options::admit).
  auth::Authorizer* authorizer = nullptr;
};

// A complete response.
struct Reply {
  int code = 200;
  std::string content_type = kJson;
  std::string body;
  http::HeaderList headers;
  // A successful write's revision (for the audit log); 0 otherwise.
  int64_t revision = 0;
};

// The metav1.Status reply of `error` (Retry-After set when the error asks for it).
Reply ErrorReply(const ApiError& error);

// A value, or the error the request fails with.
template <typename T>
class ApiOr {
 public:
  ApiOr(T value) : v_(std::move(value)) {}         // NOLINT: implicit, as absl::StatusOr
  ApiOr(ApiError error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  T& value() { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

// How a read answers: the objects, a meta.k8s.io/v1 Table (kubectl's `get`), and for a Table
// what its rows carry (includeObject: None, Metadata (default) or Object).
struct Output {
  bool table = false;
  enum class RowObject { kNone, kMetadata, kObject };
  RowObject row_object = RowObject::kMetadata;
};
// From the Accept header and includeObject. Errors: 406 when only media types other than JSON
// (and JSON Tables) are acceptable; 400 for a bad includeObject.
ApiOr<Output> NegotiateOutput(const http::Request& request);

// A non-negative integer query parameter (absent: `fallback`). Errors: 400 naming `name`.
ApiOr<int64_t> IntParam(const http::Request& request, absl::string_view name, int64_t fallback);
// A boolean query parameter ("true"/"1" or "false"/"0"; absent: false). Errors: 400.
ApiOr<bool> BoolParam(const http::Request& request, absl::string_view name);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_CONTEXT_H_
