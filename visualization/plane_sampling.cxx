#include "plane_sampling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ischia {

Vec3 PlaneGrid::Point(double a, double b) const {
  Vec3 p{};
  for (int r = 0; r < 3; ++r) p[r] = origin[r] + a * pixelMm * u[r] + b * pixelMm * v[r];
  return p;
}

std::array<double, 2> PlaneGrid::ToPixel(const Vec3& p) const {
  double a = 0, b = 0;
  for (int r = 0; r < 3; ++r) a += (p[r] - origin[r]) * u[r], b += (p[r] - origin[r]) * v[r];
  return {a / pixelMm, b / pixelMm};
}

double PlaneGrid::Distance(const Vec3& p) const {
  const Vec3 n{u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]};
  double d = 0;
  for (int r = 0; r < 3; ++r) d += (p[r] - origin[r]) * n[r];
  return d;
}

PlaneGrid PlaneGrid::Centred(const Vec3& centre, const Vec3& u, const Vec3& v, double widthMm,
                             double heightMm, double pixelMm) {
  PlaneGrid g;
  g.u = u, g.v = v, g.pixelMm = pixelMm;
  g.nu = std::max(1, static_cast<int>(std::lround(widthMm / pixelMm)));
  g.nv = std::max(1, static_cast<int>(std::lround(heightMm / pixelMm)));
  for (int r = 0; r < 3; ++r)
    g.origin[r] = centre[r] - 0.5 * (g.nu - 1) * pixelMm * u[r] - 0.5 * (g.nv - 1) * pixelMm * v[r];
  return g;
}

namespace {

// Calls f(k, j, i, weight) for the 8 voxels around the plane pixel's continuous index; returns
// false (no call) outside the image.
template <typename TImage, typename F>
void ForEachPixel(const TImage& image, const PlaneGrid& plane, F&& f) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  const int n[3] = {static_cast<int>(size[0]), static_cast<int>(size[1]),
                    static_cast<int>(size[2])};
  const auto& sp = image.GetSpacing();
  const auto& dir = image.GetDirection();
  const auto& o = image.GetOrigin();
  for (int b = 0; b < plane.nv; ++b)
    for (int a = 0; a < plane.nu; ++a) {
      const Vec3 p = plane.Point(a, b);
      double ci[3];
      bool inside = true;
      for (int c = 0; c < 3; ++c) {
        ci[c] =
            (dir[0][c] * (p[0] - o[0]) + dir[1][c] * (p[1] - o[1]) + dir[2][c] * (p[2] - o[2])) /
            sp[c];
        // Half a voxel of tolerance at the borders, clamped (edge voxels extend to their face).
        if (ci[c] < -0.5 || ci[c] > n[c] - 0.5) inside = false;
        ci[c] = std::clamp(ci[c], 0.0, n[c] - 1.0);
      }
      const std::size_t out = static_cast<std::size_t>(b) * plane.nu + a;
      if (!inside) {
        f(out, nullptr, nullptr);
        continue;
      }
      std::size_t idx[8];
      double w[8];
      int base[3];
      double t[3];
      for (int c = 0; c < 3; ++c) {
        base[c] = std::min(static_cast<int>(ci[c]), std::max(0, n[c] - 2));
        t[c] = n[c] > 1 ? ci[c] - base[c] : 0.0;
      }
      for (int m = 0; m < 8; ++m) {
        const int di = m & 1, dj = (m >> 1) & 1, dk = (m >> 2) & 1;
        const int ii = std::min(base[0] + di, n[0] - 1), jj = std::min(base[1] + dj, n[1] - 1),
                  kk = std::min(base[2] + dk, n[2] - 1);
        idx[m] = (static_cast<std::size_t>(kk) * n[1] + jj) * n[0] + ii;
        w[m] = (di ? t[0] : 1 - t[0]) * (dj ? t[1] : 1 - t[1]) * (dk ? t[2] : 1 - t[2]);
      }
      f(out, idx, w);
    }
}

}  // namespace

std::vector<float> SamplePlane(const FloatImage& image, const PlaneGrid& plane) {
  std::vector<float> out(static_cast<std::size_t>(plane.nu) * plane.nv);
  const float* buf = image.GetBufferPointer();
  ForEachPixel(image, plane, [&](std::size_t o, const std::size_t* idx, const double* w) {
    if (!idx) {
      out[o] = std::numeric_limits<float>::quiet_NaN();
      return;
    }
    double s = 0;
    for (int m = 0; m < 8; ++m) s += w[m] * buf[idx[m]];
    out[o] = static_cast<float>(s);
  });
  return out;
}

std::vector<float> SampleLabelIndicator(const LabelImage& labels, std::uint16_t label,
                                        BodySide side, double midlineXmm, const PlaneGrid& plane) {
  std::vector<float> out(static_cast<std::size_t>(plane.nu) * plane.nv, 0.f);
  const std::uint16_t* buf = labels.GetBufferPointer();
  ForEachPixel(labels, plane, [&](std::size_t o, const std::size_t* idx, const double* w) {
    if (!idx) return;
    if (side != BodySide::Both) {
      const double x = plane.Point(o % plane.nu, o / plane.nu)[0];
      if ((x > midlineXmm) != (side == BodySide::Left)) return;
    }
    double s = 0;
    for (int m = 0; m < 8; ++m) s += buf[idx[m]] == label ? w[m] : 0.0;
    out[o] = static_cast<float>(s);
  });
  return out;
}

IntensityWindow WindowFromPercentiles(const FloatImage& image, const MaskImage* body, double pLo,
                                      double pHi) {
  const std::size_t n = image.GetLargestPossibleRegion().GetNumberOfPixels();
  const float* v = image.GetBufferPointer();
  const bool useBody = body && body->GetLargestPossibleRegion() == image.GetLargestPossibleRegion();
  const std::uint8_t* m = useBody ? body->GetBufferPointer() : nullptr;
  const std::size_t step = std::max<std::size_t>(1, n / 400000);
  std::vector<float> s;
  for (std::size_t i = 0; i < n; i += step)
    if ((!m || m[i]) && std::isfinite(v[i])) s.push_back(v[i]);
  if (s.size() < 100 && m) {  // empty body mask: fall back to all voxels
    for (std::size_t i = 0; i < n; i += step)
      if (std::isfinite(v[i])) s.push_back(v[i]);
  }
  IntensityWindow w;
  if (s.empty()) return w;
  if (!useBody) {  // no body mask: leave out the air (below 5% of the bright end)
    std::vector<float> t = s;
    const std::size_t k = static_cast<std::size_t>(0.99 * (t.size() - 1));
    std::nth_element(t.begin(), t.begin() + k, t.end());
    const float lo = *std::min_element(s.begin(), s.end());
    const float cut = lo + 0.05f * (t[k] - lo);
    t.clear();
    for (float x : s)
      if (x > cut) t.push_back(x);
    if (t.size() >= 100) s.swap(t);
  }
  auto pct = [&](double p) {
    const std::size_t k = std::min(s.size() - 1, static_cast<std::size_t>(p / 100.0 * s.size()));
    std::nth_element(s.begin(), s.begin() + k, s.end());
    return static_cast<double>(s[k]);
  };
  w.lo = pct(pLo), w.hi = pct(pHi);
  if (!(w.hi > w.lo)) w.hi = w.lo + 1;
  return w;
}

}  // namespace ischia
