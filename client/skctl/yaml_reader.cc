#include "client/skctl/yaml_reader.h"

#include <cstdint>
#include <sstream>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/mark.h"
#include "yaml-cpp/yaml.h"

namespace slicekeeper::skctl {
namespace {

using google::protobuf::Value;

// A plain scalar as JSON would type it; quoted scalars ("!" tag) stay strings.
Value ScalarValue(const std::string& tag, const std::string& s) {
  Value v;
  int64_t i;
  if (tag == "!") {
    v.set_string_value(s);
  } else if (s == "null" || s == "~" || s == "Null" || s == "NULL" || s.empty()) {
    v.set_null_value(google::protobuf::NULL_VALUE);
  } else if (s == "true" || s == "True" || s == "TRUE") {
    v.set_bool_value(true);
  } else if (s == "false" || s == "False" || s == "FALSE") {
    v.set_bool_value(false);
  } else if (s.find_first_not_of("-+0123456789") == std::string::npos && absl::SimpleAtoi(s, &i)) {
    v.set_number_value(static_cast<double>(i));
  } else {
    v.set_string_value(s);
  }
  return v;
}

Value Null() {
  Value v;
  v.set_null_value(google::protobuf::NULL_VALUE);
  return v;
}

// Builds one document's value from the parser's events with an explicit stack (no recursion).
class ValueBuilder final : public YAML::EventHandler {
 public:
  explicit ValueBuilder(size_t* alias_budget) : alias_budget_(alias_budget) {}

  bool has_root() const { return has_root_; }
  Value TakeRoot() { return std::move(root_); }
  // Set when an alias expanded past the budget.
  bool over_budget() const { return over_budget_; }
  // The mark of the first event, and whether the document was one null and nothing else.
  const YAML::Mark& first_mark() const { return first_mark_; }
  bool only_null() const { return events_ == 1 && null_root_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Seen(mark);
    null_root_ = stack_.empty();
    Add(Null(), anchor, "");
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Seen(mark);
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) return Add(Null(), 0, "");
    const size_t bytes = it->second.first.ByteSizeLong();
    if (bytes > *alias_budget_) {
      over_budget_ = true;
      return Add(Null(), 0, "");
    }
    *alias_budget_ -= bytes;
    Add(it->second.first, 0, it->second.second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Seen(mark);
    Add(ScalarValue(tag, value), anchor, value);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Seen(mark);
    Value v;
    v.mutable_list_value();
    stack_.push_back(Frame{std::move(v), anchor, false, std::nullopt});
  }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Seen(mark);
    Value v;
    v.mutable_struct_value();
    stack_.push_back(Frame{std::move(v), anchor, true, std::nullopt});
  }
  void OnSequenceEnd() override { Pop(); }
  void OnMapEnd() override { Pop(); }

 private:
  struct Frame {
    Value value;
    YAML::anchor_t anchor;
    bool is_map;
    std::optional<std::string> key;  // a map's key waiting for its value
  };

  void Seen(const YAML::Mark& mark) {
    if (events_++ == 0) first_mark_ = mark;
  }

  void Pop() {
    if (stack_.empty()) return;
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    Add(std::move(f.value), f.anchor, "");
  }

  // `text`: the node's text when it is a map key (a scalar's value, "" otherwise).
  void Add(Value v, YAML::anchor_t anchor, const std::string& text) {
    if (anchor != 0) anchors_[anchor] = {v, text};
    if (stack_.empty()) {
      root_ = std::move(v);
      has_root_ = true;
      return;
    }
    Frame& f = stack_.back();
    if (!f.is_map) {
      *f.value.mutable_list_value()->add_values() = std::move(v);
    } else if (!f.key.has_value()) {
      f.key = text;
    } else {
      (*f.value.mutable_struct_value()->mutable_fields())[*f.key] = std::move(v);
      f.key.reset();
    }
  }

  size_t* const alias_budget_;
  std::vector<Frame> stack_;
  // Each anchor's value and, for a scalar, its text (a map key through an alias).
  absl::flat_hash_map<YAML::anchor_t, std::pair<Value, std::string>> anchors_;
  Value root_;
  bool has_root_ = false;
  bool over_budget_ = false;
  bool null_root_ = false;
  int events_ = 0;
  YAML::Mark first_mark_;
};

}  // namespace

YamlRead ReadYamlDocuments(const std::string& text) {
  YamlRead out;
  std::istringstream in(text);
  size_t alias_budget = kMaxAliasExpansionBytes;
  std::optional<YAML::Mark> last_null;
  try {
    YAML::Parser parser(in);
    while (true) {
      ValueBuilder builder(&alias_budget);
      if (!parser.HandleNextDocument(builder)) break;
      if (builder.over_budget()) {
        out.error = YamlError{builder.first_mark().line, builder.first_mark().column,
                              "aliases expand the document past 64 MiB"};
        return out;
      }
      // yaml-cpp 0.7 can report the same empty document forever without consuming input.
      if (builder.only_null()) {
        const YAML::Mark& m = builder.first_mark();
        if (last_null.has_value() && last_null->pos == m.pos) {
          out.error = YamlError{m.line, m.column, "unexpected token"};
          return out;
        }
        last_null = m;
      }
      out.documents.push_back(builder.has_root() ? builder.TakeRoot() : Null());
    }
  } catch (const YAML::Exception& e) {
    out.error = YamlError{e.mark.line, e.mark.column, e.msg};
  }
  return out;
}

}  // namespace slicekeeper::skctl
