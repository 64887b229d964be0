#include "server/store/internal/names.h"

#include <cstdint>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/namespaced_name.h"
#include "common/slice.h"

namespace slicekeeper::store::internal {
namespace {

constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr size_t kMaxGeneratedBase = 58;  // apiserver's maxGeneratedNameLength
constexpr int kRandomLength = 5;

}  // namespace

std::string NameIndex::Reserve(absl::string_view ns, absl::string_view generate_name,
                               absl::string_view service, bool managed) {
  absl::string_view base = generate_name.substr(0, kMaxGeneratedBase);
  absl::MutexLock l(&mu_);
  // 36^5 = 60M names per base: a collision is rare, and a retry resolves it.
  while (true) {
    std::string name(base);
    for (int i = 0; i < kRandomLength; ++i) {
      name.push_back(kAlphabet[absl::Uniform<size_t>(gen_, 0, sizeof(kAlphabet) - 1)]);
    }
    auto [it, inserted] =
        owners_.try_emplace(NamespacedName(ns, name), Owner{std::string(service), managed});
    if (inserted) return name;
  }
}

absl::StatusOr<bool> NameIndex::ClaimForeign(absl::string_view ns, absl::string_view name,
                                             absl::string_view service) {
  absl::MutexLock l(&mu_);
  auto [it, inserted] =
      owners_.try_emplace(NamespacedName(ns, name), Owner{std::string(service), false});
  if (inserted) return true;
  const Owner& owner = it->second;
  if (owner.managed) {
    return absl::FailedPreconditionError(absl::StrCat("metadata.name: slice ", ns, "/", name,
                                                      " is managed by ", kManagerName));
  }
  if (owner.service != service) {
    return absl::FailedPreconditionError(absl::StrCat("metadata.name: slice ", ns, "/", name,
                                                      " belongs to service ", owner.service));
  }
  return false;
}

std::optional<NameIndex::Owner> NameIndex::Lookup(absl::string_view ns,
                                                  absl::string_view name) const {
  absl::MutexLock l(&mu_);
  auto it = owners_.find(NamespacedName(ns, name));
  if (it == owners_.end()) return std::nullopt;
  return it->second;
}

bool NameIndex::Restore(absl::string_view ns, absl::string_view name, absl::string_view service,
                        bool managed) {
  absl::MutexLock l(&mu_);
  return owners_.try_emplace(NamespacedName(ns, name), Owner{std::string(service), managed}).second;
}

void NameIndex::Release(absl::string_view ns, absl::string_view name) {
  absl::MutexLock l(&mu_);
  owners_.erase(NamespacedName(ns, name));
}

std::string NameIndex::NewUid() {
  uint64_t hi, lo;
  {
    absl::MutexLock l(&mu_);
    hi = absl::Uniform<uint64_t>(gen_);
    lo = absl::Uniform<uint64_t>(gen_);
  }
  hi = (hi & ~uint64_t{0xF000}) | 0x4000;                      // version 4
  lo = (lo & ~(uint64_t{0xC} << 60)) | (uint64_t{0x8} << 60);  // variant 10
  return absl::StrFormat("%08x-%04x-%04x-%04x-%012x", hi >> 32, (hi >> 16) & 0xFFFF, hi & 0xFFFF,
                         lo >> 48, lo & 0xFFFFFFFFFFFF);
}

}  // namespace slicekeeper::store::internal
