// Label and field selectors of list and watch requests.
#include "server/k8s/filter.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace slicekeeper::k8s {
namespace {

using ::slicekeeper::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

SlicePtr MakeSlice(const std::string& ns, const std::string& name, const std::string& service) {
  v1::EndpointSlice s;
  s.mutable_metadata()->set_namespace_(ns);
  s.mutable_metadata()->set_name(name);
  (*s.mutable_metadata()->mutable_labels())[kLabelServiceName] = service;
  return SliceFromProto(s);
}

bool Selects(absl::string_view ns, absl::string_view labels, absl::string_view fields,
             const SlicePtr& slice) {
  absl::StatusOr<Filter> f = Filter::Parse(ns, labels, fields);
  EXPECT_OK(f);
  return f.ok() && f->Matches(*slice);
}

// Field selectors on metadata.name / metadata.namespace with =, == and !=, all of them required.
TEST(FilterTest, FieldSelectors) {
  const SlicePtr s = MakeSlice("prod", "web-1", "web");
  EXPECT_TRUE(Selects("", "", "metadata.name=web-1", s));
  EXPECT_TRUE(Selects("", "", "metadata.name==web-1,metadata.namespace=prod", s));
  EXPECT_FALSE(Selects("", "", "metadata.name=web-1,metadata.namespace!=prod", s));
  EXPECT_TRUE(Selects("", "", " metadata.name != web-2 ", s));
  EXPECT_FALSE(Selects("dev", "", "", s));
  EXPECT_TRUE(Selects("prod", "kubernetes.io/service-name in (api,web)", "", s));
  EXPECT_FALSE(Selects("prod", "kubernetes.io/service-name=api", "", s));
  // A backslash escapes a comma or '=' inside a value.
  EXPECT_TRUE(Selects("", "", "metadata.name=a\\,b", MakeSlice("prod", "a,b", "web")));
}

// Other fields and malformed selectors are refused with the apiserver's wording.
TEST(FilterTest, Errors) {
  EXPECT_THAT(Filter::Parse("", "", "spec.x=1"),
              StatusIs(absl::StatusCode::kInvalidArgument, "field label not supported: spec.x"));
  EXPECT_THAT(Filter::Parse("", "", "metadata.name"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("can't understand")));
  EXPECT_THAT(Filter::Parse("", "a in (", ""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("position")));
}

// A service-name requirement narrows the services a watch subscribes to.
TEST(FilterTest, ServicesFromLabels) {
  EXPECT_THAT(Filter::Parse("", "kubernetes.io/service-name in (b,a)", "")->services(),
              ElementsAre("a", "b"));
  EXPECT_THAT(Filter::Parse("", "kubernetes.io/service-name=a,x=y", "")->services(),
              ElementsAre("a"));
  EXPECT_THAT(Filter::Parse("", "kubernetes.io/service-name!=a", "")->services(), IsEmpty());
  EXPECT_TRUE(Filter::Parse("ns", "", "")->everything());
  EXPECT_FALSE(Filter::Parse("ns", "", "metadata.name=x")->everything());
}

}  // namespace
}  // namespace slicekeeper::k8s
