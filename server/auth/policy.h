// Policy: the authorization rules of --authz_policy_file (YAML), and the decisions they imply.
//
//   rules:
//     - role: writer                       # reader | writer | admin
//       identities: ["spiffe://example.org/ns/team-a/sa/deployer"]
//       groups: ["team-a-writers"]         # either list may be omitted, not both
//       namespaces: ["team-a", "team-b"]   # "*" (or omitted) = every namespace
//     - role: reader
//       groups: ["dashboards"]
//
// Roles nest: reader (Get/List/Query/Watch, xDS, Kubernetes GET/watch) < writer (reader + every
// write RPC) < admin (writer + deleting whole services + node labels). A rule grants its role in
// its namespaces to every listed identity and every member of a listed group. Anything no rule
// grants is denied. Cluster-scoped actions (node labels) need a rule with "*".
//
// Thread-safety: immutable after Parse; every method may be called concurrently.
#ifndef SLICEKEEPER_SERVER_AUTH_POLICY_H_
#define SLICEKEEPER_SERVER_AUTH_POLICY_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/identity.h"

namespace slicekeeper::auth {

enum class Role { kNone = 0, kReader = 1, kWriter = 2, kAdmin = 3 };

// "reader", "writer", "admin" ("none" for kNone).
absl::string_view RoleName(Role role);

// The namespaces an identity may read: every one, or a set. Cheap to copy (shared).
class NamespaceFilter {
 public:
  // Everything.
  NamespaceFilter() = default;
  explicit NamespaceFilter(absl::flat_hash_set<std::string> allowed);

  bool all() const { return allowed_ == nullptr; }
  bool Allows(absl::string_view ns) const { return all() || allowed_->contains(ns); }
  // True when nothing at all is allowed.
  bool none() const { return !all() && allowed_->empty(); }
  // A stable key for caches keyed by what a caller may see ("*" for all, else the sorted set).
  const std::string& key() const;
  // The allowed set; null for all.
  const std::shared_ptr<const absl::flat_hash_set<std::string>>& set() const { return allowed_; }

 private:
  std::shared_ptr<const absl::flat_hash_set<std::string>> allowed_;
  std::shared_ptr<const std::string> key_;
};

class Policy {
 public:
  struct Rule {
    Role role = Role::kNone;
    std::vector<std::string> identities;
    std::vector<std::string> groups;
    // Empty = every namespace.
    std::vector<std::string> namespaces;
  };

  // Parses the YAML text. Errors: INVALID_ARGUMENT naming the rule and field ("rules[2].role:
  // must be reader, writer or admin").
  static absl::StatusOr<Policy> Parse(absl::string_view yaml);

  // The strongest role `identity` holds in namespace `ns`; ns "" asks for a role over every
  // namespace (cluster scope).
  Role RoleIn(const Identity& identity, absl::string_view ns) const;

  // The namespaces in which `identity` holds at least `role`.
  NamespaceFilter Namespaces(const Identity& identity, Role role) const;

  const std::vector<Rule>& rules() const { return rules_; }

 private:
  bool Binds(const Rule& rule, const Identity& identity) const;

  std::vector<Rule> rules_;
};

}  // namespace slicekeeper::auth

#endif  // SLICEKEEPER_SERVER_AUTH_POLICY_H_
