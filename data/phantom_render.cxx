// Partial-volume sampling of the anatomy and MR signal simulation (no ITK: compiles fast).
#include "phantom_render.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace ischia::phantom {
namespace {

// A block is taken as uniform only if the conservative distance at its centre exceeds the
// distance to its farthest sub-sample centre by this factor (the shapes' distances are
// first-order estimates).
constexpr double kSafety = 1.1;

inline void AddMix(PixelMix& m, std::uint8_t id, float w) {
  int largest = 0;
  for (int i = 0; i < 4; ++i) {
    if (m.w[i] == 0) {
      m.id[i] = id;
      m.w[i] = w;
      return;
    }
    if (m.id[i] == id) {
      m.w[i] += w;
      return;
    }
    if (m.w[i] > m.w[largest]) largest = i;
  }
  m.w[largest] += w;  // more than four tissues in one pixel: negligible, give it to the main one
}

// Pixel rectangles [i0, i1) x [j0, j1) of the boxes' footprints on a plane (boxes the plane
// misses are left out).
std::vector<std::array<int, 4>> BoxRectangles(const Plane& plane, const std::vector<Box>& boxes) {
  std::vector<std::array<int, 4>> rects;
  const Vec3 n = plane.Normal();
  for (const Box& box : boxes) {
    double imin = 1e30, imax = -1e30, jmin = 1e30, jmax = -1e30, tmin = 1e30, tmax = -1e30;
    for (int c = 0; c < 8; ++c) {
      const Vec3 q{(c & 1) ? box.hi[0] : box.lo[0], (c & 2) ? box.hi[1] : box.lo[1],
                   (c & 4) ? box.hi[2] : box.lo[2]};
      const Vec3 d = q - plane.origin;
      const double i = Dot(d, plane.row) / plane.dx, j = Dot(d, plane.col) / plane.dy,
                   t = Dot(d, n);
      imin = std::min(imin, i);
      imax = std::max(imax, i);
      jmin = std::min(jmin, j);
      jmax = std::max(jmax, j);
      tmin = std::min(tmin, t);
      tmax = std::max(tmax, t);
    }
    if (tmin > 0 || tmax < 0) continue;
    const int i0 = std::max(0, static_cast<int>(std::floor(imin))),
              i1 = std::min(plane.nx, static_cast<int>(std::ceil(imax)) + 1);
    const int j0 = std::max(0, static_cast<int>(std::floor(jmin))),
              j1 = std::min(plane.ny, static_cast<int>(std::ceil(jmax)) + 1);
    if (i0 < i1 && j0 < j1) rects.push_back({i0, i1, j0, j1});
  }
  return rects;
}

// Values on a grid with a node every `step` pixels (node (gi, gj) at pixel (gi step, gj step),
// one more node beyond each edge), interpolated bilinearly at the pixels row by row: Row(j)
// blends the two node rows around pixel row j, At(i, c) then the two columns around column i.
struct Grid {
  Grid(int step_, int nx, int ny, int channels_)
      : step(step_), width(nx / step_ + 2), height(ny / step_ + 2), channels(channels_),
        values(static_cast<std::size_t>(width) * height * channels_, 0.0f),
        row(static_cast<std::size_t>(width) * channels_), column(nx), weight(nx) {
    for (int i = 0; i < nx; ++i) {
      column[i] = i / step;
      weight[i] = static_cast<float>(i - column[i] * step) / step;
    }
  }
  std::size_t Nodes() const { return static_cast<std::size_t>(width) * height; }
  void Row(int j) {
    const int j0 = j / step;
    const float fy = static_cast<float>(j - j0 * step) / step;
    const float* a = &values[static_cast<std::size_t>(j0) * width * channels];
    const float* b = a + static_cast<std::size_t>(width) * channels;
    for (std::size_t k = 0; k < row.size(); ++k) row[k] = a[k] * (1 - fy) + b[k] * fy;
  }
  float At(int i, int c) const {
    const float* r = &row[static_cast<std::size_t>(column[i]) * channels + c];
    return r[0] * (1 - weight[i]) + r[channels] * weight[i];
  }
  int step, width, height, channels;
  std::vector<float> values;  // node-major, `channels` per node
  std::vector<float> row;
  std::vector<int> column;
  std::vector<float> weight;
};

struct Sampler {
  Sampler(const Anatomy& anatomy_, const Plane& plane_, int m_, double t_, float weight_,
          std::vector<PixelMix>* mix_, std::vector<std::uint16_t>* labels_)
      : anatomy(anatomy_),
        plane(plane_),
        m(m_),
        t(t_),
        weight(weight_),
        normal(plane_.Normal()),
        mix(mix_),
        labels(labels_),
        diagonal(std::hypot(plane_.dx, plane_.dy)) {}
  const Anatomy& anatomy;
  const Plane& plane;
  int m;         // sub-samples per pixel edge
  double t;      // offset along the normal (mm)
  float weight;  // weight of one sub-sample
  Vec3 normal;
  std::vector<PixelMix>* mix;
  std::vector<std::uint16_t>* labels;
  double diagonal;  // of a pixel (mm)
  std::size_t evaluations = 0;
  // With a tissue mix (m a power of two, t = 0): also the labels at the pixel centres inside
  // these pixel rectangles (the tissue of a uniform block holding the pixel, else of the
  // pixel's own block, evaluated in full).
  std::vector<std::uint16_t>* pixelLabels = nullptr;
  std::vector<std::array<int, 4>> labelRects;

