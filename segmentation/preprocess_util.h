#pragma once
// Small helpers shared by the preprocessing sources (internal to segmentation/).
#include <itkImageRegionIteratorWithIndex.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "image_types.h"

namespace ischia {

// Values of `image` (inside / outside `mask` when given), a deterministic stride subsample of
// at most `maxSamples` values: percentiles and histograms do not need every voxel.
inline std::vector<float> SampleValues(const FloatImage& image, const MaskImage* mask,
                                       bool inside = true, std::size_t maxSamples = 2000000) {
  const std::size_t n = image.GetLargestPossibleRegion().GetNumberOfPixels();
  const float* v = image.GetBufferPointer();
  const std::uint8_t* m = mask ? mask->GetBufferPointer() : nullptr;
  std::size_t selected = 0;
  for (std::size_t i = 0; i < n; ++i) selected += !m || ((m[i] != 0) == inside);
  const std::size_t stride = std::max<std::size_t>(1, selected / maxSamples);
  std::vector<float> out;
  out.reserve(selected / stride + 1);
  std::size_t k = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (m && (m[i] != 0) != inside) continue;
    if (k++ % stride == 0 && std::isfinite(v[i])) out.push_back(v[i]);
  }
  return out;
}

// Percentile (0-100) of `values` (copied; nearest rank).
inline double Percentile(std::vector<float> values, double percent) {
  if (values.empty()) throw std::runtime_error("percentile of an empty set");
  const double f = std::clamp(percent, 0.0, 100.0) / 100.0;
  const auto k = static_cast<std::size_t>(std::lround(f * static_cast<double>(values.size() - 1)));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

// Counts of `values` in `bins` equal bins over [lo, hi]; values outside are dropped.
inline std::vector<double> BinValues(const std::vector<float>& values, double lo, double hi,
                                     unsigned bins) {
  std::vector<double> counts(bins, 0.0);
  const double w = (hi - lo) / bins;
  for (float v : values) {
    if (v < lo || v > hi) continue;
    const auto b = std::min<long>(bins - 1, static_cast<long>((v - lo) / w));
    counts[static_cast<std::size_t>(b)] += 1.0;
  }
  return counts;
}

// Histogram of `values` over [lo, hi] smoothed by a Gaussian of `sigmaBins` bins.
inline std::vector<double> SmoothedHistogram(const std::vector<float>& values, double lo, double hi,
                                             unsigned bins, double sigmaBins) {
  const std::vector<double> counts = BinValues(values, lo, hi, bins);
  std::vector<double> smooth(bins, 0.0);
  const int r = static_cast<int>(std::ceil(3 * sigmaBins));
  for (int i = 0; i < static_cast<int>(bins); ++i) {
    for (int k = -r; k <= r; ++k) {
      const int j = i + k;
      if (j < 0 || j >= static_cast<int>(bins)) continue;
      smooth[i] +=
          counts[j] * (sigmaBins > 0 ? std::exp(-0.5 * k * k / (sigmaBins * sigmaBins)) : (k == 0));
    }
  }
  return smooth;
}

// Mode of `values` within [lo, hi]: Gaussian-smoothed histogram, parabolic peak refinement.
inline double HistogramMode(const std::vector<float>& values, double lo, double hi, unsigned bins,
                            double sigmaBins) {
  if (!(hi > lo)) return lo;
  const std::vector<double> smooth = SmoothedHistogram(values, lo, hi, bins, sigmaBins);
  const auto peak =
      static_cast<int>(std::max_element(smooth.begin(), smooth.end()) - smooth.begin());
  double offset = 0;
  if (peak > 0 && peak + 1 < static_cast<int>(bins)) {
    const double a = smooth[peak - 1], b = smooth[peak], c = smooth[peak + 1];
    const double denom = a - 2 * b + c;
    if (denom < 0) offset = std::clamp(0.5 * (a - c) / denom, -0.5, 0.5);
  }
  const double w = (hi - lo) / bins;
  return lo + (peak + 0.5 + offset) * w;
}

template <typename TImage>
typename TImage::Pointer NewImageLike(const itk::ImageBase<3>& like) {
  auto out = TImage::New();
  out->SetRegions(like.GetLargestPossibleRegion());
  out->CopyInformation(&like);
  out->Allocate(true);
  return out;
}
inline MaskImage::Pointer NewMaskLike(const itk::ImageBase<3>& like) {
  return NewImageLike<MaskImage>(like);
}
inline FloatImage::Pointer NewFloatLike(const itk::ImageBase<3>& like) {
  return NewImageLike<FloatImage>(like);
}

// Throws unless the two images share size, origin, spacing and direction.
inline void RequireSameGrid(const itk::ImageBase<3>& a, const itk::ImageBase<3>& b,
                            const std::string& what) {
  bool same = a.GetLargestPossibleRegion() == b.GetLargestPossibleRegion();
  const double tol = 1e-4;
  for (unsigned d = 0; d < 3 && same; ++d) {
    same =
        std::abs(a.GetOrigin()[d] - b.GetOrigin()[d]) <= tol * std::max(1.0, a.GetSpacing()[d]) &&
        std::abs(a.GetSpacing()[d] - b.GetSpacing()[d]) <= tol * a.GetSpacing()[d];
    for (unsigned e = 0; e < 3 && same; ++e) {
      same = std::abs(a.GetDirection()[d][e] - b.GetDirection()[d][e]) <= tol;
    }
  }
  if (!same) throw std::invalid_argument(what + ": image and mask are on different grids");
}

}  // namespace ischia
