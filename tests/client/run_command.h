// RunCommand: runs a program to completion with the given stdin, capturing stdout, stderr and the
// exit code, for tests that drive the real skctl binary.
//
// Thread-safety: safe from any thread (each call uses its own temp files).
#ifndef SLICEKEEPER_TESTS_CLIENT_RUN_COMMAND_H_
#define SLICEKEEPER_TESTS_CLIENT_RUN_COMMAND_H_

#include <string>
#include <vector>

namespace slicekeeper::testing {

struct CommandResult {
  // The exit code, or 128 + signal when the program was killed; -1 when it could not run.
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `argv[0]` (a path) with `argv`, `env` added to the environment ("K=V"), and `input` as
// stdin. Blocks until the program exits (the programs under test bound their own run time with
// request deadlines).
CommandResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "",
                         const std::vector<std::string>& env = {});

}  // namespace slicekeeper::testing

#endif  // SLICEKEEPER_TESTS_CLIENT_RUN_COMMAND_H_
