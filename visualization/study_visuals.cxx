#include "study_visuals.h"

#include <vtkObject.h>
#include <vtkRenderWindow.h>

#include <chrono>
#include <ctime>
#include <stdexcept>

#include "offscreen_display.h"
#include "surfaces.h"
#include "visuals_internal.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

template <typename F>
void Timed(std::map<std::string, double>& t, const std::string& name, F&& f) {
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu = std::clock();
  f();
  t[name] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  t[name + "_cpu"] = double(std::clock() - cpu) / CLOCKS_PER_SEC;
}

void FreshDirectory(const fs::path& dir) {
  std::error_code ec;
  fs::remove_all(dir, ec);
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) {
    throw std::runtime_error("cannot create " + dir.string() + (ec ? ": " + ec.message() : ""));
  }
}

bool SameGrid(const itk::ImageBase<3>& a, const itk::ImageBase<3>& b) {
  if (a.GetLargestPossibleRegion() != b.GetLargestPossibleRegion()) return false;
  for (int i = 0; i < 3; ++i) {
    if (std::fabs(a.GetOrigin()[i] - b.GetOrigin()[i]) > 1e-3) return false;
    if (std::fabs(a.GetSpacing()[i] - b.GetSpacing()[i]) > 1e-4) return false;
    for (int j = 0; j < 3; ++j)
      if (std::fabs(a.GetDirection()[i][j] - b.GetDirection()[i][j]) > 1e-4) return false;
  }
  return true;
}

}  // namespace

namespace {

StudyVisualsOutput WriteVisuals(const StudyVisualsInput& in, const fs::path& outDir,
                                const StudyVisualsOptions& options) {
  if (!in.fluid || !in.labels) {
    throw std::invalid_argument(
        "visuals: the fluid-sensitive image and the label map are required");
  }
  if (!SameGrid(*in.fluid, *in.labels) || (in.anatomy && !SameGrid(*in.fluid, *in.anatomy))) {
    throw std::invalid_argument("visuals: the images and the label map are not in one grid");
  }
  StudyVisualsOutput out;
  SceneContent scene;
  if (in.left.found) scene.tipLeft = in.left.tipLps;
  if (in.right.found) scene.tipRight = in.right.tipLps;

  if (options.meshes) {
    Timed(out.timingsS, "meshes", [&] {
      FreshDirectory(outDir / "meshes");
      SurfaceParameters sp;
      sp.spacingMm = options.meshSpacingMm;
      struct S {
        const char* name;
        std::uint16_t label;
      };
      for (const SideOverlay* side : {&in.left, &in.right}) {
        for (const S& st :
             {S{"bone", kLabelBone}, S{"tendon", kLabelTendon}, S{"tear", kLabelTear}}) {
          const BodySide bs = side->side == "left" ? BodySide::Left : BodySide::Right;
          auto mesh = ExtractLabelSurface(*in.labels, st.label, bs, in.midlineXmm, sp);
          const std::string name = std::string(st.name) + "_" + side->side;
          if (mesh->GetNumberOfPoints() == 0) {
            out.skipped.push_back({{"structure", st.name},
                                   {"side", side->side},
                                   {"reason", "no voxel with this label on this side, or too few for a surface"}});
            continue;
          }
          if (st.label == kLabelTendon) {
            std::vector<std::pair<double, double>> zt;
            for (const auto& sec : side->profile)
              if (sec.thicknessMm > 0) zt.emplace_back(sec.zMm, sec.thicknessMm);
            AddThicknessScalars(*mesh, zt, 0.5 * in.labels->GetSpacing()[2]);
          }
          WriteSurface(*mesh, outDir / "meshes" / (name + ".vtp"),
                       outDir / "meshes" / (name + ".stl"));
          const double* b = mesh->GetBounds();
          for (const char* ext : {"vtp", "stl"}) {
            out.meshes.push_back({{"file", "meshes/" + name + "." + ext},
                                  {"structure", st.name},
                                  {"side", side->side},
                                  {"format", ext},
                                  {"coordinates", "LPS mm"},
                                  {"triangles", mesh->GetNumberOfPolys()},
                                  {"bounds_mm", {b[0], b[1], b[2], b[3], b[4], b[5]}}});
          }
          scene.surfaces[name] = mesh;
        }
      }
    });
  }
  if (!options.render) return out;

  FreshDirectory(outDir / "renders");
  FreshDirectory(outDir / "key_images");
  DisplayStatus display;
  Timed(out.timingsS, "display", [&] { display = EnsureOpenGlDisplay(true); });
  if (!display.usable) {
    out.warnings.push_back("renders and key images skipped: no X display for OpenGL (" +
                           display.how + "); install xvfb or set DISPLAY");
    return out;
  }
  out.display = display.display + " (" + display.how + ")";
  // VTK reports OpenGL problems through its output window; a failed context must not abort.
  // One offscreen window for every picture: one OpenGL context, shaders compiled once.
  auto window = OffscreenWindow(64, 64);
  {
    if (!window->SupportsOpenGL()) {
      out.warnings.push_back("renders and key images skipped: OpenGL 3.2 is not available on " +
                             display.display);
      return out;
    }
  }
  double maxThickness = 0;
  for (const SideOverlay* s : {&in.left, &in.right})
    for (const auto& sec : s->profile) maxThickness = std::max(maxThickness, sec.thicknessMm);
  scene.thicknessMaxMm = std::max(15.0, 5.0 * std::ceil(maxThickness / 5.0));
  scene.planeImage = in.anatomy ? in.anatomy : in.fluid;
  scene.planeImageName = in.anatomy ? in.anatomyName : in.fluidName;
  scene.window = WindowFromPercentiles(*scene.planeImage, in.body, 0.5, 99.5);
  Timed(out.timingsS, "renders", [&] {
    if (scene.surfaces.empty() && !scene.tipLeft && !scene.tipRight) {
      out.warnings.push_back("3D renders skipped: no tuberosity found and nothing segmented");
      return;
    }
    try {
      for (auto& j : WriteSceneRenders(window, scene, outDir / "renders", "renders"))
        out.images.push_back(j);
    } catch (const std::exception& e) {
      out.warnings.push_back(std::string("3D renders failed: ") + e.what());
    }
  });
  Timed(out.timingsS, "key_images", [&] {
    try {
      for (auto& j : WriteKeyImages(window, in, outDir / "key_images", "key_images", out.warnings))
        out.images.push_back(j);
    } catch (const std::exception& e) {
      out.warnings.push_back(std::string("key images failed: ") + e.what());
    }
  });
  return out;
}

}  // namespace

StudyVisualsOutput WriteStudyVisuals(const StudyVisualsInput& in, const fs::path& outDir,
                                     const StudyVisualsOptions& options) {
  const std::clock_t start = std::clock();
  StudyVisualsOutput out = WriteVisuals(in, outDir, options);
  // Process CPU seconds of the whole stage (all threads, llvmpipe's too): comparable between a
  // busy and an idle machine, unlike the wall-clock times.
  out.timingsS["cpu_total"] = double(std::clock() - start) / CLOCKS_PER_SEC;
  return out;
}

}  // namespace ischia
