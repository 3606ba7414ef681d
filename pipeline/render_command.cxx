// ischia render OUT_DIR [--study DIR]: (re)makes the meshes, 3D renders and key images of a
// finished run (e.g. one run with --no-render) and updates result.json's "outputs".
#include <iostream>

#include "atomic_output.h"
#include "cli.h"
#include "finished_run.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

void AddRenderCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand(
      "render", "Make the meshes, 3D renders and key images of a finished run (after --no-render)");
  auto out = std::make_shared<std::string>();
  auto study = std::make_shared<std::string>();
  cmd->add_option("OUT_DIR", *out, "Output folder of ischia run")->required();
  cmd->add_option("--study", *study, "Study folder, when it moved since the run");
  cmd->callback([=] {
    const fs::path outDir = *out;
    FinishedRun run = LoadFinishedRun(
        outDir, study->empty() ? std::nullopt : std::optional<fs::path>(fs::path(*study)));
    StudyVisualsInput in;
    in.fluid = run.fluid.GetPointer();
    in.anatomy = run.t1.GetPointer();
    in.labels = run.labels.GetPointer();
    in.midlineXmm = run.midlineXmm;
    in.fluidName = run.fluidName;
    in.anatomyName = run.t1Name;
    in.left = run.left;
    in.right = run.right;
    const StudyVisualsOutput v = WriteStudyVisuals(in, outDir);
    json& o = run.result["outputs"];
    o["render"] = true;
    o["images"] = v.images;
    o["meshes"] = v.meshes;
    o["skipped_structures"] = v.skipped;
    o["warnings"] = v.warnings;
    for (const auto& w : run.warnings) o["warnings"].push_back(w);
    o["display"] = v.display;
    o["timings_s"] = v.timingsS;
    o["made_by"] = "ischia render (scanner intensities, not bias-corrected)";
    WriteFileAtomically(outDir / "result.json",
                        run.result.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    for (const auto& w : o["warnings"])
      std::cerr << "ischia: warning: " << w.get<std::string>() << "\n";
    std::cout << "render: " << v.images.size() << " images, " << v.meshes.size()
              << " mesh files in " << outDir.string() << "\n";
    *exitCode = kExitOk;
  });
}

}  // namespace ischia
