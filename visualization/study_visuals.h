#pragma once
// The render stage of `ischia run`: surfaces of bone, tendon and tear per side (.vtp, .stl),
// 3D renders and 2D key images (.png) from the analysis outputs, plus the list of what was
// written. No analysis happens here: every number drawn comes from the input.
//
// Geometry is LPS mm (DICOM patient coordinates): +x patient left, +y posterior, +z superior.
#include <array>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image_types.h"

namespace ischia {

using PointLps = std::array<double, 3>;

// One measured tendon cross-section on a native axial slice (as in result.json).
struct SectionOverlay {
  double distanceBelowFootprintMm = 0, zMm = 0;
  double thicknessMm = 0, widthMm = 0, csaMm2 = 0;
  std::array<PointLps, 2> thicknessCaliperLps{}, widthCaliperLps{};
};

struct SideOverlay {
  std::string side;  // "left" / "right" (patient)
  bool found = false;
  std::string reason;  // when !found
  PointLps tipLps{}, footprintLps{};
  bool tendonFound = false;
  std::vector<SectionOverlay> profile;  // native slices, footprint to 50 mm distal
  std::string tearType = "none";        // none / partial / complete
  double retractionMm = 0;
  std::string grade;
};

struct StudyVisualsInput {
  const FloatImage* fluid = nullptr;    // required: axial fluid-sensitive (key images)
  const FloatImage* anatomy = nullptr;  // optional: T1 in the same grid (3D planes)
  const MaskImage* body = nullptr;      // optional: body mask (window/level percentiles)
  const LabelImage* labels = nullptr;   // required: 0 bg, 1 bone, 2 tendon, 3 tear
  double midlineXmm = 0;                // labels with x > midline belong to the left side
  std::string fluidName = "fluid-sensitive", anatomyName = "T1";  // series names shown
  SideOverlay left, right;
};

struct StudyVisualsOptions {
  bool meshes = true;
  bool render = true;          // 3D renders and key images (need OpenGL: a display or Xvfb)
  double meshSpacingMm = 0.7;  // isotropic grid the surfaces are extracted on
};

struct StudyVisualsOutput {
  nlohmann::json images = nlohmann::json::array();   // {file, kind, title, ...}
  nlohmann::json meshes = nlohmann::json::array();   // {file, structure, side, format, ...}
  nlohmann::json skipped = nlohmann::json::array();  // structures without voxels
  std::vector<std::string> warnings;
  std::map<std::string, double> timingsS;  // per step
  std::string display;                     // how OpenGL was reached ("" when not rendered)
};

// Writes OUT_DIR/meshes, OUT_DIR/renders and OUT_DIR/key_images (each replaced). Rendering
// problems (no display, OpenGL failure) become warnings, never exceptions; throws
// std::invalid_argument for missing inputs or grids that differ, std::runtime_error when a
// file cannot be written.
StudyVisualsOutput WriteStudyVisuals(const StudyVisualsInput& input,
                                     const std::filesystem::path& outDir,
                                     const StudyVisualsOptions& options = {});

}  // namespace ischia
