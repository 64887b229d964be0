// skctl as users run it: the real skctl binary against a real slicekeeper process on a loopback
// port chosen at run time. Every test asserts the output, not just the exit code.
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/client.h"
#include "client/skctl/documents.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/client/run_command.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"
#include "workload/trace_file.h"

namespace slicekeeper {
namespace {

using ::google::protobuf::Value;
using ::slicekeeper::integration::ServerProcess;
using ::slicekeeper::testing::CommandResult;
using ::slicekeeper::testing::RunCommand;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

const std::string kExample = std::string(SK_TESTDATA_DIR) + "/example-slice.yaml";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class SkctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = ServerProcess::Start(
        {.binary = SK_SLICEKEEPER_BINARY, .args = {"--store=memory", "--log_level=warn"}});
    ASSERT_OK(server);
    server_ = std::move(*server);
    client::ClientOptions options;
    options.addresses = {server_->grpc_address()};
    auto c = client::Client::Create(options);
    ASSERT_OK(c);
    client_ = std::move(*c);
    dir_ = ::testing::TempDir();
  }

  // Runs skctl with --server pointing at the test's server.
  CommandResult Skctl(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), SK_SKCTL_BINARY);
    args.push_back("--server=" + server_->grpc_address());
    return RunCommand(args, input);
  }

  std::string WriteTemp(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  int64_t StoreRevision() {
    auto r = client_->ListEndpointSlices({});
    EXPECT_OK(r);
    return r.ok() ? r->revision() : -1;
  }

  int SliceCount() {
    auto r = client_->ListEndpointSlices({});
    EXPECT_OK(r);
    return r.ok() ? r->slices_size() : -1;
  }

  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<client::Client> client_;
  std::string dir_;
};

Value OneDocument(const std::string& text) {
  auto docs = skctl::YamlDocuments(text);
  EXPECT_OK(docs);
  EXPECT_EQ(docs.ok() ? docs->size() : 0u, 1u) << text;
  return docs.ok() && !docs->empty() ? (*docs)[0] : Value();
}

// apply -f of the shared example, then get -o yaml: the same object plus the server's fields.
TEST_F(SkctlTest, ApplyThenGetYamlIsSameObjectPlusServerFields) {
  CommandResult apply = Skctl({"apply", "-f", kExample});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_EQ(apply.out, "endpointslice.discovery.k8s.io/example-abc created\n");

  CommandResult get = Skctl({"get", "slices", "example-abc", "-o", "yaml"});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  Value got = OneDocument(get.out);
  auto& meta = *got.mutable_struct_value()
                    ->mutable_fields()
                    ->at("metadata")
                    .mutable_struct_value()
                    ->mutable_fields();
  EXPECT_EQ(meta["namespace"].string_value(), "default");
  EXPECT_EQ(meta["generation"].number_value(), 1);
  EXPECT_FALSE(meta["uid"].string_value().empty());
  EXPECT_THAT(meta["creationTimestamp"].string_value(), StartsWith("20"));
  EXPECT_GT(std::stoll(meta["resourceVersion"].string_value()), 0);
  // Take the server fields away: what remains is exactly the applied document.
  for (const char* f : {"namespace", "generation", "uid", "creationTimestamp", "resourceVersion"}) {
    meta.erase(f);
  }
  Value original = OneDocument(ReadFile(kExample));
  std::string diff;
  google::protobuf::util::MessageDifferencer d;
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(original, got)) << diff << "\n" << get.out;
}

// Re-applying the same file, or get's own -o yaml / -o json output, changes nothing.
TEST_F(SkctlTest, ReapplyIsNoOp) {
  ASSERT_EQ(Skctl({"apply", "-f", kExample}).exit_code, 0);
  const int64_t revision = StoreRevision();
  CommandResult again = Skctl({"apply", "-f", kExample});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, "endpointslice.discovery.k8s.io/example-abc unchanged\n");
  for (const char* format : {"yaml", "json"}) {
    CommandResult get = Skctl({"get", "slices", "-o", format});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_THAT(get.out, HasSubstr("discovery.k8s.io/v1"));
    CommandResult reapply = Skctl({"apply", "-f", "-"}, get.out);
    EXPECT_EQ(reapply.exit_code, 0) << reapply.err;
    EXPECT_EQ(reapply.out, "endpointslice.discovery.k8s.io/example-abc unchanged\n") << format;
  }
  EXPECT_EQ(StoreRevision(), revision);
}