  // Pixels [p0, p1) x [q0, q1) of a block that lie inside a label rectangle.
  template <class F>
  void ForLabelPixels(int a0, int b0, int size, F&& f) const {
    const int p0 = a0 / m, p1 = std::min((a0 + size) / m, plane.nx);
    const int q0 = b0 / m, q1 = std::min((b0 + size) / m, plane.ny);
    for (const auto& r : labelRects) {
      const int i0 = std::max(p0, r[0]), i1 = std::min(p1, r[1]);
      const int j0 = std::max(q0, r[2]), j1 = std::min(q1, r[3]);
      for (int j = j0; j < j1; ++j)
        for (int i = i0; i < i1; ++i) f(static_cast<std::size_t>(j) * plane.nx + i);
    }
  }
  bool HasLabelPixels(int a0, int b0, int size) const {
    bool any = false;
    ForLabelPixels(a0, b0, size, [&](std::size_t) { any = true; });
    return any;
  }
  void WriteLabels(int a0, int b0, int size, Tissue tissue) {
    const std::uint16_t label = LabelOf(tissue);
    ForLabelPixels(a0, b0, size, [&](std::size_t k) { (*pixelLabels)[k] = label; });
  }

  void Fill(int a0, int b0, int size, Tissue tissue) {
    const int na = plane.nx * m, nb = plane.ny * m;
    const int a1 = std::min(a0 + size, na), b1 = std::min(b0 + size, nb);
    if (labels) {
      const std::uint16_t label = LabelOf(tissue);
      for (int b = b0; b < b1; ++b)
        for (int a = a0; a < a1; ++a) (*labels)[static_cast<std::size_t>(b) * plane.nx + a] = label;
      return;
    }
    if ((m & (m - 1)) == 0) {
      // m a power of two: a block is a part of one pixel or whole pixels (blocks are aligned
      // to their size).
      if (size < m) {
        AddMix((*mix)[static_cast<std::size_t>(b0 / m) * plane.nx + a0 / m], tissue,
               weight * size * size);
        return;
      }
      const float w = weight * m * m;
      for (int pj = b0 / m; pj < b1 / m; ++pj) {
        PixelMix* row = &(*mix)[static_cast<std::size_t>(pj) * plane.nx];
        for (int pi = a0 / m; pi < a1 / m; ++pi) AddMix(row[pi], tissue, w);
      }
      return;
    }
    for (int pj = b0 / m; pj <= (b1 - 1) / m; ++pj) {
      const int cb = std::min(b1, (pj + 1) * m) - std::max(b0, pj * m);
      for (int pi = a0 / m; pi <= (a1 - 1) / m; ++pi) {
        const int ca = std::min(a1, (pi + 1) * m) - std::max(a0, pi * m);
        AddMix((*mix)[static_cast<std::size_t>(pj) * plane.nx + pi], tissue, weight * ca * cb);
      }
    }
  }

