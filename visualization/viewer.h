#pragma once
// `ischia view`: an interactive window over a finished run. Left: the 3D scene of the renders
// (surfaces, MRI planes) with the current axial slice; right: that axial slice with the label
// map tinted (bone yellow, tendon green, tear magenta), radiological orientation.
// Keys: Up/Down or PageUp/PageDown or the mouse wheel over the slice: move the slice;
// b / t / x: bone / tendon / tear on or off; m: MRI planes on or off; r: reset the 3D camera;
// q or e: quit. Mouse in the 3D view: rotate (left), pan (middle), zoom (right or wheel).
#include <filesystem>
#include <optional>
#include <string>

#include "plane_sampling.h"
#include "study_visuals.h"
#include "visuals_internal.h"

namespace ischia {

struct ViewerInput {
  const FloatImage* image = nullptr;    // required: the axial fluid-sensitive volume
  const FloatImage* anatomy = nullptr;  // optional: T1 in the same grid (3D planes)
  const LabelImage* labels = nullptr;   // optional: in `image`'s grid
  SurfaceSet surfaces;                  // optional
  std::optional<Vec3> tipLeft, tipRight;
  double thicknessMaxMm = 15;
  std::string title;
};

// Opens the window and returns when it is closed. With `screenshot`, renders one frame
// offscreen into that PNG and returns instead. Throws std::runtime_error when no display can
// be used (interactive: DISPLAY must be set; screenshot: DISPLAY or Xvfb).
void RunViewer(const ViewerInput& input, const std::optional<std::filesystem::path>& screenshot,
               int width = 1500, int height = 820);

// Reads a surface written by WriteSurface (.vtp); throws std::runtime_error on failure.
vtkSmartPointer<vtkPolyData> ReadSurface(const std::filesystem::path& vtpPath);

}  // namespace ischia
