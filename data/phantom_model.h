#pragma once
// Internal to the phantom: the analytic anatomy (shapes in LPS mm), its tissues and the
// deterministic random numbers. Not part of the public API (see phantom.h).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "phantom.h"

namespace ischia::phantom {

// ---------------------------------------------------------------------------------------------
// Small maths
struct Vec3 {
  double x = 0, y = 0, z = 0;
};
inline Vec3 operator+(Vec3 a, Vec3 b) { return {a.x + b.x, a.y + b.y, a.z + b.z}; }
inline Vec3 operator-(Vec3 a, Vec3 b) { return {a.x - b.x, a.y - b.y, a.z - b.z}; }
inline Vec3 operator*(double s, Vec3 a) { return {s * a.x, s * a.y, s * a.z}; }
inline double Dot(Vec3 a, Vec3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
inline Vec3 Cross(Vec3 a, Vec3 b) {
  return {a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x};
}
inline double Norm(Vec3 a) { return std::sqrt(Dot(a, a)); }

// Minimum / maximum of several values with the comparisons of std::min / std::max over an
// initializer list (the first of equal values wins), without their loop.
inline double Min(double a) { return a; }
template <class... R>
inline double Min(double a, double b, R... r) {
  return Min(std::min(a, b), r...);
}
// std::sqrt(d2) <= t and std::sqrt(d2) < t for d2 >= 0, without the square root (the
// squares may decide differently within rounding of the boundary).
inline bool SqrtAtMost(double d2, double t) { return t >= 0 && d2 <= t * t; }
inline bool SqrtBelow(double d2, double t) { return t > 0 && d2 < t * t; }
inline double Max(double a) { return a; }
template <class... R>
inline double Max(double a, double b, R... r) {
  return Max(std::max(a, b), r...);
}
inline Vec3 Normalized(Vec3 a) { return (1.0 / Norm(a)) * a; }

// Rotation matrix (rows) from angles about x, y, z in radians, applied as Rz * Ry * Rx.
struct Mat3 {
  std::array<double, 9> m{1, 0, 0, 0, 1, 0, 0, 0, 1};
  Vec3 operator*(Vec3 v) const {
    return {m[0] * v.x + m[1] * v.y + m[2] * v.z, m[3] * v.x + m[4] * v.y + m[5] * v.z,
            m[6] * v.x + m[7] * v.y + m[8] * v.z};
  }
  Mat3 Transposed() const {
    Mat3 t;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) t.m[3 * r + c] = m[3 * c + r];
    return t;
  }
};
Mat3 RotationXYZ(double ax, double ay, double az);

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers: splitmix64 streams, identical on every platform (no
// implementation-defined std:: distributions).
std::uint64_t Mix64(std::uint64_t x);
std::uint64_t HashCombine(std::uint64_t a, std::uint64_t b);
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(Mix64(seed ^ 0x9E3779B97F4A7C15ull)) {}
  std::uint64_t Next();
  double Uniform();  // [0, 1)
  double Uniform(double lo, double hi) { return lo + (hi - lo) * Uniform(); }
  double Normal();  // standard normal (Box-Muller)
  double Normal(double mean, double sd) { return mean + sd * Normal(); }
  int Int(int lo, int hi);  // inclusive
  bool Chance(double p) { return Uniform() < p; }

 private:
  std::uint64_t state_;
};
// Smooth 3-D gradient noise in about [-1, 1], deterministic from `seed`.
double GradientNoise(std::uint64_t seed, double x, double y, double z);
// The lattice cell of the last evaluation with its corner gradients: neighbouring points
// usually share a cell, and then the corner hashes are not recomputed (same values).
struct NoiseCell {
  std::uint64_t seed = 0;
  long i = 0, j = 0, k = 0;
  bool valid = false;
  const double* g[8] = {};
};
double GradientNoise(std::uint64_t seed, double x, double y, double z, NoiseCell& cell);

// ---------------------------------------------------------------------------------------------
// Tissues. Labels: ischium tissues -> 1, hamstring tendon tissues -> 2, tear tissues -> 3.
enum Tissue : std::uint8_t {
  kAir = 0,
  kSkin,
  kSubcutaneousFat,
  kFat,  // intermuscular, ischioanal, pelvic fat
  kMuscleGluteal,
  kMuscleHamstring,
  kMuscleAdductor,
  kMuscleQuadriceps,
  kMuscleHipRotator,  // obturators, quadratus femoris, iliopsoas
  kMuscleOther,       // pelvic floor, bowel wall, abdominal
  kCortex,
  kMarrow,
  kIschiumCortex,
  kIschiumMarrow,
  kIschiumOedema,
  kCartilage,
  kJointFluid,
  kTendon,       // hamstring tendon, normal
  kTendinosis,   // hamstring tendon, degenerate
  kOtherTendon,  // adductor magnus and other tendons
  kTearFluid,
  kTearHaematoma,
  kPeritendinousOedema,
  kNerve,
  kArtery,
  kVein,
  kUrine,
  kProstate,
  kBowelContent,
  kTissueCount
};
std::uint16_t LabelOf(Tissue t);
inline bool IsMuscle(Tissue t) { return t >= kMuscleGluteal && t <= kMuscleOther; }
inline bool IsFatty(Tissue t) { return t == kSubcutaneousFat || t == kFat; }

// MR properties of one tissue at a field strength: a water pool and a fat fraction.
struct TissueMr {
  double waterPd = 0, waterT1 = 1000, waterT2 = 50;  // ms
  double fatFraction = 0;                            // of the proton density
  double fatPd = 1;
};
TissueMr TissueProperties(Tissue t, double fieldT);

// ---------------------------------------------------------------------------------------------
// Shapes. Sdf() returns an approximate signed distance (mm, negative inside) that is close to a
// lower bound of the true distance, which the adaptive sampler relies on.

// A generalized cylinder along patient z: an elliptic (optionally bent into a crescent)
// cross-section whose centre, semi-axes, rotation and bend are interpolated between key levels.
struct TubeKey {
  double z, cx, cy, a, b, angle = 0, bend = 0;  // a along the rotated x axis; angle in rad
};
class ZTube {
 public:
  ZTube() = default;
  explicit ZTube(std::vector<TubeKey> keys);
  inline double Sdf(const Vec3& p) const;
  // The tabulated section at a level, and Sdf with it given (for many points of one level).
  struct Row {  // tabulated section for fast look-up
    double cx, cy, a, b, cosA, sinA, bend, lipschitz;
  };
  Row RowAt(double z) const {
    Row r{};
    if (!keys_.empty()) Lookup(z, r);
    return r;
  }
  inline double Sdf(const Vec3& p, const Row& row) const;  // row = RowAt(p.z)
  // Exactly Sdf(p, row) < 0, without the distance (cheaper).
  inline bool Inside(const Vec3& p, const Row& row) const;
  // For p inside an unbent section: a lower bound of its distance to the surface, (1 - k0)
  // min(a, b) in the section (k0 the scaled radius of p; the first-order Sdf overestimates it
  // inside thin sections) and the distance to the ends. 1e9 outside.
  double InteriorDistance(const Vec3& p) const;
  // Section at level z (interpolated key); false outside the z range.
  bool Section(double z, TubeKey& key) const;
  // Centre y of the section at level z (as Section's key.cy); false outside the z range.
  inline bool SectionCentreY(double z, double& cy) const;
  // Local section coordinates (u along a, v along b) of p at its level; false outside z.
  bool Local(const Vec3& p, double& u, double& v, TubeKey& key) const;
  double zMin() const { return zMin_; }
  double zMax() const { return zMax_; }
  inline double BoundDistance(const Vec3& p) const;  // distance to the bounding box (0 inside)
  inline double BoundDistance2(const Vec3& p) const;  // its square (BoundDistance = sqrt)
  void BoundingBox(double lo[3], double hi[3]) const {
    for (int i = 0; i < 3; ++i) lo[i] = boxMin_[i], hi[i] = boxMax_[i];
  }
  // Bounds of the section in x, y over [z0, z1] (clamped to the tube).
  void BoundsXY(double z0, double z1, double lo[2], double hi[2]) const;

