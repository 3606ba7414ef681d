// ischia-replay: developer aid (docs/accuracy.md). Runs stages 3-6 (tuberosities, tendons,
// tears, measurements) again on the images an `ischia run` wrote with ISCHIA_DEBUG_IMAGES=1,
// without reading or preprocessing the study: a change to the analysis can be measured over
// many studies in seconds each (scripts/evaluate.py --replay).
#include <CLI/CLI.hpp>
#include <iostream>

#include "run_analysis.h"

int main(int argc, char** argv) {
  CLI::App app{"ischia-replay: stages 3-6 again on OUT_DIR/debug/ of a run made with "
               "ISCHIA_DEBUG_IMAGES=1"};
  std::string debugDir, outDir, config;
  app.add_option("debug_dir", debugDir, "OUT_DIR/debug of an earlier run")->required();
  app.add_option("--out", outDir, "where to write labels.nii.gz and result.json")->required();
  app.add_option("--config", config, "run config (JSON), as for ischia run");
  CLI11_PARSE(app, argc, argv);
  try {
    return ischia::ReplayAnalysis(debugDir, outDir,
                                  config.empty() ? std::nullopt
                                                 : std::optional<std::filesystem::path>(config));
  } catch (const std::exception& e) {
    std::cerr << "ischia-replay: " << e.what() << "\n";
    return 2;
  }
}
