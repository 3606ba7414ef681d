// Body mask, intensity standardisation and resampling. The ITK templates these need are
// instantiated here only (compile time); N4 lives in preprocess_bias.cxx.
#include <itkConnectedComponentImageFilter.h>
#include <itkHistogram.h>
#include <itkImageRegionConstIterator.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkOtsuMultipleThresholdsCalculator.h>
#include <itkResampleImageFilter.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <stdexcept>
#include <string>

#include "preprocess.h"
#include "preprocess_util.h"

namespace ischia {

namespace {

using HistogramType = itk::Statistics::Histogram<double>;

// Otsu thresholds (nClasses - 1 of them) of `values` binned over [lo, hi].
std::vector<double> MultiOtsuThresholds(const std::vector<float>& values, double lo, double hi,
                                        unsigned bins, unsigned nClasses) {
  if (!(hi > lo)) throw std::runtime_error("no intensity contrast (histogram range is empty)");
  const std::vector<double> counts = BinValues(values, lo, hi, bins);
  auto histogram = HistogramType::New();
  HistogramType::SizeType size(1);
  size[0] = bins;
  HistogramType::MeasurementVectorType lower(1), upper(1);
  lower[0] = lo;
  upper[0] = hi;
  histogram->SetMeasurementVectorSize(1);
  histogram->Initialize(size, lower, upper);
  for (unsigned i = 0; i < bins; ++i) histogram->SetFrequency(i, counts[i]);
  using Calculator = itk::OtsuMultipleThresholdsCalculator<HistogramType>;
  auto calc = Calculator::New();
  calc->SetInputHistogram(histogram);
  calc->SetNumberOfThresholds(nClasses - 1);
  calc->Compute();
  std::vector<double> t(calc->GetOutput().begin(), calc->GetOutput().end());
  std::sort(t.begin(), t.end());
  return t;
}

// Fills, in every slice along index axis 2, the background regions that do not touch the
// slice border.
void FillHolesPerSlice(MaskImage& mask) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  const std::size_t nx = size[0], ny = size[1], nz = size[2];
  std::uint8_t* buf = mask.GetBufferPointer();
  std::vector<std::uint8_t> outside(nx * ny);
  std::deque<std::size_t> queue;
  for (std::size_t z = 0; z < nz; ++z) {
    std::uint8_t* s = buf + z * nx * ny;
    std::fill(outside.begin(), outside.end(), 0);
    auto seed = [&](std::size_t i) {
      if (!s[i] && !outside[i]) {
        outside[i] = 1;
        queue.push_back(i);
      }
    };
    for (std::size_t x = 0; x < nx; ++x) {
      seed(x);
      seed((ny - 1) * nx + x);
    }
    for (std::size_t y = 0; y < ny; ++y) {
      seed(y * nx);
      seed(y * nx + nx - 1);
    }
    while (!queue.empty()) {
      const std::size_t i = queue.front();
      queue.pop_front();
      const std::size_t x = i % nx, y = i / nx;
      if (x > 0) seed(i - 1);
      if (x + 1 < nx) seed(i + 1);
      if (y > 0) seed(i - nx);
      if (y + 1 < ny) seed(i + nx);
    }
    for (std::size_t i = 0; i < nx * ny; ++i) s[i] = outside[i] ? 0 : 1;
  }
}

// One pass of a binary box filter of half-width `r` along `axis` (0 or 1) of every slice:
// dilation (any voxel of the window set) or erosion (every voxel of the window inside the
// image set; voxels beyond the border count as set, so closing does not shave the border).
void BoxPass(MaskImage& mask, unsigned axis, std::size_t r, bool dilate) {
  const auto size = mask.GetLargestPossibleRegion().GetSize();
  const std::size_t nx = size[0], ny = size[1], nz = size[2];
  const std::size_t len = axis == 0 ? nx : ny, step = axis == 0 ? 1 : nx;
  const std::size_t lines = axis == 0 ? ny : nx;
  std::uint8_t* buf = mask.GetBufferPointer();
  std::vector<std::size_t> prefix(len + 1);
  for (std::size_t z = 0; z < nz; ++z) {
    for (std::size_t l = 0; l < lines; ++l) {
      std::uint8_t* p = buf + z * nx * ny + (axis == 0 ? l * nx : l);
      for (std::size_t i = 0; i < len; ++i) prefix[i + 1] = prefix[i] + (p[i * step] != 0);
      for (std::size_t i = 0; i < len; ++i) {
        const std::size_t lo = i >= r ? i - r : 0, hi = std::min(len, i + r + 1);
        const std::size_t set = prefix[hi] - prefix[lo];
        p[i * step] = dilate ? (set > 0) : (set == hi - lo);
      }
    }
  }
}

// Binary closing with a (2rx+1) x (2ry+1) box in every slice plane, separable: O(voxels).
void CloseInPlane(MaskImage& mask, std::size_t rx, std::size_t ry) {
  BoxPass(mask, 0, rx, true);
  BoxPass(mask, 1, ry, true);
  BoxPass(mask, 0, rx, false);
  BoxPass(mask, 1, ry, false);
}

MaskImage::Pointer KeepLargestComponent(const MaskImage& mask) {
  using ComponentImage = itk::Image<std::uint32_t, 3>;
  auto cc = itk::ConnectedComponentImageFilter<MaskImage, ComponentImage>::New();
  cc->SetInput(&mask);
  cc->SetFullyConnected(false);
  cc->Update();
  const ComponentImage* labels = cc->GetOutput();
  const std::size_t n = labels->GetLargestPossibleRegion().GetNumberOfPixels();
  std::vector<std::size_t> counts(cc->GetObjectCount() + 1, 0);
  const std::uint32_t* l = labels->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) ++counts[l[i]];
  std::size_t best = 0;
  for (std::size_t c = 1; c < counts.size(); ++c) {
    if (counts[c] > counts[best] || best == 0) best = c;
  }
  auto out = NewMaskLike(mask);
  std::uint8_t* o = out->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) o[i] = (best != 0 && l[i] == best) ? 1 : 0;
  return out;
}

}  // namespace