 private:
  bool Interpolate(double z, TubeKey& key) const;  // exact spline
  void Lookup(double z, Row& row) const;           // linear in the table
  // Table step (mm) and its inverse: a power of two, so that multiplying by the inverse is
  // exactly the division by the step.
  static constexpr double tableStep_ = 0.5, invTableStep_ = 2.0;
  static_assert(tableStep_ * invTableStep_ == 1.0, "the table step must be a power of two");
  std::vector<TubeKey> keys_;
  std::vector<Row> table_;
  double zMin_ = 0, zMax_ = 0;
  double boxMin_[3]{}, boxMax_[3]{};
};

struct Ellipsoid {
  Vec3 centre, radii{1, 1, 1};
  Mat3 rotation;  // local -> body
  inline double Sdf(const Vec3& p) const;
  // For p inside: a lower bound of its distance to the surface, (1 - k0) times the smallest
  // radius (k0 the scaled radius of p; Sdf's first-order distance overestimates it inside
  // flat ellipsoids). 0 outside.
  double InteriorDistance(const Vec3& p) const;
};

// A capsule with linearly varying radius. Not to be modified after construction: the
// constructor caches the point-independent terms of Sdf (the same expressions, so the same
// values as computing them per call).
struct Capsule {
  Capsule() : Capsule({}, {}, 1, 1) {}
  Capsule(Vec3 a, Vec3 b, double ra, double rb);
  Vec3 a, b;
  double ra, rb;
  double ZLow() const { return std::min(a.z - ra, b.z - rb); }
  double ZHigh() const { return std::max(a.z + ra, b.z + rb); }
  inline double Sdf(const Vec3& p) const;
  double BoundDistance(const Vec3& p) const;  // distance to the bounding box (0 inside)