// A syntax error in the second document: one error line naming file, document and position;
// the valid first document is not applied either.
TEST_F(SkctlTest, MalformedYamlAppliesNothing) {
  const std::string path = WriteTemp("malformed.yaml", ReadFile(kExample) + "---\nfoo: [1, 2\n");
  CommandResult r = Skctl({"apply", "-f", path});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("error: " + path + ": document 1: line "));
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(SliceCount(), 0);
}

// Invalid objects: the error names file, document index and field path; nothing is applied.
TEST_F(SkctlTest, InvalidObjectNamesFieldAndAppliesNothing) {
  const std::string good = ReadFile(kExample);
  struct Case {
    std::string second;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: b\n  labels:\n"
       "    kubernetes.io/service-name: example\naddressType: IPv4\nendpoints:\n"
       "  - addresses: [\"10.1.2.300\"]\n",
       "document 1: endpoints[0].addresses[0]: "},
      {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  nmae: b\n"
       "addressType: IPv4\n",
       "document 1: metadata.nmae: unknown field"},
      {"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: b\n  labels:\n"
       "    kubernetes.io/service-name: example\naddressType: IPv4\nports:\n  - port: http\n",
       "document 1: ports[0].port: expected an integer"},
      {"apiVersion: v1\nkind: Service\n", "document 1: kind: unknown kind \"Service\""},
      {"apiVersion: v1\nkind: List\nitems:\n  - apiVersion: discovery.k8s.io/v1\n"
       "    kind: EndpointSlice\n    metadata: {name: c}\n    addressType: IPv5\n",
       "document 1: items[0].addressType"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteTemp("invalid.yaml", good + "---\n" + c.second);
    CommandResult r = Skctl({"apply", "-f", path});
    EXPECT_EQ(r.exit_code, 2) << c.second;
    EXPECT_EQ(r.out, "");
    EXPECT_THAT(r.err, StartsWith("error: " + path + ": " + c.error)) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  EXPECT_EQ(SliceCount(), 0);
}

// kind: List, multi-document files and EndpointChanges documents all apply, with -n.
TEST_F(SkctlTest, ListMultiDocumentAndChanges) {
  const std::string text = R"(apiVersion: v1
kind: List
items:
  - apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata: {name: db-1, labels: {kubernetes.io/service-name: db}}
    addressType: IPv4
    endpoints: [{addresses: ["10.9.0.1"], zone: z1}]
    ports: [{name: sql, port: 5432}]
---
apiVersion: slicekeeper.io/v1
kind: EndpointChanges
changes:
  - op: UPSERT
    service: web
    endpoint: {addresses: ["10.0.0.1"], conditions: {ready: true}, zone: z1}
    ports: [{name: http, port: 8080}]
  - op: UPSERT
    service: web
    endpoint: {addresses: ["10.0.0.2"], conditions: {ready: false, serving: true, terminating: true}, zone: z2}
    ports: [{name: http, port: 8080}]
)";
  CommandResult r = Skctl({"apply", "-f", "-", "-n", "prod"}, text);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("endpointslice.discovery.k8s.io/db-1 created\n"));
  EXPECT_THAT(r.out, HasSubstr("endpointchanges/document-1 applied: 2 changes"));

  CommandResult services = Skctl({"get", "services", "-n", "prod"});
  ASSERT_EQ(services.exit_code, 0) << services.err;
  EXPECT_EQ(services.out,
            "NAME   SLICES   ENDPOINTS   READY   SERVING   TERMINATING\n"
            "db     1        1           1       1         0\n"
            "web    1        2           1       2         1\n");

  // Routable: the ready one; in z2 (no ready endpoint there) nothing, as zone is a filter.
  CommandResult q = Skctl({"query", "web", "-n", "prod"});
  ASSERT_EQ(q.exit_code, 0) << q.err;
  EXPECT_THAT(q.out, HasSubstr("10.0.0.1"));
  EXPECT_THAT(q.out, Not(HasSubstr("10.0.0.2")));
  CommandResult any = Skctl({"query", "web", "-n", "prod", "--condition=any", "--zone", "z2"});
  EXPECT_THAT(any.out, HasSubstr("10.0.0.2   http:8080/TCP   false   true      true"));

  CommandResult slices = Skctl({"get", "slices", "-A", "-l", "kubernetes.io/service-name=db"});
  ASSERT_EQ(slices.exit_code, 0) << slices.err;
  std::vector<std::string> lines = absl::StrSplit(slices.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << slices.out;
  EXPECT_THAT(lines[0], StartsWith("NAMESPACE   NAME   ADDRESSTYPE   PORTS   ENDPOINTS   AGE"));
  EXPECT_THAT(lines[1], StartsWith("prod        db-1   IPv4          5432    10.9.0.1    "));
}

