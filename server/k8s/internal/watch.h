// Watches of EndpointSlices over HTTP (private to server/k8s): `?watch=true` streams one JSON
// event per line, {"type":"ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR","object":...}, as the
// apiserver does (docs/kubernetes-api.md has the whole contract).
//
// A watch is a watch::Subscriber of the hub with this session as its Sink: the hub's coalescing,
// RESET of laggards and "writers never wait" hold unchanged. Wake only notifies the HTTP stream;
// the request's thread pulls the subscriber's events (Subscriber::NextEvents), turns them into
// Kubernetes events and writes them, so a slow client costs its dirty set, never a queue. Slices
// are encoded once per version for all watchers (JsonCache).
//
// Start: resourceVersion unset or "0" sends the current objects as ADDED first (or, with
// sendInitialEvents=true, ends them with the BOOKMARK annotated k8s.io/initial-events-end);
// resourceVersion=R sends exactly what changed after R; R older than the history gives one ERROR
// event with a 410 Expired Status and ends the stream; R newer than the store 504 after a wait.
// A subscriber RESET for lag ends the stream the same way (the client relists). Selectors apply to
// the stream: an object that stops matching is sent as DELETED, one that starts matching as
// ADDED. Events of one batch are ordered by their objects' resourceVersions, so a client that
// resumes from the last one it processed misses nothing; when the commit at the resume point
// wrote several watched objects, all of them are sent again (the client cannot tell which it
// had), so resuming never loses an event of a multi-object commit.
//
// Thread-safety: ServeWatch runs on the request's thread; Wake may come from any thread.
#ifndef SLICEKEEPER_SERVER_K8S_INTERNAL_WATCH_H_
#define SLICEKEEPER_SERVER_K8S_INTERNAL_WATCH_H_

#include "server/http/handler.h"
#include "server/k8s/internal/context.h"

namespace slicekeeper::k8s::internal {

// Serves a watch of the endpointslices of `ns` ("" = all) until it ends: its timeout, the client
// hanging up, a write failing, the server stopping, or a 410. Bad parameters get a Status reply.
void ServeWatch(const Context& ctx, const http::Request& request, http::Response& response,
                absl::string_view ns);

}  // namespace slicekeeper::k8s::internal

#endif  // SLICEKEEPER_SERVER_K8S_INTERNAL_WATCH_H_
