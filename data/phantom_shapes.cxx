// Maths, random numbers, shapes and tissue properties of the phantom (no ITK: compiles fast).
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "phantom_model.h"

namespace ischia::phantom {

Mat3 RotationXYZ(double ax, double ay, double az) {
  const double cx = std::cos(ax), sx = std::sin(ax), cy = std::cos(ay), sy = std::sin(ay),
               cz = std::cos(az), sz = std::sin(az);
  // Rz * Ry * Rx
  Mat3 r;
  r.m = {cz * cy,
         cz * sy * sx - sz * cx,
         cz * sy * cx + sz * sx,
         sz * cy,
         sz * sy * sx + cz * cx,
         sz * sy * cx - cz * sx,
         -sy,
         cy * sx,
         cy * cx};
  return r;
}

std::uint64_t Mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t HashCombine(std::uint64_t a, std::uint64_t b) {
  return Mix64(a ^ (Mix64(b) + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2)));
}

std::uint64_t Rng::Next() {
  state_ += 0x9E3779B97F4A7C15ull;
  std::uint64_t z = state_;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double Rng::Uniform() { return static_cast<double>(Next() >> 11) * (1.0 / 9007199254740992.0); }

double Rng::Normal() {
  double u1 = Uniform();
  if (u1 < 1e-300) u1 = 1e-300;
  const double u2 = Uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

int Rng::Int(int lo, int hi) {
  return lo + static_cast<int>(Next() % static_cast<std::uint64_t>(hi - lo + 1));
}

namespace {
inline double Fade(double t) { return t * t * t * (t * (t * 6 - 15) + 10); }
// The 12 cube-edge gradients of improved Perlin noise, looked up without branches.
constexpr double kGrad[16][3] = {
    {1, 1, 0}, {-1, 1, 0}, {1, -1, 0}, {-1, -1, 0}, {1, 0, 1}, {-1, 0, 1}, {1, 0, -1}, {-1, 0, -1},
    {0, 1, 1}, {0, -1, 1}, {0, 1, -1}, {0, -1, -1}, {1, 1, 0}, {-1, 1, 0}, {0, -1, 1}, {0, -1, -1}};
inline double Grad(std::uint64_t h, double x, double y, double z) {
  const double* g = kGrad[h & 15];
  return g[0] * x + g[1] * y + g[2] * z;
}
inline std::uint64_t LatticeHash(std::uint64_t seed, long i, long j, long k) {
  std::uint64_t h = seed ^ (static_cast<std::uint64_t>(i) * 0x8CB92BA72F3D8DD7ull) ^
                    (static_cast<std::uint64_t>(j) * 0xD6E8FEB86659FD93ull) ^
                    (static_cast<std::uint64_t>(k) * 0xA0761D6478BD642Full);
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ull;
  h ^= h >> 29;
  return h >> 7;
}
}  // namespace

double GradientNoise(std::uint64_t seed, double x, double y, double z) {
  NoiseCell cell;
  return GradientNoise(seed, x, y, z, cell);
}

double GradientNoise(std::uint64_t seed, double x, double y, double z, NoiseCell& cell) {
  const double fx = std::floor(x), fy = std::floor(y), fz = std::floor(z);
  const long i = static_cast<long>(fx), j = static_cast<long>(fy), k = static_cast<long>(fz);
  const double dx = x - fx, dy = y - fy, dz = z - fz;
  const double u = Fade(dx), v = Fade(dy), w = Fade(dz);
  if (!cell.valid || cell.seed != seed || cell.i != i || cell.j != j || cell.k != k) {
    for (int n = 0; n < 8; ++n) {
      const int a = n & 1, b = (n >> 1) & 1, d = (n >> 2) & 1;
      cell.g[n] = kGrad[LatticeHash(seed, i + a, j + b, k + d) & 15];
    }
    cell.seed = seed;
    cell.i = i;
    cell.j = j;
    cell.k = k;
    cell.valid = true;
  }
  double c[8];
  for (int n = 0; n < 8; ++n) {
    const int a = n & 1, b = (n >> 1) & 1, d = (n >> 2) & 1;
    const double* g = cell.g[n];
    c[n] = g[0] * (dx - a) + g[1] * (dy - b) + g[2] * (dz - d);
  }
  const double x00 = c[0] + u * (c[1] - c[0]), x10 = c[2] + u * (c[3] - c[2]);
  const double x01 = c[4] + u * (c[5] - c[4]), x11 = c[6] + u * (c[7] - c[6]);
  const double y0 = x00 + v * (x10 - x00), y1 = x01 + v * (x11 - x01);
  return y0 + w * (y1 - y0);
}

// ---------------------------------------------------------------------------------------------
namespace {
double CatmullRom(const std::vector<TubeKey>& k, std::size_t i, double t, double TubeKey::*field) {
  const std::size_t n = k.size();
  const double p0 = k[i].*field, p1 = k[i + 1].*field;
  const double dz = k[i + 1].z - k[i].z;
  const double m0 =
      (i > 0) ? (k[i + 1].*field - k[i - 1].*field) / (k[i + 1].z - k[i - 1].z) * dz : (p1 - p0);
  const double m1 =
      (i + 2 < n) ? (k[i + 2].*field - k[i].*field) / (k[i + 2].z - k[i].z) * dz : (p1 - p0);
  const double t2 = t * t, t3 = t2 * t;
  return (2 * t3 - 3 * t2 + 1) * p0 + (t3 - 2 * t2 + t) * m0 + (-2 * t3 + 3 * t2) * p1 +
         (t3 - t2) * m1;
}
}  // namespace

ZTube::ZTube(std::vector<TubeKey> keys) : keys_(std::move(keys)) {
  if (keys_.size() < 2) throw std::invalid_argument("ZTube needs at least two key levels");
  std::sort(keys_.begin(), keys_.end(),
            [](const TubeKey& a, const TubeKey& b) { return a.z < b.z; });
  zMin_ = keys_.front().z;
  zMax_ = keys_.back().z;
  boxMin_[0] = boxMin_[1] = 1e30;
  boxMax_[0] = boxMax_[1] = -1e30;
  for (const auto& k : keys_) {
    const double r = std::max(k.a, k.b) * (1.0 + std::fabs(k.bend)) + 2.0;
    boxMin_[0] = std::min(boxMin_[0], k.cx - r);
    boxMax_[0] = std::max(boxMax_[0], k.cx + r);
    boxMin_[1] = std::min(boxMin_[1], k.cy - r);
    boxMax_[1] = std::max(boxMax_[1], k.cy + r);
  }
  // Splines may overshoot the key values a little.
  const double margin = 0.15 * std::max(boxMax_[0] - boxMin_[0], boxMax_[1] - boxMin_[1]);
  boxMin_[0] -= margin;
  boxMin_[1] -= margin;
  boxMax_[0] += margin;
  boxMax_[1] += margin;
  boxMin_[2] = zMin_;
  boxMax_[2] = zMax_;
  // Tabulate the sections: the spline is evaluated once per 0.5 mm instead of per point.
  const std::size_t n = static_cast<std::size_t>(std::ceil((zMax_ - zMin_) / tableStep_)) + 2;
  table_.resize(n);
  std::vector<TubeKey> rows(n);
  for (std::size_t i = 0; i < n; ++i) Interpolate(std::min(zMin_ + i * tableStep_, zMax_), rows[i]);
  // Local Lipschitz factor of the section distance along z (shape change per mm, over +-3 mm),
  // and the shear of the crescent bend.
  std::vector<double> slope(n, 0.0);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const TubeKey &k0 = rows[i], &k1 = rows[i + 1];
    slope[i] = (std::hypot(k1.cx - k0.cx, k1.cy - k0.cy) +
                std::max(std::fabs(k1.a - k0.a), std::fabs(k1.b - k0.b)) +
                std::max(k0.a, k1.a) * std::fabs(k1.angle - k0.angle)) /
               tableStep_;
  }
  for (std::size_t i = 0; i < n; ++i) {
    double g = 0;
    for (std::size_t j = (i >= 6 ? i - 6 : 0); j <= std::min(n - 1, i + 6); ++j)
      g = std::max(g, slope[j]);
    const TubeKey& k = rows[i];
    const double lip = std::sqrt(1.0 + 1.1 * g * g) * std::sqrt(1.0 + 4.0 * k.bend * k.bend);
    table_[i] = {k.cx, k.cy, k.a, k.b, std::cos(k.angle), std::sin(k.angle), k.bend, lip};
  }
}

bool ZTube::Interpolate(double z, TubeKey& key) const {
  if (keys_.empty() || z < zMin_ || z > zMax_) return false;
  std::size_t i = 0;
  while (i + 2 < keys_.size() && z > keys_[i + 1].z) ++i;
  const double t = (z - keys_[i].z) / std::max(keys_[i + 1].z - keys_[i].z, 1e-9);
  key.z = z;
  key.cx = CatmullRom(keys_, i, t, &TubeKey::cx);
  key.cy = CatmullRom(keys_, i, t, &TubeKey::cy);
  key.a = std::max(0.05, CatmullRom(keys_, i, t, &TubeKey::a));
  key.b = std::max(0.05, CatmullRom(keys_, i, t, &TubeKey::b));
  key.angle = CatmullRom(keys_, i, t, &TubeKey::angle);
  key.bend = CatmullRom(keys_, i, t, &TubeKey::bend);
  return true;
}

bool ZTube::Section(double z, TubeKey& key) const {
  if (keys_.empty() || z < zMin_ || z > zMax_) return false;
  Row r;
  Lookup(z, r);
  key = {z, r.cx, r.cy, r.a, r.b, std::atan2(r.sinA, r.cosA), r.bend};
  return true;
}

bool ZTube::Local(const Vec3& p, double& u, double& v, TubeKey& key) const {
  if (keys_.empty() || p.z < zMin_ || p.z > zMax_) return false;
  Row r;
  Lookup(p.z, r);
  key = {p.z, r.cx, r.cy, r.a, r.b, 0, r.bend};
  const double c = r.cosA, s = r.sinA;
  const double dx = p.x - key.cx, dy = p.y - key.cy;
  u = dx * c + dy * s;
  v = -dx * s + dy * c;
  return true;
}

double Ellipsoid::InteriorDistance(const Vec3& p) const {
  const Vec3 d = p - centre;
  const auto& m = rotation.m;
  const double qx = (m[0] * d.x + m[3] * d.y + m[6] * d.z) / radii.x,
               qy = (m[1] * d.x + m[4] * d.y + m[7] * d.z) / radii.y,
               qz = (m[2] * d.x + m[5] * d.y + m[8] * d.z) / radii.z;
  const double k0 = std::sqrt(qx * qx + qy * qy + qz * qz);
  // As for a tube's section: the ellipsoid is convex and holds the ball of its smallest radius.
  return k0 < 1 ? (1 - k0) * Min(radii.x, radii.y, radii.z) : 0.0;
}

double ZTube::InteriorDistance(const Vec3& p) const {
  if (keys_.empty() || p.z <= zMin_ || p.z >= zMax_) return 1e9;
  Row k;
  Lookup(p.z, k);
  const double dx = p.x - k.cx, dy = p.y - k.cy;
  const double u = dx * k.cosA + dy * k.sinA, v = -dx * k.sinA + dy * k.cosA;
  const double k0 = std::sqrt((u / k.a) * (u / k.a) + (v / k.b) * (v / k.b));
  if (!(k0 < 1)) return 1e9;
  // A section holds the disc of radius min(a, b) about its centre, and is convex: the point
  // k0 x + (1 - k0) y lies inside for every y of that disc, x on the boundary.
  return Min((1 - k0) * std::min(k.a, k.b) / k.lipschitz, p.z - zMin_, zMax_ - p.z);
}

void ZTube::BoundsXY(double z0, double z1, double lo[2], double hi[2]) const {
  lo[0] = lo[1] = 1e30;
  hi[0] = hi[1] = -1e30;
  z0 = std::max(z0, zMin_);
  z1 = std::min(z1, zMax_);
  if (z0 > z1) return;
  for (double z = z0;; z += tableStep_) {
    Row r;
    Lookup(std::min(z, z1), r);
    const double R = std::max(r.a, r.b) * (1.0 + std::fabs(r.bend)) + 1.0;
    lo[0] = std::min(lo[0], r.cx - R);
    hi[0] = std::max(hi[0], r.cx + R);
    lo[1] = std::min(lo[1], r.cy - R);
    hi[1] = std::max(hi[1], r.cy + R);
    if (z >= z1) break;
  }
}

void TubeIndex::Build(const std::vector<ZTube>& tubes) {
  count_ = tubes.size();
  slabs_.clear();
  if (tubes.empty()) return;
  double zLo = 1e30, zHi = -1e30;
  for (const ZTube& t : tubes) {
    zLo = std::min(zLo, t.zMin());
    zHi = std::max(zHi, t.zMax());
  }
  z0_ = zLo - kMargin;
  const std::size_t n = static_cast<std::size_t>(std::ceil((zHi + kMargin - z0_) / kSlab));
  slabs_.resize(n);
  for (std::size_t s = 0; s < n; ++s) {
    const double a = z0_ + s * kSlab - kMargin, b = z0_ + (s + 1) * kSlab + kMargin;
    for (std::size_t i = 0; i < tubes.size(); ++i) {
      Entry e;
      e.tube = i;
      tubes[i].BoundsXY(a, b, e.lo, e.hi);
      if (e.lo[0] <= e.hi[0]) slabs_[s].push_back(e);
    }
  }
}

void CellGrid::Add(const double lo[3], const double hi[3], int sideSign, Mask mask, int bit) {
  Item item{{lo[0], lo[1], lo[2]}, {hi[0], hi[1], hi[2]}, sideSign, mask, bit};
  if (sideSign < 0) {  // the right side: mirrored, x -> -x
    item.lo[0] = -hi[0];
    item.hi[0] = -lo[0];
  }
  for (int i = 0; i < 3; ++i) {
    item.lo[i] -= kReach;
    item.hi[i] += kReach;
  }
  items_.push_back(item);
}

void CellGrid::Build() {
  cells_.clear();
  if (items_.empty()) return;
  double lo[3] = {1e30, 1e30, 1e30}, hi[3] = {-1e30, -1e30, -1e30};
  for (const Item& it : items_)
    for (int i = 0; i < 3; ++i) {
      lo[i] = std::min(lo[i], it.lo[i]);
      hi[i] = std::max(hi[i], it.hi[i]);
    }
  for (int i = 0; i < 3; ++i) {
    lo_[i] = std::floor(lo[i] / kCell) * kCell;  // a multiple of kCell: a cell boundary at x = 0
    n_[i] = static_cast<long>(std::ceil((hi[i] - lo_[i]) / kCell));
  }
  mid_ = static_cast<long>(std::lround(-lo_[0] / kCell));
  cells_.assign(static_cast<std::size_t>(n_[0] * n_[1] * n_[2]), CellMask{});
  for (const Item& it : items_) {
    long c0[3], c1[3];  // cells overlapping the (dilated) box
    for (int i = 0; i < 3; ++i) {
      c0[i] = std::max(0L, static_cast<long>(std::floor((it.lo[i] - lo_[i]) / kCell)));
      c1[i] = std::min(n_[i] - 1, static_cast<long>(std::floor((it.hi[i] - lo_[i]) / kCell)));
    }
    // Side shapes only in the cells of their side.
    if (it.sideSign > 0) c0[0] = std::max(c0[0], mid_);
    if (it.sideSign < 0) c1[0] = std::min(c1[0], mid_ - 1);
    for (long z = c0[2]; z <= c1[2]; ++z)
      for (long y = c0[1]; y <= c1[1]; ++y)
        for (long x = c0[0]; x <= c1[0]; ++x) {
          CellMask& m = cells_[(z * n_[1] + y) * n_[0] + x];
          switch (it.mask) {
            case kSide:
              m.side |= 1ull << it.bit;
              break;
            case kVessels:
              m.vessels |= 1ull << it.bit;
              break;
            case kMidline:
              m.midline |= 1u << it.bit;
              break;
          }
        }
  }
}

void ZSlabList::Build(const std::vector<std::array<double, 2>>& zRanges, double slab,
                      double margin) {
  count_ = zRanges.size();
  slab_ = slab;
  margin_ = margin;
  slabs_.clear();
  if (zRanges.empty()) return;
  double lo = 1e30, hi = -1e30;
  for (const auto& r : zRanges) {
    lo = std::min(lo, r[0]);
    hi = std::max(hi, r[1]);
  }
  zLo_ = lo;
  zHi_ = hi;
  z0_ = lo - margin;
  const std::size_t n = static_cast<std::size_t>(std::ceil((hi + margin - z0_) / slab)) + 1;
  slabs_.resize(n);
  for (std::size_t k = 0; k < n; ++k) {
    // Slab [a, b) extended by the margin on both sides.
    const double a = z0_ + k * slab - margin, b = z0_ + (k + 1) * slab + margin;
    for (std::size_t i = 0; i < zRanges.size(); ++i)
      if (zRanges[i][1] >= a && zRanges[i][0] <= b) slabs_[k].push_back(i);
  }
}

double Capsule::BoundDistance(const Vec3& p) const {
  const double r = std::max(ra, rb);
  const double q[3] = {p.x, p.y, p.z},
               lo[3] = {std::min(a.x, b.x) - r, std::min(a.y, b.y) - r, std::min(a.z, b.z) - r},
               hi[3] = {std::max(a.x, b.x) + r, std::max(a.y, b.y) + r, std::max(a.z, b.z) + r};
  double d2 = 0;
  for (int i = 0; i < 3; ++i) {
    const double e = std::max({lo[i] - q[i], 0.0, q[i] - hi[i]});
    d2 += e * e;
  }
  return std::sqrt(d2);
}

void Box::Add(const Vec3& p, double r) {
  const double q[3] = {p.x, p.y, p.z};
  for (int i = 0; i < 3; ++i) {
    lo[i] = std::min(lo[i], q[i] - r);
    hi[i] = std::max(hi[i], q[i] + r);
  }
}

// ---------------------------------------------------------------------------------------------
std::uint16_t LabelOf(Tissue t) {
  switch (t) {
    case kIschiumCortex:
    case kIschiumMarrow:
    case kIschiumOedema:
      return 1;
    case kTendon:
    case kTendinosis:
      return 2;
    case kTearFluid:
    case kTearHaematoma:
      return 3;
    default:
      return 0;
  }
}


TissueMr TissueProperties(Tissue t, double fieldT) {
  // Water pool (PD, T1, T2 in ms) at 1.5 T from the MR literature (e.g. Gold et al. AJR 2004,
  // Stanisz et al. MRM 2005, rounded); T1 lengthens at 3 T, T2 shortens slightly.
  TissueMr m;
  auto set = [&](double pd, double t1, double t2, double fat) {
    m.waterPd = pd * (1.0 - fat);
    m.waterT1 = t1;
    m.waterT2 = t2;
    m.fatFraction = fat;
    m.fatPd = fat;
  };
  switch (t) {
    case kAir:
      set(0.0, 1000, 1, 0);
      break;
    case kSkin:
      set(0.75, 600, 45, 0.1);
      break;
    case kSubcutaneousFat:
    case kFat:
      set(1.0, 700, 60, 0.92);
      break;
    case kMuscleGluteal:
    case kMuscleHamstring:
    case kMuscleAdductor:
    case kMuscleQuadriceps:
    case kMuscleHipRotator:
      set(0.78, 870, 38, 0.02);
      break;
    case kMuscleOther:
      set(0.80, 900, 45, 0.02);
      break;
    case kCortex:
    case kIschiumCortex:
      set(0.05, 1000, 2, 0.0);
      break;
    case kMarrow:
    case kIschiumMarrow:
      set(0.95, 600, 50, 0.82);
      break;
    case kIschiumOedema:
      set(0.97, 1200, 90, 0.35);
      break;
    case kCartilage:
      set(0.72, 1050, 38, 0);
      break;
    case kJointFluid:
      set(1.0, 3300, 1200, 0);
      break;
    case kTendon:
      set(0.45, 550, 6, 0);
      break;
    case kTendinosis:
      set(0.70, 900, 30, 0);
      break;
    case kOtherTendon:
      set(0.45, 550, 7, 0);
      break;
    case kTearFluid:
      set(0.97, 3000, 700, 0);
      break;
    case kTearHaematoma:
      set(0.90, 1100, 160, 0);
      break;
    case kPeritendinousOedema:
      set(0.92, 1300, 110, 0.45);
      break;
    case kNerve:
      set(0.78, 1050, 65, 0.08);
      break;
    case kArtery:
      set(0.03, 1500, 200, 0);
      break;  // flow void on spin echo
    case kVein:
      set(0.55, 1500, 160, 0);
      break;  // slow flow: intermediate
    case kUrine:
      set(1.0, 3500, 1700, 0);
      break;
    case kProstate:
      set(0.85, 1300, 90, 0);
      break;
    case kBowelContent:
      set(0.35, 1000, 35, 0.1);
      break;
    default:
      set(0.5, 1000, 50, 0);
      break;
  }
  if (fieldT > 2.0) {
    m.waterT1 *= (t == kUrine || t == kJointFluid || t == kTearFluid) ? 1.1 : 1.35;
    m.waterT2 *= 0.9;
  }
  return m;
}

}  // namespace ischia::phantom