// Errors print as kubectl prints them, with exit 1 for the server's and 2 for usage errors.
TEST_F(SkctlTest, ErrorsAndExitCodes) {
  CommandResult missing = Skctl({"get", "slices", "nope"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.err,
            "Error from server (NotFound): endpointslices.discovery.k8s.io \"nope\" not found\n");
  CommandResult del = Skctl({"delete", "service", "nope"});
  EXPECT_EQ(del.exit_code, 1);
  EXPECT_EQ(del.err, "Error from server (NotFound): services \"nope\" not found\n");
  CommandResult flag = Skctl({"get", "slices", "--bogus"});
  EXPECT_EQ(flag.exit_code, 2);
  EXPECT_EQ(flag.err, "error: unknown flag: --bogus\n");
  CommandResult kind = Skctl({"get", "pods"});
  EXPECT_EQ(kind.exit_code, 2);
  EXPECT_THAT(kind.err, HasSubstr("doesn't have a resource type \"pods\""));
  CommandResult selector = Skctl({"get", "slices", "-l", "a in ("});
  EXPECT_EQ(selector.exit_code, 1);
  EXPECT_THAT(selector.err, StartsWith("Error from server (Invalid): "));
  CommandResult down =
      RunCommand({SK_SKCTL_BINARY, "get", "slices"}, "", {"SLICEKEEPER_SERVER=127.0.0.1:1"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_THAT(down.err, StartsWith("The connection to the server 127.0.0.1:1 was refused"));
}

// The churn report's expected state and counts match what the server holds afterwards; --record
// writes every batch sent, the fill (4 x 30 changes) marked warmup.
TEST_F(SkctlTest, ChurnReportMatchesServerState) {
  const std::string trace_path = ::testing::TempDir() + "/churn.jsonl";
  CommandResult r =
      Skctl({"churn", "--services=4", "--endpoints=30", "--changes=2000", "--batch=25",
             "--inflight=4", "--seed=3", "-o", "json", "--record=" + trace_path});
  ASSERT_EQ(r.exit_code, 0) << r.err << r.out;
  std::ifstream trace_file(trace_path);
  absl::StatusOr<workload::Trace> trace = workload::ReadTrace(trace_file, "churn");
  ASSERT_OK(trace);
  ASSERT_EQ(trace->batches.size(), 80u);
  EXPECT_EQ(trace->CountChanges(/*measured_only=*/false), 2000);
  EXPECT_EQ(trace->CountChanges(/*measured_only=*/true), 2000 - 4 * 25);
  EXPECT_EQ(trace->batches[0].changes[0].service(), "churn-0");
  Value report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &report).ok()) << r.out;
  const auto& f = report.struct_value().fields();
  EXPECT_EQ(f.at("changesSent").number_value(), 2000);
  EXPECT_EQ(f.at("changesAcked").number_value(), 2000);
  EXPECT_EQ(f.at("batches").number_value(), 80);
  EXPECT_EQ(f.at("batchesFailed").number_value(), 0);
  EXPECT_TRUE(f.at("errorsByCode").struct_value().fields().empty());
  EXPECT_GT(f.at("changesPerSecond").number_value(), 0);
  EXPECT_GE(f.at("ackLatencyMs").struct_value().fields().at("p99").number_value(),
            f.at("ackLatencyMs").struct_value().fields().at("p50").number_value());

  auto services = client_->ListServices("default");
  ASSERT_OK(services);
  std::map<std::string, int64_t> got;
  for (const auto& s : services->services()) {
    got["endpoints"] += s.endpoints().total();
    got["ready"] += s.endpoints().ready();
    got["serving"] += s.endpoints().serving();
    got["terminating"] += s.endpoints().terminating();
  }
  EXPECT_EQ(services->services_size(), 4);
  const auto& expected = f.at("expected").struct_value().fields();
  for (const char* k : {"endpoints", "ready", "serving", "terminating"}) {
    EXPECT_EQ(got[k], static_cast<int64_t>(expected.at(k).number_value())) << k;
  }
  EXPECT_GT(got["endpoints"], 0);
  // The same seed yields the same changes: a second run reports the same expected state.
  CommandResult again = Skctl({"churn", "--services=4", "--endpoints=30", "--changes=2000",
                               "--batch=25", "--inflight=4", "--seed=3", "-o", "json"});
  Value report2;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(again.out, &report2).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      report2.struct_value().fields().at("expected"), f.at("expected")));
}

