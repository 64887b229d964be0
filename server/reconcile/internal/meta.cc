#include "server/reconcile/internal/meta.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/owner_reference.h"

namespace slicekeeper::reconcile::internal {
namespace {

bool IsDnsLabelChars(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-')) return false;
  }
  return s.front() != '-' && s.back() != '-';
}

bool IsDnsSubdomain(absl::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (absl::string_view part : absl::StrSplit(s, '.')) {
    if (!IsDnsLabelChars(part)) return false;
  }
  return true;
}

bool IsServiceOwner(const v1::OwnerReference& o) {
  return o.api_version() == "v1" && o.kind() == "Service";
}

using LabelList = std::vector<std::pair<absl::string_view, absl::string_view>>;

std::string Signature(LabelList labels, std::vector<absl::string_view> uids) {
  std::sort(labels.begin(), labels.end());
  std::sort(uids.begin(), uids.end());
  std::string out;
  for (const auto& [k, v] : labels) absl::StrAppend(&out, k, "\x1f", v, "\x1e");
  out.push_back('\x1d');
  for (absl::string_view uid : uids) absl::StrAppend(&out, uid, "\x1e");
  return out;
}

}  // namespace

bool IsReservedLabel(absl::string_view key) {
  return key == kLabelServiceName || key == kLabelManagedBy || key == kLabelHeadless;
}

std::string GenerateNamePrefix(absl::string_view service) {
  // apimachinery validates a generateName prefix with its trailing dash masked as a letter.
  if (IsDnsSubdomain(absl::StrCat(service, "a"))) return absl::StrCat(service, "-");
  return std::string(service);
}

std::string MetaSignature(const v1::ObjectMeta& meta) {
  LabelList labels;
  for (const auto& [k, v] : meta.labels()) {
    if (!IsReservedLabel(k)) labels.emplace_back(k, v);
  }
  std::vector<absl::string_view> uids;
  for (const v1::OwnerReference& o : meta.owner_references()) {
    if (IsServiceOwner(o)) uids.push_back(o.uid());
  }
  return Signature(std::move(labels), std::move(uids));
}

MetaBuilder::MetaBuilder(const v1::ServiceRecord& service, absl::string_view trigger_time)
    : service_(service), trigger_time_(trigger_time), prefix_(GenerateNamePrefix(service.name())) {
  for (const auto& [k, v] : service.labels()) {
    if (!IsReservedLabel(k)) user_labels_.emplace(k, v);
  }
  labels_ = user_labels_;
  if (service.headless()) labels_[kLabelHeadless] = "";
  labels_[kLabelServiceName] = service.name();
  labels_[kLabelManagedBy] = kManagerName;
  owner_.set_api_version("v1");
  owner_.set_kind("Service");
  owner_.set_name(service.name());
  owner_.set_uid(service.uid());
  owner_.set_controller(true);
  owner_.set_block_owner_deletion(true);
  wanted_signature_ =
      Signature(LabelList(user_labels_.begin(), user_labels_.end()), {service.uid()});
}

const MetaPtr& MetaBuilder::Shared() {
  if (shared_ == nullptr) {
    auto m = std::make_shared<v1::ObjectMeta>();
    m->set_generate_name(prefix_);
    m->mutable_labels()->insert(labels_.begin(), labels_.end());
    if (!trigger_time_.empty()) (*m->mutable_annotations())[kAnnotationTriggerTime] = trigger_time_;
    *m->add_owner_references() = owner_;
    shared_ = std::move(m);
  }
  return shared_;
}

bool MetaBuilder::SharedCompatible(const v1::ObjectMeta& old, bool keep_labels) const {
  if (old.generate_name() != prefix_ || !old.deletion_timestamp().empty()) return false;
  for (const auto& [k, v] : old.annotations()) {
    if (k != kAnnotationTriggerTime) return false;
  }
  if (old.owner_references_size() != 1 || !SameOwnerReference(old.owner_references(0), owner_)) {
    return false;
  }
  if (!keep_labels) return true;
  if (static_cast<size_t>(old.labels().size()) != labels_.size()) return false;
  for (const auto& [k, v] : old.labels()) {
    auto it = labels_.find(k);
    if (it == labels_.end() || it->second != v) return false;
  }
  return true;
}

MetaPtr MetaBuilder::ForUpdate(const v1::ObjectMeta& old, bool keep_labels) {
  // A batch's updates mostly come from the same earlier batch, so share its metadata object.
  const v1::ObjectMeta*& known = compatible_[keep_labels ? 1 : 0];
  if (&old == known || SharedCompatible(old, keep_labels)) {
    known = &old;
    return Shared();
  }
  auto m = std::make_shared<v1::ObjectMeta>(old);
  if (!keep_labels) {
    m->mutable_labels()->clear();
    m->mutable_labels()->insert(labels_.begin(), labels_.end());
  }
  if (trigger_time_.empty()) {
    m->mutable_annotations()->erase(kAnnotationTriggerTime);
  } else {
    (*m->mutable_annotations())[kAnnotationTriggerTime] = trigger_time_;
  }
  return m;
}

bool MetaBuilder::LabelsDiffer(const v1::ObjectMeta& meta) const {
  size_t seen = 0;
  for (const auto& [k, v] : meta.labels()) {
    if (IsReservedLabel(k)) continue;
    auto it = user_labels_.find(k);
    if (it == user_labels_.end() || it->second != v) return true;
    ++seen;
  }
  return seen != user_labels_.size();
}

bool MetaBuilder::Owned(const v1::ObjectMeta& meta) const {
  for (const v1::OwnerReference& o : meta.owner_references()) {
    if (IsServiceOwner(o) && o.uid() == service_.uid()) return true;
  }
  return false;
}

bool MetaBuilder::EqualsPlaceholder(const Slice& s, absl::string_view address_type) const {
  if (s.namespace_ != service_.namespace_() || s.address_type != address_type ||
      !s.ports->empty() || !s.endpoints.empty()) {
    return false;
  }
  const v1::ObjectMeta& m = *s.meta;
  if (m.owner_references_size() != 1 || !SameOwnerReference(m.owner_references(0), owner_))
    return false;
  if (static_cast<size_t>(m.labels().size()) != labels_.size()) return false;
  for (const auto& [k, v] : m.labels()) {
    auto it = labels_.find(k);
    if (it == labels_.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace slicekeeper::reconcile::internal