  // `outline`: the body outline hint of the nearest enclosing block that evaluated it.
  void Block(int a0, int b0, int size, Anatomy::OutlineHint outline = {}) {
    const int na = plane.nx * m, nb = plane.ny * m;
    if (a0 >= na || b0 >= nb) return;
    // Centre of the block in continuous sub-sample coordinates; sub-sample i spans [i, i+1).
    const double ac = a0 + 0.5 * size, bc = b0 + 0.5 * size;
    // The sub-samples are points (their centres): a block takes the tissue of its centre when
    // the distance covers its farthest sub-sample centre, (size - 1) / 2 sub-samples away along
    // each axis. A block larger than one sub-sample needs its tissue only then: Classify may
    // stop as soon as it knows that the distance is too small for that.
    const double reach = kSafety * 0.5 * (size - 1) / m * diagonal;
    // A pixel's own block with a label wanted: its centre's tissue is needed in any case.
    const bool pixelLabel = pixelLabels && size == m && HasLabelPixels(a0, b0, size);
    double dist = 0;
    // Single sub-samples need only their tissue (care 0).
    const Tissue tissue =
        anatomy.Classify(Position(ac, bc), &dist, size == 1 || pixelLabel ? -1.0 : reach,
                         &outline, size == 1 ? 0.0 : reach);
    ++evaluations;
    if (size == 1 || dist > reach) {
      Fill(a0, b0, size, tissue);
      if (pixelLabels && size >= m) WriteLabels(a0, b0, size, tissue);
      return;
    }
    if (pixelLabel) WriteLabels(a0, b0, size, tissue);
    const int h = size / 2;
    Block(a0, b0, h, outline);
    Block(a0 + h, b0, h, outline);
    Block(a0, b0 + h, h, outline);
    Block(a0 + h, b0 + h, h, outline);
  }

  Vec3 Position(double ac, double bc) const {
    // Pixel index of a continuous sub-sample coordinate: pixel centre i sits at m*i + m/2.
    const double i = ac / m - 0.5, j = bc / m - 0.5;
    return plane.At(i, j, 0, normal) + t * normal;
  }

  void Run() { Run(0, 0, plane.nx * m, plane.ny * m); }
  // Sub-samples [a0, a1) x [b0, b1) only (block-aligned start).
  void Run(int a0, int b0, int a1, int b1) {
    const int start = 32;
    a0 -= a0 % start;
    b0 -= b0 % start;
    for (int b = b0; b < b1; b += start)
      for (int a = a0; a < a1; a += start) Block(a, b, start);
  }
};

}  // namespace

bool SamplesLabelsWithTissues(int inPlane, int throughPlane) {
  const int m = std::max(1, inPlane);
  return (m & (m - 1)) == 0 && m <= 32 && throughPlane % 2 == 1;
}

std::size_t SampleTissues(const Anatomy& anatomy, const Plane& plane, int inPlane, int throughPlane,
                          std::vector<PixelMix>& mix, const std::vector<Box>* labelBoxes,
                          std::vector<std::uint16_t>* labels) {
  mix.assign(static_cast<std::size_t>(plane.nx) * plane.ny, PixelMix{});
  const int m = std::max(1, inPlane), k = std::max(1, throughPlane);
  if (labels) {
    if (!labelBoxes || !SamplesLabelsWithTissues(inPlane, throughPlane))
      throw std::logic_error("SampleTissues: labels need boxes, m a power of two, k odd");
    labels->assign(mix.size(), 0);
  }
  std::size_t evaluations = 0;
  for (int s = 0; s < k; ++s) {
    // Sub-planes evenly across the slice profile (rectangular profile of the thickness).
    const double t = ((s + 0.5) / k - 0.5) * plane.thickness;
    // Full in-plane sub-sampling on the central sub-plane, pixel sampling on the others: the
    // slice profile blurs those anyway, and it halves the boundary evaluations.
    const int ms = (s == k / 2) ? m : std::max(1, m / 2);
    Sampler sampler(anatomy, plane, ms, t, 1.0f / (ms * ms * k), &mix, nullptr);
    if (labels && s == k / 2) {  // t = 0 for odd k
      sampler.pixelLabels = labels;
      sampler.labelRects = BoxRectangles(plane, *labelBoxes);
    }
    sampler.Run();
    evaluations += sampler.evaluations;
  }
  return evaluations;
}

