// ischia run STUDY_DIR --out OUT_DIR [--threads N] [--config FILE]
#include <iostream>

#include "cli.h"
#include "run_analysis.h"

namespace ischia {

void AddRunCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand("run",
                                 "Analyse one study: series, preprocessing, both ischial "
                                 "tuberosities, hamstring tendons, tears, measurements, grades "
                                 "and report");
  auto options = std::make_shared<RunOptions>();
  auto config = std::make_shared<std::string>();
  cmd->add_option("STUDY_DIR", options->studyDir, "Folder holding the study's DICOM files")
      ->required();
  cmd->add_option("--out", options->outDir, "Output folder (result.json is written there)")
      ->required();
  cmd->add_option("--threads", options->threads, "Threads for ITK and OpenMP (0: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--config", *config, "JSON file overriding the default parameters");
  cmd->add_flag("--no-pdf", options->noPdf,
                "Write report.html only (no report.pdf, no Chromium); config key report.pdf");
  cmd->add_flag("!--no-render", options->render,
                "Skip the 3D renders and key images (meshes and numbers are still written)");
  cmd->callback([=] {
    if (!config->empty()) options->configPath = *config;
    nlohmann::json result;
    *exitCode = RunStudyAnalysis(*options, &result);
    std::cout << "result: " << (options->outDir / "result.json").string() << " (status "
              << result["status"].get<std::string>();
    if (result["error"].is_object()) {
      std::cout << ", " << result["error"]["code"].get<std::string>() << ": "
                << result["error"]["message"].get<std::string>();
    }
    std::cout << ")\n";
    for (const auto& w : result["warnings"]) {
      std::cerr << "ischia: warning: " << w.get<std::string>() << "\n";
    }
    for (const auto& [stage, seconds] : result["timings_s"].items()) {
      std::cout << "  " << stage << ": " << seconds.get<double>() << " s\n";
    }
  });
}

}  // namespace ischia
