#include "tests/reconcile/oracle.h"

#include <algorithm>
#include <memory>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/reconcile/topology.h"

// Written to be read next to docs/kubernetes-behaviour.md §3.6 rather than to be fast: every map is
// ordered, every list is copied, and the steps keep Kubernetes' names. Kubernetes pops desired
// endpoints "in any order"; here the lowest identity goes first, which is one of the allowed
// orders.

namespace slicekeeper::reconcile::oracle {
namespace {

using EndpointMap = std::map<std::string, EndpointPtr>;  // identity -> desired version

struct Group {
  PortListPtr ports;
  EndpointMap endpoints;
};
using GroupMap = std::map<std::string, Group>;  // port key -> group

// A slice about to be written: new (base == nullptr) or a new version of `base`.
struct Draft {
  SlicePtr base;
  PortListPtr ports;
  std::vector<EndpointPtr> endpoints;
};

struct Context {
  const v1::ServiceRecord& service;
  std::map<std::string, std::string> labels;
  v1::OwnerReference owner;
  size_t max;
};

// Everything reconcileByAddressType tracks for one address type.
struct TypeWork {
  std::string address_type;
  std::vector<SlicePtr> existing;  // owned or not
  std::vector<Draft> to_create;
  std::vector<Draft> to_update;
  std::vector<SlicePtr> to_delete;
  std::vector<SlicePtr> unchanged;
  int64_t added = 0;
  int64_t removed = 0;
};

bool IsReserved(const std::string& key) {
  return key == kLabelServiceName || key == kLabelManagedBy || key == kLabelHeadless;
}

std::map<std::string, std::string> NonReserved(
    const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : labels) {
    if (!IsReserved(k)) out[k] = v;
  }
  return out;
}

bool OptionalStringDiffers(bool has_a, absl::string_view a, bool has_b, absl::string_view b) {
  return has_a != has_b || (has_a && a != b);
}

bool OptionalBoolDiffers(bool has_a, bool a, bool has_b, bool b) {
  return has_a != has_b || (has_a && a != b);
}

v1::OwnerReference OwnerFor(const v1::ServiceRecord& service) {
  v1::OwnerReference o;
  o.set_api_version("v1");
  o.set_kind("Service");
  o.set_name(service.name());
  o.set_uid(service.uid());
  o.set_controller(true);
  o.set_block_owner_deletion(true);
  return o;
}

// §3.4: publishNotReadyAddresses forces ready=true.
EndpointPtr ForceReadyIfPublished(const v1::ServiceRecord& service, EndpointPtr e) {
  if (!service.publish_not_ready_addresses()) return e;
  if (e->conditions().has_ready() && e->conditions().ready()) return e;
  return e->WithReady(true);
}

// address type -> port key -> group, for the served types only (others are dropped, §3.4).
std::map<std::string, GroupMap> GroupDesired(const Input& in,
                                             const std::vector<std::string>& served) {
  std::map<std::string, GroupMap> out;
  for (const std::string& t : served) out[t];
  // Last one wins per (type, identity), even across port sets.
  std::map<std::pair<std::string, std::string>, const DesiredEndpoint*> latest;
  for (const DesiredEndpoint& d : in.desired) latest[{d.address_type, Identity(*d.endpoint)}] = &d;
  for (const auto& [key, d] : latest) {
    auto type_it = out.find(d->address_type);
    if (type_it == out.end()) continue;
    Group& g = type_it->second[PortKey(*d->ports)];
    if (g.ports == nullptr) g.ports = d->ports;
    g.endpoints[key.second] = ForceReadyIfPublished(*in.service, d->endpoint);
  }
  return out;
}

bool LabelsChanged(const Slice& slice, const Context& ctx) {
  return NonReserved(slice.meta->labels()) != NonReserved(ctx.service.labels());
}

struct GroupWork {
  std::vector<Draft> to_update;
  std::vector<SlicePtr> unchanged;
};

// Step 1: keep the still-desired endpoints of each existing slice, in their desired version.
void PruneExisting(const Context& ctx, const std::vector<SlicePtr>& existing,
                   EndpointMap& remaining, GroupWork& g, TypeWork& w) {
  for (const SlicePtr& s : existing) {
    Draft d{s, s->ports, {}};
    bool changed = false;
    for (const EndpointPtr& e : s->endpoints) {
      auto it = remaining.find(Identity(*e));
      if (it == remaining.end()) continue;  // not desired, or already kept by another slice
      if (Differs(*it->second, *e)) changed = true;
      d.endpoints.push_back(it->second);
      remaining.erase(it);
    }
    const size_t kept = d.endpoints.size();
    w.removed += static_cast<int64_t>(s->endpoints.size() - kept);
    if (changed || kept != s->endpoints.size()) {
      if (kept == 0) {
        w.to_delete.push_back(s);
      } else {
        g.to_update.push_back(std::move(d));
      }
    } else if (LabelsChanged(*s, ctx)) {
      g.to_update.push_back(std::move(d));
    } else {
      g.unchanged.push_back(s);
    }
  }
}

void FillFrom(EndpointMap& remaining, size_t max, std::vector<EndpointPtr>& endpoints) {
  while (!remaining.empty() && endpoints.size() < max) {
    endpoints.push_back(remaining.begin()->second);
    remaining.erase(remaining.begin());
  }
}

// Step 2: fill the slices already being updated, largest first.
void FillUpdates(const Context& ctx, EndpointMap& remaining, GroupWork& g) {
  if (remaining.empty() || g.to_update.empty()) return;
  std::stable_sort(g.to_update.begin(), g.to_update.end(), [](const Draft& a, const Draft& b) {
    return a.endpoints.size() > b.endpoints.size();
  });
  for (Draft& d : g.to_update) FillFrom(remaining, ctx.max, d.endpoints);
}

// getSliceToFill: the unchanged slice left with the least free space after taking all `n`.
int BestFit(const std::vector<SlicePtr>& unchanged, size_t n, size_t max) {
  int64_t closest = static_cast<int64_t>(max);
  int best = -1;
  for (size_t i = 0; i < unchanged.size(); ++i) {
    int64_t diff =
        static_cast<int64_t>(max) - static_cast<int64_t>(n + unchanged[i]->endpoints.size());
    if (diff >= 0 && diff < closest) {
      closest = diff;
      best = static_cast<int>(i);
      if (diff == 0) break;
    }
  }
  return best;
}

// Step 3: full new slices while `max` or more remain; the last chunk best-fits or is created.
void PlaceLeftovers(const Context& ctx, const PortListPtr& ports, EndpointMap& remaining,
                    GroupWork& g, TypeWork& w) {
  while (!remaining.empty()) {
    int fit = -1;
    if (remaining.size() < ctx.max && !g.unchanged.empty()) {
      fit = BestFit(g.unchanged, remaining.size(), ctx.max);
    }
    if (fit < 0) {
      Draft d{nullptr, ports, {}};
      FillFrom(remaining, ctx.max, d.endpoints);
      w.to_create.push_back(std::move(d));
      continue;
    }
    SlicePtr s = g.unchanged[fit];
    g.unchanged.erase(g.unchanged.begin() + fit);
    Draft d{s, s->ports, s->endpoints.ToVector()};
    FillFrom(remaining, ctx.max, d.endpoints);
    g.to_update.push_back(std::move(d));
  }
}

// reconcileByPortMapping for one group that has a desired set.
void ReconcileGroup(const Context& ctx, const Group& group, const std::vector<SlicePtr>& existing,
                    TypeWork& w) {
  EndpointMap remaining = group.endpoints;
  GroupWork g;
  PruneExisting(ctx, existing, remaining, g, w);
  w.added += static_cast<int64_t>(remaining.size());
  FillUpdates(ctx, remaining, g);
  PlaceLeftovers(ctx, group.ports, remaining, g, w);
  for (Draft& d : g.to_update) w.to_update.push_back(std::move(d));
  for (SlicePtr& s : g.unchanged) w.unchanged.push_back(std::move(s));
}

bool EqualsPlaceholder(const Slice& s, const Context& ctx, const std::string& address_type) {
  std::map<std::string, std::string> labels(s.meta->labels().begin(), s.meta->labels().end());
  return s.namespace_ == ctx.service.namespace_() && labels == ctx.labels &&
         s.meta->owner_references_size() == 1 &&
         s.meta->owner_references(0).SerializeAsString() == ctx.owner.SerializeAsString() &&
         s.address_type == address_type && s.ports->empty() && s.endpoints.empty();
}

// A service with nothing of this type keeps exactly one placeholder.
void ApplyPlaceholderRule(const Context& ctx, TypeWork& w) {
  if (w.existing.size() != w.to_delete.size() || !w.to_create.empty()) return;
  if (w.to_delete.size() == 1 && EqualsPlaceholder(*w.to_delete[0], ctx, w.address_type)) {
    w.unchanged.push_back(w.to_delete[0]);
    w.to_delete.clear();
    return;
  }
  w.to_create.push_back(Draft{nullptr, std::make_shared<const PortList>(), {}});
}

// §4: one hint pass per address type, which may turn unchanged slices into updates.
void ApplyHints(const Input& in, TypeWork& w) {
  SliceInfo info;
  for (Draft& d : w.to_create) info.to_create.push_back(&d.endpoints);
  for (Draft& d : w.to_update) info.to_update.push_back(&d.endpoints);
  for (const SlicePtr& s : w.unchanged) info.unchanged.push_back(&s->endpoints);
  HintsResult hints;
  const HintMode mode = HintModeFor(*in.service);
  if (mode == HintMode::kNone) {
    hints = RemoveHints(info);
  } else if (mode == HintMode::kAuto) {
    hints = AddAutoHints(ComputeNodeInfo(in.nodes), info);
  } else {
    hints = AddTrafficDistributionHints(mode, info);
  }
  std::set<size_t> moved;
  for (auto& [index, endpoints] : hints.unchanged_to_update) {
    const SlicePtr& s = w.unchanged[index];
    w.to_update.push_back(Draft{s, s->ports, std::move(endpoints)});
    moved.insert(index);
  }
  std::vector<SlicePtr> still;
  for (size_t i = 0; i < w.unchanged.size(); ++i) {
    if (!moved.count(i)) still.push_back(w.unchanged[i]);
  }
  w.unchanged = std::move(still);
}

// finalize step 1: the last create takes the name of an owned slice of the same type to delete.
void Recycle(const Context& ctx, TypeWork& w) {
  for (size_t i = 0; i < w.to_delete.size() && !w.to_create.empty();) {
    const SlicePtr& victim = w.to_delete[i];
    if (!OwnedBy(*victim, ctx.service) || victim->address_type != w.address_type) {
      ++i;
      continue;
    }
    Draft d = std::move(w.to_create.back());
    w.to_create.pop_back();
    d.base = victim;
    w.to_update.push_back(std::move(d));
    w.to_delete.erase(w.to_delete.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

SlicePtr Materialize(const Context& ctx, const std::string& address_type, const Draft& d,
                     int& counter) {
  auto s = std::make_shared<Slice>();
  auto meta = std::make_shared<v1::ObjectMeta>();
  if (d.base != nullptr) {
    *s = *d.base;
    *meta = *d.base->meta;
    s->generation = d.base->generation + 1;
  } else {
    s->name = absl::StrCat(ctx.service.name(), "-oracle", counter);
    s->uid = absl::StrCat("oracle-uid-", counter++);
    s->namespace_ = ctx.service.namespace_();
    s->generation = 1;
    meta->set_generate_name(absl::StrCat(ctx.service.name(), "-"));
    *meta->add_owner_references() = ctx.owner;
  }
  meta->mutable_labels()->clear();
  for (const auto& [k, v] : ctx.labels) (*meta->mutable_labels())[k] = v;
  s->meta = std::move(meta);
  s->address_type = address_type;
  s->ports = d.ports;
  s->endpoints = d.endpoints;
  return s;
}

TypeWork ReconcileAddressType(const Input& in, const Context& ctx, const std::string& type,
                              const GroupMap& groups, std::vector<SlicePtr> existing) {
  TypeWork w;
  w.address_type = type;
  w.existing = std::move(existing);
  std::map<std::string, std::vector<SlicePtr>> by_key;
  for (const SlicePtr& s : w.existing) {
    if (OwnedBy(*s, ctx.service)) {
      by_key[PortKey(*s->ports)].push_back(s);
    } else {
      w.to_delete.push_back(s);
    }
  }
  static const std::vector<SlicePtr> kNone;
  for (const auto& [key, group] : groups) {
    auto it = by_key.find(key);
    ReconcileGroup(ctx, group, it == by_key.end() ? kNone : it->second, w);
  }
  for (const auto& [key, slices] : by_key) {
    if (!groups.count(key)) w.to_delete.insert(w.to_delete.end(), slices.begin(), slices.end());
  }
  ApplyPlaceholderRule(ctx, w);
  ApplyHints(in, w);
  Recycle(ctx, w);
  return w;
}

void CollectResult(const Context& ctx, const TypeWork& w, int& counter, Result& r) {
  for (const Draft& d : w.to_create)
    r.creates.push_back(Materialize(ctx, w.address_type, d, counter));
  for (const Draft& d : w.to_update)
    r.updates.push_back(Materialize(ctx, w.address_type, d, counter));
  r.deletes.insert(r.deletes.end(), w.to_delete.begin(), w.to_delete.end());
  r.endpoints_added += w.added;
  r.endpoints_removed += w.removed;
}

std::vector<SlicePtr> ResultingSlices(const std::vector<SlicePtr>& existing, const Result& r) {
  std::map<std::string, SlicePtr> by_name;
  for (const SlicePtr& s : existing) by_name[s->name] = s;
  for (const SlicePtr& s : r.deletes) by_name.erase(s->name);
  for (const SlicePtr& s : r.updates) by_name[s->name] = s;
  for (const SlicePtr& s : r.creates) by_name[s->name] = s;
  std::vector<SlicePtr> out;
  for (auto& [name, s] : by_name) out.push_back(s);
  return out;
}

}  // namespace

std::vector<std::string> ServedAddressTypes(const v1::ServiceRecord& service,
                                            const std::vector<DesiredEndpoint>& desired) {
  std::set<std::string> types(service.address_types().begin(), service.address_types().end());
  if (types.empty()) {
    for (const DesiredEndpoint& d : desired) types.insert(d.address_type);
  }
  if (types.empty()) types.insert(kAddressTypeIPv4);
  return {types.begin(), types.end()};
}

std::string Identity(const EndpointRecord& e) {
  std::vector<std::string> addresses(e.addresses().begin(), e.addresses().end());
  std::sort(addresses.begin(), addresses.end());
  std::string id;
  for (const std::string& a : addresses) absl::StrAppend(&id, a.size(), ":", a, ",");
  const std::string host(e.has_hostname() ? e.hostname() : "");
  const std::string ns(e.has_target_ref() ? e.target_ref().namespace_() : "");
  const std::string name(e.has_target_ref() ? e.target_ref().name() : "");
  absl::StrAppend(&id, "|", host.size(), ":", host, "|", ns.size(), ":", ns, "|", name);
  return id;
}

std::string PortKey(const PortList& ports) {
  std::vector<std::string> parts;
  for (const v1::EndpointPort& p : ports) {
    // Defaulting (§2): a nil name is "", a nil protocol is TCP.
    const std::string& name = p.has_name() ? p.name() : "";
    const std::string& protocol = p.has_protocol() ? p.protocol() : "TCP";
    parts.push_back(absl::StrCat(name.size(), ":", name, "/", protocol, "/",
                                 p.has_port() ? absl::StrCat(p.port()) : "nil", "/",
                                 p.has_app_protocol() ? "=" + p.app_protocol() : "nil"));
  }
  std::sort(parts.begin(), parts.end());
  std::string key;
  for (const std::string& p : parts) absl::StrAppend(&key, p, "\n");
  return key;
}

bool Differs(const EndpointRecord& a, const EndpointRecord& b) {
  if (OptionalStringDiffers(a.has_node_name(), a.node_name(), b.has_node_name(), b.node_name()) ||
      OptionalStringDiffers(a.has_zone(), a.zone(), b.has_zone(), b.zone())) {
    return true;
  }
  const RecordConditions ca = a.conditions();
  const RecordConditions cb = b.conditions();
  if (OptionalBoolDiffers(ca.has_ready(), ca.ready(), cb.has_ready(), cb.ready()) ||
      OptionalBoolDiffers(ca.has_serving(), ca.serving(), cb.has_serving(), cb.serving()) ||
      OptionalBoolDiffers(ca.has_terminating(), ca.terminating(), cb.has_terminating(),
                          cb.terminating())) {
    return true;
  }
  if (a.has_target_ref() != b.has_target_ref()) return true;
  const RecordTargetRef ra = a.target_ref();
  const RecordTargetRef rb = b.target_ref();
  return ra.kind() != rb.kind() || ra.namespace_() != rb.namespace_() || ra.name() != rb.name() ||
         ra.uid() != rb.uid() || ra.api_version() != rb.api_version() ||
         ra.field_path() != rb.field_path();
}

std::map<std::string, std::string> SliceLabels(const v1::ServiceRecord& service) {
  std::map<std::string, std::string> labels = NonReserved(service.labels());
  if (service.headless()) labels[kLabelHeadless] = "";
  labels[kLabelServiceName] = service.name();
  labels[kLabelManagedBy] = kManagerName;
  return labels;
}

bool OwnedBy(const Slice& slice, const v1::ServiceRecord& service) {
  for (const v1::OwnerReference& o : slice.meta->owner_references()) {
    if (o.api_version() == "v1" && o.kind() == "Service" && o.uid() == service.uid()) return true;
  }
  return false;
}

Result Run(const Input& in) {
  const Context ctx{*in.service, SliceLabels(*in.service), OwnerFor(*in.service),
                    static_cast<size_t>(std::max(1, in.max_endpoints_per_slice))};
  const std::vector<std::string> served = ServedAddressTypes(*in.service, in.desired);
  std::map<std::string, GroupMap> desired = GroupDesired(in, served);
  std::map<std::string, std::vector<SlicePtr>> existing_by_type;
  Result r;
  for (const SlicePtr& s : in.existing) {
    if (desired.count(s->address_type)) {
      existing_by_type[s->address_type].push_back(s);
    } else {
      r.deletes.push_back(s);  // §3.3: a type no longer served is deleted, never recycled
    }
  }
  int counter = 0;
  for (const std::string& type : served) {
    TypeWork w =
        ReconcileAddressType(in, ctx, type, desired[type], std::move(existing_by_type[type]));
    CollectResult(ctx, w, counter, r);
  }
  r.slices = ResultingSlices(in.existing, r);
  return r;
}

}  // namespace slicekeeper::reconcile::oracle
