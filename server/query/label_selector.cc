// kubectl's label selector syntax (k8s.io/apimachinery/pkg/labels/selector.go): a small lexer and
// a recursive-descent parser that report the byte position of the offending token.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "common/validation.h"
#include "server/query/label_selector.h"

namespace slicekeeper::query {
namespace {

enum class Tok { kIdent, kIn, kNotIn, kComma, kOpen, kClose, kEq, kDoubleEq, kNotEq, kBang, kEnd };

struct Token {
  Tok kind;
  std::string text;
  size_t pos;
};

bool IsSpecial(char c) {
  return c == '(' || c == ')' || c == ',' || c == '!' || c == '=' || c == '<' || c == '>';
}

absl::Status SyntaxError(size_t pos, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("label selector: position ", pos, ": ", what));
}

absl::StatusOr<std::vector<Token>> Lex(absl::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    size_t start = i;
    auto two = [&](char next) { return i + 1 < s.size() && s[i + 1] == next; };
    if (c == '(' || c == ')' || c == ',') {
      out.push_back({c == '(' ? Tok::kOpen : c == ')' ? Tok::kClose : Tok::kComma, "", start});
      ++i;
    } else if (c == '=') {
      bool dbl = two('=');
      out.push_back({dbl ? Tok::kDoubleEq : Tok::kEq, "", start});
      i += dbl ? 2 : 1;
    } else if (c == '!') {
      bool ne = two('=');
      out.push_back({ne ? Tok::kNotEq : Tok::kBang, "", start});
      i += ne ? 2 : 1;
    } else if (c == '<' || c == '>') {
      return SyntaxError(start, absl::StrCat("operator '", std::string(1, c), "' not supported"));
    } else {
      while (i < s.size() && !IsSpecial(s[i]) &&
             !absl::ascii_isspace(static_cast<unsigned char>(s[i]))) {
        ++i;
      }
      std::string word(s.substr(start, i - start));
      Tok kind = word == "in" ? Tok::kIn : word == "notin" ? Tok::kNotIn : Tok::kIdent;
      out.push_back({kind, std::move(word), start});
    }
  }
  out.push_back({Tok::kEnd, "", s.size()});
  return out;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  absl::StatusOr<std::vector<LabelSelector::Requirement>> ParseAll() {
    std::vector<LabelSelector::Requirement> out;
    if (Peek().kind == Tok::kEnd) return out;
    while (true) {
      SK_ASSIGN_OR_RETURN(LabelSelector::Requirement r, ParseRequirement());
      out.push_back(std::move(r));
      const Token& t = Next();
      if (t.kind == Tok::kEnd) return out;
      if (t.kind != Tok::kComma) return SyntaxError(t.pos, "expected ',' or end of selector");
    }
  }

 private:
  const Token& Peek() const { return tokens_[next_]; }
  const Token& Next() { return tokens_[next_ == tokens_.size() - 1 ? next_ : next_++]; }

  absl::StatusOr<std::string> Key() {
    const Token& t = Next();
    if (t.kind != Tok::kIdent) return SyntaxError(t.pos, "expected a label key");
    if (!validation::IsLabelKey(t.text)) {
      return SyntaxError(t.pos, absl::StrCat("\"", t.text, "\": ", validation::kRuleLabelKey));
    }
    return t.text;
  }

  // A value after =, == or !=: an identifier, or nothing (the empty value) before ',' or the end.
  absl::StatusOr<std::string> Value(bool allow_empty) {
    const Token& t = Peek();
    if (allow_empty && (t.kind == Tok::kComma || t.kind == Tok::kEnd || t.kind == Tok::kClose)) {
      return std::string();
    }
    Next();
    // "in" and "notin" are ordinary values after an operator.
    if (t.kind != Tok::kIdent && t.kind != Tok::kIn && t.kind != Tok::kNotIn) {
      return SyntaxError(t.pos, "expected a value");
    }
    if (!validation::IsLabelValue(t.text)) {
      return SyntaxError(t.pos, absl::StrCat("\"", t.text, "\": ", validation::kRuleLabelValueOf));
    }
    return t.text;
  }

  // "(" [value {"," value}] ")", at least one value.
  absl::StatusOr<std::vector<std::string>> ValueSet() {
    const Token& open = Next();
    if (open.kind != Tok::kOpen) return SyntaxError(open.pos, "expected '('");
    if (Peek().kind == Tok::kClose) return SyntaxError(Peek().pos, "empty value set");
    std::vector<std::string> values;
    while (true) {
      SK_ASSIGN_OR_RETURN(std::string v, Value(/*allow_empty=*/true));
      values.push_back(std::move(v));
      const Token& t = Next();
      if (t.kind == Tok::kClose) return values;
      if (t.kind != Tok::kComma) return SyntaxError(t.pos, "expected ',' or ')'");
    }
  }

  absl::StatusOr<LabelSelector::Requirement> ParseRequirement();

  std::vector<Token> tokens_;
  size_t next_ = 0;
};

absl::StatusOr<LabelSelector::Requirement> Parser::ParseRequirement() {
  using Op = LabelSelector::Op;
  LabelSelector::Requirement r;
  if (Peek().kind == Tok::kBang) {
    Next();
    SK_ASSIGN_OR_RETURN(r.key, Key());
    r.op = Op::kDoesNotExist;
    return r;
  }
  SK_ASSIGN_OR_RETURN(r.key, Key());
  const Token& op = Peek();
  switch (op.kind) {
    case Tok::kComma:
    case Tok::kEnd:
      r.op = Op::kExists;
      return r;
    case Tok::kEq:
    case Tok::kDoubleEq:
    case Tok::kNotEq: {
      Next();
      r.op = op.kind == Tok::kNotEq ? Op::kNotEquals : Op::kEquals;
      SK_ASSIGN_OR_RETURN(std::string v, Value(/*allow_empty=*/true));
      r.values.push_back(std::move(v));
      return r;
    }
    case Tok::kIn:
    case Tok::kNotIn: {
      Next();
      r.op = op.kind == Tok::kIn ? Op::kIn : Op::kNotIn;
      SK_ASSIGN_OR_RETURN(r.values, ValueSet());
      std::sort(r.values.begin(), r.values.end());
      r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
      return r;
    }
    default:
      return SyntaxError(op.pos, "expected one of '=', '==', '!=', 'in', 'notin', ',' or end");
  }
}

}  // namespace

absl::StatusOr<LabelSelector> LabelSelector::Parse(absl::string_view text) {
  SK_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(text));
  Parser parser(std::move(tokens));
  LabelSelector selector;
  SK_ASSIGN_OR_RETURN(selector.requirements_, parser.ParseAll());
  return selector;
}

bool LabelSelector::Matches(const google::protobuf::Map<std::string, std::string>& labels) const {
  for (const Requirement& r : requirements_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    bool in = has && std::binary_search(r.values.begin(), r.values.end(), it->second);
    bool ok = false;
    switch (r.op) {
      case Op::kExists:
        ok = has;
        break;
      case Op::kDoesNotExist:
        ok = !has;
        break;
      case Op::kEquals:
      case Op::kIn:
        ok = in;
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        ok = !in;
        break;
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace slicekeeper::query
