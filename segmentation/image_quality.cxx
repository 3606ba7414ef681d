// Image quality of one series: in-body noise (robust local residual in homogeneous tissue),
// SNR, background cross-check and phase-direction ghosting. Plain loops over the voxel buffer
// (no ITK pipeline): a few passes over one volume, cheap to compile and to run.
#include "image_quality.h"

#include <itkMultiThreaderBase.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "hamstring_internal.h"  // ForEachSlice: ITK's pool, one slice per work item

namespace ischia {
namespace {

struct Grid {
  int nx = 0, ny = 0, nz = 0;
  std::size_t Plane() const { return static_cast<std::size_t>(nx) * ny; }
  std::size_t Size() const { return Plane() * nz; }
  std::size_t At(int i, int j, int k) const {
    return (static_cast<std::size_t>(k) * ny + j) * nx + i;
  }
};

double Median(std::vector<float> v) {
  if (v.empty()) return ImageQuality::kNaN;
  const auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// Separable in-plane Gaussian (clamped edges) of slice k into `out`.
void SmoothSlice(const float* in, const Grid& g, int k, const std::vector<double>& w,
                 std::vector<float>& out) {
  const int r = static_cast<int>(w.size() / 2);
  std::vector<float> tmp(g.Plane());
  for (int j = 0; j < g.ny; ++j) {
    const float* row = in + g.At(0, j, k);
    float* dst = &tmp[static_cast<std::size_t>(j) * g.nx];
    for (int i = 0; i < g.nx; ++i) {
      double s = 0;
      if (i >= r && i < g.nx - r) {
        for (int t = -r; t <= r; ++t) s += w[t + r] * row[i + t];
      } else {
        for (int t = -r; t <= r; ++t) s += w[t + r] * row[std::clamp(i + t, 0, g.nx - 1)];
      }
      dst[i] = static_cast<float>(s);
    }
  }
  for (int j = 0; j < g.ny; ++j) {
    float* dst = &out[g.At(0, j, k)];
    std::fill(dst, dst + g.nx, 0.0f);
    for (int t = -r; t <= r; ++t) {
      const float* src = &tmp[static_cast<std::size_t>(std::clamp(j + t, 0, g.ny - 1)) * g.nx];
      const float wt = static_cast<float>(w[t + r]);
      for (int i = 0; i < g.nx; ++i) dst[i] += wt * src[i];
    }
  }
}

std::vector<double> GaussianKernel(double sigmaPx) {
  const int r = std::max(1, static_cast<int>(std::ceil(3 * sigmaPx)));
  std::vector<double> w(2 * r + 1);
  double sum = 0;
  for (int t = -r; t <= r; ++t) sum += w[t + r] = std::exp(-0.5 * t * t / (sigmaPx * sigmaPx));
  for (double& v : w) v /= sum;
  return w;
}

// In-plane dilation of slice k by a rectangle of half-sizes (rx, ry) pixels: distance sweeps.
void DilateSlice(std::vector<std::uint8_t>& m, const Grid& g, int k, int rx, int ry) {
  std::vector<int> dist;
  auto line = [&dist](std::uint8_t* p, std::size_t stride, int n, int radius) {
    dist.assign(n, 1 << 29);
    int last = -(1 << 29);
    for (int x = 0; x < n; ++x) {
      if (p[x * stride]) last = x;
      dist[x] = x - last;
    }
    last = 1 << 29;
    for (int x = n - 1; x >= 0; --x) {
      if (p[x * stride]) last = x;
      dist[x] = std::min(dist[x], last - x);
    }
    for (int x = 0; x < n; ++x) p[x * stride] = dist[x] <= radius;
  };
  for (int j = 0; j < g.ny; ++j) line(&m[g.At(0, j, k)], 1, g.nx, rx);
  for (int i = 0; i < g.nx; ++i) line(&m[g.At(i, 0, k)], g.nx, g.ny, ry);
}

// Per row j of slice k, the columns [span[j][0], span[j][1]] inside the convex hull of the set
// voxels of mask m (span[j][0] > span[j][1]: none).
std::vector<std::array<int, 2>> ConvexHullSpans(const std::vector<std::uint8_t>& m, const Grid& g,
                                               int k) {
  std::vector<std::array<long, 2>> pts;  // (x, y), the extremes of each row
  for (int j = 0; j < g.ny; ++j) {
    const std::uint8_t* row = &m[g.At(0, j, k)];
    int lo = -1, hi = -1;
    for (int i = 0; i < g.nx; ++i)
      if (row[i]) (lo < 0 ? lo : hi) = i, hi = i;
    if (lo >= 0) pts.push_back({lo, j}), pts.push_back({hi, j});
  }
  std::vector<std::array<int, 2>> span(g.ny, {g.nx, -1});
  if (pts.empty()) return span;
  // Andrew's monotone chain.
  std::sort(pts.begin(), pts.end(), [](const auto& a, const auto& b) {
    return a[0] != b[0] ? a[0] < b[0] : a[1] < b[1];
  });
  auto cross = [](const auto& o, const auto& a, const auto& b) {
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  };
  std::vector<std::array<long, 2>> hull(2 * pts.size());
  std::size_t h = 0;
  for (std::size_t i = 0; i < pts.size(); ++i) {
    while (h >= 2 && cross(hull[h - 2], hull[h - 1], pts[i]) <= 0) --h;
    hull[h++] = pts[i];
  }
  for (std::size_t i = pts.size() - 1, lower = h + 1; i-- > 0;) {
    while (h >= lower && cross(hull[h - 2], hull[h - 1], pts[i]) <= 0) --h;
    hull[h++] = pts[i];
  }
  hull.resize(h);
  // Each edge marks the columns it passes at every row it spans; a point hull marks itself.
  for (std::size_t e = 0; e < hull.size(); ++e) {
    const auto& a = hull[e];
    const auto& b = hull[(e + 1) % hull.size()];
    const long y0 = std::min(a[1], b[1]), y1 = std::max(a[1], b[1]);
    for (long y = y0; y <= y1; ++y) {
      const double x = a[1] == b[1] ? a[0] : a[0] + double(b[0] - a[0]) * (y - a[1]) / (b[1] - a[1]);
      const int xl = static_cast<int>(std::floor(std::min<double>(x, a[1] == b[1] ? b[0] : x)));
      const int xh = static_cast<int>(std::ceil(std::max<double>(x, a[1] == b[1] ? b[0] : x)));
      span[y][0] = std::min(span[y][0], xl);
      span[y][1] = std::max(span[y][1], xh);
    }
  }
  return span;
}

double Sinc(double x) { return x == 0 ? 1.0 : std::sin(M_PI * x) / (M_PI * x); }

}  // namespace

double WindowResidualVarianceFactor(int windowRadiusPx, std::array<double, 2> acquiredFraction) {
  const int r = std::max(1, windowRadiusPx), w = 2 * r + 1;
  double a[2], b[2];
  for (int axis = 0; axis < 2; ++axis) {
    const double f = acquiredFraction[axis] > 0 ? std::clamp(acquiredFraction[axis], 0.1, 1.0) : 1;
    // Noise band-limited to f of the band (zero-filled k-space): correlation sinc(f d).
    auto rho = [f](int d) { return f >= 1 ? (d == 0 ? 1.0 : 0.0) : Sinc(f * d); };
    double sa = 0, sb = 0;
    for (int d = -r; d <= r; ++d) sa += rho(d);
    for (int d = -(w - 1); d <= w - 1; ++d) sb += (w - std::abs(d)) * rho(d);
    a[axis] = sa / w;
    b[axis] = sb / (static_cast<double>(w) * w);
  }
  // var(x0 - mean_W x) / sigma^2 = 1 - 2 mean_j rho(0, j) + mean_ij rho(i, j); separable.
  return 1 - 2 * a[0] * a[1] + b[0] * b[1];
}

ImageQuality MeasureImageQuality(const FloatImage& image, const MaskImage& body,
                                 const MaskImage* tissue, PhaseEncodingAxis phase,
                                 const ImageQualityParameters& p) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  if (body.GetLargestPossibleRegion().GetSize() != size ||
      (tissue && tissue->GetLargestPossibleRegion().GetSize() != size)) {
    throw std::invalid_argument("image quality: image and masks must share one grid");
  }
  const Grid g{static_cast<int>(size[0]), static_cast<int>(size[1]), static_cast<int>(size[2])};
  const float* I = image.GetBufferPointer();
  const std::uint8_t* B = body.GetBufferPointer();
  const std::uint8_t* T = tissue ? tissue->GetBufferPointer() : nullptr;
  const std::size_t n = g.Size();
  ImageQuality q;
  std::vector<float> S(n);
  const std::vector<double> kernel = GaussianKernel(p.selectionSigmaPx);
  hamstring::ForEachSlice(g.nz, [&](int k) { SmoothSlice(I, g, k, kernel, S); });

