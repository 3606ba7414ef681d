// ischia view OUT_DIR [--study DIR] [--screenshot FILE]: interactive 3D and slice viewer of a
// finished run; --screenshot renders one frame into a PNG (works headless, through Xvfb).
#include <iostream>

#include "cli.h"
#include "finished_run.h"
#include "viewer.h"

namespace ischia {
namespace fs = std::filesystem;

void AddViewCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand("view",
                                 "Interactive viewer of a finished run (3D scene and "
                                 "axial slices with the labels)");
  auto out = std::make_shared<std::string>();
  auto study = std::make_shared<std::string>();
  auto shot = std::make_shared<std::string>();
  cmd->add_option("OUT_DIR", *out, "Output folder of ischia run")->required();
  cmd->add_option("--study", *study, "Study folder, when it moved since the run");
  cmd->add_option("--screenshot", *shot, "Render one frame into this PNG and exit");
  cmd->callback([=] {
    const fs::path outDir = *out;
    FinishedRun run = LoadFinishedRun(
        outDir, study->empty() ? std::nullopt : std::optional<fs::path>(fs::path(*study)));
    for (const auto& w : run.warnings) std::cerr << "ischia: warning: " << w << "\n";
    ViewerInput in;
    in.image = run.fluid.GetPointer();
    in.anatomy = run.t1.GetPointer();
    in.labels = run.labels.GetPointer();
    if (run.left.found) in.tipLeft = run.left.tipLps;
    if (run.right.found) in.tipRight = run.right.tipLps;
    double maxThickness = 0;
    for (const SideOverlay* s : {&run.left, &run.right})
      for (const auto& sec : s->profile) maxThickness = std::max(maxThickness, sec.thicknessMm);
    in.thicknessMaxMm = std::max(15.0, 5.0 * std::ceil(maxThickness / 5.0));
    for (const char* side : {"left", "right"})
      for (const char* structure : {"bone", "tendon", "tear"}) {
        const fs::path p = outDir / "meshes" / (std::string(structure) + "_" + side + ".vtp");
        if (fs::exists(p)) in.surfaces[std::string(structure) + "_" + side] = ReadSurface(p);
      }
    if (in.surfaces.empty())
      std::cerr << "ischia: warning: no meshes in " << (outDir / "meshes").string() << "\n";
    in.title = run.result.value("study", nlohmann::json::object())
                   .value("study_instance_uid", std::string("study"));
    try {
      RunViewer(in, shot->empty() ? std::nullopt : std::optional<fs::path>(fs::path(*shot)));
    } catch (const std::runtime_error& e) {
      throw InputError(e.what());
    }
    if (!shot->empty()) std::cout << "view: wrote " << *shot << "\n";
    *exitCode = kExitOk;
  });
}

}  // namespace ischia