 private:
  Vec3 ab_;
  double len2_, dr_, scale_;
};

// Axis-aligned box for culling.
struct Box {
  double lo[3] = {1e30, 1e30, 1e30}, hi[3] = {-1e30, -1e30, -1e30};
  void Add(const Vec3& p, double r);
  inline double Distance(const Vec3& p) const;
  inline double Distance2(const Vec3& p) const;  // its square (Distance = sqrt)
};

inline double SmoothMin(double a, double b, double k) {
  const double h = std::max(k - std::fabs(a - b), 0.0) / k;
  return std::min(a, b) - h * h * k * 0.25;
}

// ---------------------------------------------------------------------------------------------
// Hot shape functions, inline (the sampler calls them tens of millions of times per study).

// First-order distance to an ellipse boundary in scaled coordinates (iq's estimate), divided
// by `scale` (> 0); ia = 1 / a, ib = 1 / b (multiplications instead of divisions).
inline double EllipseDistance(double u, double v, double a, double b, double ia, double ib,
                              double scale = 1) {
  const double qa = u * ia, qb = v * ib;
  const double k0 = std::sqrt(qa * qa + qb * qb);
  const double ga = qa * ia, gb = qb * ib;
  const double k1 = std::sqrt(ga * ga + gb * gb);
  if (k1 < 1e-12) return -std::min(a, b) / scale;
  return k0 * (k0 - 1.0) / (k1 * scale);
}

inline void ZTube::Lookup(double z, Row& row) const {
  const double f =
      std::clamp((z - zMin_) * invTableStep_, 0.0, static_cast<double>(table_.size() - 1));
  const std::size_t i = std::min(static_cast<std::size_t>(f), table_.size() - 2);
  const double t = f - static_cast<double>(i);
  const Row& r0 = table_[i];
  const Row& r1 = table_[i + 1];
  row.cx = r0.cx + t * (r1.cx - r0.cx);
  row.cy = r0.cy + t * (r1.cy - r0.cy);
  row.a = r0.a + t * (r1.a - r0.a);
  row.b = r0.b + t * (r1.b - r0.b);
  row.cosA = r0.cosA + t * (r1.cosA - r0.cosA);
  row.sinA = r0.sinA + t * (r1.sinA - r0.sinA);
  row.bend = r0.bend + t * (r1.bend - r0.bend);
  row.lipschitz = std::max(r0.lipschitz, r1.lipschitz);
}

inline bool ZTube::SectionCentreY(double z, double& cy) const {
  if (keys_.empty() || z < zMin_ || z > zMax_) return false;
  const double f =
      std::clamp((z - zMin_) * invTableStep_, 0.0, static_cast<double>(table_.size() - 1));
  const std::size_t i = std::min(static_cast<std::size_t>(f), table_.size() - 2);
  const double t = f - static_cast<double>(i);
  cy = table_[i].cy + t * (table_[i + 1].cy - table_[i].cy);
  return true;
}

inline double ZTube::BoundDistance(const Vec3& p) const { return std::sqrt(BoundDistance2(p)); }

inline double ZTube::BoundDistance2(const Vec3& p) const {
  const double q[3] = {p.x, p.y, p.z};
  double d2 = 0;
  for (int i = 0; i < 3; ++i) {
    const double e = Max(boxMin_[i] - q[i], 0.0, q[i] - boxMax_[i]);
    d2 += e * e;
  }
  return d2;
}

inline double ZTube::Sdf(const Vec3& p) const {
  if (keys_.empty()) return 1e9;
  Row k;
  Lookup(p.z, k);
  return Sdf(p, k);
}

inline double ZTube::Sdf(const Vec3& p, const Row& k) const {
  if (keys_.empty()) return 1e9;
  const double c = k.cosA, s = k.sinA;
  const double dx = p.x - k.cx, dy = p.y - k.cy;
  const double u = dx * c + dy * s;
  const double ia = 1 / k.a, ib = 1 / k.b;
  double v = -dx * s + dy * c;
  v += k.bend * u * u * ia;
  const double fs = EllipseDistance(u, v, k.a, k.b, ia, ib, k.lipschitz);
  const double dz = std::max(zMin_ - p.z, p.z - zMax_);
  if (dz > 0) return fs > 0 ? std::sqrt(fs * fs + dz * dz) : dz;
  return std::max(fs, dz);
}

inline bool ZTube::Inside(const Vec3& p, const Row& k) const {
  // Sdf < 0 needs dz < 0 (dz > 0 gives a positive or zero result, and max(fs, 0) is not < 0)
  // and fs < 0, i.e. EllipseDistance < 0 (lipschitz > 0): k1 < 1e-12, or 0 < k0 < 1.
  if (keys_.empty()) return false;
  const double dz = std::max(zMin_ - p.z, p.z - zMax_);
  if (!(dz < 0)) return false;
  const double c = k.cosA, s = k.sinA;
  const double dx = p.x - k.cx, dy = p.y - k.cy;
  const double u = dx * c + dy * s;
  const double ia = 1 / k.a, ib = 1 / k.b;
  double v = -dx * s + dy * c;
  v += k.bend * u * u * ia;
  const double qa = u * ia, qb = v * ib;
  const double qq = qa * qa + qb * qb;
  if (!(qq < 1)) return false;  // then k0 = sqrt(qq) >= 1
  const double k0 = std::sqrt(qq);
  if (!(k0 < 1)) return false;
  if (k0 > 0) return true;
  const double ga = qa * ia, gb = qb * ib;
  return std::sqrt(ga * ga + gb * gb) < 1e-12;
}

inline double Ellipsoid::Sdf(const Vec3& p) const {
  // q = rotation^T (p - centre)
  const Vec3 d = p - centre;
  const auto& m = rotation.m;
  const Vec3 q{m[0] * d.x + m[3] * d.y + m[6] * d.z, m[1] * d.x + m[4] * d.y + m[7] * d.z,
               m[2] * d.x + m[5] * d.y + m[8] * d.z};
  const double ix = 1 / radii.x, iy = 1 / radii.y, iz = 1 / radii.z;
  const double qx = q.x * ix, qy = q.y * iy, qz = q.z * iz;
  const double k0 = std::sqrt(qx * qx + qy * qy + qz * qz);
  const double gx = qx * ix, gy = qy * iy, gz = qz * iz;
  const double k1 = std::sqrt(gx * gx + gy * gy + gz * gz);
  if (k1 < 1e-12) return -Min(radii.x, radii.y, radii.z);
  return k0 * (k0 - 1.0) / k1;
}

inline Capsule::Capsule(Vec3 a_, Vec3 b_, double ra_, double rb_)
    : a(a_), b(b_), ra(ra_), rb(rb_), ab_(b_ - a_) {
  len2_ = std::max(Dot(ab_, ab_), 1e-12);
  dr_ = rb - ra;
  const double taper = std::fabs(rb - ra) / std::sqrt(len2_);
  scale_ = std::sqrt(1 + taper * taper);
}

inline double Capsule::Sdf(const Vec3& p) const {
  const Vec3 ap = p - a;
  const double t = std::clamp(Dot(ap, ab_) / len2_, 0.0, 1.0);
  const double r = ra + t * dr_;
  return (Norm(ap - t * ab_) - r) / scale_;
}

inline double Box::Distance(const Vec3& p) const { return std::sqrt(Distance2(p)); }

inline double Box::Distance2(const Vec3& p) const {
  const double q[3] = {p.x, p.y, p.z};
  double d2 = 0;
  for (int i = 0; i < 3; ++i) {
    const double e = Max(lo[i] - q[i], 0.0, q[i] - hi[i]);
    d2 += e * e;
  }
  return d2;
}

// Tubes indexed by z slabs with per-slab x/y bounds: a cheap lower bound of the distance to
// each tube near a point, to skip tubes that cannot matter.
class TubeIndex {
 public:
  void Build(const std::vector<ZTube>& tubes);
  // Calls f(index) for every tube whose lower-bound distance to p is <= range.
  // Only tubes whose bit (1 << tube) is set in `mask` are considered.
  template <class F>
  void ForNear(const Vec3& p, double range, F&& f, std::uint64_t mask = ~0ull) const {
    if (slabs_.empty()) return;
    const double s = (p.z - z0_) / kSlab;
    if (s < 0 || s >= static_cast<double>(slabs_.size())) {
      if (range < kMargin) return;
      for (std::size_t i = 0; i < count_; ++i)
        if (mask >> i & 1) f(i);
      return;
    }
    for (const Entry& e : slabs_[static_cast<std::size_t>(s)]) {
      if (!(mask >> e.tube & 1)) continue;
      const double dx = Max(e.lo[0] - p.x, 0.0, p.x - e.hi[0]);
      const double dy = Max(e.lo[1] - p.y, 0.0, p.y - e.hi[1]);
      // min(sqrt(dx^2 + dy^2), kMargin) <= range
      if (kMargin <= range || SqrtAtMost(dx * dx + dy * dy, range)) f(e.tube);
    }
  }
  // Calls f(tube, box) for each slab entry: the box (lo, hi) holds the points whose lower-bound
  // distance to the tube ForNear may find below kMargin.
  template <class F>
  void ForEachSlabBox(F&& f) const {
    for (std::size_t s = 0; s < slabs_.size(); ++s)
      for (const Entry& e : slabs_[s]) {
        const double lo[3] = {e.lo[0], e.lo[1], z0_ + s * kSlab},
                     hi[3] = {e.hi[0], e.hi[1], z0_ + (s + 1) * kSlab};
        f(e.tube, lo, hi);
      }
  }

