// null_server: the transport floor for etcd_baseline (`--systems=null`). It speaks the part of
// slicekeeper's gRPC API the harness uses and does none of slicekeeper's work, so the harness
// measured against it shows the most any server with this API could reach on this machine with
// this harness: whatever it costs gRPC, the kernel and the harness to move the batches, the acks
// and the watch messages.
//
//   EndpointRegistry/ApplyChanges   answers code 0 (the harness's initial fill).
//   EndpointRegistry/StreamChanges  per batch: reads batch_id and the first change's namespace
//                                   and service off the wire (no parse), takes the next revision,
//                                   sends each Watch stream of that service one WatchResponse
//                                   (one MODIFIED event: revision, namespace, service, and the
//                                   batch's own bytes as an unknown field, by reference, so the
//                                   watchers receive as many bytes as the batch had), then acks
//                                   {batch_id, revision}.
//   EndpointDiscovery/Watch         registers the stream for its (namespace, services) and sends
//                                   SYNCED at the current revision; no snapshot, no coalescing,
//                                   no flow control beyond one write in flight per stream and an
//                                   unbounded queue behind it.
// Nothing is validated (bytes that do not scan as a ChangeBatch end the stream with
// INVALID_ARGUMENT), stored, reconciled or serialized from objects. Flags: --listen,
// --port_file (what ServerProcess passes; it writes "<port> <port>", as there is no HTTP server,
// and ignores --http_listen and any other slicekeeper flag it is given).
//
// Thread-safety: gRPC's callback threads run every handler; Hub's mutex orders revisions and
// guards the subscriber table, each stream's mutex its write queue.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "slicekeeper/v1/change.pb.h"
#include "slicekeeper/v1/discovery.pb.h"

