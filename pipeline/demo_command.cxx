// ischia demo --out DIR: the main job on a built-in synthetic study: generate a study with
// known ground truth, inspect it, analyse it, and show the measurements next to the truth.
#include <iostream>
#include <sstream>

#include "atomic_output.h"
#include "cli.h"
#include "inspect.h"
#include "phantom.h"
#include "run_analysis.h"

namespace ischia {
namespace fs = std::filesystem;

void AddDemoCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand("demo", "Generate the built-in synthetic demo study, inspect and "
                                         "analyse it");
  auto out = std::make_shared<std::string>("demo-out");
  cmd->add_option("--out", *out, "Output folder (replaced)")->capture_default_str();
  cmd->callback([=] {
    const fs::path outDir = fs::absolute(*out);
    PhantomOptions options;
    options.seed = 20261124;
    options.left.pathology = PhantomCase::Normal;
    options.right.pathology = PhantomCase::PartialTear;
    std::cout << "demo: generating a synthetic pelvis MRI study (seed " << options.seed
              << ", left normal, right partial tear)...\n";
    PhantomStudyTruth truth;
    CreateDirectoryAtomically(outDir, [&](const fs::path& tmp) {
      truth = GeneratePhantomStudy(options, tmp / "study");
      InspectReport report = InspectFolder(tmp / "study", /*readPixels=*/true);
      report.root = outDir / "study";  // where it will be once complete
      std::ostringstream table;
      PrintInspectTable(report, table);
      WriteFileAtomically(tmp / "inspect.txt", table.str());
      WriteFileAtomically(tmp / "inspect.json", InspectReportToJson(report).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      std::cout << table.str();
      std::cout << "\ndemo: analysing the study (ischia run)...\n";
      RunOptions run;
      run.studyDir = tmp / "study";
      run.outDir = tmp / "run";
      nlohmann::json result;
      RunStudyAnalysis(run, &result);
      for (const char* side : {"left", "right"}) {
        const auto& s = result["sides"][side];
        const auto& t = side == std::string("left") ? truth.left : truth.right;
        std::cout << "  " << side << ": truth " << ToString(t.pathology) << ", thickness "
                  << t.maximum.thicknessMm << " mm; measured ";
        if (!s.value("found", false)) {
          std::cout << "not found (" << s.value("reason", std::string()) << ")\n";
          continue;
        }
        std::cout << s["grade"].get<std::string>() << ", thickness "
                  << s["tendon"]["thickness_mm"].get<double>() << " mm, tear "
                  << s["tear"]["type"].get<std::string>() << "\n";
      }
    });
    std::cout << "\ndemo: outputs in " << outDir.string() << "\n"
              << "  study/          the synthetic DICOM study (axial T1, axial PD fat-sat, "
                 "coronal STIR, 3-plane localizer)\n"
              << "  study/truth/    its ground truth (truth.json, labels.nii.gz)\n"
              << "  inspect.txt     what ischia inspect found (inspect.json for machines)\n"
              << "  run/            ischia run's result.json, labels.nii.gz, report.html, report.pdf,\n"
              << "                  meshes/ (vtp, stl), renders/ (3D) and key_images/ (axial, coronal)\n"
              << "                  as PNG; ischia view " << (outDir / "run").string() << " opens them\n";
    *exitCode = kExitOk;
  });
}

}  // namespace ischia