 private:
  static constexpr double kSlab = 10, kMargin = 25;
  struct Entry {
    std::size_t tube;
    double lo[2], hi[2];
  };
  double z0_ = 0;
  std::size_t count_ = 0;
  std::vector<std::vector<Entry>> slabs_;
};

// Items with z extents, indexed by z slabs: the items that a point can be near. Exact for
// culling tests of the form "skip item i if its distance to p exceeds dist" where that distance
// is at least the z gap between p and the item's z range: an item left out of p's slab list is
// more than `margin` (>= dist, with room for rounding) away in z.
class ZSlabList {
 public:
  void Build(const std::vector<std::array<double, 2>>& zRanges, double slab, double margin);
  // Calls f(i) in increasing i for a superset of the items within `dist` of z (all items
  // when dist is not small enough for the index).
  template <class F>
  void ForCandidates(double z, double dist, F&& f) const {
    const double reach = dist * (1 + 1e-6) + 1e-6;  // dist with room for rounding
    if (z + reach < zLo_ || z - reach > zHi_) return;  // every item is farther in z
    if (dist < 0.999 * margin_ && z >= z0_) {
      const double s = (z - z0_) / slab_;
      if (s < static_cast<double>(slabs_.size())) {
        for (std::size_t i : slabs_[static_cast<std::size_t>(s)]) f(i);
        return;
      }
    }
    for (std::size_t i = 0; i < count_; ++i) f(i);
  }

