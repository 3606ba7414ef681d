#pragma once
// Preprocessing of one MR volume before any anatomy is searched for: the body mask, the
// bias-field (N4) correction and intensity standardisation against tissue found in the image.
// Every decision comes from relative contrast (histogram classes, percentiles, modes) and
// physical sizes in mm, never from absolute intensities: scanners scale intensities arbitrarily.
// All functions keep the input's physical space (origin, spacing, direction; LPS mm) and throw
// std::runtime_error (or itk::ExceptionObject) with the reason; none prints anything.
#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "image_types.h"

namespace ischia {

// ---- Body mask -------------------------------------------------------------------------------

struct BodyMaskParameters {
  // Multi-Otsu classes over the whole image; the lowest threshold separates air from tissue.
  unsigned otsuClasses = 3;
  unsigned histogramBins = 256;
  // Bright outliers (vessels, fluid, artefacts) are clipped at this percentile before the
  // histogram, so they do not compress every tissue into a few bins.
  double upperPercentile = 99.5;
  // Closing radius (mm, in each slice plane) that bridges thin dark gaps (skin, suppressed fat)
  // before holes are filled.
  double closingRadiusMm = 3.0;
  // Fill holes in each native slice (index axis 2): dark structures inside the body (cortex,
  // suppressed fat, air in the bowel) are body. 3-D filling would miss cavities cut by the FOV.
  bool fillHolesPerSlice = true;
};

struct BodyMaskResult {
  MaskImage::Pointer mask;  // 1 inside the body, same grid as the input
  double airThreshold = 0;  // intensity that separated air from tissue (input units)
  double volumeMl = 0;      // body volume inside the field of view
};

// The body: intensities above the lowest multi-Otsu threshold, largest 3-D connected
// component, closed and hole-filled. Throws if no tissue is found.
BodyMaskResult ComputeBodyMask(const FloatImage& image, const BodyMaskParameters& params = {});

// ---- Bias field (N4) -------------------------------------------------------------------------

struct BiasCorrectionParameters {
  // The field is estimated on an image shrunk to about this voxel size (mm) per axis (an axis
  // is never shrunk below its own spacing) and applied at full resolution.
  double shrunkSpacingMm = 10.0;
  // B-spline mesh spacing (mm) at the first fitting level; each later level halves it.
  double initialMeshSpacingMm = 200.0;
  std::vector<unsigned> iterationsPerLevel{30, 20, 10};
  double convergenceThreshold = 1e-3;
  unsigned splineOrder = 3;
  double biasFieldFullWidthAtHalfMaximum = 0.15;
  double wienerFilterNoise = 0.01;
  unsigned histogramBins = 200;
};

struct BiasCorrectionResult {
  FloatImage::Pointer corrected;  // input / field
  FloatImage::Pointer field;      // multiplicative field, geometric mean 1 inside the mask
  double fieldMinInMask = 1, fieldMaxInMask = 1;
  std::array<unsigned, 3> shrinkFactors{1, 1, 1};
};

// N4 bias-field correction inside `mask` (same grid as `image`).
BiasCorrectionResult CorrectBiasField(const FloatImage& image, const MaskImage& mask,
                                      const BiasCorrectionParameters& params = {});

// ---- Intensity standardisation ---------------------------------------------------------------

// What the sequence shows bright: decides which histogram peak is muscle.
enum class TissueContrast {
  T1,              // fat brightest, muscle intermediate, cortex / tendon / fluid dark
  FluidSensitive,  // fluid brightest, muscle intermediate, suppressed fat dark
};

struct StandardisationParameters {
  unsigned histogramBins = 256;
  // Range of the body histogram (percentiles of the intensities inside the mask).
  double lowerPercentile = 0.5, upperPercentile = 99.5;
  // Gaussian smoothing of the histogram before peaks are taken (in bins).
  double smoothingBins = 2.0;
  // A histogram peak counts as a tissue when its basin holds this fraction of the body.
  double minPeakFraction = 0.03;
  // T1: muscle is the tallest tissue peak between these fractions of the fat level
  // (muscle/fat on T1 is about 0.3-0.6 at 1.5 and 3 T).
  double t1MuscleToFatMin = 0.15, t1MuscleToFatMax = 0.75;
  // Outside voxels needed (fraction of the image) to measure the noise floor; else 0 is used.
  double minOutsideFraction = 0.01;
  // Voxels a reference-tissue mask must hold inside the body to be used.
  std::size_t minReferenceVoxels = 1000;
};

struct HistogramPeak {
  double position = 0;  // intensity (input units)
  double fraction = 0;  // fraction of the body in the peak's basin
};

struct IntensityReference {
  double zeroLevel = 0;    // mapped to 0: the noise floor (median outside the body)
  double muscleLevel = 0;  // mapped to 1
  double fatLevel = 0;     // T1 only: the brightest tissue peak (0 otherwise)
  // How muscleLevel was found: "muscle_mask" (mode inside a muscle mask found on another
  // series), "t1_peaks" (tallest peak well below fat on T1), "fluid_peaks" (fluid-sensitive:
  // tallest peak above the darkest one, taken as suppressed fat), "body_mode" (the body's
  // histogram mode: assumes muscle dominates the body; the weakest evidence).
  std::string method;
  std::vector<HistogramPeak> peaks;  // tissue peaks of the body histogram, dark to bright
};

struct StandardisedImage {
  FloatImage::Pointer image;  // (I - zeroLevel) / (muscleLevel - zeroLevel): muscle = 1
  IntensityReference reference;
};

// Standardises intensities so that muscle is 1 and the noise floor 0. Muscle is the mode inside
// `muscle` when given (same grid, enough voxels), else found from the body histogram according
// to `contrast`. Throws if the body has no usable contrast.
StandardisedImage StandardiseIntensities(const FloatImage& image, const MaskImage& body,
                                         TissueContrast contrast,
                                         const StandardisationParameters& params = {},
                                         const MaskImage* muscle = nullptr);

// Muscle-like voxels of a T1 image (inside the body, within a quarter of the muscle-to-fat
// distance of the muscle level): a reference mask for the fluid-sensitive series, on which
// muscle is hard to tell from suppressed fat by intensity alone.
MaskImage::Pointer MuscleMaskFromT1(const FloatImage& t1, const MaskImage& body,
                                    const IntensityReference& t1Reference);

// ---- Resampling between series of one frame of reference --------------------------------------

// Resamples `moving` into `reference`'s grid with an identity transform (the two share a DICOM
// frame of reference), linear interpolation; points outside `moving` get `outsideValue`.
FloatImage::Pointer ResampleIntoGrid(const FloatImage& moving, const FloatImage& reference,
                                     float outsideValue = 0.0f);
// Same for a mask, nearest neighbour.
MaskImage::Pointer ResampleMaskIntoGrid(const MaskImage& moving, const FloatImage& reference);
// Mask of the reference grid's voxels whose centres lie inside `moving`'s field of view.
MaskImage::Pointer FieldOfViewInGrid(const FloatImage& moving, const FloatImage& reference);

}  // namespace ischia
