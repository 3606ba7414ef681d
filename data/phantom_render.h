#pragma once
// Internal to the phantom: sampling the anatomy on image planes (partial volume) and simulating
// the MR signal of a sequence on them (contrast, fat suppression, coil bias, k-space
// truncation, Rician noise).
#include <cstdint>
#include <vector>

#include "phantom_model.h"

namespace ischia::phantom {

// One image plane as DICOM describes it.
struct Plane {
  Vec3 origin;         // ImagePositionPatient: centre of the first pixel (LPS mm)
  Vec3 row, col;       // ImageOrientationPatient: direction of increasing column / row index
  double dx = 1;       // spacing along `row` (between columns)
  double dy = 1;       // spacing along `col` (between rows)
  int nx = 0, ny = 0;  // columns, rows
  double thickness = 1;
  Vec3 Normal() const { return Normalized(Cross(row, col)); }
  Vec3 At(double i, double j, double t = 0) const { return At(i, j, t, Normal()); }
  // As above with the plane's Normal() computed once by the caller (the same value).
  Vec3 At(double i, double j, double t, const Vec3& normal) const {
    return origin + (i * dx) * row + (j * dy) * col + t * normal;
  }
};

// Tissue mixture of one pixel (partial volume): up to four tissues with weights summing to 1.
struct PixelMix {
  std::uint8_t id[4] = {0, 0, 0, 0};
  float w[4] = {0, 0, 0, 0};
};

// Adaptive (quadtree) sampling: `inPlane` x `inPlane` sub-samples per pixel and
// `throughPlane` sub-planes across the slice thickness, evaluated only where a boundary is
// near. Returns the number of anatomy evaluations.
// With `labels` also the labels (phantom::LabelOf) at the pixel centres inside `labelBoxes`, as
// SampleLabels gives them, from the central sub-plane (one evaluation instead of a second
// sampling); needs SamplesLabelsWithTissues(inPlane, throughPlane).
std::size_t SampleTissues(const Anatomy& anatomy, const Plane& plane, int inPlane, int throughPlane,
                          std::vector<PixelMix>& mix, const std::vector<Box>* labelBoxes = nullptr,
                          std::vector<std::uint16_t>* labels = nullptr);
// Whether the central sub-plane holds the pixel centres as blocks (inPlane a power of two, an
// odd number of sub-planes).
bool SamplesLabelsWithTissues(int inPlane, int throughPlane);

enum class SequenceKind { SpinEcho, InversionRecovery, GradientEcho };

struct Sequence {
  SequenceKind kind = SequenceKind::SpinEcho;
  double tr = 500, te = 12, ti = 0, flipDeg = 90;  // ms, degrees
  double fieldT = 1.5;
  bool fatSat = false;
  double fatSatEfficiency = 0.95;                 // at the isocentre; degrades off centre
  double snr = 20;                                // of muscle, before the bias field
  int acquiredColumns = 256, acquiredRows = 256;  // k-space samples along row / column
  double fatT2Tse = 140;                          // apparent fat T2 on turbo spin echo (J-coupling)
};

// Receive coil sensitivity: anterior and posterior arrays around the body, partly flattened by
// the scanner's normalisation.
struct CoilModel {
  std::vector<Vec3> elements;
  double reach = 120, exponent = 0.5, norm = 1;
  double Gain(const Vec3& p) const;
};

// Tissue texture fields of one plane per pixel (shared by the series of that plane), evaluated
// only where the pixel's tissue mix uses them (0 elsewhere).
struct PlaneTexture {
  int width = 0, height = 0;
  std::vector<float> muscleFat, septa, hetero;
};
void SampleTexture(const Anatomy& anatomy, const Plane& plane, const std::vector<PixelMix>& mix,
                   PlaneTexture& texture);

// Simulates one slice: magnitude image (float, arbitrary units) of plane.nx * plane.ny.
// `isocentre` drives the off-centre fat-saturation loss.
void SimulateSlice(const Plane& plane, const std::vector<PixelMix>& mix,
                   const PlaneTexture& texture, const Sequence& sequence, const CoilModel& coil,
                   const Vec3& isocentre, std::uint64_t noiseSeed, std::vector<float>& out);

// Labels (phantom::LabelOf) at the pixel centres; only the given boxes (LPS) are evaluated,
// everything else is background. Returns the number of anatomy evaluations.
std::size_t SampleLabels(const Anatomy& anatomy, const Plane& plane, const std::vector<Box>& boxes,
                         std::vector<std::uint16_t>& labels);

// Signal of a tissue (no bias, no texture) for a sequence, with fat fully present.
double TissueSignal(Tissue t, const Sequence& sequence, double fatFactor);

}  // namespace ischia::phantom