 private:
  double z0_ = 0, slab_ = 1, margin_ = 0, zLo_ = 0, zHi_ = 0;
  std::size_t count_ = 0;
  std::vector<std::vector<std::size_t>> slabs_;
};

// A coarse grid over the body frame listing, per cell, the shapes whose culling bounds come
// within kReach of the cell. Where Classify's culling radius (its running distance plus the
// largest margin a culling test adds, kSlack) stays below kReach, every shape not listed
// fails its culling test anyway: Classify skips those tests. The cells end at x = 0, so that
// each holds the shapes of one side (left frame, mirrored for the right side).
struct CellMask {
  // Side shapes: 0 hip bone, 1 femur, 2-4 tendon (conjoint, semimembranosus, gap), 5 adductor
  // tendon, 6 sciatic nerve, 7 artery, 8 vein, 9-15 fat pads, 16-63 muscles.
  std::uint64_t side = 0;
  std::uint64_t vessels = 0;  // small veins
  // Midline shapes: 0 sacrum, 1 anal canal, 2 rectum, 3 bladder, 4 prostate, 5-31 bowel loops.
  std::uint32_t midline = 0;
};
class CellGrid {
 public:
  static constexpr double kCell = 8, kReach = 16, kSlack = 11.5;
  enum Mask { kSide, kVessels, kMidline };
  static constexpr int kPadBit = 9, kMuscleBit = 16, kBowelBit = 5;
  // A shape's culling box (body frame; side shapes in the left frame, sign -1 for the right
  // side) and its bit.
  void Add(const double lo[3], const double hi[3], int sideSign, Mask mask, int bit);
  void Build();  // after every Add
  // The cell of b (body frame) on the side `sideIndex` (0 right, x < 0; 1 left) picks for it.
  const CellMask& At(const Vec3& b, int sideIndex) const {
    static const CellMask kNone;
    const double q[3] = {b.x, b.y, b.z};
    long c[3];
    for (int i = 0; i < 3; ++i) {
      const double f = std::floor((q[i] - lo_[i]) / kCell);
      if (!(f >= 0 && f < n_[i])) return kNone;
      c[i] = static_cast<long>(f);
    }
    c[0] = sideIndex ? std::max(c[0], mid_) : std::min(c[0], mid_ - 1);  // rounding at x = 0
    if (c[0] < 0 || c[0] >= n_[0]) return kNone;
    return cells_[(c[2] * n_[1] + c[1]) * n_[0] + c[0]];
  }

