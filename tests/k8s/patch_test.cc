// PATCH documents: JSON merge patch, strategic merge patch (as merge, without directives) and
// JSON patch, on protobuf Values.
#include "server/k8s/internal/patch.h"

#include <string>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/k8s/codec.h"
#include "tests/test_util.h"

namespace slicekeeper::k8s::internal {
namespace {

using ::google::protobuf::Value;
using ::slicekeeper::testing::StatusIs;
using ::testing::HasSubstr;

Value J(const std::string& json) {
  absl::StatusOr<Value> v = ParseJson(json);
  EXPECT_OK(v);
  return v.ok() ? *v : Value();
}

MATCHER_P(JsonEq, want, "") {
  if (google::protobuf::util::MessageDifferencer::Equals(arg, want)) return true;
  std::string got;
  google::protobuf::util::MessageToJsonString(arg, &got);
  *result_listener << "got " << got;
  return false;
}

// RFC 7386: objects merge, null deletes, everything else (lists too) replaces.
TEST(PatchTest, MergePatch) {
  Value doc = J(R"({"a":{"b":1,"c":2},"l":[1,2],"k":"v"})");
  MergePatch(J(R"({"a":{"b":null,"d":3},"l":[3],"k":null,"n":{"x":null}})"), &doc);
  EXPECT_THAT(doc, JsonEq(J(R"({"a":{"c":2,"d":3},"l":[3],"n":{}})")));
}

// Strategic merge patches of EndpointSlices are merge patches; directives are refused.
TEST(PatchTest, StrategicMergePatch) {
  Value doc = J(R"({"metadata":{"labels":{"a":"1"}}})");
  ASSERT_OK(StrategicMergePatch(J(R"({"metadata":{"labels":{"b":"2"}}})"), &doc));
  EXPECT_THAT(doc, JsonEq(J(R"({"metadata":{"labels":{"a":"1","b":"2"}}})")));
  EXPECT_THAT(StrategicMergePatch(J(R"({"metadata":{"$setElementOrder/x":[]}})"), &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("$setElementOrder/x")));
}

// RFC 6902 operations, including array inserts, "-", pointer escapes, move, copy and test.
TEST(PatchTest, JsonPatch) {
  Value doc = J(R"({"l":[1,3],"a/b":{"x":1}})");
  ASSERT_OK(JsonPatch(J(R"([{"op":"add","path":"/l/1","value":2},)"
                        R"({"op":"add","path":"/l/-","value":4},)"
                        R"({"op":"replace","path":"/a~1b/x","value":5},)"
                        R"({"op":"copy","from":"/a~1b","path":"/c"},)"
                        R"({"op":"move","from":"/c/x","path":"/m"},)"
                        R"({"op":"remove","path":"/l/0"},)"
                        R"({"op":"test","path":"/m","value":5}])"),
                      &doc));
  EXPECT_THAT(doc, JsonEq(J(R"({"l":[2,3,4],"a/b":{"x":5},"c":{},"m":5})")));
  EXPECT_THAT(JsonPatch(J(R"([{"op":"test","path":"/m","value":6}])"), &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("test of /m failed")));
  EXPECT_THAT(JsonPatch(J(R"([{"op":"remove","path":"/nope"}])"), &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("does not exist")));
  EXPECT_THAT(JsonPatch(J(R"([{"op":"add","path":"/l/9","value":1}])"), &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bad index")));
  EXPECT_THAT(JsonPatch(J(R"({"op":"add"})"), &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("array")));
  EXPECT_THAT(JsonPatch(J(R"([{"op":"frob","path":"/l"}])"), &doc),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown op")));
}

}  // namespace
}  // namespace slicekeeper::k8s::internal
