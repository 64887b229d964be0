// The Kubernetes API's writes over real HTTP: create, replace, patch and delete through the
// store's validation, with optimistic concurrency, and the Status of every refusal — after which
// nothing was applied.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/k8s/api_fixture.h"

namespace slicekeeper::k8s {
namespace {

using ::testing::HasSubstr;

constexpr char kBody[] = R"({"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice",)"
                         R"("metadata":{"name":"web-1","labels":{"kubernetes.io/service-name":"web"}},)"
                         R"("addressType":"IPv4","endpoints":[{"addresses":["10.1.2.3"]}],)"
                         R"("ports":[{"name":"http","port":80,"protocol":"TCP"}]})";

class WriteTest : public ApiTest {
 protected:
  testing::HttpReply Send(absl::string_view method, absl::string_view target,
                          absl::string_view body,
                          absl::string_view type = "application/json") {
    return Request(method, target, body, {{"Content-Type", std::string(type)}});
  }
  // The Status of a refused request, checked to have left the store untouched.
  Value Refused(absl::string_view method, absl::string_view target, absl::string_view body,
                int code, absl::string_view type = "application/json") {
    const int64_t before = store_->revision();
    testing::HttpReply r = Send(method, target, body, type);
    EXPECT_EQ(r.status, code) << r.body;
    EXPECT_EQ(store_->revision(), before) << "a refused write applied something";
    const Value status = Json(r.body);
    EXPECT_EQ(At(status, {"kind"}).string_value(), "Status");
    EXPECT_EQ(At(status, {"code"}).number_value(), code);
    return status;
  }
  std::string One() { return absl::StrCat(kSlices, "/web-1"); }
};

// POST creates (201) with the server's fields; a second create of the name is AlreadyExists.
TEST_F(WriteTest, Create) {
  testing::HttpReply r = Send("POST", kSlices, kBody);
  ASSERT_EQ(r.status, 201) << r.body;
  const Value created = Json(r.body);
  EXPECT_EQ(At(created, {"metadata", "namespace"}).string_value(), "ns");
  EXPECT_EQ(At(created, {"metadata", "generation"}).number_value(), 1);
  EXPECT_FALSE(At(created, {"metadata", "uid"}).string_value().empty());
  EXPECT_EQ(store_->GetSlice("ns", "web-1")->first->endpoints[0]->addresses(0), "10.1.2.3");
  EXPECT_EQ(At(Refused("POST", kSlices, kBody, 409), {"reason"}).string_value(), "AlreadyExists");
  // generateName picks a free name.
  std::string generated = kBody;
  generated.replace(generated.find(R"("name":"web-1")"), 14, R"("generateName":"web-")");
  testing::HttpReply g = Send("POST", kSlices, generated);
  ASSERT_EQ(g.status, 201) << g.body;
  EXPECT_THAT(At(Json(g.body), {"metadata", "name"}).string_value(), HasSubstr("web-"));
}

// An invalid object is 422 Invalid with a cause naming each bad field.
TEST_F(WriteTest, InvalidObjectIs422) {
  std::string bad = kBody;
  bad.replace(bad.find("10.1.2.3"), 8, "127.0.0.1");
  bad.replace(bad.find("\"http\""), 6, "\"HTTP\"");
  const Value status = Refused("POST", kSlices, bad, 422);
  EXPECT_EQ(At(status, {"reason"}).string_value(), "Invalid");
  std::vector<std::string> fields;
  for (const Value& c : At(status, {"details", "causes"}).list_value().values()) {
    fields.push_back(At(c, {"field"}).string_value());
  }
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre("endpoints[0].addresses[0]",
                                                      "ports[0].name"));
  EXPECT_THAT(At(status, {"message"}).string_value(),
              HasSubstr("EndpointSlice.discovery.k8s.io \"web-1\" is invalid"));
}

// Bodies are checked before the store: JSON, types, unknown fields (Strict), kind, namespace.
TEST_F(WriteTest, MalformedBodies) {
  Refused("POST", kSlices, "{", 400);
  std::string unknown = kBody;
  unknown.replace(unknown.find(R"("addressType")"), 0, R"("spec":{},)");
  EXPECT_THAT(At(Refused("POST", absl::StrCat(kSlices, "?fieldValidation=Strict"), unknown, 400),
                 {"message"}).string_value(),
              HasSubstr("strict decoding error: unknown field \"spec\""));
  // Warn (the default) drops the field and says so.
  testing::HttpReply warned = Send("POST", kSlices, unknown);
  EXPECT_EQ(warned.status, 201);
  EXPECT_THAT(warned.headers["warning"], HasSubstr("unknown field"));
  ASSERT_OK(store_->DeleteSlice("ns", "web-1"));
  std::string kind = kBody;
  kind.replace(kind.find("\"EndpointSlice\""), 15, "\"Pod\"");
  Refused("POST", kSlices, kind, 400);
  std::string other_ns = kBody;
  other_ns.replace(other_ns.find(R"("name":"web-1")"), 0, R"("namespace":"x",)");
  Refused("POST", kSlices, other_ns, 400);
  Refused("POST", kSlices, kBody, 415, "application/yaml");
  std::string ours = kBody;
  ours.replace(ours.find(R"("kubernetes.io/service-name":"web")"), 0,
               R"("endpointslice.kubernetes.io/managed-by":"endpointslice-controller.slicekeeper.io",)");
  EXPECT_EQ(At(Refused("POST", kSlices, ours, 422), {"reason"}).string_value(), "Invalid");
  Refused("POST", kAllSlices, kBody, 405);
  // A dry run is refused rather than applied for real.
  EXPECT_THAT(At(Refused("POST", absl::StrCat(kSlices, "?dryRun=All"), kBody, 400), {"message"})
                  .string_value(),
              HasSubstr("dryRun is not supported"));
}

// PUT replaces under optimistic concurrency: a stale resourceVersion is a Conflict, a missing
// object NotFound, a new service-name label Invalid.
TEST_F(WriteTest, Replace) {
  ASSERT_EQ(Send("POST", kSlices, kBody).status, 201);
  const std::string rv = absl::StrCat(store_->GetSlice("ns", "web-1")->first->resource_version);
  std::string update = kBody;
  update.replace(update.find(R"("name":"web-1")"), 0,
                 absl::StrCat(R"("resourceVersion":")", rv, R"(",)"));
  update.replace(update.find("10.1.2.3"), 8, "10.1.2.4");
  testing::HttpReply r = Send("PUT", One(), update);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(At(Json(r.body), {"metadata", "generation"}).number_value(), 2);
  EXPECT_EQ(At(Refused("PUT", One(), update, 409), {"reason"}).string_value(), "Conflict");
  Refused("PUT", absl::StrCat(kSlices, "/other"), kBody, 400);  // name differs from the URL
  std::string missing = kBody;
  missing.replace(missing.find("web-1"), 5, "web-9");
  Refused("PUT", absl::StrCat(kSlices, "/web-9"), missing, 404);
  std::string moved = kBody;
  moved.replace(moved.find(R"(service-name":"web")"), 19, R"(service-name":"api")");
  EXPECT_THAT(At(Refused("PUT", One(), moved, 422), {"message"}).string_value(),
              HasSubstr("field is immutable"));
}

// PATCH: merge, JSON and strategic (as merge) patches; directives and apply are refused.
TEST_F(WriteTest, Patch) {
  ASSERT_EQ(Send("POST", kSlices, kBody).status, 201);
  testing::HttpReply merge = Send("PATCH", One(), R"({"metadata":{"labels":{"tier":"a"}}})",
                                  "application/merge-patch+json");
  ASSERT_EQ(merge.status, 200) << merge.body;
  EXPECT_EQ(At(Json(merge.body), {"metadata", "labels", "tier"}).string_value(), "a");
  testing::HttpReply json = Send(
      "PATCH", One(), R"([{"op":"replace","path":"/endpoints/0/addresses/0","value":"10.9.9.9"}])",
      "application/json-patch+json");
  ASSERT_EQ(json.status, 200) << json.body;
  EXPECT_EQ(store_->GetSlice("ns", "web-1")->first->endpoints[0]->addresses(0), "10.9.9.9");
  testing::HttpReply smp = Send("PATCH", One(), R"({"metadata":{"labels":{"tier":null}}})",
                                "application/strategic-merge-patch+json");
  ASSERT_EQ(smp.status, 200) << smp.body;
  EXPECT_EQ(store_->GetSlice("ns", "web-1")->first->meta->labels().count("tier"), 0u);
  Refused("PATCH", One(), R"({"$retainKeys":[]})", 400, "application/strategic-merge-patch+json");
  Refused("PATCH", One(), "x: 1", 400, "application/apply-patch+yaml");
  Refused("PATCH", One(), R"({"metadata":{"resourceVersion":"1"},"addressType":"IPv4"})", 409,
          "application/merge-patch+json");
  Refused("PATCH", One(), R"({"endpoints":[{"addresses":["bad"]}]})", 422,
          "application/merge-patch+json");
}

// DELETE returns the deleted object and honours DeleteOptions' preconditions.
TEST_F(WriteTest, Delete) {
  ASSERT_EQ(Send("POST", kSlices, kBody).status, 201);
  Refused("DELETE", One(), R"({"preconditions":{"resourceVersion":"999"}})", 409);
  Refused("DELETE", One(), R"({"preconditions":{"uid":"nope"}})", 409);
  testing::HttpReply r = Request("DELETE", One());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(At(Json(r.body), {"metadata", "resourceVersion"}).string_value(),
            absl::StrCat(store_->revision()));
  EXPECT_EQ(At(Refused("DELETE", One(), "", 404), {"reason"}).string_value(), "NotFound");
}

// Slices that slicekeeper distributes cannot be written through this API.
TEST_F(WriteTest, ManagedSlicesAreReadOnly) {
  v1::EndpointChange c;
  c.set_op(v1::EndpointChange::UPSERT);
  c.set_namespace_("ns");
  c.set_service("web");
  c.mutable_endpoint()->add_addresses("10.2.0.1");
  ASSERT_OK(store_->ApplyChanges({c}));
  const std::string name = store_->GetService("ns", "web")->slices[0]->name;
  EXPECT_EQ(At(Refused("DELETE", absl::StrCat(kSlices, "/", name), "", 409), {"reason"})
                .string_value(),
            "Conflict");
}

}  // namespace
}  // namespace slicekeeper::k8s
