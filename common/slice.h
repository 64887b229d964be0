// The in-memory model of endpoints and slices shared by every component.
//
// Stored objects are immutable once published and shared by pointer: an `EndpointPtr` is one
// canonical endpoint, a `SlicePtr` one version of a slice. A new slice version shares the runs of
// endpoint pointers it keeps whole with its predecessor (common/endpoint_list.h) and copies only
// the runs it edits, so rewriting a 100-endpoint slice for one change costs a few pointer copies,
// not 100 message copies; the metadata (labels, annotations, ownerReferences) and the port list
// are shared between all slices a batch writes.
//
// Thread-safety: the types are plain values; a `const Slice` reached through a `SlicePtr` may be
// read from any number of threads without locking. Never mutate an object after publishing it.
//
// Example:
//   SlicePtr s = ...;
//   v1::EndpointSlice wire = s->ToProto();   // Kubernetes-shaped object with resourceVersion set
#ifndef SLICEKEEPER_COMMON_SLICE_H_
#define SLICEKEEPER_COMMON_SLICE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "common/endpoint_list.h"
#include "common/endpoint_record.h"
#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper {

// `v1::` (the generated messages, namespace slicekeeper::v1) resolves from every sub-namespace.

inline constexpr char kApiVersion[] = "discovery.k8s.io/v1";
inline constexpr char kKind[] = "EndpointSlice";
inline constexpr char kLabelServiceName[] = "kubernetes.io/service-name";
inline constexpr char kLabelManagedBy[] = "endpointslice.kubernetes.io/managed-by";
inline constexpr char kLabelHeadless[] = "service.kubernetes.io/headless";
inline constexpr char kAnnotationTriggerTime[] = "endpoints.kubernetes.io/last-change-trigger-time";
// Service-record annotations choosing how a service's endpoints are spread over its slices
// (server/reconcile/reconciler.h, docs/distribution.md §5): "kubernetes" or "packed", and for
// packed, "true" or "false" to keep each zone's endpoints together.
inline constexpr char kAnnotationDistribution[] = "slicekeeper.io/distribution";
inline constexpr char kAnnotationPackedSameZone[] = "slicekeeper.io/packed-same-zone";
// The managed-by value of the slices slicekeeper distributes (docs/kubernetes-behaviour.md §0).
inline constexpr char kManagerName[] = "endpointslice-controller.slicekeeper.io";

inline constexpr char kAddressTypeIPv4[] = "IPv4";
inline constexpr char kAddressTypeIPv6[] = "IPv6";
inline constexpr char kAddressTypeFQDN[] = "FQDN";

// One stored endpoint (common/endpoint_record.h): compact, immutable, shared by every slice
// version that holds it.
using EndpointPtr = RecordPtr;
using PortList = std::vector<v1::EndpointPort>;
using PortListPtr = std::shared_ptr<const PortList>;
using MetaPtr = std::shared_ptr<const v1::ObjectMeta>;

// A lazily computed, shared serialization of an immutable object. Copying yields an empty cache:
// a copy is the start of a new version, whose bytes will differ.
class SerializedCache {
 public:
  SerializedCache() = default;
  SerializedCache(const SerializedCache&) {}
  SerializedCache& operator=(const SerializedCache&) {
    absl::MutexLock l(&mu_);
    bytes_.reset();
    return *this;
  }

  // The cached bytes, or null when not computed yet. Thread-safe.
  std::shared_ptr<const std::string> Peek() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    return bytes_;
  }

  // The cached bytes, computing them with `compute` on first use. Thread-safe.
  template <typename Fn>
  std::shared_ptr<const std::string> GetOrCompute(Fn compute) const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    if (bytes_ == nullptr) bytes_ = std::make_shared<const std::string>(compute());
    return bytes_;
  }

 private:
  mutable absl::Mutex mu_;
  mutable std::shared_ptr<const std::string> bytes_ ABSL_GUARDED_BY(mu_);
};

// A lazily computed byte count of an immutable object; -1 until computed. Copying yields an
// empty one, as SerializedCache does.
class LazyBytes {
 public:
  LazyBytes() = default;
  LazyBytes(const LazyBytes&) {}
  LazyBytes& operator=(const LazyBytes&) {
    bytes_.store(-1, std::memory_order_relaxed);
    return *this;
  }

  // The count, computing it with `compute` on first use (two racing first callers both compute
  // the same value). Thread-safe.
  template <typename Fn>
  int64_t GetOrCompute(Fn compute) const {
    int64_t b = bytes_.load(std::memory_order_relaxed);
    if (b < 0) {
      b = compute();
      bytes_.store(b, std::memory_order_relaxed);
    }
    return b;
  }

 private:
  mutable std::atomic<int64_t> bytes_{-1};
};

