#include "bench/raw_watch.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <limits.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

namespace slicekeeper::bench {
namespace {

using google::protobuf::io::CodedInputStream;
using google::protobuf::internal::WireFormatLite;

constexpr char kTriggerTime[] = "endpoints.kubernetes.io/last-change-trigger-time";
constexpr char kServiceName[] = "kubernetes.io/service-name";

constexpr uint32_t Tag(int field, int wire_type) {
  return static_cast<uint32_t>(field << 3 | wire_type);
}
constexpr int kLen = 2;
constexpr int kVarint = 0;

// Reads the fields of the message in `in` up to its limit (or end), calling on(tag) for each;
// on(tag) consumes the field and returns true, or returns false to have it skipped.
template <typename F>
bool ForEachField(CodedInputStream* in, F on) {
  for (uint32_t tag; (tag = in->ReadTag()) != 0;) {
    if (!on(tag) && !WireFormatLite::SkipField(in, tag)) return false;
  }
  return in->ConsumedEntireMessage();
}

// ForEachField over a length-delimited field's contents.
template <typename F>
bool Nested(CodedInputStream* in, F on) {
  uint32_t length = 0;
  if (!in->ReadVarint32(&length)) return false;
  const CodedInputStream::Limit limit = in->PushLimit(static_cast<int>(length));
  // The stream ending before the field's length is also a "message end" to ForEachField: only
  // reaching the limit itself is a whole field.
  const bool ok = ForEachField(in, on) && in->BytesUntilLimit() == 0;
  in->PopLimit(limit);
  return ok;
}

// A map<string, string> entry: calls take(key, value).
template <typename F>
bool MapEntry(CodedInputStream* in, F take) {
  std::string key, value;
  const bool ok = Nested(in, [&](uint32_t t) {
    if (t == Tag(1, kLen)) return WireFormatLite::ReadString(in, &key);
    if (t == Tag(2, kLen)) return WireFormatLite::ReadString(in, &value);
    return false;
  });
  if (ok) take(key, std::move(value));
  return ok;
}

// EndpointSlice: metadata = 3 (ObjectMeta: labels = 8, annotations = 9), endpoints = 5.
bool ScanSlice(CodedInputStream* in, ScannedEvent* e) {
  return Nested(in, [&](uint32_t t) {
    if (t == Tag(5, kLen)) {
      ++e->endpoints;
      return false;
    }
    if (t != Tag(3, kLen)) return false;
    return Nested(in, [&](uint32_t m) {
      if (m == Tag(8, kLen)) {
        return MapEntry(in, [&](const std::string& k, std::string v) {
          if (k == kServiceName) e->service = std::move(v);
        });
      }
      if (m == Tag(9, kLen)) {
        return MapEntry(in, [&](const std::string& k, std::string v) {
          if (k == kTriggerTime) e->trigger_time = std::move(v);
        });
      }
      return false;
    });
  });
}

}  // namespace

// WatchResponse: events = 1. WatchEvent: type = 1, revision = 2, slice = 3, service = 5,
// endpoint = 6.
bool ScanWatchResponse(grpc::ByteBuffer* buffer, std::vector<ScannedEvent>* events) {
  grpc::ProtoBufferReader reader(buffer);
  CodedInputStream in(&reader);
  in.SetTotalBytesLimit(INT_MAX);
  events->clear();
  return ForEachField(&in, [&](uint32_t tag) {
    if (tag != Tag(1, kLen)) return false;
    ScannedEvent& e = events->emplace_back();
    return Nested(&in, [&](uint32_t t) {
      uint64_t v = 0;
      switch (t) {
        case Tag(1, kVarint):
          if (!in.ReadVarint64(&v)) return false;
          e.type = static_cast<int>(v);
          return true;
        case Tag(2, kVarint):
          if (!in.ReadVarint64(&v)) return false;
          e.revision = static_cast<int64_t>(v);
          return true;
        case Tag(3, kLen):
          return ScanSlice(&in, &e);
        case Tag(5, kLen):
          return WireFormatLite::ReadString(&in, &e.service);
        case Tag(6, kLen):
          e.endpoints = 1;
          return false;
        default:
          return false;
      }
    });
  });
}

void RawWatch::Start(grpc::GenericStub* stub, const v1::WatchRequest& request) {
  const std::string bytes = request.SerializeAsString();
  grpc::Slice slice(bytes);
  request_ = grpc::ByteBuffer(&slice, 1);
  stub->PrepareBidiStreamingCall(&ctx_, "/slicekeeper.v1.EndpointDiscovery/Watch",
                                 grpc::StubOptions(), this);
  StartWriteLast(&request_, grpc::WriteOptions());
  StartRead(&response_);
  StartCall();
}

void RawWatch::OnReadDone(bool ok) {
  if (!ok) return;
  message_bytes_ = response_.Length();
  if (!ScanWatchResponse(&response_, &scanned_)) {
    std::fprintf(stderr, "RawWatch: a WatchResponse did not scan\n");
    std::abort();
  }
  response_.Clear();
  OnEvents(scanned_);
  StartRead(&response_);
}

void RawWatch::OnDone(const grpc::Status&) {
  absl::MutexLock l(&mu_);
  done_ = true;
}

void RawWatch::Stop() {
  ctx_.TryCancel();
  absl::MutexLock l(&mu_);
  mu_.Await(absl::Condition(&done_));
}

}  // namespace slicekeeper::bench