BodyMaskResult ComputeBodyMask(const FloatImage& image, const BodyMaskParameters& params) {
  if (params.otsuClasses < 2) throw std::invalid_argument("body mask: otsuClasses must be >= 2");
  const std::vector<float> sample = SampleValues(image, nullptr);
  if (sample.empty()) throw std::runtime_error("body mask: empty image");
  const double lo = *std::min_element(sample.begin(), sample.end());
  const double hi = Percentile(sample, params.upperPercentile);
  const double threshold =
      MultiOtsuThresholds(sample, lo, hi, params.histogramBins, params.otsuClasses).front();

  auto tissue = NewMaskLike(image);
  const std::size_t n = image.GetLargestPossibleRegion().GetNumberOfPixels();
  const float* in = image.GetBufferPointer();
  std::uint8_t* t = tissue->GetBufferPointer();
  std::size_t above = 0;
  for (std::size_t i = 0; i < n; ++i) above += (t[i] = in[i] > threshold ? 1 : 0);
  if (above == 0) throw std::runtime_error("body mask: no voxel above the air threshold");

  MaskImage::Pointer body = KeepLargestComponent(*tissue);
  if (params.closingRadiusMm > 0) {
    // In-plane only: thick slices make a 3-D kernel meaningless (and it is slow).
    const auto r = [&](unsigned d) {
      return static_cast<std::size_t>(std::lround(params.closingRadiusMm / image.GetSpacing()[d]));
    };
    CloseInPlane(*body, r(0), r(1));
  }
  if (params.fillHolesPerSlice) FillHolesPerSlice(*body);

  BodyMaskResult result;
  result.mask = body;
  result.airThreshold = threshold;
  std::size_t inside = 0;
  const std::uint8_t* b = body->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) inside += b[i] != 0;
  const auto& sp = image.GetSpacing();
  result.volumeMl = static_cast<double>(inside) * sp[0] * sp[1] * sp[2] / 1000.0;
  return result;
}