// watch prints one line per event: the snapshot, SYNCED, and it stops after --max-events.
TEST_F(SkctlTest, WatchPrintsOneLinePerEvent) {
  ASSERT_EQ(Skctl({"apply", "-f", kExample}).exit_code, 0);
  CommandResult r = Skctl({"watch", "slices", "--max-events=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_THAT(lines[0], StartsWith("ADDED rev=1 default/example-abc service=example endpoints=1"));
  EXPECT_EQ(lines[1], "SYNCED rev=1");
}

// health prints SERVING and exits 0 only when the server serves; a service the server does not
// know, or an address where nothing listens, exits 1 with a message and prints no status.
TEST_F(SkctlTest, HealthExitsZeroOnlyWhenServing) {
  CommandResult up = Skctl({"health"});
  EXPECT_EQ(up.exit_code, 0) << up.err;
  EXPECT_EQ(up.out, "SERVING\n");
  CommandResult named = Skctl({"health", "--service=slicekeeper.v1.EndpointDiscovery"});
  EXPECT_EQ(named.exit_code, 0) << named.err;
  EXPECT_EQ(named.out, "SERVING\n");
  CommandResult unknown = Skctl({"health", "--service=nope", "--timeout=5s"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.out, "");
  EXPECT_THAT(unknown.err, HasSubstr("does not know the service \"nope\""));

  CommandResult down = RunCommand({SK_SKCTL_BINARY, "health", "--server=127.0.0.1:1"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_EQ(down.out, "");
  EXPECT_THAT(down.err, StartsWith("The connection to the server 127.0.0.1:1 was refused"));
  // Several addresses: one line per answer, exit 0 only when every one serves.
  const std::string address = server_->grpc_address();
  CommandResult both =
      RunCommand({SK_SKCTL_BINARY, "health", "--server=" + address + ",127.0.0.1:1"});
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_EQ(both.out, address + " SERVING\n");
  EXPECT_EQ(Skctl({"health", "extra"}).exit_code, 2);
}

// --helpfull lists every flag (what tests/deploy/compose_test.py checks docker-compose.yml with).
TEST(SkctlHelpTest, HelpfullListsEveryFlag) {
  CommandResult r = RunCommand({SK_SKCTL_BINARY, "--helpfull"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* flag : {"--server (", "--request-timeout (", "--service (", "--timeout (",
                           "--rate (", "--max-events ("}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace slicekeeper
