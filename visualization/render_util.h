#pragma once
// Pieces shared by the 3D renders, the key images and the viewer.
#include <vtkActor.h>
#include <vtkActor2D.h>
#include <vtkImageActor.h>
#include <vtkImageData.h>
#include <vtkProp3D.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkSmartPointer.h>
#include <vtkTextActor.h>

#include <array>
#include <filesystem>
#include <string>
#include <vector>

#include "plane_sampling.h"

namespace ischia {

using Rgb = std::array<double, 3>;

// Colours used everywhere (and named in docs/visualization.md).
namespace colours {
constexpr Rgb kBone{0.93, 0.87, 0.72};            // ivory
constexpr Rgb kBoneLine{1.0, 0.85, 0.2};          // bone contour: yellow
constexpr Rgb kTendonLine{0.2, 0.9, 0.3};         // tendon contour: green
constexpr Rgb kTear{1.0, 0.1, 0.55};              // tear: magenta-red, outside the thickness scale
constexpr Rgb kThicknessCaliper{1.0, 0.55, 0.0};  // orange
constexpr Rgb kWidthCaliper{0.2, 0.75, 1.0};      // sky blue
constexpr Rgb kText{1, 1, 1};
constexpr Rgb kNotMeasured{0.6, 0.6, 0.6};
}  // namespace colours

// A 2-D RGB picture of plane samples: window [lo, hi] to black..white, NaN (outside the
// volume) dark blue-grey. Pixel (a, b) sits at (a, b) * pixelMm in the picture's plane z = 0.
vtkSmartPointer<vtkImageData> GreyPicture(const std::vector<float>& values, const PlaneGrid& plane,
                                          IntensityWindow window);

// Outline of indicator >= 0.5 as joined polylines in the picture's plane, drawn as a 2-D
// overlay (always on top). `indicator` is sampled on `plane`. zLift is kept for callers.
vtkSmartPointer<vtkActor2D> ContourActor(const std::vector<float>& indicator,
                                         const PlaneGrid& plane, const Rgb& colour,
                                         double lineWidth, double zLift = 0.5);

// Outline of `label` on the picture of `picture` (its plane), contoured on a grid of about
// `contourPixelMm` (segments much shorter than a screen pixel would drop out of wide lines).
vtkSmartPointer<vtkActor2D> LabelContourActor(const LabelImage& labels, std::uint16_t label,
                                              const PlaneGrid& picture, double contourPixelMm,
                                              const Rgb& colour, double lineWidth, double zLift);

// A polyline through picture-plane points (mm), drawn on top.
vtkSmartPointer<vtkActor2D> LineActor(const std::vector<std::array<double, 2>>& pointsMm,
                                      const Rgb& colour, double lineWidth, double zLift = 1.0);

// A caliper: a line between two picture points (mm) with end ticks of `tickMm`.
vtkSmartPointer<vtkActor2D> CaliperActor(const std::array<double, 2>& a,
                                         const std::array<double, 2>& b, const Rgb& colour,
                                         double lineWidth, double tickMm);

struct TextStyle {
  int size = 18;
  Rgb colour = colours::kText;
  bool bold = false;
  bool shadow = true;
  int hAlign = 0;         // 0 left, 1 centre, 2 right
  int vAlign = 0;         // 0 bottom, 1 centre, 2 top
  double background = 0;  // opacity of a black box behind the text
};
// Text at normalised viewport coordinates (x, y in 0..1).
vtkSmartPointer<vtkTextActor> ViewportText(const std::string& text, double x, double y,
                                           const TextStyle& style);
// Text anchored at a world point.
vtkSmartPointer<vtkTextActor> WorldText(const std::string& text, const Vec3& p,
                                        const TextStyle& style);

// A scale bar of `lengthMm` in a renderer with a parallel camera (set before), lower right of
// its viewport of w x h pixels, labelled.
void AddScaleBar(vtkRenderer* renderer, int viewportWidthPx, int viewportHeightPx, double lengthMm,
                 double fontSize);

// An annotated cube (R/L, A/P, S/I in LPS) in its own small renderer layer, following the
// camera of `main`; returns that renderer (already added to the window).
vtkSmartPointer<vtkRenderer> AddOrientationCube(vtkRenderWindow* window, vtkRenderer* main,
                                                const std::array<double, 4>& viewport);

// An offscreen window of w x h pixels (multisampling off for identical frames).
vtkSmartPointer<vtkRenderWindow> OffscreenWindow(int width, int height);

// Renders `window` and writes it as PNG; throws std::runtime_error on failure.
void SaveWindowPng(vtkRenderWindow* window, const std::filesystem::path& path);

// "12.3" with one decimal.
std::string Mm(double value);

}  // namespace ischia
