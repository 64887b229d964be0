#include "server/auth/policy.h"

#include <algorithm>
#include <utility>

#include <yaml-cpp/yaml.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace slicekeeper::auth {
namespace {

absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node,
                                                    const std::string& path) {
  std::vector<std::string> out;
  if (!node) return out;
  if (!node.IsSequence()) return absl::InvalidArgumentError(path + ": must be a list of strings");
  for (size_t i = 0; i < node.size(); ++i) {
    if (!node[i].IsScalar() || node[i].Scalar().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, "[", i, "]: must be a non-empty string"));
    }
    out.push_back(node[i].Scalar());
  }
  return out;
}

absl::StatusOr<Policy::Rule> ParseRule(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) return absl::InvalidArgumentError(path + ": must be a map");
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    if (key != "role" && key != "identities" && key != "groups" && key != "namespaces") {
      return absl::InvalidArgumentError(absl::StrCat(path, ".", key, ": unknown field"));
    }
  }
  Policy::Rule rule;
  const std::string role = node["role"] && node["role"].IsScalar() ? node["role"].Scalar() : "";
  if (role == "reader") rule.role = Role::kReader;
  if (role == "writer") rule.role = Role::kWriter;
  if (role == "admin") rule.role = Role::kAdmin;
  if (rule.role == Role::kNone) {
    return absl::InvalidArgumentError(path + ".role: must be reader, writer or admin");
  }
  auto identities = StringList(node["identities"], path + ".identities");
  if (!identities.ok()) return identities.status();
  auto groups = StringList(node["groups"], path + ".groups");
  if (!groups.ok()) return groups.status();
  auto namespaces = StringList(node["namespaces"], path + ".namespaces");
  if (!namespaces.ok()) return namespaces.status();
  if (identities->empty() && groups->empty()) {
    return absl::InvalidArgumentError(path + ": needs identities or groups");
  }
  rule.identities = *std::move(identities);
  rule.groups = *std::move(groups);
  if (std::find(namespaces->begin(), namespaces->end(), "*") == namespaces->end()) {
    rule.namespaces = *std::move(namespaces);
  }
  return rule;
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kReader:
      return "reader";
    case Role::kWriter:
      return "writer";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

NamespaceFilter::NamespaceFilter(absl::flat_hash_set<std::string> allowed) {
  std::vector<std::string> sorted(allowed.begin(), allowed.end());
  std::sort(sorted.begin(), sorted.end());
  key_ = std::make_shared<const std::string>(absl::StrJoin(sorted, ","));
  allowed_ = std::make_shared<const absl::flat_hash_set<std::string>>(std::move(allowed));
}

const std::string& NamespaceFilter::key() const {
  static const std::string kAll = "*";
  return key_ == nullptr ? kAll : *key_;
}

absl::StatusOr<Policy> Policy::Parse(absl::string_view yaml) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("policy: not YAML: ", e.what()));
  }
  if (!root.IsMap() || !root["rules"] || !root["rules"].IsSequence()) {
    return absl::InvalidArgumentError("rules: Required value (a list of rules)");
  }
  Policy policy;
  const YAML::Node rules = root["rules"];
  for (size_t i = 0; i < rules.size(); ++i) {
    absl::StatusOr<Rule> rule;
    try {
      rule = ParseRule(rules[i], absl::StrCat("rules[", i, "]"));
    } catch (const YAML::Exception& e) {
      rule = absl::InvalidArgumentError(absl::StrCat("rules[", i, "]: ", e.what()));
    }
    if (!rule.ok()) return rule.status();
    policy.rules_.push_back(*std::move(rule));
  }
  return policy;
}

bool Policy::Binds(const Rule& rule, const Identity& identity) const {
  if (identity.anonymous()) return false;
  if (std::find(rule.identities.begin(), rule.identities.end(), identity.name) !=
      rule.identities.end()) {
    return true;
  }
  for (const std::string& g : identity.groups) {
    if (std::find(rule.groups.begin(), rule.groups.end(), g) != rule.groups.end()) return true;
  }
  return false;
}

Role Policy::RoleIn(const Identity& identity, absl::string_view ns) const {
  Role best = Role::kNone;
  for (const Rule& rule : rules_) {
    if (rule.role <= best || !Binds(rule, identity)) continue;
    const bool covers = rule.namespaces.empty() ||
                        (!ns.empty() && std::find(rule.namespaces.begin(), rule.namespaces.end(),
                                                  ns) != rule.namespaces.end());
    if (covers) best = rule.role;
  }
  return best;
}

NamespaceFilter Policy::Namespaces(const Identity& identity, Role role) const {
  absl::flat_hash_set<std::string> allowed;
  for (const Rule& rule : rules_) {
    if (rule.role < role || !Binds(rule, identity)) continue;
    if (rule.namespaces.empty()) return NamespaceFilter();
    allowed.insert(rule.namespaces.begin(), rule.namespaces.end());
  }
  return NamespaceFilter(std::move(allowed));
}

}  // namespace slicekeeper::auth
