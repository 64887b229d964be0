#include "client/skctl/yaml_reader.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace slicekeeper::skctl {
namespace {

using google::protobuf::Value;

// Plain scalars are typed as JSON would type them; quoted ones stay strings; keys are text.
TEST(YamlReaderTest, ScalarsMapsAndSequences) {
  YamlRead r = ReadYamlDocuments("a: 1\nb: '1'\nc: [true, ~, x]\n5: five\n");
  ASSERT_FALSE(r.error.has_value()) << r.error->message;
  ASSERT_EQ(r.documents.size(), 1u);
  const auto& f = r.documents[0].struct_value().fields();
  EXPECT_EQ(f.at("a").number_value(), 1);
  EXPECT_EQ(f.at("b").string_value(), "1");
  const auto& c = f.at("c").list_value();
  ASSERT_EQ(c.values_size(), 3);
  EXPECT_TRUE(c.values(0).bool_value());
  EXPECT_EQ(c.values(1).kind_case(), Value::kNullValue);
  EXPECT_EQ(c.values(2).string_value(), "x");
  EXPECT_EQ(f.at("5").string_value(), "five");
}

// Several documents, empty ones as null; anchors and aliases copy values, also as map keys.
TEST(YamlReaderTest, DocumentsAndAliases) {
  YamlRead r = ReadYamlDocuments("a: &x {k: v}\nb: *x\n---\n---\n- &n 7\n- {*n : seven}\n");
  ASSERT_FALSE(r.error.has_value()) << r.error->message;
  ASSERT_EQ(r.documents.size(), 3u);
  EXPECT_EQ(
      r.documents[0].struct_value().fields().at("b").struct_value().fields().at("k").string_value(),
      "v");
  EXPECT_EQ(r.documents[1].kind_case(), Value::kNullValue);
  const auto& list = r.documents[2].list_value();
  EXPECT_EQ(list.values(0).number_value(), 7);
  EXPECT_EQ(list.values(1).struct_value().fields().at("7").string_value(), "seven");
}

// Inputs on which yaml-cpp 0.7's LoadAll loops forever or grows without bound end with an error
// (the first one was found by fuzz/documents_fuzz.cc).
TEST(YamlReaderTest, MalformedInputsEndWithAnError) {
  // fuzz/corpus/documents/regression-loadall-loop.json
  const std::string found_by_fuzzing =
      "{\"apiVe\x86\x8cion\":\"v1\",\"kind\":\"List\",\"itemse\":\"web-abc\",\""
      "namespace\":\"default\",\"labels\":{\"kubernetes.io/service-name\":\"web"
      "\"}},\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":[\"10.1.2.3"
      "\"],\"conditions\":{\"ready\":true},\"zone\":\"a\"}],\"ports\":[{\"name"
      "\":\"http\",\"port\":80,\"pr\"conditions\":{\"ready\":true},\"zone\":\"a"
      "\"}],\"ports\":[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\"}]}]}"
      "\n";
  for (const std::string& text : {found_by_fuzzing, std::string(",\n"), std::string("[:")}) {
    YamlRead r = ReadYamlDocuments(text);
    EXPECT_TRUE(r.error.has_value()) << text;
  }
}

// Aliases that double at every level ("billion laughs") stop at the expansion bound.
TEST(YamlReaderTest, AliasExpansionIsBounded) {
  std::string text = "a0: &a0 [\"" + std::string(1000, 'x') + "\"]\n";
  for (int i = 1; i <= 30; ++i) {
    absl::StrAppend(&text, "a", i, ": &a", i, " [*a", i - 1, ", *a", i - 1, "]\n");
  }
  YamlRead r = ReadYamlDocuments(text);
  ASSERT_TRUE(r.error.has_value());
  EXPECT_NE(r.error->message.find("64 MiB"), std::string::npos) << r.error->message;
}

}  // namespace
}  // namespace slicekeeper::skctl
