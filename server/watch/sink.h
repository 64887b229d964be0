// Sink: how the watch hub tells a subscriber's sender that there is something to send.
//
// The gRPC Watch reactor implements it; tests use a recording fake. `Wake` is called by the hub's
// dispatcher thread after a subscriber went from clean to dirty (or was asked for a bookmark or a
// reset). It must be cheap and must never block on the network: a typical implementation starts a
// write if none is in flight, and otherwise leaves the work to its write-completion callback.
//
// Thread-safety: `Wake` may be called from any thread, concurrently with the sink's own callbacks,
// but never after `Subscriber::Detach()` returned.
#ifndef SLICEKEEPER_SERVER_WATCH_SINK_H_
#define SLICEKEEPER_SERVER_WATCH_SINK_H_

namespace slicekeeper::watch {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void Wake() = 0;
};

}  // namespace slicekeeper::watch

#endif  // SLICEKEEPER_SERVER_WATCH_SINK_H_