// One version of an EndpointSlice.
struct Slice {
  Slice() = default;
  Slice(const Slice&) = default;
  Slice(Slice&&) = default;
  Slice& operator=(const Slice&) = default;
  Slice& operator=(Slice&&) = default;
  ~Slice() = default;

  // Per-version identity and bookkeeping.
  std::string name;
  std::string namespace_;
  std::string uid;
  int64_t generation = 0;
  // The revision of this version (metadata.resourceVersion); stamped by the store at commit.
  int64_t resource_version = 0;
  std::string creation_timestamp;

  // labels, annotations, ownerReferences, generateName; the per-version fields above win over the
  // same fields in `meta`. Never null.
  MetaPtr meta;
  std::string address_type;
  // Never null; empty for the placeholder and for headless services without ports.
  PortListPtr ports;
  EndpointList endpoints;

  // True when the slice's managed-by label is kManagerName.
  bool Managed() const;
  // The kubernetes.io/service-name label, or "" if absent.
  const std::string& ServiceName() const;

  // The Kubernetes object, with apiVersion, kind and metadata.resourceVersion filled in.
  v1::EndpointSlice ToProto() const;

  // ToProto() serialized, computed once per published version and shared by every reader (a
  // watch fan-out sends the same bytes to every subscriber). REQUIRES: the slice is no longer
  // being modified (it is published). Thread-safe.
  std::shared_ptr<const std::string> SerializedProto() const;
  // SerializedProto(), computed (when not cached yet) from `prev`'s cached bytes where an
  // endpoint is the same shared object in both versions: a new version of a slice mostly keeps
  // its predecessor's endpoints, and copying their bytes costs a fraction of re-serializing
  // them (each a pointer chase through a separate message). Same bytes as SerializedProto()
  // would compute. REQUIRES: as SerializedProto; `prev` is any slice, typically the version
  // this one replaces. Thread-safe.
  std::shared_ptr<const std::string> SerializedProtoAfter(const Slice& prev) const;
  // ToProto() serialized, byte for byte, without building the message (the endpoints are written
  // straight from the shared objects); without apiVersion and kind unless `type_meta`. Not
  // cached. REQUIRES: as SerializedProto. Thread-safe.
  std::string Serialize(bool type_meta = true) const;
  // Serialize(type_meta), copying *reused[i] (endpoint i's field as serialized: tag, length and
  // message) instead of writing endpoints[i] where reused[i] is given and not null.
  std::string Serialize(bool type_meta, absl::Span<const absl::string_view* const> reused) const;
  // ToProto() without endpoints and ports: api_version, kind, metadata, address_type.
  v1::EndpointSlice Header() const;

  // The heap bytes of this version's endpoint records (EndpointRecord::SpaceUsed: the record and
  // its overflow, not the interned node/zone/kind/namespace values), computed once per version;
  // shared endpoint objects are counted by every version holding them. REQUIRES: as
  // SerializedProto. Thread-safe.
  int64_t EndpointBytes() const;
  // The bytes of this version's own parts: the Slice, its strings and its runs of endpoint
  // pointers, shared runs included (not the endpoints, `meta`, `ports` or the serialized bytes).
  // O(runs).
  int64_t OwnBytes() const;

  // Not part of the value: see SerializedCache.
  SerializedCache serialized;
  LazyBytes endpoint_bytes;
};

// What a shared_ptr made by std::make_shared adds to its object: the control block's counts.
inline constexpr int64_t kSharedBlockBytes = 16;
// The heap bytes a std::string owns beyond the object itself (none while it fits inline).
int64_t StringHeapBytes(const std::string& s);

using SlicePtr = std::shared_ptr<const Slice>;

// One validated, canonical endpoint change (see common/validation.h NormalizeChange).
struct EndpointDelta {
  enum class Op { kUpsert, kRemove };
  Op op = Op::kUpsert;
  std::string namespace_;
  std::string service;
  // "IPv4", "IPv6" or "FQDN", resolved.
  std::string address_type;
  // Canonical addresses, conditions as given. For kRemove only the identity fields matter.
  EndpointPtr endpoint;
  // kUpsert: the endpoint's port set, names and protocols defaulted. Never null for kUpsert.
  PortListPtr ports;
};

// Builds a Slice from a wire object (a slice written whole by another manager). The per-version
// fields are taken from `proto.metadata()`; `resource_version` is parsed when numeric, else 0.
std::shared_ptr<Slice> SliceFromProto(const v1::EndpointSlice& proto);
// The same, taking the endpoints out of `proto` instead of copying them.
std::shared_ptr<Slice> SliceFromProto(v1::EndpointSlice&& proto);

}  // namespace slicekeeper

#endif  // SLICEKEEPER_COMMON_SLICE_H_
