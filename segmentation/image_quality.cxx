// Image quality of one series: in-body noise (robust local residual in homogeneous tissue),
// SNR, background cross-check and phase-direction ghosting. Plain loops over the voxel buffer
// (no ITK pipeline): a few passes over one volume, cheap to compile and to run.
#include "image_quality.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

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

// Separable in-plane Gaussian (clamped edges), each slice on its own.
std::vector<float> SmoothInPlane(const float* in, const Grid& g, double sigmaPx) {
  const int r = std::max(1, static_cast<int>(std::ceil(3 * sigmaPx)));
  std::vector<double> w(2 * r + 1);
  double sum = 0;
  for (int t = -r; t <= r; ++t) sum += w[t + r] = std::exp(-0.5 * t * t / (sigmaPx * sigmaPx));
  for (double& v : w) v /= sum;
  std::vector<float> tmp(g.Size()), out(g.Size());
  for (int k = 0; k < g.nz; ++k) {
    for (int j = 0; j < g.ny; ++j) {
      const float* row = in + g.At(0, j, k);
      float* dst = &tmp[g.At(0, j, k)];
      for (int i = 0; i < g.nx; ++i) {
        double s = 0;
        for (int t = -r; t <= r; ++t) s += w[t + r] * row[std::clamp(i + t, 0, g.nx - 1)];
        dst[i] = static_cast<float>(s);
      }
    }
    for (int j = 0; j < g.ny; ++j) {
      float* dst = &out[g.At(0, j, k)];
      for (int i = 0; i < g.nx; ++i) dst[i] = 0;
      for (int t = -r; t <= r; ++t) {
        const float* src = &tmp[g.At(0, std::clamp(j + t, 0, g.ny - 1), k)];
        const float wt = static_cast<float>(w[t + r]);
        for (int i = 0; i < g.nx; ++i) dst[i] += wt * src[i];
      }
    }
  }
  return out;
}

// In-plane dilation by a rectangle of half-sizes (rx, ry) pixels: distance sweeps per line.
void DilateInPlane(std::vector<std::uint8_t>& m, const Grid& g, int rx, int ry) {
  auto line = [](std::uint8_t* p, std::size_t stride, int n, int radius,
                 std::vector<int>& dist) {
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
  std::vector<int> dist;
  for (int k = 0; k < g.nz; ++k) {
    for (int j = 0; j < g.ny; ++j) line(&m[g.At(0, j, k)], 1, g.nx, rx, dist);
    for (int i = 0; i < g.nx; ++i) line(&m[g.At(i, 0, k)], g.nx, g.ny, ry, dist);
  }
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
  const std::vector<float> S = SmoothInPlane(I, g, p.selectionSigmaPx);

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
  std::vector<Candidate> candidates;
  if (std::isfinite(q.signal) && q.signal > 0 && g.nx > 2 * r + 2 && g.ny > 2 * r + 2) {
    const double minTissue = p.minTissueFraction * q.signal;
    std::vector<double> sumI((g.nx + 1) * static_cast<std::size_t>(g.ny + 1));
    std::vector<int> sumB(sumI.size());
    const int stride = g.nx + 1;
    for (int k = 0; k < g.nz; ++k) {
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
      for (int j = r + 1; j < g.ny - r - 1; ++j) {
        for (int i = r + 1; i < g.nx - r - 1; ++i) {
          const std::size_t v = g.At(i, j, k);
          if (!B[v] || S[v] < minTissue || box(sumB, i, j) != w * w) continue;
          const double gx = S[v + 1] - S[v - 1], gy = S[v + g.nx] - S[v - g.nx];
          const double mean = box(sumI, i, j) / (w * w);
          candidates.push_back({static_cast<float>(std::hypot(gx, gy) / (2 * S[v])),
                                static_cast<float>(I[v] - mean)});
        }
      }
    }
  }
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
  for (std::size_t v = 0; v < n; ++v) objects[v] = B[v] || (threshold && S[v] > p.objectThreshold);
  const auto spacing = image.GetSpacing();
  DilateInPlane(objects, g, static_cast<int>(std::ceil(p.backgroundMarginMm / spacing[0])),
                static_cast<int>(std::ceil(p.backgroundMarginMm / spacing[1])));
  auto background = [&](int i, int j, std::size_t v) {
    return !objects[v] && i >= 2 && j >= 2 && i < g.nx - 2 && j < g.ny - 2;
  };
  float lowest = std::numeric_limits<float>::max();
  std::size_t total = 0;
  for (int k = 0; k < g.nz; ++k)
    for (int j = 0; j < g.ny; ++j)
      for (int i = 0; i < g.nx; ++i) {
        const std::size_t v = g.At(i, j, k);
        if (!background(i, j, v)) continue;
        lowest = std::min(lowest, I[v]);
        ++total;
      }
  // Voxels at the minimum are masked or zero-filled, not noise.
  const double floorTolerance = 1e-3 * (std::isfinite(q.signal) ? std::fabs(q.signal) : 1.0);
  std::size_t atFloor = 0;
  const bool haveAxis = phase != PhaseEncodingAxis::Unknown;
  const int phaseAxis = phase == PhaseEncodingAxis::Column ? 1 : 0;
  double ghostSum = 0, referenceSum = 0;
  std::vector<float> reference;
  for (int k = 0; k < g.nz && total > 0; ++k) {
    // Lines along the phase axis, one per frequency coordinate.
    const int lines = phaseAxis == 0 ? g.ny : g.nx, length = phaseAxis == 0 ? g.nx : g.ny;
    for (int f = 0; f < lines; ++f) {
      bool crossesBody = false, crossesObject = false;
      for (int t = 0; t < length; ++t) {
        const int i = phaseAxis == 0 ? t : f, j = phaseAxis == 0 ? f : t;
        const std::size_t v = g.At(i, j, k);
        crossesBody |= B[v] != 0;
        crossesObject |= objects[v] != 0;
      }
      for (int t = 0; t < length; ++t) {
        const int i = phaseAxis == 0 ? t : f, j = phaseAxis == 0 ? f : t;
        const std::size_t v = g.At(i, j, k);
        if (!background(i, j, v)) continue;
        if (I[v] <= lowest + floorTolerance) {
          ++atFloor;
          continue;
        }
        if (haveAxis && crossesBody) {
          ghostSum += I[v];
          ++q.ghostVoxels;
        } else if (!haveAxis || !crossesObject) {
          referenceSum += I[v];
          reference.push_back(I[v]);
        }
      }
    }
  }
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
    q.backgroundNote = "too little background away from the phase-encoding lines of the body";
  } else {
    q.backgroundSigma = Median(reference) / std::sqrt(2 * std::log(2.0));
  }

  if (!haveAxis) {
    q.ghostNote = "phase-encoding direction not recorded (0018,1312): ghosting not measured";
  } else if (total < p.minVoxels || zeroFilled || reference.size() < p.minVoxels) {
    q.ghostNote = q.backgroundNote + ": ghosting not measured";
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