  // Signal: the tissue mask's median (a median is unbiased by the noise of the voxels chosen);
  // without one, the median of the brighter half of the body.
  std::vector<float> values;
  if (T) {
    for (std::size_t v = 0; v < n; ++v)
      if (T[v] && B[v]) values.push_back(I[v]);
  }
  if (values.size() >= p.minVoxels) {
    q.signalSource = "muscle_mask";
  } else {
    values.clear();
    for (std::size_t v = 0; v < n; ++v)
      if (B[v]) values.push_back(S[v]);
    const double mid = Median(values);
    values.clear();
    for (std::size_t v = 0; v < n; ++v)
      if (B[v] && S[v] >= mid) values.push_back(I[v]);
    q.signalSource = "bright_body_median";
  }
  q.signal = Median(std::move(values));

  // Noise: residual against the window mean, in homogeneous tissue whose window lies inside the
  // body; sigma from the MAD of the residuals, corrected for the window and noise correlation.
  const int r = std::max(1, p.windowRadiusPx), w = 2 * r + 1;
  struct Candidate {
    float relativeGradient, residual;
  };
  std::vector<std::vector<Candidate>> perSlice(g.nz);
  if (std::isfinite(q.signal) && q.signal > 0 && g.nx > 2 * r + 2 && g.ny > 2 * r + 2) {
    const double minTissue = p.minTissueFraction * q.signal;
    hamstring::ForEachSlice(g.nz, [&](int k) {
      const int stride = g.nx + 1;
      std::vector<double> sumI(static_cast<std::size_t>(stride) * (g.ny + 1));
      std::vector<int> sumB(sumI.size());
      for (int j = 0; j < g.ny; ++j) {
        double rowI = 0;
        int rowB = 0;
        for (int i = 0; i < g.nx; ++i) {
          rowI += I[g.At(i, j, k)];
          rowB += B[g.At(i, j, k)] != 0;
          sumI[(j + 1) * stride + i + 1] = sumI[j * stride + i + 1] + rowI;
          sumB[(j + 1) * stride + i + 1] = sumB[j * stride + i + 1] + rowB;
        }
      }
      auto box = [&](const auto& s, int i, int j) {
        return s[(j + r + 1) * stride + i + r + 1] - s[(j - r) * stride + i + r + 1] -
               s[(j + r + 1) * stride + i - r] + s[(j - r) * stride + i - r];
      };
      std::vector<Candidate>& out = perSlice[k];
      for (int j = r + 1; j < g.ny - r - 1; ++j) {
        for (int i = r + 1; i < g.nx - r - 1; ++i) {
          const std::size_t v = g.At(i, j, k);
          if (!B[v] || S[v] < minTissue || box(sumB, i, j) != w * w) continue;
          const double gx = S[v + 1] - S[v - 1], gy = S[v + g.nx] - S[v - g.nx];
          const double mean = box(sumI, i, j) / (w * w);
          out.push_back({static_cast<float>(std::hypot(gx, gy) / (2 * S[v])),
                         static_cast<float>(I[v] - mean)});
        }
      }
    });
  }
  std::vector<Candidate> candidates;
  for (auto& c : perSlice) candidates.insert(candidates.end(), c.begin(), c.end());
  perSlice = {};
  if (candidates.size() * p.homogeneousFraction >= p.minVoxels) {
    std::vector<float> gradients(candidates.size());
    for (std::size_t c = 0; c < candidates.size(); ++c) gradients[c] = candidates[c].relativeGradient;
    const auto kth = static_cast<std::ptrdiff_t>(p.homogeneousFraction * (gradients.size() - 1));
    std::nth_element(gradients.begin(), gradients.begin() + kth, gradients.end());
    const float limit = gradients[kth];
    std::vector<float> residuals;
    for (const Candidate& c : candidates)
      if (c.relativeGradient <= limit) residuals.push_back(c.residual);
    const double centre = Median(residuals);
    for (float& x : residuals) x = static_cast<float>(std::fabs(x - centre));
    q.noiseVoxels = residuals.size();
    q.correlationCorrection = WindowResidualVarianceFactor(r, p.acquiredFraction);
    q.noiseSigma = 1.4826 * Median(std::move(residuals)) / std::sqrt(q.correlationCorrection);
    q.snr = q.noiseSigma > 0 ? q.signal / q.noiseSigma : ImageQuality::kNaN;
    q.noiseMethod = "MAD of the " + std::to_string(w) + "x" + std::to_string(w) +
                    " in-plane window residual in homogeneous tissue inside the body (lowest " +
                    std::to_string(static_cast<int>(std::lround(100 * p.homogeneousFraction))) +
                    "% relative gradient, smoothed intensity >= " +
                    std::to_string(static_cast<int>(std::lround(100 * p.minTissueFraction))) +
                    "% of the signal level)";
  } else {
    q.noiseNote = "too little homogeneous tissue inside the body for a noise estimate";
  }
  candidates = {};

