#pragma once
// Images and label maps sampled on oriented planes in patient space (LPS mm), for key images
// and the MRI planes of the 3D scene. A plane is a grid of nu x nv pixels of pixelMm; pixel
// (a, b) lies at origin + a * pixelMm * u + b * pixelMm * v, with u pointing to the right of
// the picture and v downwards.
#include <array>
#include <vector>

#include "image_types.h"
#include "surfaces.h"

namespace ischia {

using Vec3 = std::array<double, 3>;

struct PlaneGrid {
  Vec3 origin{};                // LPS of pixel (0, 0)'s centre
  Vec3 u{1, 0, 0}, v{0, 1, 0};  // unit vectors: picture right, picture down
  int nu = 0, nv = 0;
  double pixelMm = 1;

  Vec3 Point(double a, double b) const;
  // Pixel coordinates (a, b) of the projection of `p` on the plane.
  std::array<double, 2> ToPixel(const Vec3& p) const;
  // Signed distance of `p` from the plane (mm, along u x v).
  double Distance(const Vec3& p) const;
  // A plane of `widthMm` x `heightMm` centred on `centre`.
  static PlaneGrid Centred(const Vec3& centre, const Vec3& u, const Vec3& v, double widthMm,
                           double heightMm, double pixelMm);
};

// Trilinear samples of `image` at the plane's pixels (row-major, b outer); NaN outside.
std::vector<float> SamplePlane(const FloatImage& image, const PlaneGrid& plane);

// Trilinear samples of the indicator of `label` (1 inside, 0 outside) on `side`: contouring
// it at 0.5 gives the label's outline, smooth across thick slices.
std::vector<float> SampleLabelIndicator(const LabelImage& labels, std::uint16_t label,
                                        BodySide side, double midlineXmm, const PlaneGrid& plane);

struct IntensityWindow {
  double lo = 0, hi = 1;
};
// Display window from the data: the pLo and pHi percentiles of the voxels inside `body` (all
// voxels when null or empty), from a regular subsample.
IntensityWindow WindowFromPercentiles(const FloatImage& image, const MaskImage* body,
                                      double pLo = 0.5, double pHi = 99.5);

}  // namespace ischia