namespace {

// Tissue peaks of the smoothed histogram of `values` over [lo, hi]: local maxima whose basin
// (up to the neighbouring minima) holds at least `minFraction` of the values; dark to bright.
// `heights` receives each peak's smoothed height.
std::vector<HistogramPeak> FindTissuePeaks(const std::vector<float>& values, double lo, double hi,
                                           unsigned bins, double sigmaBins, double minFraction,
                                           std::vector<double>* heights) {
  const std::vector<double> h = SmoothedHistogram(values, lo, hi, bins, sigmaBins);
  double total = 0;
  for (double c : h) total += c;
  std::vector<HistogramPeak> peaks;
  const int n = static_cast<int>(bins);
  int i = 0;
  while (i < n) {
    // Basin: from the previous minimum climb to a maximum, descend to the next minimum.
    const int start = i;
    int top = i;
    while (top + 1 < n && h[top + 1] >= h[top]) ++top;
    int end = top;
    while (end + 1 < n && h[end + 1] <= h[end]) ++end;
    double mass = 0;
    for (int k = start; k <= end; ++k) mass += h[k];
    if (total > 0 && mass / total >= minFraction && h[top] > 0) {
      const double w = (hi - lo) / bins;
      peaks.push_back({lo + (top + 0.5) * w, mass / total});
      if (heights) heights->push_back(h[top]);
    }
    i = end + 1;
  }
  return peaks;
}

}  // namespace

StandardisedImage StandardiseIntensities(const FloatImage& image, const MaskImage& body,
                                         TissueContrast contrast,
                                         const StandardisationParameters& params,
                                         const MaskImage* muscle) {
  RequireSameGrid(image, body, "intensity standardisation");
  const std::vector<float> inside = SampleValues(image, &body, /*inside=*/true);
  if (inside.size() < 1000) {
    throw std::runtime_error("intensity standardisation: the body mask holds " +
                             std::to_string(inside.size()) + " voxels, too few");
  }
  const double lo = Percentile(inside, params.lowerPercentile);
  const double hi = Percentile(inside, params.upperPercentile);
  if (!(hi > lo)) throw std::runtime_error("intensity standardisation: no contrast in the body");

  IntensityReference ref;
  std::vector<double> heights;
  ref.peaks = FindTissuePeaks(inside, lo, hi, params.histogramBins, params.smoothingBins,
                              params.minPeakFraction, &heights);

  // 1. A muscle mask from another series (voxels inside the body only).
  if (muscle) {
    RequireSameGrid(image, *muscle, "intensity standardisation (muscle mask)");
    auto both = NewMaskLike(body);
    const std::size_t n = image.GetLargestPossibleRegion().GetNumberOfPixels();
    const std::uint8_t* b = body.GetBufferPointer();
    const std::uint8_t* m = muscle->GetBufferPointer();
    std::uint8_t* o = both->GetBufferPointer();
    std::size_t count = 0;
    for (std::size_t i = 0; i < n; ++i) count += (o[i] = (b[i] && m[i]) ? 1 : 0);
    if (count >= params.minReferenceVoxels) {
      const std::vector<float> mv = SampleValues(image, both.GetPointer(), true);
      ref.muscleLevel = HistogramMode(mv, Percentile(mv, 1.0), Percentile(mv, 99.0),
                                      params.histogramBins / 2, params.smoothingBins);
      ref.method = "muscle_mask";
    }
  }
  // 2. T1: fat is the brightest tissue peak, muscle the tallest peak well below it.
  if (ref.method.empty() && contrast == TissueContrast::T1 && !ref.peaks.empty()) {
    ref.fatLevel = ref.peaks.back().position;
    double best = -1;
    for (std::size_t k = 0; k < ref.peaks.size(); ++k) {
      const double ratio = ref.peaks[k].position / ref.fatLevel;
      if (ratio >= params.t1MuscleToFatMin && ratio <= params.t1MuscleToFatMax &&
          heights[k] > best) {
        best = heights[k];
        ref.muscleLevel = ref.peaks[k].position;
        ref.method = "t1_peaks";
      }
    }
  }
  // 3. Fluid-sensitive: the darkest tissue peak is suppressed fat (and cortex); muscle is the
  // tallest peak above it. Weak evidence: a body without a fat peak would be misread.
  if (ref.method.empty() && contrast == TissueContrast::FluidSensitive && ref.peaks.size() >= 2) {
    double best = -1;
    for (std::size_t k = 1; k < ref.peaks.size(); ++k) {
      if (heights[k] > best) {
        best = heights[k];
        ref.muscleLevel = ref.peaks[k].position;
        ref.method = "fluid_peaks";
      }
    }
  }
  // 4. The body's histogram mode.
  if (ref.method.empty()) {
    ref.muscleLevel = HistogramMode(inside, lo, hi, params.histogramBins, params.smoothingBins);
    ref.method = "body_mode";
  }

  const std::vector<float> outside = SampleValues(image, &body, /*inside=*/false);
  const std::size_t n = image.GetLargestPossibleRegion().GetNumberOfPixels();
  const bool haveOutside =
      static_cast<double>(outside.size()) >= params.minOutsideFraction * static_cast<double>(n);
  ref.zeroLevel = haveOutside ? Percentile(outside, 50.0) : 0.0;
  if (!(ref.muscleLevel > ref.zeroLevel)) {
    throw std::runtime_error("intensity standardisation: the muscle level (" +
                             std::to_string(ref.muscleLevel) + ") is not above the noise floor (" +
                             std::to_string(ref.zeroLevel) + ")");
  }

  auto out = NewFloatLike(image);
  const float* in = image.GetBufferPointer();
  float* o = out->GetBufferPointer();
  const double scale = 1.0 / (ref.muscleLevel - ref.zeroLevel);
  for (std::size_t i = 0; i < n; ++i) o[i] = static_cast<float>((in[i] - ref.zeroLevel) * scale);
  return {out, ref};
}