 private:
  struct Item {
    double lo[3], hi[3];
    int sideSign;
    Mask mask;
    int bit;
  };
  std::vector<Item> items_;
  double lo_[3] = {0, 0, 0};
  long n_[3] = {0, 0, 0};
  long mid_ = 0;  // the first cell at x >= 0
  std::vector<CellMask> cells_;
};

// ---------------------------------------------------------------------------------------------
// Per-side anatomy parameters and the tendon model. Side structures are defined in the frame
// of the LEFT side (x > 0 lateral); a point of the right side is mirrored (x -> -x) first.
struct Tendon {
  ZTube conjoint, semimembranosus;  // shapes of the intact tendons (complete tear: the stump)
  ZTube gap;                        // complete tear: fluid-filled path from footprint to stump
  bool hasGap = false;
  double zFootprint = 0;  // level of the footprint (body frame)
  double zLower = 0;      // lowest level of the tendon (blend into muscle)
  double cleftTop = 0, cleftBottom = 0, cleftFraction = 0, cleftWidth = 0;  // partial tear
  double stumpTop = 0;  // complete tear: z of the proximal end of the stump
  double length = 0;    // footprint to blend, mm along z
  double arcPerZ = 1;   // course length per mm of z
};

struct Side {
  int sign = 1;  // +1 left (patient left = +x), -1 right
  PhantomCase pathology = PhantomCase::Normal;
  double retractionMm = 0, partialExtent = 0, partialLength = 0;
  bool intrasubstance = false, periOedema = false, marrowOedema = false;
  double periRim = 3;
  double clotThreshold = 0.1;  // complete tear: share of clot in the gap
  double tipZ = 0;             // designed lowest level of the tuberosity
  double xI = 55;              // tuberosity x (left frame)
  Ellipsoid tuberosity;
  Capsule ischialBody, inferiorRamus, superiorRamus, pubicBody, supraAcetabular;
  Ellipsoid acetabulum, ilium;
  Vec3 openDir;  // opening of the acetabular cup
  Vec3 femoralHead;
  double headRadius = 24;
  Capsule neck, shaft;
  Ellipsoid greaterTrochanter, lesserTrochanter;
  double lesserTrochanterZ = 0;
  Ellipsoid oedemaZone;
  Vec3 footprint, footprintNormal;  // left frame
  Tendon tendon;
  ZTube adductorTendon, sciatic, artery, vein;
  std::vector<ZTube> muscles;  // paired with muscleTissue, in priority order
  std::vector<Tissue> muscleTissue;
  std::vector<Capsule> vessels;  // small veins in fat
  std::vector<Box> vesselBoxes;
  ZSlabList vesselIndex;
  std::vector<ZTube> fatPads;  // fat that wins over muscle (ischioanal fossa, around nerve)
  TubeIndex muscleIndex, padIndex;
  Box hipBox, femurBox;
  Box hipParts[6], femurParts[4];
  double septum = 1.5, gapFill = 5;
};

// The whole anatomy: body frame = LPS translated by `offset` and rotated about z by `yaw`.
class Anatomy {
 public:
  Anatomy(std::uint64_t seed, const PhantomOptions& options);

