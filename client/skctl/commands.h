// skctl's commands, one file each. Each takes the positional arguments after the command name
// (flags are already parsed into the absl flags) and returns the process exit code (flags.h).
//
// Thread-safety: each runs on the main thread; churn starts its own reader thread internally.
#ifndef SLICEKEEPER_CLIENT_SKCTL_COMMANDS_H_
#define SLICEKEEPER_CLIENT_SKCTL_COMMANDS_H_

#include <string>
#include <vector>

namespace slicekeeper::skctl {

using Args = std::vector<std::string>;

int RunApply(const Args& args);
int RunGet(const Args& args);
int RunQuery(const Args& args);
int RunWatch(const Args& args);
int RunDelete(const Args& args);
int RunChurn(const Args& args);
int RunHealth(const Args& args);
int RunTop(const Args& args);

}  // namespace slicekeeper::skctl

#endif  // SLICEKEEPER_CLIENT_SKCTL_COMMANDS_H_
