#pragma once
// Smooth surfaces of label-map structures, in patient coordinates (LPS mm).
//
// Slices are 3-5 mm apart, so contouring the voxels directly gives a staircase. Instead, each
// native slice's mask becomes a 2-D signed distance map (mm, zero half-way between inside and
// outside pixel centres); the maps are interpolated linearly between slices (shape-based
// interpolation: a section that drifts from slice to slice gives a sloping wall, not a step),
// resampled onto an isotropic axis-aligned grid, lightly blurred, contoured at zero
// (vtkFlyingEdges3D) and smoothed with a windowed-sinc filter. The ends are closed by a dome
// reaching at most half a slice beyond the last labelled slice, so the surface stays within
// about one voxel of the label map's extent.
#include <vtkPolyData.h>
#include <vtkSmartPointer.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "image_types.h"

namespace ischia {

struct SurfaceParameters {
  double spacingMm = 0.7;          // isotropic grid for contouring
  double blurSigmaMm = 0.6;        // Gaussian on the distance map (removes pixel steps)
  int smoothingIterations = 20;    // windowed-sinc iterations
  double smoothingPassBand = 0.1;  // windowed-sinc pass band (lower: smoother)
  int maxTriangles = 80000;        // decimated above this
};

enum class BodySide { Both, Left, Right };  // left: x > midline (LPS +x is patient left)

// Surface of the voxels equal to `label` on `side` of the plane x = midlineXmm. Returns an
// empty polydata (no points) when there is no such voxel. Normals point outwards.
vtkSmartPointer<vtkPolyData> ExtractLabelSurface(const LabelImage& labels, std::uint16_t label,
                                                 BodySide side, double midlineXmm,
                                                 const SurfaceParameters& params = {});

// Adds the point array "thickness_mm": each vertex gets the tendon thickness measured on the
// axial sections, linearly interpolated along patient z between the sections (z, thickness);
// NaN for vertices more than `toleranceMm` above or below the measured sections.
void AddThicknessScalars(vtkPolyData& surface, std::vector<std::pair<double, double>> zThickness,
                         double toleranceMm);

// Writes `surface` as VTK XML polydata (binary, compressed; field data SPACE = "LPS") and as
// binary STL (header "... SPACE=LPS"), the tags 3D Slicer reads to place a model; coordinates
// are LPS mm either way. Throws std::runtime_error naming the file on failure.
void WriteSurface(vtkPolyData& surface, const std::filesystem::path& vtpPath,
                  const std::filesystem::path& stlPath);

}  // namespace ischia