  // Tissue at p (LPS mm). `distance` receives a conservative distance (mm) within which the
  // tissue does not change.
  //
  // `care` >= 0: the caller only needs to know whether that distance exceeds `care` (0: only
  // the tissue). The distance is a running minimum that culls the shapes farther than it, so
  // it starts just above `care` (a larger distance is returned as that value) and fewer shapes
  // pass. The tissue is the same as with care < 0, but for points where a shape's first-order
  // distance falls below its culling bound (a few in 10^4 near muscle ends).
  //
  // With `stop` >= 0 (then care = stop) the tissue is needed only if the distance exceeds
  // `stop`: once it falls to `stop` or below the answer is known and Classify returns at once,
  // with that (larger than final, but <= stop) distance and an unspecified tissue.
  //
  // `outline` (optional) carries what an earlier classification nearby found about the body
  // outline: when it proves that p lies inside the envelope (below skin and subcutaneous fat)
  // with a distance bound above `stop`, the outline is not evaluated (the distance may then be
  // smaller than without the hint, the tissue is the same). Otherwise the outline is evaluated
  // and the hint replaced by what it found at p.
  struct OutlineHint {
    Vec3 body;              // where it was found (body frame)
    double depth = 0;       // a lower bound of -BodyOutline there
    double fat = 0;         // FatThickness there
    double depthSlope = 0;  // bounds of their change per mm from `body`...
    double fatSlope = 0;
    double radius = 0;      // ...within this distance (0: no hint)
  };
  Tissue Classify(const Vec3& lps, double* distance, double stop = -1,
                  OutlineHint* outline = nullptr, double care = -1) const;

  // Texture fields for intensity modulation, at three scales: fine (muscle fibre bundles,
  // fat septa), medium (fatty streaks in muscle) and coarse (septa density, heterogeneity).
  // The cache keeps the lattice cell of the last point (for points visited in raster order).
  struct TextureCache {
    NoiseCell cells[2];
  };
  double TextureFibre(const Vec3& lps, TextureCache& cache) const;
  double TextureSeptum(const Vec3& lps, TextureCache& cache) const;
  double TextureMedium(const Vec3& lps, TextureCache& cache) const;
  void TextureCoarse(const Vec3& lps, double& gate, double& hetero, TextureCache& cache) const;

  // Hamstring tendon envelope (tendon or cleft, not bone) of one side at p (LPS).
  bool InTendonEnvelope(const Vec3& lps, int sideIndex) const;

  Vec3 ToBody(const Vec3& lps) const;
  Vec3 ToLps(const Vec3& body) const;
  // Left-frame point of side i -> LPS.
  Vec3 SideToLps(const Vec3& leftFrame, int sideIndex) const;

  const Side& GetSide(int i) const { return sides_[i]; }  // 0 right (-x), 1 left (+x)
  double BodyWidth() const { return bodyWidth_; }
  double BodyDepth() const { return bodyDepth_; }
  Vec3 BodyCentreLps() const;  // body centre at the level of the tuberosity tips
  double TipZLps() const;      // mean patient z of the designed tuberosity tips
  double TuberosityYLps() const;
  double FemoralHeadYLps() const;
  std::uint64_t Seed() const { return seed_; }

