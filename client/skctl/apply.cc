// skctl apply -f FILE|-: validates every document first, then writes them in order.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "client/skctl/commands.h"
#include "client/skctl/documents.h"
#include "client/skctl/flags.h"

namespace slicekeeper::skctl {
namespace {

absl::StatusOr<std::string> ReadInput(const std::string& file) {
  std::stringstream buffer;
  if (file == "-") {
    buffer << std::cin.rdbuf();
    return buffer.str();
  }
  std::ifstream in(file);
  if (!in) return absl::NotFoundError(absl::StrCat("the path \"", file, "\" does not exist"));
  buffer << in.rdbuf();
  return buffer.str();
}

// kubectl's verbs: created, configured, unchanged.
int ApplySlice(client::Client& c, const v1::EndpointSlice& slice) {
  const std::string& ns = slice.metadata().namespace_();
  const std::string& name = slice.metadata().name();
  std::string before;
  if (!name.empty()) {
    auto existing = c.GetEndpointSlice(ns, name);
    if (existing.ok()) {
      before = existing->slice().metadata().resource_version();
    } else if (existing.status().code() != absl::StatusCode::kNotFound) {
      return ServerError(existing.status());
    }
  }
  auto put = c.PutEndpointSlice(slice);
  if (!put.ok()) return ServerError(put.status());
  const std::string& after = put->slice().metadata().resource_version();
  const char* verb = before.empty() ? "created" : before == after ? "unchanged" : "configured";
  std::printf("endpointslice.discovery.k8s.io/%s %s\n", put->slice().metadata().name().c_str(),
              verb);
  return kExitOk;
}

int ApplyChanges(client::Client& c, const v1::ChangeBatch& batch, int document) {
  auto ack = c.ApplyChanges(batch);
  if (!ack.ok()) return ServerError(ack.status());
  if (ack->code() != 0) {
    return ServerError(absl::Status(static_cast<absl::StatusCode>(ack->code()), ack->message()));
  }
  const v1::BatchStats& s = ack->stats();
  std::printf(
      "endpointchanges/document-%d applied: %d changes, revision %lld, endpoints +%lld ~%lld "
      "-%lld, slices +%lld ~%lld -%lld\n",
      document, batch.changes_size(), static_cast<long long>(ack->revision()),
      static_cast<long long>(s.endpoints_added()), static_cast<long long>(s.endpoints_updated()),
      static_cast<long long>(s.endpoints_removed()), static_cast<long long>(s.slices_created()),
      static_cast<long long>(s.slices_updated()), static_cast<long long>(s.slices_deleted()));
  return kExitOk;
}

}  // namespace

int RunApply(const Args& args) {
  const std::string file = absl::GetFlag(FLAGS_filename);
  if (file.empty()) return UsageError("must specify one of -f and -k");
  if (!args.empty()) return UsageError(absl::StrCat("unexpected argument \"", args[0], "\""));
  absl::StatusOr<std::string> text = ReadInput(file);
  if (!text.ok()) return UsageError(std::string(text.status().message()));
  const bool namespace_flag = !absl::GetFlag(FLAGS_namespace).empty();
  auto items = ParseDocuments(file == "-" ? "<stdin>" : file, *text, Namespace(), namespace_flag);
  if (!items.ok()) return UsageError(std::string(items.status().message()));
  std::unique_ptr<client::Client> c = MakeClient();
  int rc = kExitOk;
  for (const ApplyItem& item : *items) {
    int r = std::holds_alternative<v1::EndpointSlice>(item.object)
                ? ApplySlice(*c, std::get<v1::EndpointSlice>(item.object))
                : ApplyChanges(*c, std::get<v1::ChangeBatch>(item.object), item.document);
    if (r != kExitOk) rc = r;
  }
  return rc;
}

}  // namespace slicekeeper::skctl
