#pragma once
#include <CLI/CLI.hpp>

namespace ischia {

// Exit codes shared by every command.
enum ExitCode : int {
  kExitOk = 0,
  kExitProcessingFailure = 1,  // the input was read but could not be analysed
  kExitUsageOrInput = 2,       // usage error, or unreadable / missing input
};

// Thrown by commands for a usage or unreadable-input error (exit 2); other std::exceptions
// that reach RunCli are processing failures (exit 1).
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Each command file adds its subcommand; the callback stores its exit code in `*exitCode`.
void AddInspectCommand(CLI::App& app, int* exitCode);
void AddPhantomCommand(CLI::App& app, int* exitCode);
void AddDemoCommand(CLI::App& app, int* exitCode);
void AddRunCommand(CLI::App& app, int* exitCode);
void AddBatchCommands(CLI::App& app, int* exitCode);  // batch, merge, cohort
void AddReportCommand(CLI::App& app, int* exitCode);
void AddRenderCommand(CLI::App& app, int* exitCode);
void AddViewCommand(CLI::App& app, int* exitCode);

int RunCli(int argc, char** argv);

}  // namespace ischia
