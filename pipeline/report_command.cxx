// ischia report OUT_DIR [--no-pdf]: (re)writes report.html and report.pdf from OUT_DIR/result.json
// and the images and meshes it lists; result.json itself is left as it is.
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "report.h"

namespace ischia {

void AddReportCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand(
      "report", "Write OUT_DIR/report.html and report.pdf again from OUT_DIR/result.json");
  auto outDir = std::make_shared<std::string>();
  auto noPdf = std::make_shared<bool>(false);
  cmd->add_option("OUT_DIR", *outDir, "Output folder of ischia run (holds result.json)")
      ->required();
  cmd->add_flag("--no-pdf", *noPdf, "Write report.html only");
  cmd->callback([=] {
    const std::filesystem::path dir(*outDir);
    std::ifstream in(dir / "result.json");
    if (!in) throw InputError("no result.json in " + dir.string());
    nlohmann::json result;
    try {
      result = nlohmann::json::parse(in);
    } catch (const std::exception& e) {
      throw InputError((dir / "result.json").string() + " is not JSON: " + e.what());
    }
    ReportOptions options;
    options.writePdf = !*noPdf;
    const ReportOutcome outcome = WriteReport(result, dir, options);
    if (outcome.htmlWritten) {
      std::cout << "report: " << (dir / "report.html").string() << " ("
                << (outcome.interactive3d ? "with" : "without") << " the interactive 3D view"
                << (outcome.viewerNote.empty() ? "" : ": " + outcome.viewerNote) << ")\n";
    }
    if (outcome.pdfWritten) std::cout << "report: " << (dir / "report.pdf").string() << "\n";
    std::cout << "  html " << outcome.htmlBytes << " bytes in " << outcome.htmlSeconds << " s; pdf "
              << outcome.pdfBytes << " bytes in " << outcome.pdfSeconds << " s\n";
    for (const std::string& w : outcome.warnings) std::cout << "  warning: " << w << "\n";
    *exitCode = outcome.htmlWritten ? kExitOk : kExitProcessingFailure;
  });
}

}  // namespace ischia
