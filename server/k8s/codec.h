// The Kubernetes JSON form of discovery.k8s.io/v1 EndpointSlices, both ways.
//
// Encoding writes what the apiserver writes (Go's encoding/json over the API types, read back
// from protobuf storage): TypeMeta, then ObjectMeta with its omitempty rules (metadata.generation
// a JSON number, resourceVersion a string, creationTimestamp RFC 3339 or null), `endpoints` and
// `ports` as null when empty, `conditions` always present, optional fields only when set, map keys
// sorted. It reads the shared slice directly, so a slice version is encoded without building a
// message (the watch fan-out caches the result, json_cache.h).
//
// Decoding walks the JSON against the generated slicekeeper.v1 descriptors by their JSON names
// (which are the Kubernetes names, DESIGN §1): JSON null reads as unset, integers must be JSON
// numbers, optional scalars keep their presence. Fields the model does not have are collected, not
// rejected, so the caller applies Kubernetes' fieldValidation (Strict: reject; else warn); a few
// ObjectMeta fields that slicekeeper does not keep (managedFields, selfLink, finalizers,
// deletionGracePeriodSeconds) are accepted and dropped.
//
// Thread-safety: stateless functions; safe from any thread.
#ifndef SLICEKEEPER_SERVER_K8S_CODEC_H_
#define SLICEKEEPER_SERVER_K8S_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/slice.h"
#include "google/protobuf/struct.pb.h"
#include "server/k8s/internal/json_writer.h"
#include "slicekeeper/v1/endpoint_slice.pb.h"

namespace slicekeeper::k8s {

inline constexpr char kGroup[] = "discovery.k8s.io";
inline constexpr char kVersion[] = "v1";
inline constexpr char kListKind[] = "EndpointSliceList";
inline constexpr char kResource[] = "endpointslices";

// The slice as Kubernetes JSON. `resource_version`, when non-zero, replaces the slice's own in
// metadata.resourceVersion (a DELETED watch event carries the revision of the delete).
std::string EncodeSlice(const Slice& slice, int64_t resource_version = 0);

// Writes the slice's metadata object (the value of "metadata") to `w`.
void WriteMetadata(const Slice& slice, int64_t resource_version, internal::JsonWriter& w);

// Parses JSON text. Errors: INVALID_ARGUMENT with the parser's message.
absl::StatusOr<google::protobuf::Value> ParseJson(absl::string_view text);

struct DecodedSlice {
  v1::EndpointSlice slice;
  // Paths of the fields the model does not have, e.g. "spec", "endpoints[0].foo".
  std::vector<std::string> unknown_fields;
};

// Decodes a JSON EndpointSlice (apiVersion and kind are read, not checked).
// Errors: INVALID_ARGUMENT "<path>: <problem>" for a value of the wrong JSON type, e.g.
// "ports[0].port: expected an integer, got string", or an object that is not one.
absl::StatusOr<DecodedSlice> DecodeSlice(const google::protobuf::Value& json);

}  // namespace slicekeeper::k8s

#endif  // SLICEKEEPER_SERVER_K8S_CODEC_H_