namespace slicekeeper::bench {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;
using google::protobuf::internal::WireFormatLite;

constexpr uint32_t Tag(int field, int wire_type) {
  return static_cast<uint32_t>(field << 3 | wire_type);
}
constexpr int kVarint = 0;
constexpr int kLen = 2;
// WatchEvent has no field 15: scanners and parsers skip it as unknown.
constexpr int kPayloadField = 15;

grpc::ByteBuffer Bytes(const std::string& s) {
  grpc::Slice slice(s);
  return grpc::ByteBuffer(&slice, 1);
}

// What the floor reads of a ChangeBatch: batch_id (1) and changes[0] (2)'s namespace (2) and
// service (3).
struct BatchHead {
  uint64_t batch_id = 0;
  std::string ns, service;
};
bool ScanBatch(grpc::ByteBuffer* buffer, BatchHead* out) {
  grpc::ProtoBufferReader reader(buffer);
  CodedInputStream in(&reader);
  bool have_change = false;
  for (uint32_t tag; (tag = in.ReadTag()) != 0;) {
    if (tag == Tag(1, kVarint)) {
      if (!in.ReadVarint64(&out->batch_id)) return false;
    } else if (tag == Tag(2, kLen) && !have_change) {
      have_change = true;
      uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return false;
      const CodedInputStream::Limit limit = in.PushLimit(static_cast<int>(length));
      for (uint32_t t; (t = in.ReadTag()) != 0;) {
        bool ok = true;
        if (t == Tag(2, kLen)) {
          ok = WireFormatLite::ReadString(&in, &out->ns);
        } else if (t == Tag(3, kLen)) {
          ok = WireFormatLite::ReadString(&in, &out->service);
        } else {
          ok = WireFormatLite::SkipField(&in, t);
        }
        if (!ok) return false;
      }
      // ReadTag returns 0 at the limit and on a bad tag alike: only the limit is a whole field.
      if (!in.ConsumedEntireMessage() || in.BytesUntilLimit() != 0) return false;
      in.PopLimit(limit);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return in.ConsumedEntireMessage();  // the end of the bytes, not an unreadable tag
}

// WatchResponse{events: [WatchEvent{type, revision, namespace, service, 15: payload}]}: the
// header bytes are built here, the payload's slices are appended by reference.
grpc::ByteBuffer WatchMessage(int type, int64_t revision, const std::string& ns,
                              const std::string& service, grpc::ByteBuffer* payload) {
  const size_t payload_size = payload == nullptr ? 0 : payload->Length();
  std::string event_head;
  {
    StringOutputStream stream(&event_head);
    CodedOutputStream out(&stream);
    WireFormatLite::WriteInt32(1, type, &out);
    WireFormatLite::WriteInt64(2, revision, &out);
    if (!ns.empty()) WireFormatLite::WriteString(4, ns, &out);
    if (!service.empty()) WireFormatLite::WriteString(5, service, &out);
    if (payload != nullptr) {
      out.WriteTag(Tag(kPayloadField, kLen));
      out.WriteVarint32(static_cast<uint32_t>(payload_size));
    }
  }
  std::string head;
  {
    StringOutputStream stream(&head);
    CodedOutputStream out(&stream);
    out.WriteTag(Tag(1, kLen));
    out.WriteVarint32(static_cast<uint32_t>(event_head.size() + payload_size));
  }
  head += event_head;
  std::vector<grpc::Slice> slices = {grpc::Slice(head)};
  if (payload != nullptr) {
    std::vector<grpc::Slice> rest;
    if (!payload->Dump(&rest).ok()) std::abort();
    slices.insert(slices.end(), rest.begin(), rest.end());
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

class WatchCall;

// Revisions and the (namespace/service -> streams) table.
class Hub {
 public:
  void Subscribe(WatchCall* call, const v1::WatchRequest& req);
  void Unsubscribe(WatchCall* call);
  // Takes the next revision and queues the batch's message on every stream of its service.
  int64_t Publish(const BatchHead& head, grpc::ByteBuffer* batch);

 private:
  absl::Mutex mu_;
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, std::vector<WatchCall*>> streams_ ABSL_GUARDED_BY(mu_);
};

// A Watch stream: one request in, then queued messages out, one write in flight.
class WatchCall final : public grpc::ServerGenericBidiReactor {
 public:
  explicit WatchCall(Hub* hub) : hub_(hub) { StartRead(&request_); }

  bool Ending() {
    absl::MutexLock l(&mu_);
    return ending_;
  }

  void Send(grpc::ByteBuffer message) {
    absl::MutexLock l(&mu_);
    if (ending_) return;
    queue_.push_back(std::move(message));
    if (!writing_) WriteNextLocked();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // the client half-closed after its request (or never sent one)
    v1::WatchRequest req;
    grpc::ProtoBufferReader reader(&request_);
    if (!req.ParseFromZeroCopyStream(&reader)) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad WatchRequest"));
      return;
    }
    hub_->Subscribe(this, req);  // sends SYNCED
  }
  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (ending_) {
        MaybeFinishLocked();
        return;
      }
      if (ok) {
        queue_.pop_front();
        if (!queue_.empty()) WriteNextLocked();
        return;
      }
    }
    End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed"));
  }
  void OnCancel() override { End(grpc::Status::CANCELLED); }
  void OnDone() override { delete this; }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    StartWrite(&queue_.front());
  }
  // Marks the stream ending before it leaves the table (Subscribe, under the hub's lock, never
  // adds an ending stream; once Unsubscribe returns no Publish holds this pointer), then finishes
  // once no write is in flight, as the real WatchReactor does.
  void End(const grpc::Status& status) {
    {
      absl::MutexLock l(&mu_);
      if (ending_) return;
      ending_ = true;
      status_ = status;
    }
    hub_->Unsubscribe(this);
    absl::MutexLock l(&mu_);
    MaybeFinishLocked();
  }
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!ending_ || writing_ || finished_) return;
    finished_ = true;
    Finish(status_);
  }

  Hub* const hub_;
  grpc::ByteBuffer request_;
  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

void Hub::Subscribe(WatchCall* call, const v1::WatchRequest& req) {
  absl::MutexLock l(&mu_);
  if (call->Ending()) return;
  for (const std::string& s : req.services()) {
    streams_[absl::StrCat(req.namespace_(), "/", s)].push_back(call);
  }
  call->Send(WatchMessage(v1::WatchEvent::SYNCED, revision_, "", "", nullptr));
}

void Hub::Unsubscribe(WatchCall* call) {
  absl::MutexLock l(&mu_);
  for (auto& [key, calls] : streams_) std::erase(calls, call);
}

int64_t Hub::Publish(const BatchHead& head, grpc::ByteBuffer* batch) {
  absl::MutexLock l(&mu_);
  const int64_t revision = ++revision_;
  auto it = streams_.find(absl::StrCat(head.ns, "/", head.service));
  if (it != streams_.end() && !it->second.empty()) {
    const grpc::ByteBuffer message =
        WatchMessage(v1::WatchEvent::MODIFIED, revision, head.ns, head.service, batch);
    for (WatchCall* call : it->second) call->Send(message);  // shares the slices
  }
  return revision;
}

