// ischia inspect DIR [--json] [--read-pixels]
#include <iostream>

#include "cli.h"
#include "inspect.h"

namespace ischia {

void AddInspectCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand("inspect", "List the studies and series a folder holds, their "
                                            "geometry, roles and problems");
  auto path = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto pixels = std::make_shared<bool>(false);
  cmd->add_option("DIR", *path, "Folder (or file) to scan recursively")->required();
  cmd->add_flag("--json", *json, "Print JSON instead of a table");
  cmd->add_flag("--read-pixels", *pixels, "Also decode every stack's pixel data");
  cmd->callback([=] {
    InspectReport report;
    try {
      report = InspectFolder(*path, *pixels);
    } catch (const std::exception& e) {
      throw InputError(e.what());
    }
    if (*json) {
      // Patient names in legacy character sets are not UTF-8: replace, never throw.
      std::cout << InspectReportToJson(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                << "\n";
    } else {
      PrintInspectTable(report, std::cout);
    }
    if (CountStacks(report) == 0) {
      std::cerr << "ischia: error: no readable DICOM images under " << *path << "\n";
      *exitCode = kExitUsageOrInput;
    }
  });
}

}  // namespace ischia
