#include "cli.h"

#include <iostream>

#include "ischia/version.h"

namespace ischia {

int RunCli(int argc, char** argv) {
  CLI::App app{"ischia: proximal hamstring tendon analysis of pelvis MRI studies"};
  app.set_version_flag("--version", kVersion);
  app.require_subcommand(1);
  int exitCode = kExitOk;
  AddInspectCommand(app, &exitCode);
  AddPhantomCommand(app, &exitCode);
  AddDemoCommand(app, &exitCode);
  AddRunCommand(app, &exitCode);
  AddBatchCommands(app, &exitCode);
  AddReportCommand(app, &exitCode);
  AddRenderCommand(app, &exitCode);
  AddViewCommand(app, &exitCode);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsageOrInput;
  } catch (const InputError& e) {
    std::cerr << "ischia: error: " << e.what() << "\n";
    return kExitUsageOrInput;
  } catch (const std::exception& e) {
    std::cerr << "ischia: error: " << e.what() << "\n";
    return kExitProcessingFailure;
  }
  return exitCode;
}

}  // namespace ischia