std::string AckBytes(uint64_t batch_id, int64_t revision) {
  v1::ChangeAck ack;
  ack.set_batch_id(batch_id);
  ack.set_revision(revision);
  return ack.SerializeAsString();
}

// StreamChanges: batches in, acks out in order, one write in flight.
class ChangeCall final : public grpc::ServerGenericBidiReactor {
 public:
  explicit ChangeCall(Hub* hub) : hub_(hub) { StartRead(&batch_); }

  void OnReadDone(bool ok) override {
    BatchHead head;
    if (!ok || !ScanBatch(&batch_, &head)) {
      // Half-closed, or bytes that are no ChangeBatch: end the stream once the acks are out.
      absl::MutexLock l(&mu_);
      reading_done_ = true;
      if (ok) {
        status_ = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                               "null_server: the request is not a ChangeBatch");
      }
      MaybeFinishLocked();
      return;
    }
    const int64_t revision = hub_->Publish(head, &batch_);
    batch_.Clear();
    {
      absl::MutexLock l(&mu_);
      acks_.push_back(Bytes(AckBytes(head.batch_id, revision)));
      if (!writing_) WriteNextLocked();
    }
    StartRead(&batch_);
  }
  void OnWriteDone(bool ok) override {
    absl::MutexLock l(&mu_);
    writing_ = false;
    acks_.pop_front();
    if (!ok) acks_.clear();
    if (!acks_.empty()) {
      WriteNextLocked();
    } else {
      MaybeFinishLocked();
    }
  }
  void OnDone() override { delete this; }

 private:
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = true;
    StartWrite(&acks_.front());
  }
  void MaybeFinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (reading_done_ && !writing_ && !finished_) {
      finished_ = true;
      Finish(status_);
    }
  }

  Hub* const hub_;
  grpc::ByteBuffer batch_;
  absl::Mutex mu_;
  std::deque<grpc::ByteBuffer> acks_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool reading_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// ApplyChanges: one request, one ack with code 0.
class UnaryAck final : public grpc::ServerGenericBidiReactor {
 public:
  UnaryAck() { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no request"));
      return;
    }
    response_ = Bytes(AckBytes(0, 0));
    StartWriteAndFinish(&response_, grpc::WriteOptions(), grpc::Status::OK);
  }
  void OnDone() override { delete this; }

 private:
  grpc::ByteBuffer request_, response_;
};

class Unimplemented final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Unimplemented(const std::string& method) {
    Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED, method + ": not in the null server"));
  }
  void OnDone() override { delete this; }
};

class Service final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    const std::string& m = ctx->method();
    if (m == "/slicekeeper.v1.EndpointRegistry/StreamChanges") return new ChangeCall(&hub_);
    if (m == "/slicekeeper.v1.EndpointDiscovery/Watch") return new WatchCall(&hub_);
    if (m == "/slicekeeper.v1.EndpointRegistry/ApplyChanges") return new UnaryAck();
    return new Unimplemented(m);
  }

 private:
  Hub hub_;
};

std::string FlagValue(int argc, char** argv, const std::string& name, std::string fallback) {
  const std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind(prefix, 0) == 0) fallback = arg.substr(prefix.size());
  }
  return fallback;
}

}  // namespace
}  // namespace slicekeeper::bench

int main(int argc, char** argv) {
  using slicekeeper::bench::FlagValue;
  // Hand-parsed: ServerProcess passes slicekeeper's flags, and this binary takes only two.
  const std::string listen = FlagValue(argc, argv, "listen", "127.0.0.1:0");
  const std::string port_file = FlagValue(argc, argv, "port_file", "");
  slicekeeper::bench::Service service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterCallbackGenericService(&service);
  builder.SetMaxReceiveMessageSize(64 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "null_server: cannot listen on %s\n", listen.c_str());
    return 1;
  }
  if (!port_file.empty()) {
    const std::string tmp = port_file + ".tmp";
    std::ofstream(tmp) << port << " " << port << "\n";
    std::rename(tmp.c_str(), port_file.c_str());
  }
  std::fprintf(stderr, "null_server: listening on port %d\n", port);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  server->Shutdown();
  return 0;
}
