#pragma once
// Image-quality measures of one MR series in its native grid: the noise level and SNR, and
// ghosting along the phase-encoding direction (the usual sign of patient motion or pulsatile
// flow in 2-D spin-echo imaging). Plain values out; nothing printed, no files.
//
// Noise is measured inside the body, not in the background: real backgrounds are often
// zero-filled or masked, and with multi-coil and parallel-imaging reconstructions their noise
// is neither Rician nor the noise of the tissue. The background is used only as a cross-check
// (when it holds noise) and for the ghosting measure.
#include <array>
#include <cstddef>
#include <limits>
#include <string>

#include "image_types.h"

namespace ischia {

// In-plane axis along which the series was phase-encoded (DICOM (0018,1312): ROW = along a
// row, i.e. image index axis 0; COL = along a column, index axis 1).
enum class PhaseEncodingAxis { Unknown, Row, Column };

struct ImageQualityParameters {
  // Noise: residual of each voxel against the mean of its (2r+1)^2 in-plane window.
  int windowRadiusPx = 3;
  // In-plane Gaussian (pixels) of the image used to choose homogeneous tissue (never the
  // noisy voxel itself: selecting on it would truncate the noise being measured).
  double selectionSigmaPx = 1.5;
  // Voxels whose smoothed intensity is at least this fraction of the tissue signal level
  // (dark suppressed fat, cortex and tendon are Rician, not Gaussian, at low signal)...
  double minTissueFraction = 0.6;
  // ... and whose relative gradient is in this lowest fraction: homogeneous tissue.
  double homogeneousFraction = 0.3;
  // Acquired / reconstructed k-space samples along index axes 0 and 1 (AcquisitionMatrix
  // over Columns and Rows): zero-filled interpolation correlates neighbouring voxels' noise,
  // which makes a local residual smaller; the estimate is corrected for it. 1: not known.
  std::array<double, 2> acquiredFraction{1.0, 1.0};
  // Background: voxels at least this far (mm, in-plane) from the body and any other object.
  double backgroundMarginMm = 10.0;
  // Intensity above which a smoothed voxel is an object, not background (e.g. the body mask's
  // air threshold); NaN: only the body mask counts.
  double objectThreshold = std::numeric_limits<double>::quiet_NaN();
  // Fewest voxels a noise sample or a background region must hold to be used.
  std::size_t minVoxels = 1000;
};

struct ImageQuality {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  // SNR = signal / noiseSigma (image units).
  double signal = kNaN;      // median intensity of the tissue mask (muscle), or fallback
  std::string signalSource;  // "muscle_mask" or "bright_body_median"
  double noiseSigma = kNaN;  // in-body estimate
  double snr = kNaN;
  std::string noiseMethod;   // how noiseSigma was found
  std::string noiseNote;     // why there is no estimate
  std::size_t noiseVoxels = 0;
  double correlationCorrection = 1;  // residual variance / noise variance assumed
  // Background cross-check: sigma of Rayleigh noise from the median of the reference
  // background (median / sqrt(2 ln 2)); NaN when the background is zero-filled or too small.
  double backgroundSigma = kNaN;
  double backgroundZeroFraction = kNaN;  // share of background voxels at the minimum value
  std::string backgroundNote;
  std::size_t backgroundVoxels = 0;
  // Ghosting along the phase-encoding direction: mean background intensity on lines along the
  // phase axis that cross the body ("ghost band") over that on lines that do not (reference).
  bool ghostMeasured = false;
  std::string ghostNote;  // why it was not measured
  double ghostBandMean = kNaN, referenceMean = kNaN;
  double ghostRatio = kNaN;            // ghostBandMean / referenceMean (1: no ghosting)
  double ghostToSignalPercent = kNaN;  // (ghostBandMean - referenceMean) / signal * 100
  std::size_t ghostVoxels = 0, referenceVoxels = 0;
};

// Measures `image` (native grid) inside `body` (same grid). `tissue`, when given (same grid),
// marks voxels of the reference tissue (muscle) for the signal level. Throws
// std::invalid_argument if the grids differ.
ImageQuality MeasureImageQuality(const FloatImage& image, const MaskImage& body,
                                 const MaskImage* tissue, PhaseEncodingAxis phase,
                                 const ImageQualityParameters& params = {});

// Residual variance over noise variance for the (2r+1)^2 window residual when the noise is
// band-limited to `acquiredFraction` of the reconstructed band along each axis (1 - 1/N when
// white). Exposed for the tests.
double WindowResidualVarianceFactor(int windowRadiusPx, std::array<double, 2> acquiredFraction);

}  // namespace ischia
