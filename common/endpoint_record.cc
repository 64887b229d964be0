#include "common/endpoint_record.h"

#include <algorithm>
#include <cstring>
#include <new>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"

namespace slicekeeper {
namespace {

// The interned "a\0b", built on the stack when short (node and zone names, a kind and a namespace
// almost always are): a node and a zone are mostly longer together than std::string's inline 15
// characters, so building the key as a string cost an allocation per endpoint.
Interned InternPair(absl::string_view a, absl::string_view b) {
  char buf[192];
  const size_t n = a.size() + 1 + b.size();
  if (n > sizeof(buf)) return Intern(absl::StrCat(a, absl::string_view("\0", 1), b));
  std::copy(a.begin(), a.end(), buf);
  buf[a.size()] = '\0';
  std::copy(b.begin(), b.end(), buf + a.size() + 1);
  return Intern(absl::string_view(buf, n));
}

uint8_t* PutVarint(uint8_t* p, uint64_t v) {
  return google::protobuf::io::CodedOutputStream::WriteVarint64ToArray(v, p);
}
size_t VarintSize(uint64_t v) { return google::protobuf::io::CodedOutputStream::VarintSize64(v); }
// Every field number here is below 16: one tag byte.
uint8_t* PutTag(uint8_t* p, int field, int wire_type) {
  *p++ = static_cast<uint8_t>(field << 3 | wire_type);
  return p;
}
uint8_t* PutString(uint8_t* p, int field, absl::string_view v) {
  p = PutTag(p, field, 2);
  p = PutVarint(p, v.size());
  if (!v.empty()) std::memcpy(p, v.data(), v.size());
  return p + v.size();
}
size_t StringSize(size_t len) { return 1 + VarintSize(len) + len; }
size_t NonEmptyStringSize(absl::string_view v) { return v.empty() ? 0 : StringSize(v.size()); }
uint8_t* PutNonEmpty(uint8_t* p, int field, absl::string_view v) {
  return v.empty() ? p : PutString(p, field, v);
}
uint8_t* PutBool(uint8_t* p, int field, bool v) {
  p = PutTag(p, field, 0);
  *p++ = v ? 1 : 0;
  return p;
}

const std::vector<std::pair<std::string, std::string>>& EmptyTopology() {
  static const auto* empty = new std::vector<std::pair<std::string, std::string>>();
  return *empty;
}

}  // namespace

// --- RecordTargetRef ---

absl::string_view RecordTargetRef::kind() const {
  return r_->target_.view().substr(0, r_->lengths().kind);
}
absl::string_view RecordTargetRef::namespace_() const {
  absl::string_view v = r_->target_.view();
  const uint32_t kind = r_->lengths().kind;
  return v.size() > kind ? v.substr(kind + 1) : absl::string_view();
}
absl::string_view RecordTargetRef::name() const { return r_->TargetName(); }
absl::string_view RecordTargetRef::uid() const { return r_->TargetUid(); }
absl::string_view RecordTargetRef::api_version() const {
  const EndpointRecord::Overflow* o = r_->overflow();
  return o != nullptr ? absl::string_view(o->api_version) : "";
}
absl::string_view RecordTargetRef::resource_version() const {
  const EndpointRecord::Overflow* o = r_->overflow();
  return o != nullptr ? absl::string_view(o->resource_version) : "";
}
absl::string_view RecordTargetRef::field_path() const {
  const EndpointRecord::Overflow* o = r_->overflow();
  return o != nullptr ? absl::string_view(o->field_path) : "";
}

void RecordTargetRef::ToProto(v1::ObjectReference* out) const {
  out->set_kind(std::string(kind()));
  out->set_namespace_(std::string(namespace_()));
  out->set_name(std::string(name()));
  out->set_uid(std::string(uid()));
  out->set_api_version(std::string(api_version()));
  out->set_resource_version(std::string(resource_version()));
  out->set_field_path(std::string(field_path()));
}

// --- EndpointRecord ---

EndpointRecord* EndpointRecord::Allocate(uint16_t bits, const Lengths& l, size_t chars,
                                         const Overflow* overflow) {
  bits = static_cast<uint16_t>(bits & ~(kHasOverflow | kWide));
  if (overflow != nullptr) bits |= kHasOverflow;
  const bool wide = l.naddr > UINT16_MAX || l.hostname > UINT16_MAX || l.name > UINT16_MAX ||
                    l.uid > UINT16_MAX || l.node > UINT8_MAX || l.kind > UINT8_MAX;
  if (wide) bits |= kWide;
  const size_t alloc = sizeof(EndpointRecord) + PrefixSize(bits) + 4 * size_t{l.naddr} + chars;
  auto* r = new (::operator new(alloc)) EndpointRecord();
  r->bits_ = bits;
  char* prefix = const_cast<char*>(r->tail());
  if (overflow != nullptr) {
    std::memcpy(prefix, &overflow, sizeof(overflow));
    prefix += sizeof(overflow);
  }
  if (wide) {
    std::memcpy(prefix, &l, sizeof(l));
  } else {
    r->naddr_ = static_cast<uint16_t>(l.naddr);
    r->hostname_len_ = static_cast<uint16_t>(l.hostname);
    r->name_len_ = static_cast<uint16_t>(l.name);
    r->uid_len_ = static_cast<uint16_t>(l.uid);
    r->node_len_ = static_cast<uint8_t>(l.node);
    r->kind_len_ = static_cast<uint8_t>(l.kind);
  }
  return r;
}

RecordPtr EndpointRecord::FromProto(const v1::Endpoint& e) {
  const v1::ObjectReference& ref = e.target_ref();
  size_t addr_bytes = 0;
  for (const std::string& a : e.addresses()) addr_bytes += a.size();
  const size_t chars = addr_bytes + e.hostname().size() + ref.name().size() + ref.uid().size();
  const Lengths l = {.naddr = static_cast<uint32_t>(e.addresses_size()),
                     .hostname = static_cast<uint32_t>(e.hostname().size()),
                     .name = static_cast<uint32_t>(ref.name().size()),
                     .uid = static_cast<uint32_t>(ref.uid().size()),
                     .node = static_cast<uint32_t>(e.node_name().size()),
                     .kind = static_cast<uint32_t>(ref.kind().size())};

  uint16_t bits = 0;
  if (e.has_conditions()) {
    const v1::EndpointConditions& c = e.conditions();
    bits |= kHasConditions;
    if (c.has_ready()) {
      bits |= RecordConditions::kHasReady | (c.ready() ? RecordConditions::kReady : 0);
    }
    if (c.has_serving()) {
      bits |= RecordConditions::kHasServing | (c.serving() ? RecordConditions::kServing : 0);
    }
    if (c.has_terminating()) {
      bits |= RecordConditions::kHasTerminating |
              (c.terminating() ? RecordConditions::kTerminating : 0);
    }
  }
  if (e.has_hostname()) bits |= kHasHostname;
  if (e.has_target_ref()) bits |= kHasTargetRef;
  if (e.has_node_name()) bits |= kHasNodeName;
  if (e.has_zone()) bits |= kHasZone;
  if (e.has_hints()) bits |= kHasHints;

  std::unique_ptr<Overflow> overflow;
  if (e.has_hints() || !e.deprecated_topology().empty() || !ref.api_version().empty() ||
      !ref.resource_version().empty() || !ref.field_path().empty()) {
    overflow = std::make_unique<Overflow>();
    overflow->has_hints = e.has_hints();
    overflow->hints = e.hints();
    overflow->topology.assign(e.deprecated_topology().begin(), e.deprecated_topology().end());
    std::sort(overflow->topology.begin(), overflow->topology.end());
    overflow->api_version = ref.api_version();
    overflow->resource_version = ref.resource_version();
    overflow->field_path = ref.field_path();
    overflow->Seal();
  }
  EndpointRecord* r = Allocate(bits, l, chars, overflow.release());
  auto* ends = const_cast<uint32_t*>(r->ends());
  char* out = const_cast<char*>(r->chars(l));
  size_t end = 0;
  for (int i = 0; i < e.addresses_size(); ++i) {
    const std::string& a = e.addresses(i);
    std::memcpy(out + end, a.data(), a.size());
    end += a.size();
    ends[i] = static_cast<uint32_t>(end);
  }
  std::memcpy(out + end, e.hostname().data(), e.hostname().size());
  end += e.hostname().size();
  std::memcpy(out + end, ref.name().data(), ref.name().size());
  end += ref.name().size();
  std::memcpy(out + end, ref.uid().data(), ref.uid().size());

  if (e.has_node_name() || e.has_zone()) {
    r->where_ = InternPair(e.node_name(), e.zone());
  }
  if (!ref.kind().empty() || !ref.namespace_().empty()) {
    r->target_ = InternPair(ref.kind(), ref.namespace_());
  }
  return RecordPtr(r);
}

void EndpointRecord::Unref() const {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  delete overflow();
  // Unsized: clang (the thread-safety check) does not enable sized deallocation by default.
  auto* self = const_cast<EndpointRecord*>(this);
  self->~EndpointRecord();
  ::operator delete(self);
}

absl::string_view EndpointRecord::addresses(int i) const {
  const uint32_t* e = ends();
  const uint32_t begin = i == 0 ? 0 : e[i - 1];
  return {chars(lengths()) + begin, static_cast<size_t>(e[i] - begin)};
}

EndpointRecord* EndpointRecord::Clone(std::unique_ptr<const Overflow> overflow) const {
  const Lengths l = lengths();
  EndpointRecord* r = Allocate(bits_, l, chars_size(l), overflow.release());
  r->where_ = where_;
  r->target_ = target_;
  std::memcpy(const_cast<uint32_t*>(r->ends()), ends(), body_size(l));
  return r;
}

RecordPtr EndpointRecord::WithHints(const v1::EndpointHints* hints) const {
  const Overflow* old = overflow();
  auto o = old != nullptr ? std::make_unique<Overflow>(*old) : std::make_unique<Overflow>();
  o->has_hints = hints != nullptr;
  if (hints != nullptr) {
    o->hints = *hints;
  } else {
    o->hints.Clear();
  }
  if (o->Empty()) {
    o.reset();
  } else {
    o->Seal();
  }
  EndpointRecord* r = Clone(std::move(o));
  if (hints != nullptr) {
    r->bits_ |= kHasHints;
  } else {
    r->bits_ &= ~kHasHints;
  }
  return RecordPtr(r);
}

RecordPtr EndpointRecord::WithReady(bool ready) const {
  const Overflow* old = overflow();
  EndpointRecord* r = Clone(old != nullptr ? std::make_unique<Overflow>(*old) : nullptr);
  r->bits_ |= kHasConditions | RecordConditions::kHasReady;
  if (ready) {
    r->bits_ |= RecordConditions::kReady;
  } else {
    r->bits_ &= ~RecordConditions::kReady;
  }
  return RecordPtr(r);
}

absl::string_view EndpointRecord::hostname() const {
  const Lengths l = lengths();
  return {chars(l) + addr_bytes(l), l.hostname};
}

absl::string_view EndpointRecord::zone() const {
  absl::string_view v = where_.view();
  const uint32_t node = lengths().node;
  return v.size() > node ? v.substr(node + 1) : absl::string_view();
}

const v1::EndpointHints& EndpointRecord::hints() const {
  const Overflow* o = overflow();
  return o != nullptr ? o->hints : v1::EndpointHints::default_instance();
}

const std::vector<std::pair<std::string, std::string>>& EndpointRecord::deprecated_topology()
    const {
  const Overflow* o = overflow();
  return o != nullptr ? o->topology : EmptyTopology();
}

void EndpointRecord::ToProto(v1::Endpoint* out) const {
  out->Clear();
  for (absl::string_view a : addresses()) out->add_addresses(std::string(a));
  if (has_conditions()) {
    v1::EndpointConditions* c = out->mutable_conditions();
    const RecordConditions rc = conditions();
    if (rc.has_ready()) c->set_ready(rc.ready());
    if (rc.has_serving()) c->set_serving(rc.serving());
    if (rc.has_terminating()) c->set_terminating(rc.terminating());
  }
  if (has_hostname()) out->set_hostname(std::string(hostname()));
  if (has_target_ref()) target_ref().ToProto(out->mutable_target_ref());
  if (has_node_name()) out->set_node_name(std::string(node_name()));
  if (has_zone()) out->set_zone(std::string(zone()));
  if (const Overflow* o = overflow(); o != nullptr) {
    if (o->has_hints) *out->mutable_hints() = o->hints;
    for (const auto& [k, v] : o->topology) (*out->mutable_deprecated_topology())[k] = v;
  }
}

v1::Endpoint EndpointRecord::ToProto() const {
  v1::Endpoint out;
  ToProto(&out);
  return out;
}

namespace {

size_t ConditionsBodySize(RecordConditions c) {
  return (c.has_ready() ? 2 : 0) + (c.has_serving() ? 2 : 0) + (c.has_terminating() ? 2 : 0);
}

}  // namespace

size_t EndpointRecord::ByteSizeLong() const {
  const Lengths l = lengths();
  size_t n = 0;
  for (absl::string_view a : addresses()) n += StringSize(a.size());
  if (has_conditions()) n += StringSize(ConditionsBodySize(conditions()));
  if (has_hostname()) n += StringSize(l.hostname);
  if (has_target_ref()) n += StringSize(TargetRefBodySize());
  if (has_node_name()) n += StringSize(l.node);
  if (has_zone()) n += StringSize(zone().size());
  if (const Overflow* o = overflow(); o != nullptr) n += o->Wire().size();
  return n;
}

void EndpointRecord::AppendWire(std::string* out) const {
  const size_t at = out->size();
  out->resize(at + ByteSizeLong());
  SerializeToArray(reinterpret_cast<uint8_t*>(out->data() + at));
}

size_t EndpointRecord::TargetRefBodySize() const {
  const RecordTargetRef t = target_ref();
  return NonEmptyStringSize(t.kind()) + NonEmptyStringSize(t.namespace_()) +
         NonEmptyStringSize(t.name()) + NonEmptyStringSize(t.uid()) +
         NonEmptyStringSize(t.api_version()) + NonEmptyStringSize(t.resource_version()) +
         NonEmptyStringSize(t.field_path());
}

uint8_t* EndpointRecord::SerializeToArray(uint8_t* p) const {
  for (absl::string_view a : addresses()) p = PutString(p, 1, a);
  if (has_conditions()) {
    const RecordConditions c = conditions();
    p = PutTag(p, 2, 2);
    p = PutVarint(p, ConditionsBodySize(c));
    if (c.has_ready()) p = PutBool(p, 1, c.ready());
    if (c.has_serving()) p = PutBool(p, 2, c.serving());
    if (c.has_terminating()) p = PutBool(p, 3, c.terminating());
  }
  if (has_hostname()) p = PutString(p, 3, hostname());
  if (has_target_ref()) {
    const RecordTargetRef t = target_ref();
    p = PutTag(p, 4, 2);
    p = PutVarint(p, TargetRefBodySize());
    p = PutNonEmpty(p, 1, t.kind());
    p = PutNonEmpty(p, 2, t.namespace_());
    p = PutNonEmpty(p, 3, t.name());
    p = PutNonEmpty(p, 4, t.uid());
    p = PutNonEmpty(p, 5, t.api_version());
    p = PutNonEmpty(p, 6, t.resource_version());
    p = PutNonEmpty(p, 7, t.field_path());
  }
  if (has_node_name()) p = PutString(p, 5, node_name());
  if (has_zone()) p = PutString(p, 6, zone());
  if (const Overflow* o = overflow(); o != nullptr) {
    const std::string& wire = o->Wire();
    std::memcpy(p, wire.data(), wire.size());
    p += wire.size();
  }
  return p;
}

void EndpointRecord::Overflow::Seal() {
  std::string& out = wire;
  out.clear();
  size_t size = has_hints ? StringSize(hints.ByteSizeLong()) : 0;
  for (const auto& [k, v] : topology) {
    const size_t entry = StringSize(k.size()) + StringSize(v.size());
    size += StringSize(entry);
  }
  out.resize(size);
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  if (has_hints) p = PutString(p, 7, hints.SerializeAsString());
  for (const auto& [k, v] : topology) {
    p = PutTag(p, 8, 2);
    p = PutVarint(p, StringSize(k.size()) + StringSize(v.size()));
    p = PutString(p, 1, k);
    p = PutString(p, 2, v);
  }
}

size_t EndpointRecord::Overflow::SpaceUsed() const {
  size_t n = sizeof(Overflow) + hints.SpaceUsedLong() - sizeof(hints) +
             topology.capacity() * sizeof(topology[0]);
  for (const auto& [k, v] : topology) n += k.capacity() + v.capacity();
  return n + api_version.capacity() + resource_version.capacity() + field_path.capacity() +
         wire.capacity();
}

size_t EndpointRecord::SpaceUsed() const {
  const Overflow* o = overflow();
  return AllocSize() + (o != nullptr ? o->SpaceUsed() : 0);
}

bool operator==(const EndpointRecord& a, const EndpointRecord& b) {
  if (&a == &b) return true;
  const EndpointRecord::Lengths x = a.lengths();
  const EndpointRecord::Lengths y = b.lengths();
  // kWide follows from the lengths, kHasOverflow is compared below.
  if (a.bits_ != b.bits_ || x.naddr != y.naddr || x.hostname != y.hostname || x.name != y.name ||
      x.uid != y.uid || x.node != y.node || x.kind != y.kind || a.where_ != b.where_ ||
      a.target_ != b.target_) {
    return false;
  }
  // The same lengths: the trailing data has the same size.
  if (std::memcmp(a.ends(), b.ends(), a.body_size(x)) != 0) return false;
  const EndpointRecord::Overflow* o = a.overflow();
  const EndpointRecord::Overflow* p = b.overflow();
  if (o == nullptr || p == nullptr) return o == p;
  return o->has_hints == p->has_hints && o->topology == p->topology &&
         o->api_version == p->api_version && o->resource_version == p->resource_version &&
         o->field_path == p->field_path && o->Wire() == p->Wire();
}

}  // namespace slicekeeper