std::size_t SampleLabels(const Anatomy& anatomy, const Plane& plane, const std::vector<Box>& boxes,
                         std::vector<std::uint16_t>& labels) {
  std::size_t evaluations = 0;
  labels.assign(static_cast<std::size_t>(plane.nx) * plane.ny, 0);
  for (const auto& r : BoxRectangles(plane, boxes)) {
    Sampler sampler(anatomy, plane, 1, 0.0, 1.0f, nullptr, &labels);
    sampler.Run(r[0], r[2], r[1], r[3]);
    evaluations += sampler.evaluations;
  }
  return evaluations;
}

void SampleTexture(const Anatomy& anatomy, const Plane& plane, const std::vector<PixelMix>& mix,
                   PlaneTexture& t) {
  const int nx = plane.nx, ny = plane.ny;
  const std::size_t n = static_cast<std::size_t>(nx) * ny;
  t.width = nx;
  t.height = ny;
  t.muscleFat.assign(n, 0.0f);
  t.septa.assign(n, 0.0f);
  t.hetero.resize(n);
  // Which fields each pixel uses (SimulateSlice): muscle fat where a muscle is in the mix, septa
  // where fat or marrow is; the heterogeneity everywhere. The others are left at 0, unused.
  std::vector<std::uint8_t> needs(n, 0);  // 1 muscle fat, 2 septa
  for (std::size_t k = 0; k < n; ++k) {
    const PixelMix& m = mix[k];
    for (int c = 0; c < 4 && m.w[c] > 0; ++c) {
      const Tissue tissue = static_cast<Tissue>(m.id[c]);
      if (IsMuscle(tissue)) needs[k] |= 1;
      if (IsFatty(tissue) || tissue == kMarrow || tissue == kIschiumMarrow) needs[k] |= 2;
    }
  }
  // Medium and coarse fields on sub-sampled grids, interpolated bilinearly; a grid node is
  // evaluated only if a pixel that needs its field interpolates from it (need 0: every pixel).
  const Vec3 normal = plane.Normal();
  Anatomy::TextureCache cache;
  auto grid = [&](int step, std::uint8_t need, int channels, auto&& eval) {
    Grid g(step, nx, ny, channels);
    std::vector<std::uint8_t> used(g.Nodes(), 0);
    for (int j = 0; j < ny; ++j)
      for (int i = 0; i < nx; ++i) {
        if (need && !(needs[static_cast<std::size_t>(j) * nx + i] & need)) continue;
        const std::size_t g0 = static_cast<std::size_t>(j / step) * g.width + i / step;
        used[g0] = used[g0 + 1] = used[g0 + g.width] = used[g0 + g.width + 1] = 1;
      }
    cache = {};
    for (int j = 0; j < g.height; ++j)
      for (int i = 0; i < g.width; ++i) {
        const std::size_t k = static_cast<std::size_t>(j) * g.width + i;
        if (used[k]) eval(plane.At(i * step, j * step, 0, normal), &g.values[k * channels]);
      }
    return g;
  };
  Grid medium = grid(2, 1, 1, [&](const Vec3& p, float* v) {
    v[0] = static_cast<float>(anatomy.TextureMedium(p, cache));
  });
  Grid coarse = grid(6, 0, 2, [&](const Vec3& p, float* v) {
    double gate, hetero;
    anatomy.TextureCoarse(p, gate, hetero, cache);
    v[0] = static_cast<float>(gate);
    v[1] = static_cast<float>(hetero);
  });
  cache = {};
  for (int j = 0; j < ny; ++j) {
    medium.Row(j);
    coarse.Row(j);
    for (int i = 0; i < nx; ++i) {
      const std::size_t k = static_cast<std::size_t>(j) * nx + i;
      if (needs[k] & 1) {
        const double fibre = anatomy.TextureFibre(plane.At(i, j, 0, normal), cache);
        const float streak = medium.At(i, 0);
        t.muscleFat[k] = std::clamp(
            static_cast<float>(0.04 + 0.16 * fibre) + 0.4f * streak * streak, 0.0f, 0.6f);
      }
      if (needs[k] & 2) {
        const double septum = anatomy.TextureSeptum(plane.At(i, j, 0, normal), cache);
        const float sp = static_cast<float>(septum) * coarse.At(i, 0);
        t.septa[k] = 0.7f * sp * sp;
      }
      t.hetero[k] = coarse.At(i, 1);
    }
  }
}