  // Background: away from the body and from any other object by the margin, off the image edge.
  std::vector<std::uint8_t> objects(n);
  const bool threshold = std::isfinite(p.objectThreshold);
  const auto spacing = image.GetSpacing();
  const int rx = static_cast<int>(std::ceil(p.backgroundMarginMm / spacing[0]));
  const int ry = static_cast<int>(std::ceil(p.backgroundMarginMm / spacing[1]));
  std::vector<float> sliceLowest(g.nz, std::numeric_limits<float>::max());
  std::vector<std::size_t> sliceTotal(g.nz, 0);
  auto background = [&](int i, int j, std::size_t v) {
    return !objects[v] && i >= 2 && j >= 2 && i < g.nx - 2 && j < g.ny - 2;
  };
  hamstring::ForEachSlice(g.nz, [&](int k) {
    for (std::size_t v = g.At(0, 0, k), e = v + g.Plane(); v < e; ++v)
      objects[v] = B[v] || (threshold && S[v] > p.objectThreshold);
    DilateSlice(objects, g, k, rx, ry);
    for (int j = 0; j < g.ny; ++j)
      for (int i = 0; i < g.nx; ++i) {
        const std::size_t v = g.At(i, j, k);
        if (!background(i, j, v)) continue;
        sliceLowest[k] = std::min(sliceLowest[k], I[v]);
        ++sliceTotal[k];
      }
  });
  std::size_t total = 0;
  for (std::size_t t : sliceTotal) total += t;
  const float lowest = *std::min_element(sliceLowest.begin(), sliceLowest.end());
  // Voxels at the minimum are masked or zero-filled, not noise.
  const double floorTolerance = 1e-3 * (std::isfinite(q.signal) ? std::fabs(q.signal) : 1.0);
  const bool haveAxis = phase != PhaseEncodingAxis::Unknown;
  const int phaseAxis = phase == PhaseEncodingAxis::Column ? 1 : 0;
  struct SliceSums {
    std::size_t atFloor = 0, ghostVoxels = 0;
    double ghostSum = 0, referenceSum = 0;
    std::vector<float> reference, band;
  };
  std::vector<SliceSums> sums(g.nz);
  hamstring::ForEachSlice(total > 0 ? g.nz : 0, [&](int k) {
    SliceSums& out = sums[k];
    // The convex hull of the body (dilated by the margin) is never background here: dark tissue
    // (suppressed fat inside the skin, a body cut by the field of view) may lie outside the
    // body mask but not outside its hull.
    std::vector<std::uint8_t> dilated(B + g.At(0, 0, k), B + g.At(0, 0, k) + g.Plane());
    const Grid plane{g.nx, g.ny, 1};
    DilateSlice(dilated, plane, 0, rx, ry);
    const std::vector<std::array<int, 2>> hull = ConvexHullSpans(dilated, plane, 0);
    auto inHull = [&](int i, int j) { return i >= hull[j][0] && i <= hull[j][1]; };
    // Lines along the phase axis, one per frequency coordinate. A motion ghost is the body
    // displaced along its line: it shows in the background (outside the hull) of the lines
    // that cross the body; lines that cross neither the hull nor another object are the
    // reference.
    const int lines = phaseAxis == 0 ? g.ny : g.nx, length = phaseAxis == 0 ? g.nx : g.ny;
    auto at = [&](int f, int t) {
      return phaseAxis == 0 ? g.At(t, f, k) : g.At(f, t, k);
    };
    for (int f = 0; f < lines; ++f) {
      bool crossesBody = false, crossesObject = false;
      for (int t = 0; t < length; ++t) {
        const int i = phaseAxis == 0 ? t : f, j = phaseAxis == 0 ? f : t;
        const std::size_t v = at(f, t);
        crossesBody |= B[v] != 0;
        crossesObject |= objects[v] != 0 || inHull(i, j);
      }
      for (int t = 0; t < length; ++t) {
        const int i = phaseAxis == 0 ? t : f, j = phaseAxis == 0 ? f : t;
        const std::size_t v = at(f, t);
        if (!background(i, j, v) || inHull(i, j)) continue;
        if (I[v] <= lowest + floorTolerance) {
          ++out.atFloor;
          continue;
        }
        if (haveAxis && crossesBody) {
          out.ghostSum += I[v];
          ++out.ghostVoxels;
          out.band.push_back(I[v]);
        } else if (!haveAxis || !crossesObject) {
          out.referenceSum += I[v];
          out.reference.push_back(I[v]);
        }
      }
    }
  });
  std::size_t atFloor = 0;
  double ghostSum = 0, referenceSum = 0;
  std::vector<float> reference, band;
  for (SliceSums& s : sums) {
    band.insert(band.end(), s.band.begin(), s.band.end());
    atFloor += s.atFloor;
    q.ghostVoxels += s.ghostVoxels;
    ghostSum += s.ghostSum;
    referenceSum += s.referenceSum;
    reference.insert(reference.end(), s.reference.begin(), s.reference.end());
  }
  sums = {};
  q.referenceVoxels = reference.size();
  q.backgroundVoxels = total;
  q.backgroundZeroFraction = total ? static_cast<double>(atFloor) / total : ImageQuality::kNaN;
  const bool zeroFilled = total > 0 && q.backgroundZeroFraction > 0.5;
  if (total < p.minVoxels) {
    q.backgroundNote = "too little background in the field of view (" + std::to_string(total) +
                       " voxels beyond " + std::to_string(static_cast<int>(p.backgroundMarginMm)) +
                       " mm of the body)";
  } else if (zeroFilled) {
    q.backgroundNote = "background zero-filled or masked (" +
                       std::to_string(std::lround(100 * q.backgroundZeroFraction)) +
                       "% of it at the minimum value)";
  } else if (reference.size() < p.minVoxels) {
    // Only the phase-encoding band holds background: still a cross-check, raised by any ghost.
    band.insert(band.end(), reference.begin(), reference.end());
    if (band.size() >= p.minVoxels) {
      q.backgroundSigma = Median(std::move(band)) / std::sqrt(2 * std::log(2.0));
      q.backgroundNote = "background noise from the body's phase-encoding lines (no other "
                         "background; ghosting would raise it)";
    } else {
      q.backgroundNote = "too little background in the field of view";
    }
  } else {
    q.backgroundSigma = Median(reference) / std::sqrt(2 * std::log(2.0));
  }

  if (!haveAxis) {
    q.ghostNote = "phase-encoding direction not recorded (0018,1312): ghosting not measured";
  } else if (total < p.minVoxels || zeroFilled) {
    q.ghostNote = q.backgroundNote + ": ghosting not measured";
  } else if (reference.size() < p.minVoxels) {
    q.ghostNote = "too little background away from the body's phase-encoding lines (" +
                  std::to_string(reference.size()) + " voxels): ghosting not measured";
  } else if (q.ghostVoxels < p.minVoxels) {
    q.ghostNote = "too little background along the phase-encoding direction beside the body (" +
                  std::to_string(q.ghostVoxels) + " voxels): ghosting not measured";
  } else {
    q.ghostMeasured = true;
    q.ghostBandMean = ghostSum / q.ghostVoxels;
    q.referenceMean = referenceSum / q.referenceVoxels;
    q.ghostRatio = q.referenceMean > 0 ? q.ghostBandMean / q.referenceMean : ImageQuality::kNaN;
    q.ghostToSignalPercent = 100 * (q.ghostBandMean - q.referenceMean) / q.signal;
  }
  return q;
}

}  // namespace ischia
