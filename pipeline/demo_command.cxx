// ischia demo --out DIR: the main job on a built-in synthetic study. Until the analysis exists
// it generates a study with known ground truth and inspects it.
#include <iostream>
#include <sstream>

#include "atomic_output.h"
#include "cli.h"
#include "inspect.h"
#include "phantom.h"

namespace ischia {
namespace fs = std::filesystem;

void AddDemoCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand("demo", "Generate the built-in synthetic demo study and run what "
                                         "ischia can do on it");
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
    });
    std::cout << "\ndemo: outputs in " << outDir.string() << "\n"
              << "  study/          the synthetic DICOM study (axial T1, axial PD fat-sat, "
                 "coronal STIR, 3-plane localizer)\n"
              << "  study/truth/    its ground truth (truth.json, labels.nii.gz)\n"
              << "  inspect.txt     what ischia inspect found (inspect.json for machines)\n";
    *exitCode = kExitOk;
  });
}

}  // namespace ischia