// ---------------------------------------------------------------------------------------------
double TissueSignal(Tissue t, const Sequence& q, double fatFactor) {
  const TissueMr mr = TissueProperties(t, q.fieldT);
  const double fatT1 = q.fieldT > 2 ? 370 : 260;
  const double fatT2 = q.kind == SequenceKind::SpinEcho || q.kind == SequenceKind::InversionRecovery
                           ? q.fatT2Tse
                           : 60;
  auto pool = [&](double pd, double t1, double t2) {
    if (pd <= 0) return 0.0;
    const double e1 = std::exp(-q.tr / t1);
    switch (q.kind) {
      case SequenceKind::SpinEcho:
        return pd * (1 - e1) * std::exp(-q.te / t2);
      case SequenceKind::InversionRecovery:
        return pd * (1 - 2 * std::exp(-q.ti / t1) + e1) * std::exp(-q.te / t2);
      case SequenceKind::GradientEcho: {
        const double a = q.flipDeg * M_PI / 180;
        return pd * std::sin(a) * (1 - e1) / (1 - std::cos(a) * e1) * std::exp(-q.te / (0.7 * t2));
      }
    }
    return 0.0;
  };
  double s = pool(mr.waterPd, mr.waterT1, mr.waterT2);
  s += fatFactor * pool(mr.fatPd, fatT1, fatT2);
  return s;
}

double CoilModel::Gain(const Vec3& p) const {
  double sum = 0;
  for (const Vec3& e : elements) {
    const Vec3 d = p - e;
    const double g = 1.0 / (1.0 + Dot(d, d) / (reach * reach));
    sum += g * g;
  }
  return std::pow(std::sqrt(sum) / norm, exponent);
}

