#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/validation.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/query/label_selector.h"
#include "tests/test_util.h"

namespace slicekeeper::query {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Op = LabelSelector::Op;

google::protobuf::Map<std::string, std::string> Labels(
    std::initializer_list<std::pair<const std::string, std::string>> kv) {
  google::protobuf::Map<std::string, std::string> m;
  for (const auto& [k, v] : kv) m[k] = v;
  return m;
}

LabelSelector MustParse(const std::string& text) {
  absl::StatusOr<LabelSelector> s = LabelSelector::Parse(text);
  EXPECT_TRUE(s.ok()) << text << ": " << s.status();
  return s.ok() ? *s : LabelSelector();
}

// Every operator of kubectl's syntax parses into the right requirement, whitespace tolerated.
TEST(LabelSelectorTest, ParsesEveryOperator) {
  LabelSelector s = MustParse(
      " a=b , c==d,e!=f,  g in (y, x ,x), h notin(z),i,!j,kubernetes.io/service-name=web,k=");
  const auto& r = s.requirements();
  ASSERT_EQ(r.size(), 9u);
  EXPECT_EQ(r[0].key, "a");
  EXPECT_EQ(r[0].op, Op::kEquals);
  EXPECT_THAT(r[0].values, ElementsAre("b"));
  EXPECT_EQ(r[1].op, Op::kEquals);
  EXPECT_THAT(r[1].values, ElementsAre("d"));
  EXPECT_EQ(r[2].op, Op::kNotEquals);
  EXPECT_EQ(r[3].op, Op::kIn);
  EXPECT_THAT(r[3].values, ElementsAre("x", "y"));  // sorted, unique
  EXPECT_EQ(r[4].op, Op::kNotIn);
  EXPECT_THAT(r[4].values, ElementsAre("z"));
  EXPECT_EQ(r[5].key, "i");
  EXPECT_EQ(r[5].op, Op::kExists);
  EXPECT_EQ(r[6].key, "j");
  EXPECT_EQ(r[6].op, Op::kDoesNotExist);
  EXPECT_EQ(r[7].key, "kubernetes.io/service-name");
  EXPECT_THAT(r[7].values, ElementsAre("web"));
  EXPECT_EQ(r[8].key, "k");
  EXPECT_THAT(r[8].values, ElementsAre(""));
}

// The empty (or blank) selector has no requirements and matches everything.
TEST(LabelSelectorTest, EmptyMatchesEverything) {
  for (const char* text : {"", "   "}) {
    LabelSelector s = MustParse(text);
    EXPECT_TRUE(s.empty());
    EXPECT_TRUE(s.Matches(Labels({})));
    EXPECT_TRUE(s.Matches(Labels({{"a", "b"}})));
  }
}

// Syntax errors are INVALID_ARGUMENT naming the position of the offending token.
TEST(LabelSelectorTest, SyntaxErrorsReportPosition) {
  struct Case {
    const char* text;
    const char* expected;
  };
  const Case cases[] = {
      {"a in ()", "position 6: empty value set"},
      {"a in (x", "position 7: expected ',' or ')'"},
      {"a in x", "position 5: expected '('"},
      {"=a", "position 0: expected a label key"},
      {"a b", "position 2: expected one of"},
      {"a,", "position 2: expected a label key"},
      {",a", "position 0: expected a label key"},
      {"a=b c", "position 4: expected ',' or end"},
      {"a=b=c", "position 3: expected ',' or end"},
      {"!", "position 1: expected a label key"},
      {"!a=b", "position 2: expected ',' or end"},
      {"a<3", "position 1: operator '<' not supported"},
      {"a=(b)", "position 2: expected a value"},
      {"-a=b", "position 0: \"-a\": key must be a qualified name"},
      {"a=b_", "position 2: \"b_\": value must be a valid label value"},
      {"Bad.Prefix/a=b", "position 0: \"Bad.Prefix/a\": key must be a qualified name"},
      {"a in (x,y))", "position 10: expected ',' or end"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(LabelSelector::Parse(c.text),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.expected)))
        << c.text;
  }
  std::string long_value = "a=" + std::string(64, 'v');
  EXPECT_THAT(LabelSelector::Parse(long_value),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("value must be a valid label value")));
}

// A selector key or value is accepted exactly when it is valid on an object's labels, and is
// rejected with the same rule text (one home for the label rules: common/validation.h).
TEST(LabelSelectorTest, KeysAndValuesFollowObjectLabelRules) {
  const std::string long_prefix = std::string(250, 'p') + ".com/a";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"app", "web"},      {"a-.b/c", "x"},  // prefix label ending in '-'
      {"a..b/c", "x"},     {"example.com/a", "x"},
      {long_prefix, "x"},  {std::string(64, 'k'), "x"},
      {"a/b/c", "x"},      {"app", "-web"},
      {"app", "w.e_b"},    {"x.Y/z", "v"},
  };
  for (const auto& [key, value] : cases) {
    v1::EndpointSlice slice;
    slice.mutable_metadata()->set_name("s");
    slice.mutable_metadata()->set_namespace_("ns");
    slice.set_address_type("IPv4");
    (*slice.mutable_metadata()->mutable_labels())[key] = value;
    absl::Status object = validation::ValidateEndpointSlice(slice, "slice");
    absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(key + "=" + value);
    EXPECT_EQ(object.ok(), selector.ok()) << key << "=" << value << ": " << object;
    for (const char* rule : {validation::kRuleLabelKey, validation::kRuleLabelValueOf}) {
      EXPECT_EQ(absl::StrContains(object.message(), rule),
                absl::StrContains(selector.status().message(), rule))
          << key << "=" << value << ": " << rule;
    }
  }
}

// Matching follows Kubernetes: != and notin also match objects without the key.
TEST(LabelSelectorTest, MatchingSemantics) {
  auto labels = Labels({{"app", "web"}, {"tier", "front"}, {"empty", ""}});
  EXPECT_TRUE(MustParse("app=web").Matches(labels));
  EXPECT_FALSE(MustParse("app=db").Matches(labels));
  EXPECT_TRUE(MustParse("app==web,tier").Matches(labels));
  EXPECT_FALSE(MustParse("app!=web").Matches(labels));
  EXPECT_TRUE(MustParse("missing!=x").Matches(labels));
  EXPECT_TRUE(MustParse("app in (db, web)").Matches(labels));
  EXPECT_FALSE(MustParse("app in (db)").Matches(labels));
  EXPECT_FALSE(MustParse("missing in (x)").Matches(labels));
  EXPECT_FALSE(MustParse("app notin (web)").Matches(labels));
  EXPECT_TRUE(MustParse("missing notin (x)").Matches(labels));
  EXPECT_TRUE(MustParse("!missing").Matches(labels));
  EXPECT_FALSE(MustParse("!app").Matches(labels));
  EXPECT_FALSE(MustParse("missing").Matches(labels));
  EXPECT_TRUE(MustParse("empty=").Matches(labels));
  EXPECT_FALSE(MustParse("app=").Matches(labels));
  // All requirements must hold.
  EXPECT_FALSE(MustParse("app=web,tier=back").Matches(labels));
}

}  // namespace
}  // namespace slicekeeper::query
