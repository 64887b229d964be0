// HttpWatchers: many Kubernetes API watch streams (`?watch=1`) over plain HTTP/1.0 sockets, read
// by one epoll thread, for the load harnesses — the HTTP counterpart of RawWatch. Each body line
// is one event; only what the harness measures is read out of it, by substring (the event type,
// the object's resourceVersion, the trigger-time annotation), not by a JSON parser: with a
// thousand streams on the server's two cores, parsing every event would make the harness, not
// the server, the machine's main CPU user.
//
// Thread-safety: Start and Stop are for the owner's thread; the callback runs on the reader
// thread; the accessors may be called from any thread.
//
// Example:
//   HttpWatchers w(port, {"/apis/discovery.k8s.io/v1/endpointslices?watch=1"},
//                  [](int i, const HttpEvent& e) { ... });
//   SK_RETURN_IF_ERROR(w.Start());
//   ...
//   w.Stop();
#ifndef SLICEKEEPER_BENCH_HTTP_WATCHERS_H_
#define SLICEKEEPER_BENCH_HTTP_WATCHERS_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace slicekeeper::bench {

struct HttpEvent {
  // "ADDED", "MODIFIED", "DELETED", "BOOKMARK" or "ERROR".
  absl::string_view type;
  // The object's metadata.resourceVersion (0 if absent).
  int64_t revision = 0;
  // The endpoints.kubernetes.io/last-change-trigger-time annotation ("" if absent).
  absl::string_view trigger_time;
};

class HttpWatchers {
 public:
  // Called on the reader thread for every event of watcher `index` (its position in `targets`).
  using OnEvent = std::function<void(int index, const HttpEvent& event)>;

  HttpWatchers(int port, std::vector<std::string> targets, OnEvent on_event);
  ~HttpWatchers();
  HttpWatchers(const HttpWatchers&) = delete;
  HttpWatchers& operator=(const HttpWatchers&) = delete;

  // Connects every watcher to 127.0.0.1:port, sends its request and starts the reader thread.
  // Errors: UNAVAILABLE when a connection fails.
  absl::Status Start();
  // Closes every connection and joins the reader. Idempotent.
  void Stop();

  // Watchers whose response started with 200; watchers whose stream ended or failed.
  int streaming() const { return streaming_.load(); }
  int ended() const { return ended_.load(); }
  // The highest resourceVersion watcher `index` received.
  int64_t revision(int index) const { return revisions_[index].load(std::memory_order_acquire); }

 private:
  struct Connection;
  void Run();
  // Consumes the complete lines of `c`; false when its response is not a 200.
  bool Consume(int index, Connection& c);

  const int port_;
  const std::vector<std::string> targets_;
  const OnEvent on_event_;
  std::vector<std::unique_ptr<Connection>> connections_;
  std::unique_ptr<std::atomic<int64_t>[]> revisions_;
  std::atomic<int> streaming_{0};
  std::atomic<int> ended_{0};
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::thread reader_;
};

}  // namespace slicekeeper::bench

#endif  // SLICEKEEPER_BENCH_HTTP_WATCHERS_H_