namespace {

// Point-spread function of a zero-filled acquisition of `acquired` of `recon` samples with a
// mild raised-cosine filter: ringing and blur as scanners produce.
std::vector<double> TruncationKernel(int acquired, int recon, int radius) {
  std::vector<double> h(2 * radius + 1, 0.0);
  if (acquired >= recon) {
    h[radius] = 1;
    return h;
  }
  const double halfA = acquired / 2.0;
  for (int x = -radius; x <= radius; ++x) {
    double s = 0;
    for (int k = -acquired / 2; k < acquired / 2; ++k) {
      const double ak = std::fabs(k + 0.5);
      double w = 1;
      if (ak > 0.75 * halfA) w = 0.5 * (1 + std::cos(M_PI * (ak - 0.75 * halfA) / (0.25 * halfA)));
      s += w * std::cos(2 * M_PI * (k + 0.5) * x / recon);
    }
    h[x + radius] = s;
  }
  double sum = 0;
  for (double v : h) sum += v;
  for (double& v : h) v /= sum;
  return h;
}

// Convolution with a symmetric kernel (2r + 1 taps, h[r - k] = h[r + k]) along the rows or the
// columns, indices clamped at the borders; each output adds the pairs of taps k and -k. The
// loops run over whole rows so that the compiler vectorises them across outputs.
void Convolve(std::vector<float>& img, int nx, int ny, const std::vector<double>& h, bool alongRows,
              std::vector<float>& tmp) {
  const int r = static_cast<int>(h.size() / 2);
  if (r == 0) return;
  std::vector<float> w(static_cast<std::size_t>(r) + 1);
  for (int k = 0; k <= r; ++k) w[k] = static_cast<float>(h[r + k]);
  tmp.resize(img.size());
  if (alongRows) {
    const int i0 = std::min(r, nx), i1 = std::max(i0, nx - r);  // interior [i0, i1)
    for (int j = 0; j < ny; ++j) {
      const float* src = &img[static_cast<std::size_t>(j) * nx];
      float* dst = &tmp[static_cast<std::size_t>(j) * nx];
      auto edge = [&](int i) {
        float s = w[0] * src[i];
        for (int k = 1; k <= r; ++k)
          s += w[k] * (src[std::max(i - k, 0)] + src[std::min(i + k, nx - 1)]);
        dst[i] = s;
      };
      for (int i = 0; i < i0; ++i) edge(i);
      for (int i = i1; i < nx; ++i) edge(i);
      for (int i = i0; i < i1; ++i) dst[i] = w[0] * src[i];
      for (int k = 1; k <= r; ++k) {
        const float wk = w[k];
        const float *lo = src - k, *hi = src + k;
        for (int i = i0; i < i1; ++i) dst[i] += wk * (lo[i] + hi[i]);
      }
    }
  } else {
    for (int j = 0; j < ny; ++j) {
      float* dst = &tmp[static_cast<std::size_t>(j) * nx];
      const float* src = &img[static_cast<std::size_t>(j) * nx];
      for (int i = 0; i < nx; ++i) dst[i] = w[0] * src[i];
      for (int k = 1; k <= r; ++k) {
        const float* lo = &img[static_cast<std::size_t>(std::max(j - k, 0)) * nx];
        const float* hi = &img[static_cast<std::size_t>(std::min(j + k, ny - 1)) * nx];
        const float wk = w[k];
        for (int i = 0; i < nx; ++i) dst[i] += wk * (lo[i] + hi[i]);
      }
    }
  }
  img.swap(tmp);
}

// The standard normal quantile (inverse distribution function) of p in (0, 1): Acklam's
// rational approximation (relative error below 1.2e-9).
double NormalQuantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  auto tail = [&](double q) {
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  };
  if (p < 0.02425) return tail(std::sqrt(-2 * std::log(p)));
  if (p > 1 - 0.02425) return -tail(std::sqrt(-2 * std::log(1 - p)));
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

// A standard normal deviate from 32 uniform bits by its quantile function, tabulated at
// 4096 steps of probability and interpolated linearly (the two outermost steps, 1 in 2048
// of the draws, exactly): the density differs from the normal one only within each step.
class NormalDeviates {
 public:
  NormalDeviates() {
    for (int i = 1; i < kSteps; ++i) table_[i] = static_cast<float>(NormalQuantile(double(i) / kSteps));
  }
  float operator()(std::uint32_t bits) const {
    const std::uint32_t i = bits >> 20;  // the step
    const float t = static_cast<float>(bits & 0xFFFFFu) * (1.0f / 1048576.0f);
    if (i == 0 || i == kSteps - 1)
      return static_cast<float>(NormalQuantile((bits + 0.5) * (1.0 / 4294967296.0)));
    return table_[i] + t * (table_[i + 1] - table_[i]);
  }

 private:
  static constexpr int kSteps = 4096;
  float table_[kSteps + 1] = {};
};

// Two independent standard normal deviates for item i of a stream, from one hash.
inline void NormalPair(std::uint64_t seed, std::uint64_t i, float& x, float& y) {
  static const NormalDeviates deviates;
  const std::uint64_t z = Mix64(seed ^ (i * 0x9E3779B97F4A7C15ull));
  x = deviates(static_cast<std::uint32_t>(z >> 32));
  y = deviates(static_cast<std::uint32_t>(z));
}

}  // namespace

