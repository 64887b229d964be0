// Hand-written protobuf wire format, for the places that splice bytes already encoded into a
// message instead of copying them into message objects first: a slice's or an endpoint's cached
// bytes into a watch event (server/watch), a stored slice version into a history entry
// (server/storage). Fields appended to a message's bytes parse as that message with those fields,
// so a splice written in field-number order is byte for byte what protobuf would write.
//
// Thread-safety: stateless functions.
#ifndef SLICEKEEPER_COMMON_WIRE_H_
#define SLICEKEEPER_COMMON_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/io/coded_stream.h"

namespace slicekeeper::wire {

// The tag of length-delimited field `field` (a string, bytes or nested message).
constexpr uint32_t LengthDelimitedTag(int field) { return static_cast<uint32_t>(field) << 3 | 2; }
// The tag of varint field `field`.
constexpr uint32_t VarintTag(int field) { return static_cast<uint32_t>(field) << 3; }

inline void AppendVarint(uint64_t v, std::string* out) {
  uint8_t buf[10];
  uint8_t* end = google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, buf);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

// The bytes of a length-delimited field of `length` bytes, tag included.
inline size_t FieldSize(uint32_t tag, size_t length) {
  using google::protobuf::io::CodedOutputStream;
  return CodedOutputStream::VarintSize32(tag) + CodedOutputStream::VarintSize64(length) + length;
}

// Appends a length-delimited field holding `bytes`.
inline void AppendField(uint32_t tag, absl::string_view bytes, std::string* out) {
  AppendVarint(tag, out);
  AppendVarint(bytes.size(), out);
  out->append(bytes.data(), bytes.size());
}

}  // namespace slicekeeper::wire

#endif  // SLICEKEEPER_COMMON_WIRE_H_