MaskImage::Pointer MuscleMaskFromT1(const FloatImage& t1, const MaskImage& body,
                                    const IntensityReference& ref) {
  RequireSameGrid(t1, body, "muscle mask");
  const double halfWidth = ref.fatLevel > ref.muscleLevel
                               ? 0.25 * (ref.fatLevel - ref.muscleLevel)
                               : 0.25 * (ref.muscleLevel - ref.zeroLevel);
  auto out = NewMaskLike(t1);
  const std::size_t n = t1.GetLargestPossibleRegion().GetNumberOfPixels();
  const float* v = t1.GetBufferPointer();
  const std::uint8_t* b = body.GetBufferPointer();
  std::uint8_t* o = out->GetBufferPointer();
  for (std::size_t i = 0; i < n; ++i) {
    o[i] = (b[i] && std::abs(v[i] - ref.muscleLevel) <= halfWidth) ? 1 : 0;
  }
  return out;
}

FloatImage::Pointer ResampleIntoGrid(const FloatImage& moving, const FloatImage& reference,
                                     float outsideValue) {
  auto resample = itk::ResampleImageFilter<FloatImage, FloatImage>::New();
  resample->SetInput(&moving);
  resample->SetReferenceImage(&reference);
  resample->UseReferenceImageOn();
  resample->SetInterpolator(itk::LinearInterpolateImageFunction<FloatImage, double>::New());
  resample->SetDefaultPixelValue(outsideValue);
  resample->Update();
  FloatImage::Pointer out = resample->GetOutput();
  out->DisconnectPipeline();
  return out;
}

MaskImage::Pointer ResampleMaskIntoGrid(const MaskImage& moving, const FloatImage& reference) {
  auto resample = itk::ResampleImageFilter<MaskImage, MaskImage>::New();
  resample->SetInput(&moving);
  resample->SetOutputParametersFromImage(&reference);
  resample->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<MaskImage, double>::New());
  resample->SetDefaultPixelValue(0);
  resample->Update();
  MaskImage::Pointer out = resample->GetOutput();
  out->DisconnectPipeline();
  return out;
}

MaskImage::Pointer FieldOfViewInGrid(const FloatImage& moving, const FloatImage& reference) {
  auto fov = NewMaskLike(reference);
  const auto region = reference.GetLargestPossibleRegion();
  const auto movingRegion = moving.GetLargestPossibleRegion();
  itk::ImageRegionIteratorWithIndex<MaskImage> it(fov, region);
  for (; !it.IsAtEnd(); ++it) {
    FloatImage::PointType p;
    reference.TransformIndexToPhysicalPoint(it.GetIndex(), p);
    const auto ci = moving.TransformPhysicalPointToContinuousIndex<double>(p);
    bool in = true;
    for (unsigned d = 0; d < 3; ++d) {
      const double lo = movingRegion.GetIndex()[d] - 0.5;
      in = in && ci[d] >= lo && ci[d] <= lo + movingRegion.GetSize()[d];
    }
    it.Set(in ? 1 : 0);
  }
  return fov;
}

}  // namespace ischia
