#pragma once
// The analysis core: both ischial tuberosities, the proximal hamstring tendons, their tears and
// their measurements, from the axial fluid-sensitive series (standardised, muscle = 1) and the
// axial T1 resampled into the same grid.
//
// Every decision uses relative contrast in standardised units (muscle = 1, noise floor = 0),
// tissue levels measured in the image itself (fat on T1, fluid on fat-sat) and anatomy in mm
// scaled by the body size; never one scanner's absolute intensities. Geometry is LPS mm:
// +x is patient left, +y posterior, +z superior. Sections are measured in-plane on the native
// axial slices (the 3-5 mm slices are never reformatted).
//
// Pure functions: no files, no printing. Results do not depend on the number of threads.
#include <array>
#include <string>
#include <vector>

#include "image_types.h"

namespace ischia {

// Images of one study, all in the axial fluid-sensitive grid.
struct HamstringAnalysisInput {
  const FloatImage* fluid =
      nullptr;                     // required: standardised axial fluid-sensitive (PD/T2 FS, STIR)
  const FloatImage* t1 = nullptr;  // optional: standardised axial T1 resampled into `fluid`'s grid
  const MaskImage* t1FieldOfView = nullptr;  // optional: voxels `t1` covers (all when null)
  const MaskImage* body = nullptr;           // required: body mask in `fluid`'s grid
};

// Grade rule thresholds (configurable; printed with the result).
struct GradeParameters {
  double thickTendonMm = 12.0;           // maximum thickness at or above: thickened
  double thicknessAsymmetryRatio = 1.3;  // thickness / other side at or above: thickened
  double signalRatioTendinopathy =
      0.15;                       // tendon / muscle signal at or above: intrasubstance signal
  double oedemaVolumeMm3 = 1500;  // peritendinous + marrow oedema at or above: oedema
};

struct HamstringAnalysisParameters {
  // Contrast, in standardised units (muscle = 1).
  double darkLevel = 0.5;             // cortex: below this on T1 (muscle = 1)
  double tendonT1Level = 0.8;         // tendon (also degenerate): below this on T1
  double tendonMaxFluidRatio = 1.0;   // tendon: below this x muscle on fat-sat (fluid is above)
  double tendonFluidOnlyLevel = 0.5;  // tendon without T1: below this on fat-sat
  double oedemaFraction = 0.2;        // oedema: above muscle + this x (fluid - muscle) on fat-sat
  double marrowT1Fraction = 0.35;     // fatty marrow on T1: above muscle + this x (fat - muscle)
  double fluidFraction = 0.6;         // fluid: above muscle + this x (fluid - muscle) on fat-sat
  // Anatomy (mm, for an adult pelvis; scaled by the body width / 340 mm, clamped 0.75-1.3).
  double cortexThicknessMm = 1.8;
  double maxCortexThicknessMm = 10;     // the femoral shaft's cortex reaches 5-9 mm
  double cortexRingDarkFraction = 0.75;  // a ring around marrow this dark is still cortex
  double minMarrowWidthMm = 3;           // narrower bright strips are fat planes, not marrow
  double minMidlineDistanceMm = 25;  // tuberosity tip at least this far from the midline
  double maxMidlineDistanceMm = 95;
  double tipAsymmetryWeight = 1.0;  // cost per mm of left/right tip height difference
  double maxTipHeightDifferenceMm = 30;  // tips further apart in height are not a pair
  double maxTipSectionMm2 = 900;
  int maxTipExtensionSlices = 0;  // slices followed below the lowest clear marrow section
  double tipEndZoneMm = 5;  // the tuberosity's rounded end: a second grey slice below the last
                            // clear marrow section ends the bone when two slices span <= this,
                            // or when it is a real section (not a speck)
  double tendonSearchAboveTipMm = 35;
  double tendonLengthMm = 80;         // segmented from the footprint down to at most this
  double boneLabelHeightMm = 45;      // ischium labelled from the tip up to this height
  double volumeLengthMm = 50;         // tendon volume integrated over footprint..this
  double oedemaShellMm = 4;           // peritendinous oedema shell thickness
  double marrowOedemaRadiusMm = 30;   // tuberosity marrow oedema: within this of the footprint
  double footprintAboveTipMm = 12;    // tendon footprint level above the tuberosity tip
  double minBaredFootprintMm2 = 10;   // complete tear: gap fluid on the bone to place the footprint
  double minStumpSectionMm2 = 20;      // smaller sections at a stump's top are partial volume
  double stumpTopOffsetSlices = 0.5;  // stump end beyond its highest section's centre (slices)
  double minTearVolumeMm3 = 40;       // less fluid than this at the tendon is not a tear
  double minPartialTearSectionPercent = 5;  // a cleft takes at least this share of a section
  double peritendinousWetFraction = 0.45;  // fluid along more of the free surface: oedema
  GradeParameters grade;
};

// One tendon cross-section on a native axial slice (envelope = tendon + intratendinous tear).
struct TendonSectionMeasure {
  double distanceMm = 0;  // caudal to the footprint level (patient z)
  double zMm = 0;         // patient z of the slice centre
  double csaMm2 = 0, thicknessMm = 0, widthMm = 0;
  double tearAreaMm2 = 0;
  // Where the calipers were laid (patient LPS mm, on the slice centre): the short axis
  // (thickness) and the long axis (width), each from one edge of the section to the other.
  std::array<std::array<double, 3>, 2> thicknessCaliperLps{}, widthCaliperLps{};
};

struct TearFinding {
  std::string type = "none";  // none / partial / complete
  double extentPercent = 0;   // partial: largest share of the thickness that is fluid
  double lengthMm = 0;        // partial: cleft length along z
  double gapMm = 0;           // complete: fluid gap along the course
  double retractionMm = 0;    // complete: footprint to the stump's proximal end, along the course
  // Complete: false when no tendon was found below the tuberosity (the retraction is then
  // unknown), and how far below the footprint the stump was looked for.
  bool stumpFound = true;
  double stumpSearchedMm = 0;
  double volumeMm3 = 0;       // fluid-bright voxels labelled tear
};

struct SideAnalysis {
  std::string side;  // "left" / "right" (patient)
  bool found = false;
  std::string reason;  // when !found
  std::array<double, 3> tuberosityTipLps{};
  std::array<double, 3> footprintLps{};
  bool tendonFound = false;
  std::vector<TendonSectionMeasure> profile;   // native slices from the footprint to 50 mm
  // Each figure its own maximum over the profile, confirmed on an adjacent slice: the maximum
  // over slices of min(own value, larger adjacent value), with the calipers of the slice the
  // reported value was measured on.
  TendonSectionMeasure maximum;
  std::vector<TendonSectionMeasure> atLevels;  // 0, 10, 20, 30 mm (nearest slice, interpolated)
  double volumeMm3 = 0, volumeLengthMm = 50;
  double signalRatio = 0;  // tendon / muscle, fluid-sensitive
  double peritendinousOedemaMm3 = 0, marrowOedemaMm3 = 0;
  TearFinding tear;
  std::string grade = "normal";  // normal / tendinopathy / partial_tear / complete_tear
  std::string gradeRule;         // the rule and thresholds that produced the grade
  std::vector<std::string> qc;   // warnings worth showing to the reader
};

struct LeftRightComparison {
  double thicknessDifferenceMm = 0, thicknessRatio = 0;  // left - right, left / right
  double csaDifferenceMm2 = 0, csaRatio = 0;
  double volumeDifferenceMm3 = 0, volumeRatio = 0;
  double signalRatioDifference = 0;
};

struct HamstringAnalysisResult {
  SideAnalysis left, right;
  LeftRightComparison leftMinusRight;           // only meaningful when both sides have a tendon
  LabelImage::Pointer labels;                   // fluid grid: 0 bg, 1 bone, 2 tendon, 3 tear
  double midlineXmm = 0;                        // the body's symmetry plane (patient x)
  double muscleFluidLevel = 1, fluidLevel = 0;  // measured on the fluid-sensitive image
  double bodyScale = 1;                         // body width / reference width
};

// ---- Stage functions (each usable alone) -----------------------------------------------------

struct TuberosityFinding {
  bool found = false;
  std::string reason;
  std::array<double, 3> tipLps{};
  MaskImage::Pointer bone;  // ischium bone (marrow + cortex), fluid grid; null if not found
};
struct TuberosityResult {
  TuberosityFinding left, right;
  double midlineXmm = 0, bodyScale = 1;
  double fatT1Level = 0;  // measured fat level on T1 (standardised)
  double fluidLevel = 0;  // measured fluid level on fat-sat (standardised)
};
// Finds both ischia: fatty-marrow regions (bright on T1, dark on fat-sat) ringed by dark cortex,
// grouped in 3-D, left/right of the body midline; the hip bone of a side is the marrow group
// whose lowest point is lowest and posterior, not continuing out of the bottom of the field
// of view (the femur does). Requires input.t1 (else both sides not found, with the reason).
TuberosityResult FindIschialTuberosities(const HamstringAnalysisInput& input,
                                         const HamstringAnalysisParameters& params = {});

// Measures one tendon envelope (mask, fluid grid) per native slice between the footprint level
// and `maxDistanceMm` below it: thickness/width along the minor/major principal axes of the
// section's body (without strips under 3 mm wide standing out of it), area of the whole.
std::vector<TendonSectionMeasure> MeasureTendonCrossSections(const MaskImage& envelope,
                                                             double footprintZmm,
                                                             double maxDistanceMm);

// Applies the grade rule; `other` may be null (no contralateral side).
void GradeSide(SideAnalysis& side, const SideAnalysis* other, const GradeParameters& params);

// The whole analysis: tuberosities, tendons, tears, measurements, grades, label map.
// Throws std::invalid_argument if the required images are missing or not in one grid.
HamstringAnalysisResult AnalyseHamstrings(const HamstringAnalysisInput& input,
                                          const HamstringAnalysisParameters& params = {});

}  // namespace ischia