  // Box (LPS) holding every labelled structure (ischium, tendon, tear) of one side.
  Box LabelBox(int sideIndex) const;
  // Lowest point of the ischium of one side (LPS), found numerically on the shapes.
  Vec3 FindTuberosityTip(int sideIndex) const;
  // Hip bone signed distance in the left frame; `ischium` tells whether the nearest part is
  // the ischium (label 1), `split` how far that is from changing (|difference of the parts'
  // distances|).
  double HipBoneSdf(const Side& s, const Vec3& q, bool* ischium, double* split = nullptr) const;

 private:
  double BodySdf(const Vec3& b) const;  // CarveCleft(b, BodyOutline(b))
  // The outline before the gluteal cleft is carved, optionally with its parts: the pelvis tube
  // distance, that blended with the thigh, the harmonics (subtracted), the squared thigh box
  // distance, the distance to the harmonics' axis and whether the thigh is blended in.
  struct OutlineParts {
    double pelvis = 0, tubes = 0, harmonics = 0, thighBox2 = 0;
    double radius = 0;  // distance to the axis of the harmonics (0, -20)
    bool thigh = false;
  };
  double BodyOutline(const Vec3& b, OutlineParts* parts = nullptr) const;
  double CarveCleft(const Vec3& b, double outline) const;
  double PosteriorY(double x, double z) const;
  double FatThickness(const Vec3& b) const;
  // The outline hint at b (inside the envelope) from the parts of BodyOutline(b) and
  // FatThickness(b), and a lower bound of depth - skin - fat at a point b near the hint's
  // (<= 0: proves nothing).
  OutlineHint MakeOutlineHint(const Vec3& b, const OutlineParts& parts, double fat) const;
  double OutlineMargin(const OutlineHint& hint, const Vec3& b) const;
  double FemurSdf(const Side& s, const Vec3& q, double* cortex) const;
  bool ClassifySide(const Side& s, const Vec3& q, bool inEnvelope, double stop, double& dist,
                    Tissue& tissue, std::uint64_t cells) const;
  bool ClassifyTendon(const Side& s, const Vec3& q, double& dist, Tissue& tissue,
                      std::uint64_t cells) const;
  // How far beyond the running distance ClassifyTendon needs the tendon's gap (its tissues
  // reach that far from its shape).
  double TendonReach(const Side& s) const;
  bool ClassifyMidline(const Vec3& b, double stop, double& dist, Tissue& tissue,
                       std::uint32_t cells) const;
  void BuildCells();
  void BuildSide(Side& s, Rng& rng, const PhantomSideOptions& opt);
  void BuildTendon(Side& s, Rng& rng);
  void BuildMuscles(Side& s, Rng& rng);

  std::uint64_t seed_;
  Vec3 offset_;  // body origin in LPS
  double yaw_ = 0;
  Mat3 toBody_, toLps_;
  double scale_ = 1, bulk_ = 1, fatBase_ = 15, skin_ = 2, bodyWidth_ = 340, bodyDepth_ = 230;
  ZTube pelvis_, thigh_, cleft_;
  std::array<double, 8> fatHarmonics_{};
  std::array<double, 8> outlineHarmonics_{};
  std::array<double, 4> fatPhaseSines_{}, outlinePhaseSines_{};
  // Bounds of the angular derivatives of the outline harmonics and of the fat thickness (mm
  // per radian), and of the outline harmonics themselves (mm).
  double outlineTurn_ = 0, fatTurn_ = 0, outlineSwing_ = 0;
  Side sides_[2];
  // Shared skeleton means (sides jitter around them).
  double base_[16]{};
  Ellipsoid bladder_, prostate_, rectum_;
  ZTube analCanal_, sacrum_;
  std::vector<Ellipsoid> bowel_;
  ZSlabList bowelIndex_;
  std::vector<int> bowelGas_;
  CellGrid cells_;
};

// Measures the tendon envelope on the axial plane z = zLps (patient z) for one side.
TendonSection MeasureTendonSection(const Anatomy& anatomy, int sideIndex, double zLps);

}  // namespace ischia::phantom