void SimulateSlice(const Plane& plane, const std::vector<PixelMix>& mix,
                   const PlaneTexture& texture, const Sequence& q, const CoilModel& coil,
                   const Vec3& isocentre, std::uint64_t noiseSeed, std::vector<float>& out) {
  const int nx = plane.nx, ny = plane.ny;
  const std::size_t n = static_cast<std::size_t>(nx) * ny;
  // Signals per tissue: water part and fat part (fat scaled by the local suppression).
  double water[kTissueCount], fat[kTissueCount];
  for (int t = 0; t < kTissueCount; ++t) {
    water[t] = TissueSignal(static_cast<Tissue>(t), q, 0.0);
    fat[t] = TissueSignal(static_cast<Tissue>(t), q, 1.0) - water[t];
  }
  const double fibrous = TissueSignal(kOtherTendon, q, 1.0) * 1.5;

  // Coil gain on a coarse grid, interpolated.
  const int cstep = 8;
  const int cx = nx / cstep + 2, cy = ny / cstep + 2;
  std::vector<float> gain(cx * cy);
  for (int j = 0; j < cy; ++j)
    for (int i = 0; i < cx; ++i)
      gain[j * cx + i] = static_cast<float>(coil.Gain(plane.At(i * cstep, j * cstep)));
  auto interp = [](const std::vector<float>& g, int w, int s, int i, int j) {
    const int i0 = i / s, j0 = j / s;
    const float fx = static_cast<float>(i - i0 * s) / s, fy = static_cast<float>(j - j0 * s) / s;
    const float a = g[j0 * w + i0], b = g[j0 * w + i0 + 1], c = g[(j0 + 1) * w + i0],
                d = g[(j0 + 1) * w + i0 + 1];
    return (a * (1 - fx) + b * fx) * (1 - fy) + (c * (1 - fx) + d * fx) * fy;
  };

  std::vector<float> re(n), im(n), tmp;
  const Vec3 normal = plane.Normal();
  for (int j = 0; j < ny; ++j) {
    for (int i = 0; i < nx; ++i) {
      const std::size_t p = static_cast<std::size_t>(j) * nx + i;
      double fatFactor = 1;
      if (q.fatSat) {
        const Vec3 d = plane.At(i, j, 0, normal) - isocentre;
        const double r2 = (d.x * d.x + d.y * d.y) / (170.0 * 170.0) + d.z * d.z / (220.0 * 220.0);
        fatFactor = 1.0 - std::clamp(q.fatSatEfficiency - 0.25 * r2 * r2, 0.0, 1.0);
      }
      const float mf = texture.muscleFat[p], sp = texture.septa[p], he = texture.hetero[p];
      const PixelMix& m = mix[p];
      double s = 0;
      for (int k = 0; k < 4 && m.w[k] > 0; ++k) {
        const Tissue t = static_cast<Tissue>(m.id[k]);
        double v = water[t] + fat[t] * fatFactor;
        if (IsMuscle(t)) {
          v = (1 - mf) * v + mf * (water[kFat] + fat[kFat] * fatFactor);
          v *= 1.0 + 0.04 * (t - kMuscleGluteal - 2) / 2.0;  // groups differ slightly
        } else if (IsFatty(t)) {
          const double w = 0.8 * sp;
          v = (1 - w) * v + w * fibrous;
        } else if (t == kMarrow || t == kIschiumMarrow) {
          v *= 1.0 - 0.12 * sp;
        }
        s += m.w[k] * v;
      }
      s *= (1.0 + 0.06 * he) * interp(gain, cx, cstep, i, j);
      re[p] = static_cast<float>(s);
    }
  }
  // Noise in k-space is white over the acquired samples: add it before the truncation kernel
  // so that the image noise is correlated the way scanners' is.
  const std::vector<double> hx = TruncationKernel(q.acquiredColumns, nx, 8);
  const std::vector<double> hy = TruncationKernel(q.acquiredRows, ny, 8);
  double nx2 = 0, ny2 = 0;
  for (double v : hx) nx2 += v * v;
  for (double v : hy) ny2 += v * v;
  const double muscle = std::fabs(TissueSignal(kMuscleHamstring, q, 1.0));
  const double sigma = muscle / q.snr / std::sqrt(nx2 * ny2);
  const float sigmaF = static_cast<float>(sigma);
  for (std::size_t p = 0; p < n; ++p) {
    float x, y;
    NormalPair(noiseSeed, p, x, y);
    re[p] += sigmaF * x;
    im[p] = sigmaF * y;
  }
  Convolve(re, nx, ny, hx, true, tmp);
  Convolve(re, nx, ny, hy, false, tmp);
  Convolve(im, nx, ny, hx, true, tmp);
  Convolve(im, nx, ny, hy, false, tmp);
  out.resize(n);
  for (std::size_t p = 0; p < n; ++p) out[p] = std::sqrt(re[p] * re[p] + im[p] * im[p]);
}

}  // namespace ischia::phantom
