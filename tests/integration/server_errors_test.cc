// Integration tests against the real slicekeeper binary: validation errors name the field path
// and apply nothing of the batch, unknown services are NOT_FOUND, and the batch size limit holds.
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/server_fixture.h"

namespace slicekeeper::integration {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

struct BadChange {
  const char* family;
  std::function<void(v1::EndpointChange&)> spoil;
  // "<field path>: <rule>" as common/validation.cc renders it.
  const char* error;
};

const std::vector<BadChange>& BadChanges() {
  static const auto* kCases = new std::vector<BadChange>{
      {"bad IPv4 address",
       [](v1::EndpointChange& c) {
         c.set_address_type("IPv4");
         c.mutable_endpoint()->set_addresses(0, "10.0.0.256");
       },
       "changes[1].endpoint.addresses[0]: must be a valid IPv4 address"},
      {"loopback address",
       [](v1::EndpointChange& c) { c.mutable_endpoint()->set_addresses(0, "127.0.0.1"); },
       "changes[1].endpoint.addresses[0]: may not be in the loopback range"},
      {"bad hostname",
       [](v1::EndpointChange& c) { c.mutable_endpoint()->set_hostname("Not_A_Label"); },
       "changes[1].endpoint.hostname: must be a DNS-1123 label"},
      {"too many addresses",
       [](v1::EndpointChange& c) {
         for (int i = 2; i <= 101; ++i)
           c.mutable_endpoint()->add_addresses(absl::StrCat("10.9.0.", i));
       },
       "changes[1].endpoint.addresses: must have at most 100 items"},
      {"bad port name", [](v1::EndpointChange& c) { c.mutable_ports(0)->set_name("HTTP"); },
       "changes[1].ports[0].name: must be a DNS-1123 label"},
      {"duplicate port names", [](v1::EndpointChange& c) { *c.add_ports() = Port("http", 8081); },
       "changes[1].ports[1].name: duplicate value"},
      {"bad protocol", [](v1::EndpointChange& c) { c.mutable_ports(0)->set_protocol("ICMP"); },
       "changes[1].ports[0].protocol: must be TCP, UDP or SCTP"},
      {"bad namespace", [](v1::EndpointChange& c) { c.set_namespace_("Bad_NS"); },
       "changes[1].namespace: must be a DNS-1123 label"},
  };
  return *kCases;
}

using ServerErrorTest = ServerTest;

// Each validation family, sent as [good change, bad change] over ApplyChanges, is
// INVALID_ARGUMENT naming changes[1]'s field, and neither change is visible afterwards.
TEST_F(ServerErrorTest, ValidationNamesFieldPathAndAppliesNothing) {
  auto base = Apply({Upsert("shop", "web", "10.1.0.1")});
  ASSERT_TRUE(base.status.ok()) << Describe(base.status);
  for (const BadChange& bad : BadChanges()) {
    SCOPED_TRACE(bad.family);
    v1::EndpointChange spoiled = Upsert("shop", "web2", "10.1.0.2");
    bad.spoil(spoiled);
    auto rejected = Apply({Upsert("shop", "web", "10.1.0.50"), spoiled});
    EXPECT_EQ(rejected.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(rejected.status.error_message(), HasSubstr(bad.error));
    EXPECT_THAT(rejected.status.error_message(), Not(HasSubstr("changes[0]")));

    EXPECT_THAT(Addresses("shop", "web"), ElementsAre("10.1.0.1"));
    EXPECT_EQ(Query("shop", "web2").status.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(Revision(), base.response.revision());
  }
}

// Over StreamChanges a bad batch becomes an ack with code INVALID_ARGUMENT and the field path,
// applies nothing, and the stream goes on.
TEST_F(ServerErrorTest, StreamAckCarriesValidationErrorAndStreamContinues) {
  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = registry()->StreamChanges(&context);
  v1::EndpointChange bad = Upsert("shop", "web", "10.1.0.3");
  bad.mutable_endpoint()->set_hostname("Not_A_Label");
  ASSERT_TRUE(stream->Write(Batch({Upsert("shop", "web", "10.1.0.1")}, 1)));
  ASSERT_TRUE(stream->Write(Batch({Upsert("shop", "web", "10.1.0.2"), bad}, 2)));
  ASSERT_TRUE(stream->Write(Batch({Upsert("shop", "web", "10.1.0.4")}, 3)));
  ASSERT_TRUE(stream->WritesDone());
  v1::ChangeAck acks[3];
  for (v1::ChangeAck& ack : acks) ASSERT_TRUE(stream->Read(&ack));
  v1::ChangeAck extra;
  EXPECT_FALSE(stream->Read(&extra));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << Describe(status);

  EXPECT_EQ(acks[0].code(), 0);
  EXPECT_EQ(acks[1].batch_id(), 2u);
  EXPECT_EQ(acks[1].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(acks[1].revision(), 0);
  EXPECT_THAT(acks[1].message(),
              HasSubstr("changes[1].endpoint.hostname: must be a DNS-1123 label"));
  EXPECT_EQ(acks[2].code(), 0);
  EXPECT_EQ(acks[2].revision(), acks[0].revision() + 1);
  EXPECT_THAT(Addresses("shop", "web"), ElementsAre("10.1.0.1", "10.1.0.4"));
}

// ReplaceEndpoints, UpsertService and PutEndpointSlice name their own field paths, and a
// rejected ReplaceEndpoints leaves the service as it was.
TEST_F(ServerErrorTest, OtherWritesNameTheirFieldPaths) {
  auto base = Apply({Upsert("shop", "web", "10.1.0.1")});
  ASSERT_TRUE(base.status.ok()) << Describe(base.status);

  v1::ReplaceEndpointsRequest replace;
  replace.set_namespace_("shop");
  replace.set_service("web");
  for (const char* ip : {"10.1.0.7", "10.1.0.300"}) {
    v1::DesiredEndpoint* d = replace.add_endpoints();
    d->set_address_type("IPv4");
    d->mutable_endpoint()->add_addresses(ip);
  }
  auto replaced = Call(registry(), &Registry::Stub::ReplaceEndpoints, replace);
  EXPECT_EQ(replaced.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(replaced.status.error_message(),
              HasSubstr("endpoints[1].endpoint.addresses[0]: must be a valid IPv4 address"));
  EXPECT_THAT(Addresses("shop", "web"), ElementsAre("10.1.0.1"));

  v1::UpsertServiceRequest service;
  service.mutable_service()->set_namespace_("shop");
  service.mutable_service()->set_name("Web");
  auto upserted = Call(registry(), &Registry::Stub::UpsertService, service);
  EXPECT_EQ(upserted.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(upserted.status.error_message(), HasSubstr("name: must be a DNS-1123 label"));

  v1::PutEndpointSliceRequest put;
  put.mutable_slice()->mutable_metadata()->set_name("ext-1");
  put.mutable_slice()->mutable_metadata()->set_namespace_("shop");
  (*put.mutable_slice()->mutable_metadata()->mutable_labels())["kubernetes.io/service-name"] =
      "ext";
  put.mutable_slice()->set_address_type("IPv5");
  auto slice = Call(registry(), &Registry::Stub::PutEndpointSlice, put);
  EXPECT_EQ(slice.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(slice.status.error_message(), HasSubstr("addressType: must be IPv4, IPv6 or FQDN"));
  EXPECT_EQ(Revision(), base.response.revision());
}

// QueryEndpoints of an unknown service is NOT_FOUND naming it; a missing service is
// INVALID_ARGUMENT.
TEST_F(ServerErrorTest, QueryUnknownServiceIsNotFound) {
  ASSERT_TRUE(Apply({Upsert("shop", "web", "10.1.0.1")}).status.ok());
  auto missing = Query("shop", "nope");
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(missing.status.error_message(), HasSubstr("shop/nope"));
  EXPECT_EQ(Query("other", "web").status.error_code(), grpc::StatusCode::NOT_FOUND);
  auto unnamed = Query("shop", "");
  EXPECT_EQ(unnamed.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(unnamed.status.error_message(), HasSubstr("service"));
}

class SmallBatchTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraArgs() const override { return {"--max_batch_changes=10"}; }
};

std::vector<v1::EndpointChange> Changes(int n) {
  std::vector<v1::EndpointChange> changes;
  for (int i = 1; i <= n; ++i) changes.push_back(Upsert("shop", "web", absl::StrCat("10.1.0.", i)));
  return changes;
}

// With --max_batch_changes=10, an 11-change batch is RESOURCE_EXHAUSTED naming the limit (unary
// and as a stream ack) and applies nothing; a 10-change batch is accepted.
TEST_F(SmallBatchTest, OverLimitBatchIsResourceExhausted) {
  auto over = Apply(Changes(11));
  EXPECT_EQ(over.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(over.status.error_message(), HasSubstr("--max_batch_changes=10"));
  EXPECT_EQ(Query("shop", "web").status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Revision(), 0);

  grpc::ClientContext context;
  SetDeadline(context);
  auto stream = registry()->StreamChanges(&context);
  ASSERT_TRUE(stream->Write(Batch(Changes(11), 1)));
  ASSERT_TRUE(stream->Write(Batch(Changes(10), 2)));
  ASSERT_TRUE(stream->WritesDone());
  v1::ChangeAck refused, accepted;
  ASSERT_TRUE(stream->Read(&refused));
  ASSERT_TRUE(stream->Read(&accepted));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << Describe(status);
  EXPECT_EQ(refused.batch_id(), 1u);
  EXPECT_EQ(refused.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_THAT(refused.message(), HasSubstr("--max_batch_changes=10"));
  EXPECT_EQ(accepted.code(), 0);
  EXPECT_EQ(accepted.stats().endpoints_added(), 10);
  EXPECT_EQ(accepted.revision(), 1);
}

}  // namespace
}  // namespace slicekeeper::integration
