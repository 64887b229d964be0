// skctl: the slicekeeper CLI. Parses flags and dispatches to one command (client/skctl/*.cc);
// usage in docs/skctl.md.
#include <cstdio>
#include <string>

#include "client/skctl/commands.h"
#include "client/skctl/flags.h"

int main(int argc, char** argv) {
  namespace sk = slicekeeper::skctl;
  auto args = sk::ParseArgs(argc, argv);
  if (!args.ok()) return sk::UsageError(std::string(args.status().message()));
  if (args->empty()) {
    std::fputs(sk::UsageText(), stderr);
    return sk::kExitUsage;
  }
  const std::string command = args->front();
  const sk::Args rest(args->begin() + 1, args->end());
  if (command == "apply") return sk::RunApply(rest);
  if (command == "get") return sk::RunGet(rest);
  if (command == "query") return sk::RunQuery(rest);
  if (command == "watch") return sk::RunWatch(rest);
  if (command == "delete") return sk::RunDelete(rest);
  if (command == "churn") return sk::RunChurn(rest);
  if (command == "health") return sk::RunHealth(rest);
  if (command == "top") return sk::RunTop(rest);
  if (command == "help") {
    std::fputs(sk::UsageText(), stdout);
    return sk::kExitOk;
  }
  return sk::UsageError("unknown command \"" + command + "\" for \"skctl\"");
}
