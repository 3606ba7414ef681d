// The analytic pelvis: body outline, bones, muscles, the proximal hamstring origin with its
// pathology, nerves and vessels; point classification and the tendon ground truth.
// All lengths in mm. Body frame: x to the patient's left, y posterior, z superior, origin on the
// midline at the level of the tuberosity tips with y = 0 at the tuberosities.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "phantom_model.h"

namespace ischia::phantom {
namespace {

TubeKey K(double z, double cx, double cy, double a, double b, double angle = 0, double bend = 0) {
  return {z, cx, cy, a, b, angle, bend};
}

// Section centre of an ellipsoid at level z (the centre of the ellipse it cuts).
Vec3 EllipsoidSectionCentre(const Ellipsoid& e, double z) {
  // A = R diag(1/r^2) R^T; centre offset q_xy = -A_xy^-1 A_xz q_z.
  const Mat3& R = e.rotation;
  double A[3][3] = {};
  const double inv[3] = {1 / (e.radii.x * e.radii.x), 1 / (e.radii.y * e.radii.y),
                         1 / (e.radii.z * e.radii.z)};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) A[i][j] += R.m[3 * i + k] * inv[k] * R.m[3 * j + k];
  const double qz = z - e.centre.z;
  const double det = A[0][0] * A[1][1] - A[0][1] * A[1][0];
  const double bx = -A[0][2] * qz, by = -A[1][2] * qz;
  const double qx = (A[1][1] * bx - A[0][1] * by) / det;
  const double qy = (-A[1][0] * bx + A[0][0] * by) / det;
  return {e.centre.x + qx, e.centre.y + qy, z};
}

// Point where the ray from `from` along `dir` leaves the shape (sdf changes sign).
template <class F>
Vec3 RayExit(const F& sdf, Vec3 from, Vec3 dir, double maxLen) {
  double lo = 0, hi = maxLen;
  for (int i = 0; i < 60; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (sdf(from + mid * dir) < 0)
      lo = mid;
    else
      hi = mid;
  }
  return from + (0.5 * (lo + hi)) * dir;
}

constexpr double kHipCortex = 1.8;

// Muscles and other soft tissue end in tapers, not flat caps, wherever an image may show them.
void TaperEnds(std::vector<TubeKey>& keys) {
  std::sort(keys.begin(), keys.end(), [](const TubeKey& a, const TubeKey& b) { return a.z < b.z; });
  if (keys.front().z > -300) {
    TubeKey k = keys.front();
    k.z -= 12;
    k.a *= 0.3;
    k.b *= 0.3;
    keys.insert(keys.begin(), k);
  }
  if (keys.back().z < 300) {
    TubeKey k = keys.back();
    k.z += 12;
    k.a *= 0.3;
    k.b *= 0.3;
    keys.push_back(k);
  }
}

// |(x, y)| (the hot paths need no std::hypot overflow protection: coordinates are mm).
inline double Radius(double x, double y) { return std::sqrt(x * x + y * y); }

// sum_k h[k] cos((k + 2) theta + phase_k) for the direction (x, y) without trigonometry calls;
// h[4 + k] = cos(phase_k) in [-1, 1], phase_k in [0, pi]; sinPhase[k] = sin(phase_k) (see
// PhaseSines); r = |(x, y)|.
double Harmonics(const std::array<double, 8>& h, const std::array<double, 4>& sinPhase, double x,
                 double y, double r) {
  if (r < 1e-9) return 0;
  const double ir = 1 / r, c1 = x * ir, s1 = y * ir;
  double ck = c1 * c1 - s1 * s1, sk = 2 * s1 * c1;  // k = 2
  double sum = 0;
  for (int k = 0; k < 4; ++k) {
    const double cp = h[4 + k], sp = sinPhase[k];
    sum += h[k] * (ck * cp - sk * sp);
    const double cn = ck * c1 - sk * s1, sn = sk * c1 + ck * s1;
    ck = cn;
    sk = sn;
  }
  return sum;
}

// Sines of the phases of Harmonics: h[4 + k] holds the cosine, sin = sqrt(1 - cos^2).
std::array<double, 4> PhaseSines(const std::array<double, 8>& h) {
  std::array<double, 4> sp{};
  for (int k = 0; k < 4; ++k) sp[k] = std::sqrt(std::max(0.0, 1 - h[4 + k] * h[4 + k]));
  return sp;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
Anatomy::Anatomy(std::uint64_t seed, const PhantomOptions& options) : seed_(seed) {
  Rng rng(HashCombine(seed, 0xA7A70001ull));
  scale_ = rng.Uniform(0.92, 1.08);
  bulk_ = rng.Uniform(0.88, 1.12);
  fatBase_ = rng.Uniform(6.0, 30.0);
  skin_ = rng.Uniform(1.5, 2.5);
  offset_ = {rng.Uniform(-15, 15), rng.Uniform(0, 45), rng.Uniform(-90, 30)};
  yaw_ = rng.Uniform(-0.05, 0.05);
  toLps_ = RotationXYZ(0, 0, yaw_);
  toBody_ = toLps_.Transposed();
  for (auto& h : fatHarmonics_) h = rng.Uniform(-1, 1);
  for (int i = 0; i < 4; ++i) outlineHarmonics_[i] = rng.Uniform(-5, 5) / (1 + 0.5 * i);
  for (int i = 4; i < 8; ++i) outlineHarmonics_[i] = rng.Uniform(-1, 1);
  outlineHarmonics_[2] = rng.Uniform(3, 8);  // 4th harmonic bulging at the diagonals: boxier
  outlineHarmonics_[6] = -1;
  fatPhaseSines_ = PhaseSines(fatHarmonics_);
  outlinePhaseSines_ = PhaseSines(outlineHarmonics_);
  for (int k = 0; k < 4; ++k) {
    outlineSwing_ += std::fabs(outlineHarmonics_[k]);
    outlineTurn_ += (k + 2) * std::fabs(outlineHarmonics_[k]);
    fatTurn_ += (k + 2) * std::fabs(fatHarmonics_[k]);
  }
  fatTurn_ = fatBase_ * (0.5 + 0.12 * fatTurn_);  // FatThickness: posterior term and harmonics

  const double sc = scale_ * bulk_, f = fatBase_;
  auto oa = [&](double aE) { return aE * sc + 0.8 * f; };
  auto ob = [&](double bE) { return bE * sc + 1.1 * f; };
  const double cyShift = 0.3 * f;
  pelvis_ =
      ZTube({K(-105, 0, -20 + cyShift, oa(45), ob(40)), K(-60, 0, -25 + cyShift, oa(112), ob(72)),
             K(-20, 0, -22 + cyShift, oa(146), ob(82)), K(20, 0, -22 + cyShift, oa(157), ob(86)),
             K(70, 0, -25 + cyShift, oa(160), ob(88)), K(140, 0, -30 + cyShift, oa(150), ob(88)),
             K(220, 0, -35 + cyShift, oa(145), ob(92)), K(450, 0, -35 + cyShift, oa(140), ob(92))});
  const double xT = 92 * scale_;
  thigh_ = ZTube({K(-450, xT - 8, -10, 56 * sc + 0.8 * f, 60 * sc + 0.9 * f),
                  K(-250, xT - 4, -12, 62 * sc + 0.8 * f, 66 * sc + 0.9 * f),
                  K(-80, xT, -15, 68 * sc + 0.8 * f, 72 * sc + 0.9 * f),
                  K(10, xT, -15, 66 * sc + 0.6 * f, 70 * sc + 0.7 * f), K(30, xT, -15, 30, 30)});
  // Gluteal cleft: a thin slot cut into the posterior midline, deepening caudally.
  std::vector<TubeKey> cleft;
  const double depths[][2] = {{150, 1}, {90, 12}, {40, 28}, {0, 48}, {-40, 80}, {-110, 130}};
  for (const auto& d : depths) {
    TubeKey k;
    pelvis_.Section(d[0], k);
    cleft.push_back(K(d[0], 0, k.cy + k.b + 2, 2.5 + 0.03 * d[1], d[1] + 2));
  }
  cleft_ = ZTube(cleft);
  TubeKey k20;
  pelvis_.Section(20, k20);
  bodyWidth_ = 2 * k20.a;
  bodyDepth_ = 2 * k20.b;

  // Shared skeleton; the sides jitter around it.
  base_[0] = rng.Uniform(50, 64) * scale_;  // tuberosity x
  base_[1] = rng.Uniform(13, 18) * scale_;  // tuberosity radii
  base_[2] = rng.Uniform(19, 25) * scale_;
  base_[3] = rng.Uniform(24, 30) * scale_;
  base_[4] = rng.Uniform(0.35, 0.55);        // tilt about x (superior end anterior)
  base_[5] = rng.Uniform(0.10, 0.25);        // tilt about y (superior end lateral)
  base_[6] = rng.Uniform(26, 36) * scale_;   // femoral head: lateral of the tuberosity
  base_[7] = rng.Uniform(35, 48) * scale_;   // anterior of the tuberosity
  base_[8] = rng.Uniform(55, 68) * scale_;   // above the tip
  base_[9] = rng.Uniform(22, 26) * scale_;   // head radius
  base_[10] = rng.Uniform(30, 40) * scale_;  // pubis anterior of the head

  PhantomSideOptions sideOptions[2] = {options.right, options.left};
  for (int i = 0; i < 2; ++i) {
    sides_[i].sign = i == 0 ? -1 : 1;
    Rng sideRng(HashCombine(seed, 0x5100 + i));
    BuildSide(sides_[i], sideRng, sideOptions[i]);
  }

  // Midline organs.
  const Side& L = sides_[1];
  const double headY = L.femoralHead.y, headZ = L.femoralHead.z;
  bladder_.centre = {rng.Uniform(-5, 5), headY - rng.Uniform(15, 28), headZ + rng.Uniform(20, 40)};
  bladder_.radii = {rng.Uniform(30, 50), rng.Uniform(25, 40), rng.Uniform(22, 40)};
  bladder_.rotation = RotationXYZ(rng.Uniform(-0.2, 0.2), 0, rng.Uniform(-0.1, 0.1));
  prostate_.centre = {0, headY - rng.Uniform(5, 15), rng.Uniform(28, 42)};
  prostate_.radii = {rng.Uniform(16, 24), rng.Uniform(12, 17), rng.Uniform(14, 20)};
  rectum_.centre = {rng.Uniform(-8, 8), rng.Uniform(8, 18), rng.Uniform(85, 105)};
  rectum_.radii = {rng.Uniform(18, 28), rng.Uniform(15, 22), rng.Uniform(35, 50)};
  analCanal_ = ZTube({K(-35, 0, 22, 7, 7), K(-20, 0, 20, 11, 11), K(20, 0, 15, 12, 12),
                      K(55, 0, 12, 16, 14), K(70, 0, 12, 12, 10)});
  const double sy = rng.Uniform(15, 25);
  sacrum_ =
      ZTube({K(38, 0, sy, 3, 3), K(45, 0, sy + 3, 6, 5), K(80, 0, sy + 14, 14, 8),
             K(130, 0, sy + 24, 38, 16), K(190, 0, sy + 20, 50, 24), K(235, 0, sy + 10, 46, 24),
             K(250, 0, sy + 8, 22, 18), K(300, 0, sy + 5, 20, 17), K(480, 0, sy, 20, 17)});
  const int nBowel = rng.Int(14, 20);
  for (int i = 0; i < nBowel; ++i) {
    Ellipsoid e;
    e.centre = {rng.Uniform(-90, 90), rng.Uniform(-80, 15), rng.Uniform(130, 380)};
    e.radii = {rng.Uniform(12, 30), rng.Uniform(12, 25), rng.Uniform(12, 35)};
    e.rotation = RotationXYZ(rng.Uniform(-1, 1), rng.Uniform(-1, 1), rng.Uniform(-1, 1));
    bowel_.push_back(e);
    bowelGas_.push_back(rng.Chance(0.4) ? 1 : 0);
  }
  std::vector<std::array<double, 2>> bowelZ;
  for (const Ellipsoid& e : bowel_) {
    const double r = Max(e.radii.x, e.radii.y, e.radii.z);
    bowelZ.push_back({e.centre.z - r, e.centre.z + r});
  }
  bowelIndex_.Build(bowelZ, 10, 30);
  BuildCells();
}

void Anatomy::BuildCells() {
  // Each shape with the box its culling test uses.
  auto box = [](const Box& b, double* lo, double* hi) {
    for (int i = 0; i < 3; ++i) lo[i] = b.lo[i], hi[i] = b.hi[i];
  };
  auto sphere = [](const Ellipsoid& e, double* lo, double* hi) {
    const double r = Max(e.radii.x, e.radii.y, e.radii.z);
    const double c[3] = {e.centre.x, e.centre.y, e.centre.z};
    for (int i = 0; i < 3; ++i) lo[i] = c[i] - r, hi[i] = c[i] + r;
  };
  double lo[3], hi[3];
  for (const Side& s : sides_) {
    if (s.fatPads.size() > CellGrid::kMuscleBit - CellGrid::kPadBit ||
        s.muscles.size() > 64 - CellGrid::kMuscleBit || s.vessels.size() > 64)
      throw std::logic_error("phantom: too many shapes for the cell grid");
    box(s.hipBox, lo, hi);
    cells_.Add(lo, hi, s.sign, CellGrid::kSide, 0);
    box(s.femurBox, lo, hi);
    cells_.Add(lo, hi, s.sign, CellGrid::kSide, 1);
    const ZTube* tubes[] = {&s.tendon.conjoint, &s.tendon.semimembranosus, &s.tendon.gap,
                            &s.adductorTendon,  &s.sciatic,                &s.artery,
                            &s.vein};
    for (int i = 0; i < 7; ++i) {
      tubes[i]->BoundingBox(lo, hi);
      // The gap's culling test reaches farther than kSlack: its box grows by as much.
      const double grow = i == 2 ? TendonReach(s) : 0.0;
      for (int d = 0; d < 3; ++d) lo[d] -= grow, hi[d] += grow;
      cells_.Add(lo, hi, s.sign, CellGrid::kSide, 2 + i);
    }
    s.padIndex.ForEachSlabBox([&](std::size_t i, const double* l, const double* h) {
      cells_.Add(l, h, s.sign, CellGrid::kSide, CellGrid::kPadBit + static_cast<int>(i));
    });
    s.muscleIndex.ForEachSlabBox([&](std::size_t i, const double* l, const double* h) {
      cells_.Add(l, h, s.sign, CellGrid::kSide, CellGrid::kMuscleBit + static_cast<int>(i));
    });
    for (std::size_t i = 0; i < s.vesselBoxes.size(); ++i) {
      box(s.vesselBoxes[i], lo, hi);
      cells_.Add(lo, hi, s.sign, CellGrid::kVessels, static_cast<int>(i));
    }
  }
  if (bowel_.size() > 32 - CellGrid::kBowelBit)
    throw std::logic_error("phantom: too many bowel loops for the cell grid");
  sacrum_.BoundingBox(lo, hi);
  cells_.Add(lo, hi, 0, CellGrid::kMidline, 0);
  analCanal_.BoundingBox(lo, hi);
  cells_.Add(lo, hi, 0, CellGrid::kMidline, 1);
  const Ellipsoid* organs[] = {&rectum_, &bladder_, &prostate_};
  for (int i = 0; i < 3; ++i) {
    sphere(*organs[i], lo, hi);
    cells_.Add(lo, hi, 0, CellGrid::kMidline, 2 + i);
  }
  for (std::size_t i = 0; i < bowel_.size(); ++i) {
    sphere(bowel_[i], lo, hi);
    cells_.Add(lo, hi, 0, CellGrid::kMidline, CellGrid::kBowelBit + static_cast<int>(i));
  }
  cells_.Build();
}

Vec3 Anatomy::ToBody(const Vec3& lps) const { return toBody_ * (lps - offset_); }
Vec3 Anatomy::ToLps(const Vec3& body) const { return toLps_ * body + offset_; }
Vec3 Anatomy::SideToLps(const Vec3& q, int sideIndex) const {
  return ToLps({sides_[sideIndex].sign * q.x, q.y, q.z});
}
Vec3 Anatomy::BodyCentreLps() const {
  TubeKey k;
  pelvis_.Section(0, k);
  return ToLps({0, k.cy, 0});
}
double Anatomy::TipZLps() const { return offset_.z + 0.5 * (sides_[0].tipZ + sides_[1].tipZ); }
double Anatomy::TuberosityYLps() const { return ToLps({0, 0, 0}).y; }
double Anatomy::FemoralHeadYLps() const { return ToLps({0, sides_[1].femoralHead.y, 0}).y; }

// ---------------------------------------------------------------------------------------------
void Anatomy::BuildSide(Side& s, Rng& rng, const PhantomSideOptions& opt) {
  auto j = [&](double v) { return v * (1.0 + rng.Normal(0, 0.025)); };
  s.pathology = opt.pathology ? *opt.pathology : static_cast<PhantomCase>(rng.Int(0, 3));
  s.tipZ = rng.Uniform(-2.5, 2.5);
  s.xI = j(base_[0]);
  const double yI = rng.Uniform(-3, 3);

  Ellipsoid& it = s.tuberosity;
  it.radii = {j(base_[1]), j(base_[2]), j(base_[3])};
  it.rotation = RotationXYZ(j(base_[4]), j(base_[5]), rng.Uniform(-0.2, 0.1));
  {
    // Place the centre so that the lowest point is (xI, yI, tipZ).
    const Mat3& R = it.rotation;
    const double r2[3] = {it.radii.x * it.radii.x, it.radii.y * it.radii.y,
                          it.radii.z * it.radii.z};
    Vec3 m;  // R diag(r^2) R^T e_z
    double hz2 = 0;
    for (int k = 0; k < 3; ++k) hz2 += R.m[6 + k] * R.m[6 + k] * r2[k];
    const double hz = std::sqrt(hz2);
    m.x = (R.m[0] * R.m[6] * r2[0] + R.m[1] * R.m[7] * r2[1] + R.m[2] * R.m[8] * r2[2]) / hz;
    m.y = (R.m[3] * R.m[6] * r2[0] + R.m[4] * R.m[7] * r2[1] + R.m[5] * R.m[8] * r2[2]) / hz;
    m.z = hz;
    it.centre = Vec3{s.xI, yI, s.tipZ} + m;
  }
  s.femoralHead = {s.xI + j(base_[6]), yI - j(base_[7]), s.tipZ + j(base_[8])};
  s.headRadius = j(base_[9]);
  const Vec3 H = s.femoralHead;
  const double Rh = s.headRadius, sc = scale_;

  s.ischialBody = {it.centre + Vec3{-1, -4, 8}, H + Vec3{-8, 20, -14}, 12.5 * sc, 16 * sc};
  s.acetabulum.centre = H + Vec3{-6, 2, 6};
  s.acetabulum.radii = {Rh + 14, Rh + 12, Rh + 15};
  s.openDir = Normalized({0.72, -0.45, -0.55});
  const double pubisY = H.y - j(base_[10]);
  s.pubicBody = {{10, pubisY, s.tipZ + 16}, {10, pubisY + 4, s.tipZ + 46}, 8.5 * sc, 8.5 * sc};
  s.superiorRamus = {{13, pubisY, s.tipZ + 40}, H + Vec3{-22, -6, 4}, 8.5 * sc, 11 * sc};
  s.inferiorRamus = {it.centre + Vec3{-7, -10, -12}, {11, pubisY + 6, s.tipZ + 19}, 7 * sc, 7 * sc};
  s.supraAcetabular = {H + Vec3{-6, 4, 22}, H + Vec3{-14, 22, 70}, 20 * sc, 17 * sc};
  // Iliac wing: a blade running from posteromedial to anterolateral, flaring laterally upwards.
  s.ilium.centre = H + Vec3{12, 18, 92};
  s.ilium.radii = {68 * sc, 7 * sc, 62 * sc};
  s.ilium.rotation = RotationXYZ(-0.5, 0, -0.8);

  const Vec3 neckDir = Normalized({0.75, 0.15, -0.62});
  const Vec3 N = H + (42 * sc) * neckDir;
  s.neck = {H, N, Rh * 0.62, Rh * 0.7};
  s.greaterTrochanter.centre = N + Vec3{12, 9, 10};
  s.greaterTrochanter.radii = {13 * sc, 21 * sc, 22 * sc};
  const Vec3 T0 = N + Vec3{3, 4, -12};
  s.shaft = {T0, T0 + Vec3{-34, -12, -470}, 14 * sc, 12.5 * sc};
  s.lesserTrochanterZ = H.z - rng.Uniform(58, 70) * sc;
  {
    const double t = (T0.z - s.lesserTrochanterZ) / 470.0;
    const Vec3 onShaft = T0 + t * Vec3{-34, -12, -470};
    s.lesserTrochanter.centre = onShaft + Vec3{-12, 10, 0};
    s.lesserTrochanter.radii = {8.5 * sc, 8.5 * sc, 13 * sc};
  }

  // Pathology.
  switch (s.pathology) {
    case PhantomCase::Normal:
      break;
    case PhantomCase::Tendinopathy:
      s.intrasubstance = true;
      s.periOedema = rng.Chance(0.6);
      s.marrowOedema = rng.Chance(0.5);
      break;
    case PhantomCase::PartialTear:
      s.intrasubstance = rng.Chance(0.7);
      s.periOedema = rng.Chance(0.7);
      s.marrowOedema = rng.Chance(0.4);
      s.partialExtent = rng.Uniform(0.3, 0.7);
      s.partialLength = rng.Uniform(10, 30);
      break;
    case PhantomCase::CompleteTear:
      s.retractionMm = opt.retractionMm ? *opt.retractionMm : rng.Uniform(10, 60);
      if (s.retractionMm < 2 || s.retractionMm > 80)
        throw std::invalid_argument("retraction must be within 2-80 mm, got " +
                                    std::to_string(s.retractionMm));
      s.periOedema = rng.Chance(0.8);
      s.marrowOedema = rng.Chance(0.5);
      break;
  }
  s.periRim = rng.Uniform(2.0, 4.0);
  s.clotThreshold = rng.Uniform(-0.25, 0.3);
  BuildTendon(s, rng);
  BuildMuscles(s, rng);

  // Culling boxes (generous: smooth unions bulge a little).
  auto addEllipsoid = [](Box& b, const Ellipsoid& e) {
    b.Add(e.centre, Max(e.radii.x, e.radii.y, e.radii.z) + 8);
  };
  auto addCapsule = [](Box& b, const Capsule& c) {
    b.Add(c.a, c.ra + 8);
    b.Add(c.b, c.rb + 8);
  };
  addEllipsoid(s.hipBox, s.tuberosity);
  addEllipsoid(s.hipBox, s.acetabulum);
  addEllipsoid(s.hipBox, s.ilium);
  for (const Capsule* c :
       {&s.ischialBody, &s.inferiorRamus, &s.superiorRamus, &s.pubicBody, &s.supraAcetabular})
    addCapsule(s.hipBox, *c);
  s.femurBox.Add(s.femoralHead, s.headRadius + 12);
  addCapsule(s.femurBox, s.neck);
  addCapsule(s.femurBox, s.shaft);
  addEllipsoid(s.femurBox, s.greaterTrochanter);
  addEllipsoid(s.femurBox, s.lesserTrochanter);
  // Part boxes: exact (no margin) so that the lazy smooth unions stay exact.
  auto partE = [](const Ellipsoid& e) {
    Box b;
    b.Add(e.centre, Max(e.radii.x, e.radii.y, e.radii.z));
    return b;
  };
  auto partC = [](const Capsule& c) {
    Box b;
    b.Add(c.a, std::max(c.ra, c.rb));
    b.Add(c.b, std::max(c.ra, c.rb));
    return b;
  };
  s.hipParts[0] = partC(s.ischialBody);
  s.hipParts[1] = partC(s.inferiorRamus);
  s.hipParts[2] = partC(s.superiorRamus);
  s.hipParts[3] = partE(s.acetabulum);
  s.hipParts[4] = partC(s.supraAcetabular);
  s.hipParts[5] = partE(s.ilium);
  s.femurParts[0] = partC(s.neck);
  s.femurParts[1] = partE(s.greaterTrochanter);
  s.femurParts[2] = partC(s.shaft);
  s.femurParts[3] = partE(s.lesserTrochanter);
  std::vector<std::array<double, 2>> vesselZ;
  for (const Capsule& c : s.vessels) {
    Box b;
    b.Add(c.a, std::max(c.ra, c.rb));
    b.Add(c.b, std::max(c.ra, c.rb));
    s.vesselBoxes.push_back(b);
    vesselZ.push_back({b.lo[2], b.hi[2]});
  }
  s.vesselIndex.Build(vesselZ, 10, 12);
}

// ---------------------------------------------------------------------------------------------
void Anatomy::BuildTendon(Side& s, Rng& rng) {
  Tendon& t = s.tendon;
  const Ellipsoid& it = s.tuberosity;
  const double zFp = s.tipZ + rng.Uniform(9, 16);
  t.zFootprint = zFp;
  const double alpha = rng.Uniform(0.45, 0.8);  // from posterior towards lateral
  const Vec3 n{std::sin(alpha), std::cos(alpha), 0}, tan{std::cos(alpha), -std::sin(alpha), 0};
  auto surface = [&](double z) {
    const Vec3 c = EllipsoidSectionCentre(it, z);
    return RayExit([&](const Vec3& p) { return it.Sdf(p); }, c, n, 80.0);
  };
  const Vec3 F = surface(zFp);
  s.footprint = F;
  s.footprintNormal = n;

  double T0 = rng.Uniform(4.5, 7.0), W0 = rng.Uniform(16, 24);
  double Ts = rng.Uniform(3.2, 5.0), Ws = rng.Uniform(10, 16);
  double thick = 1, wide = 1;
  if (s.pathology == PhantomCase::Tendinopathy) {
    thick = rng.Uniform(1.5, 2.1);
    wide = rng.Uniform(1.05, 1.25);
  } else if (s.pathology == PhantomCase::PartialTear) {
    thick = rng.Uniform(1.1, 1.4);
    wide = rng.Uniform(1.0, 1.15);
  }
  T0 *= thick;
  Ts *= thick;
  W0 *= wide;
  Ws *= wide;
  const double L = rng.Uniform(60, 100);
  t.length = L;
  t.zLower = zFp - L;
  const double lat = rng.Uniform(0.05, 0.15), post = rng.Uniform(0.03, 0.10);
  t.arcPerZ = std::sqrt(1 + lat * lat + post * post);
  const double angle = std::atan2(tan.y, tan.x);
  const double twist = rng.Uniform(-0.25, 0.25);

  // Section profile along the course: d = mm below the footprint (negative above).
  struct Level {
    double d, thick, width, bend;
  };
  const Level levels[] = {{-14, 0.35, 0.6, 0.25}, {-7, 0.7, 0.85, 0.22},     {0, 1.0, 1.0, 0.2},
                          {8, 1.0, 1.0, 0.18},    {20, 0.95, 0.95, 0.12},    {35, 0.9, 0.85, 0.08},
                          {50, 0.85, 0.75, 0.05}, {0.7 * L, 0.7, 0.6, 0.02}, {L, 0.15, 0.3, 0.0}};
  auto centreAt = [&](double d, double T, double W) {
    const Vec3 base = d <= 0 ? surface(zFp - d) : F + Vec3{lat * d, post * d, -d};
    return base + (T / 2 - 0.5) * n - (0.15 * W) * tan;
  };
  std::vector<TubeKey> cj, sm, gap;
  const double dStump =
      s.pathology == PhantomCase::CompleteTear ? s.retractionMm / t.arcPerZ : -1e9;
  t.stumpTop = zFp - dStump;
  for (const Level& l : levels) {
    if (l.d < dStump + 4 && s.pathology == PhantomCase::CompleteTear) continue;
    const double T = T0 * l.thick, W = W0 * l.width;
    const Vec3 c = centreAt(l.d, T, W);
    const double tw = twist * std::clamp(l.d / L, 0.0, 1.0);
    cj.push_back(K(zFp - l.d, c.x, c.y, W / 2, T / 2, angle + tw, l.bend));
    const double dd = std::clamp(l.d / 60.0, 0.0, 1.0);
    const double Tsm = Ts * l.thick, Wsm = Ws * l.width;
    const Vec3 cs = c + (0.36 * W + 0.22 * Wsm - 0.25 * W * dd) * tan - (0.1 * T + 2.0 * dd) * n;
    sm.push_back(K(zFp - l.d, cs.x, cs.y, Wsm / 2, Tsm / 2, angle + tw + 0.15, l.bend * 0.6));
  }
  if (s.pathology == PhantomCase::CompleteTear) {
    // Stump: rounded, bunched-up proximal end, slightly displaced; the gap follows the old
    // course and is filled with fluid and haematoma.
    const double bulge = rng.Uniform(1.3, 1.7);
    const double ds[] = {dStump, dStump + 1.5, dStump + 4, dStump + 10};
    const double th[] = {0.35, 0.8, bulge, 1.15};
    const double wi[] = {0.4, 0.7, 0.8, 0.85};
    std::vector<TubeKey> cjStump, smStump;
    for (int i = 0; i < 4; ++i) {
      const double T = T0 * th[i], W = W0 * wi[i];
      const Vec3 c = centreAt(ds[i], T, W) + Vec3{0, 1.5, 0};
      cjStump.push_back(K(zFp - ds[i], c.x, c.y, W / 2, T / 2, angle, 0.1));
      const Vec3 cs = c + (0.42 * W + 0.3 * Ws) * tan - (0.3 * T) * n;
      smStump.push_back(
          K(zFp - ds[i] - 3, cs.x, cs.y, Ws * wi[i] / 2, Ts * th[i] / 2, angle + 0.15, 0.05));
    }
    cj.insert(cj.end(), cjStump.begin(), cjStump.end());
    sm.insert(sm.end(), smStump.begin(), smStump.end());
    const double swell = rng.Uniform(1.15, 1.45);
    for (double d = -8; d <= dStump + 1.0; d += std::max(3.0, (dStump + 9) / 6)) {
      const double T = T0 * swell * (d < 0 ? 0.8 : 1.0), W = W0 * 1.05;
      const Vec3 c = centreAt(d, T, W);
      gap.push_back(K(zFp - d, c.x, c.y, W / 2, T / 2, angle, 0.15));
    }
    const Vec3 c = centreAt(dStump + 1.5, T0, W0);
    gap.push_back(K(zFp - dStump - 1.5, c.x, c.y, W0 / 2 * 0.8, T0 * swell / 2 * 0.8, angle, 0.1));
    t.gap = ZTube(gap);
    t.hasGap = true;
  }
  t.conjoint = ZTube(cj);
  t.semimembranosus = ZTube(sm);
  if (s.pathology == PhantomCase::PartialTear) {
    t.cleftTop = zFp + 5;
    t.cleftBottom = zFp - s.partialLength;
    t.cleftFraction = s.partialExtent;
    t.cleftWidth = rng.Uniform(0.55, 0.9);
  }
  s.oedemaZone.centre = F - rng.Uniform(5, 9) * n + Vec3{0, 0, rng.Uniform(-3, 5)};
  const double r = rng.Uniform(7, 12);
  s.oedemaZone.radii = {r, r * rng.Uniform(0.8, 1.2), r * rng.Uniform(1.1, 1.5)};

  // Adductor magnus tendon (ischiocondylar part): a dark oval just anterior to the conjoint
  // tendon below the tuberosity; a look-alike that does not touch the hamstring footprint.
  const Vec3 a0 = F - 14.0 * n - 6.0 * tan;
  const double at = rng.Uniform(3.5, 5.5), aw = rng.Uniform(6, 10);
  s.adductorTendon = ZTube({K(s.tipZ + 2, a0.x - 2, a0.y - 2, aw * 0.3, at * 0.3, angle),
                            K(s.tipZ - 6, a0.x, a0.y - 4, aw / 2, at / 2, angle + 0.3),
                            K(s.tipZ - 30, a0.x + 3, a0.y - 3, aw / 2, at / 2, angle + 0.5),
                            K(s.tipZ - 55, a0.x + 5, a0.y - 2, aw * 0.3, at * 0.3, angle + 0.6)});
}

// ---------------------------------------------------------------------------------------------
double Anatomy::PosteriorY(double x, double z) const {
  double y = -1e9;
  TubeKey k;
  if (pelvis_.Section(z, k) && std::fabs(x) < k.a)
    y = k.cy + k.b * std::sqrt(1 - (x / k.a) * (x / k.a));
  if (thigh_.Section(z, k)) {
    const double dx = (std::fabs(x) - k.cx) / k.a;
    if (std::fabs(dx) < 1) y = std::max(y, k.cy + k.b * std::sqrt(1 - dx * dx));
  }
  return y;
}

void Anatomy::BuildMuscles(Side& s, Rng& rng) {
  const Vec3 H = s.femoralHead;
  const double xI = s.xI, sc = scale_ * bulk_, xT = 92 * scale_;
  const Vec3 T0 = s.shaft.a, dShaft = s.shaft.b - s.shaft.a;
  auto shaftAt = [&](double z) { return T0 + ((T0.z - z) / -dShaft.z) * dShaft; };
  const Vec3 LT = s.lesserTrochanter.centre;
  const Vec3 F = s.footprint;
  auto j = [&](double v) { return v * (1.0 + rng.Normal(0, 0.05)); };
  auto add = [&](Tissue tissue, std::vector<TubeKey> keys) {
    for (auto& k : keys) {
      k.a = j(k.a) * sc;
      k.b = j(k.b) * sc;
    }
    TaperEnds(keys);
    s.muscles.emplace_back(std::move(keys));
    s.muscleTissue.push_back(tissue);
  };
  const double fatPost = 1.2 * fatBase_ + skin_;

  // Hip rotators and deep muscles first (they win overlaps with the big groups).
  {  // quadratus femoris: from the lateral tuberosity to the intertrochanteric crest
    const Vec3 p1{xI + s.tuberosity.radii.x * 0.9, s.tuberosity.centre.y - 4, 0};
    const Vec3 p2{LT.x - 2, LT.y + 10, 0};
    const Vec3 c = 0.5 * (p1 + p2);
    const double a = 0.5 * Norm(p2 - p1) + 4, ang = std::atan2(p2.y - p1.y, p2.x - p1.x);
    std::vector<TubeKey> k = {
        K(s.tipZ - 8, c.x, c.y, a * 0.8, 2, ang), K(s.tipZ + 4, c.x, c.y, a, 8, ang),
        K(s.tipZ + 16, c.x, c.y - 2, a, 9, ang), K(s.tipZ + 27, c.x, c.y - 4, a * 0.8, 2, ang)};
    for (auto& kk : k) kk.a /= sc, kk.b /= sc;
    add(kMuscleHipRotator, k);
  }
  add(kMuscleHipRotator,
      {K(95, xI - 20, -30, 7, 22, 0.15), K(60, xI - 18, -22, 8, 26, 0.15),
       K(30, xI - 16, -12, 8, 18, 0.15), K(12, xI - 15, -4, 6, 8, 0.15)});  // obturator internus
  add(kMuscleHipRotator,
      {K(42, xI + 8, H.y + 8, 16, 6, -0.3), K(22, xI + 10, H.y + 12, 22, 8, -0.3),
       K(4, xI + 8, H.y + 18, 18, 6, -0.3)});  // obturator externus
  add(kMuscleHipRotator,
      {K(118, 40, 42, 25, 5, -0.35), K(102, 75, 32, 45, 10, -0.35), K(84, 85, 25, 45, 9, -0.35),
       K(72, 100, 18, 25, 4, -0.35)});  // piriformis
  add(kMuscleHipRotator, {K(400, 35, 20, 20, 18), K(230, 45, 12, 22, 18), K(150, 55, -2, 26, 20),
                          K(90, H.x - 25, H.y - 25, 22, 16), K(55, H.x - 12, H.y - 32, 20, 14),
                          K(25, H.x - 8, H.y - 24, 16, 12),
                          K(s.lesserTrochanterZ + 8, LT.x - 4, LT.y - 10, 8, 6)});  // iliopsoas
  add(kMuscleOther, {K(62, 36, -14, 4, 22, 0.75), K(36, 30, -4, 4, 24, 0.7),
                     K(8, 22, 4, 3, 16, 0.6)});  // levator ani

  // Hamstring muscle bellies (below the origin; the tendon has priority where they meet).
  const double zF = s.tendon.zFootprint;
  add(kMuscleHamstring,
      {K(zF - 28, F.x + 10, F.y + 6, 5, 4, -0.4), K(zF - 70, F.x + 18, F.y + 12, 18, 13, -0.5),
       K(-150, xT + 10, 45, 22, 18, -0.6), K(-330, xT + 18, 42, 24, 19, -0.6)});  // biceps
  add(kMuscleHamstring,
      {K(zF - 30, F.x - 4, F.y + 10, 5, 4, 0.3), K(zF - 70, F.x, F.y + 18, 16, 12, 0.3),
       K(-150, xT - 18, 52, 20, 17, 0.5), K(-330, xT - 25, 42, 15, 13, 0.5)});  // semitendinosus
  add(kMuscleHamstring,
      {K(zF - 55, F.x - 2, F.y - 4, 4, 3, 0.2), K(zF - 100, F.x - 4, F.y + 2, 15, 10, 0.3),
       K(-160, xT - 30, 32, 20, 16, 0.4), K(-330, xT - 32, 32, 25, 21, 0.4)});  // semimembranosus
  // Adductors.
  add(kMuscleAdductor,
      {K(10, xI - 10, -20, 10, 6, 0.5), K(-8, xI - 6, -22, 18, 12, 0.6),
       K(-40, xI, -22, 28, 18, 0.6), K(-90, xT - 35, -14, 36, 26, 0.6),
       K(-180, xT - 35, -8, 38, 28, 0.7), K(-330, xT - 30, -2, 28, 24, 0.7)});  // magnus
  add(kMuscleAdductor, {K(25, 17, H.y - 30, 8, 6, 0.8), K(0, 26, H.y - 26, 16, 12, 0.8),
                        K(-50, xT - 55, -48, 24, 20, 0.8), K(-150, xT - 55, -40, 26, 20, 0.8),
                        K(-300, xT - 48, -30, 14, 10, 0.8)});  // longus / brevis
  add(kMuscleAdductor,
      {K(5, 18, H.y - 12, 4, 10, 0.5), K(-60, xT - 68, -12, 6, 14, 0.5),
       K(-200, xT - 70, -2, 8, 12, 0.5), K(-330, xT - 62, 8, 7, 8, 0.5)});  // gracilis
  // Quadriceps, around the femoral shaft.
  {
    auto at = [&](double z, double dx, double dy) {
      const Vec3 p = shaftAt(z);
      return std::pair<double, double>(p.x + dx, p.y + dy);
    };
    std::vector<TubeKey> vl, vi, vm, rf;
    const double zl[] = {20, -20, -80, -180, -330};
    const double vla[] = {12, 22, 30, 34, 30}, vlb[] = {8, 14, 18, 20, 18};
    for (int i = 0; i < 5; ++i) {
      auto c = at(zl[i], 22, 2);
      vl.push_back(K(zl[i], c.first, c.second, vla[i], vlb[i], 1.3));
    }
    const double zi[] = {-10, -60, -180, -330};
    const double via[] = {10, 20, 24, 22}, vib[] = {5, 10, 13, 12};
    for (int i = 0; i < 4; ++i) {
      auto c = at(zi[i], 2, -20);
      vi.push_back(K(zi[i], c.first, c.second, via[i], vib[i], 0.2));
    }
    const double zm[] = {-120, -220, -330};
    const double vma[] = {8, 18, 24}, vmb[] = {6, 12, 18};
    for (int i = 0; i < 3; ++i) {
      auto c = at(zm[i], -22, -24);
      vm.push_back(K(zm[i], c.first, c.second, vma[i], vmb[i], 0.9));
    }
    rf.push_back(K(70, H.x + 14, H.y - 32, 5, 4));
    rf.push_back(K(20, H.x + 6, H.y - 42, 9, 7));
    {
      auto c = at(-80, -2, -50);
      rf.push_back(K(-80, c.first, c.second, 14, 11));
    }
    {
      auto c = at(-200, 0, -52);
      rf.push_back(K(-200, c.first, c.second, 16, 12));
    }
    {
      auto c = at(-330, 0, -46);
      rf.push_back(K(-330, c.first, c.second, 12, 9));
    }
    add(kMuscleQuadriceps, vi);
    add(kMuscleQuadriceps, vl);
    add(kMuscleQuadriceps, vm);
    add(kMuscleQuadriceps, rf);
  }
  add(kMuscleOther, {K(110, H.x + 40, H.y - 55, 7, 4, 0.3), K(40, H.x + 18, H.y - 62, 9, 5, 0.2),
                     K(-60, xT - 25, -78, 11, 6, 0.4), K(-200, xT - 45, -58, 12, 6, 0.8),
                     K(-330, xT - 55, -30, 11, 6, 1.0)});  // sartorius
  add(kMuscleOther,
      {K(100, H.x + 52, H.y - 30, 5, 10, 0.9), K(50, H.x + 58, H.y - 24, 8, 14, 0.9),
       K(0, H.x + 62, H.y - 14, 6, 10, 0.9), K(-40, H.x + 66, H.y - 4, 3, 5, 0.9)});  // TFL
  add(kMuscleGluteal,
      {K(260, H.x + 5, H.y + 45, 25, 8, -0.9), K(220, H.x + 15, H.y + 40, 40, 14, -0.9),
       K(130, H.x + 38, H.y + 28, 48, 20, -0.9), K(80, H.x + 50, H.y + 16, 35, 18, -0.9),
       K(40, H.x + 56, H.y + 10, 18, 12, -0.9),
       K(22, H.x + 58, H.y + 8, 8, 5, -0.9)});  // gluteus medius / minimus
  {  // gluteus maximus: under the posterior fat, clipped by the fat envelope
    const double zs[] = {220, 140, 80, 30, -10, -45, -78};
    const double xs[] = {38, 52, 66, 80, 104, 126, 136};
    const double as[] = {45, 66, 80, 78, 56, 28, 10};
    const double bs[] = {24, 30, 34, 32, 22, 13, 6};
    const double an[] = {-0.25, -0.3, -0.4, -0.55, -0.8, -1.1, -1.25};
    std::vector<TubeKey> k;
    for (int i = 0; i < 7; ++i) {
      const double x = xs[i] * scale_;
      const double b = bs[i] * sc;
      const double y = PosteriorY(x, zs[i]) - fatPost - 0.55 * b;
      k.push_back(K(zs[i], x, y, as[i], bs[i], an[i]));
    }
    add(kMuscleGluteal, k);
  }

  // Sciatic nerve: ~12 mm lateral to the tuberosity at its level.
  const double rx = s.tuberosity.radii.x;
  s.sciatic = ZTube({K(150, xI - 10, 40, 5, 3, 0.6), K(110, xI + 10, 32, 8, 4, 0.4),
                     K(80, xI + 26, 24, 9, 4, 0.3), K(45, xI + 23, 16, 8, 4, 0.25),
                     K(s.tipZ + 20, xI + rx + 14, 8, 7.5, 3.6, 0.2),
                     K(s.tipZ, xI + rx + 13, 10, 7, 3.5, 0.2),
                     K(-40, xI + rx + 15, 18, 6.5, 4, 0.25), K(-100, xT - 6, 24, 6, 4.5, 0.3),
                     K(-200, xT - 8, 27, 5.5, 4.5, 0.3), K(-340, xT - 6, 29, 5, 4.5, 0.3)});
  // Femoral artery and vein.
  std::vector<TubeKey> art = {
      K(200, 55, -10, 4.5, 4.5),           K(90, H.x - 32, H.y - 42, 4.5, 4.5),
      K(40, H.x - 22, H.y - 50, 4.2, 4.2), K(-60, xT - 38, -62, 4, 4),
      K(-180, xT - 38, -45, 3.8, 3.8),     K(-340, xT - 32, -18, 3.5, 3.5)};
  std::vector<TubeKey> vein = art;
  for (auto& k : vein) {
    k.cx -= 9;
    k.cy += 3;
    k.a *= 1.35;
    k.b *= 1.15;
  }
  s.artery = ZTube(art);
  s.vein = ZTube(vein);

  // Small veins in the subcutaneous and ischioanal fat.
  for (int i = 0; i < 26; ++i) {
    const double z = rng.Uniform(-200, 150);
    const double th = rng.Uniform(-1.2, 2.6);  // around the lateral and posterior surface
    TubeKey k;
    double cx = 0, cy = 0, a = 0, b = 0;
    if (z < -50 && thigh_.Section(z, k)) {
      cx = k.cx;
      cy = k.cy;
      a = k.a;
      b = k.b;
    } else if (pelvis_.Section(z, k)) {
      cx = 0;
      cy = k.cy;
      a = k.a;
      b = k.b;
    }
    const double depth = skin_ + rng.Uniform(0.2, 0.8) * fatBase_;
    const double px = cx + (a - depth) * std::cos(th), py = cy + (b - depth) * std::sin(th);
    if (px < 5) continue;
    const Vec3 p0{px, py, z}, dir = Normalized({rng.Uniform(-0.3, 0.3), rng.Uniform(-0.3, 0.3), 1});
    const double len = rng.Uniform(30, 90), r = rng.Uniform(0.7, 1.8);
    s.vessels.push_back({p0, p0 + len * dir, r, r});
  }
  // Fat that wins over the muscle compartments: ischioanal fossa, the deep gluteal space around
  // the sciatic nerve, the femoral triangle and a thin layer around the hamstring origin.
  s.fatPads.emplace_back(
      std::vector<TubeKey>{K(-25, xI - 26, 14, 8, 14, 0.2), K(-5, xI - 28, 10, 16, 24, 0.25),
                           K(25, xI - 30, 6, 17, 28, 0.35), K(55, xI - 32, 2, 14, 26, 0.45),
                           K(75, xI - 34, 0, 6, 12, 0.5)});
  {
    std::vector<TubeKey> around;
    for (double z = s.sciatic.zMin(); z <= s.sciatic.zMax(); z += 20) {
      TubeKey k;
      s.sciatic.Section(z, k);
      const double pad = z > -60 ? rng.Uniform(3, 7) : rng.Uniform(1.5, 3);
      around.push_back(K(z, k.cx, k.cy, k.a + pad, k.b + pad + 1.5, k.angle));
    }
    s.fatPads.emplace_back(around);
  }
  {
    std::vector<TubeKey> around;
    for (double z = s.artery.zMin(); z <= s.artery.zMax(); z += 25) {
      TubeKey k;
      s.artery.Section(z, k);
      const double pad = z > -80 ? 10 : 4;
      around.push_back(K(z, k.cx - 5, k.cy, pad + 6, pad + 4, 0));
    }
    s.fatPads.emplace_back(around);
  }
  {
    std::vector<TubeKey> around;
    const ZTube& cj = s.tendon.hasGap ? s.tendon.gap : s.tendon.conjoint;
    const double zTop = std::min(cj.zMax(), s.tendon.zFootprint + 12);
    const double zLow = std::max(s.tendon.conjoint.zMin() + 10, s.tendon.zFootprint - 40);
    for (double z = zLow; z <= zTop + 1e-9; z += std::max(1.0, (zTop - zLow) / 6)) {
      TubeKey k;
      if (!cj.Section(z, k) && !s.tendon.conjoint.Section(z, k)) continue;
      const double pad = rng.Uniform(0.8, 2.0);
      around.push_back(K(z, k.cx, k.cy, k.a + pad + 1.5, k.b + pad, k.angle, k.bend * 0.5));
    }
    if (around.size() >= 2) s.fatPads.emplace_back(around);
  }
  s.septum = rng.Uniform(1.0, 2.0);
  s.gapFill = rng.Uniform(4.0, 9.0);
  s.muscleIndex.Build(s.muscles);
  s.padIndex.Build(s.fatPads);

  for (int i = 0; i < 8; ++i) {  // ischioanal fossa vessels
    const Vec3 p0{rng.Uniform(15, xI - 18), rng.Uniform(5, 35), rng.Uniform(-10, 50)};
    const Vec3 dir = Normalized({rng.Uniform(-0.6, 0.6), rng.Uniform(-0.6, 0.6), 1});
    const double r = rng.Uniform(0.8, 1.8);
    s.vessels.push_back({p0, p0 + rng.Uniform(15, 40) * dir, r, r});
  }
}

// ---------------------------------------------------------------------------------------------
double Anatomy::BodySdf(const Vec3& b) const { return CarveCleft(b, BodyOutline(b)); }

double Anatomy::BodyOutline(const Vec3& b, OutlineParts* parts) const {
  const Vec3 q{std::fabs(b.x), b.y, b.z};
  const double pelvis = pelvis_.Sdf(b);
  const double thighBox2 = thigh_.BoundDistance2(q);
  const bool thigh = SqrtBelow(thighBox2, pelvis + 30);
  const double f = thigh ? SmoothMin(pelvis, thigh_.Sdf(q), 30) : pelvis;
  // Individual shape: smooth bumps and flattening of the outline (a few mm).
  const double r = Radius(b.x, b.y + 20);
  const double harmonics = Harmonics(outlineHarmonics_, outlinePhaseSines_, b.x, b.y + 20, r);
  if (parts) *parts = {pelvis, f, harmonics, thighBox2, r, thigh};
  return f - harmonics;
}

double Anatomy::CarveCleft(const Vec3& b, double f) const {
  if (SqrtBelow(cleft_.BoundDistance2(b), std::fabs(f) + 12))
    f = -SmoothMin(-f, cleft_.Sdf(b), 8);
  return f;
}

double Anatomy::FatThickness(const Vec3& b) const {
  double cx = 0, cy = 0;
  pelvis_.SectionCentreY(b.z, cy);
  const double hyp = Radius(b.x - cx, b.y - cy);
  const double r = std::max(hyp, 1e-9);
  const double post = std::max(0.0, (b.y - cy) / r);
  const double h = Harmonics(fatHarmonics_, fatPhaseSines_, b.x - cx, b.y - cy, hyp);
  const double zf = b.z < -60 ? 0.8 : 1.0;
  return std::max(3.0, fatBase_ * zf * (0.72 + 0.5 * post + 0.12 * h));
}

// What a point inside the envelope tells about the outline near it. Along a path of length d
// from b, as long as it stays within the radius:
//  - the tube distances of BodyOutline change by <= 1.5 d + 10^4 d / r2^2 (first-order ellipse
//    estimates, aspect ratio < 2, whose slope grows towards the section centre; r2 is the
//    distance to the pelvis section centre, at least half its value at b on the path),
//  - its harmonics by <= outlineTurn_ d / r1 (angle about (0, -20); r1 likewise),
//  - the fat thickness by <= 1.25 fatTurn_ d / r2 (angle about the pelvis section centre, which
//    moves by <= 0.25 mm per mm of z) if the path crosses no level where it jumps (z = -60 and
//    the ends of the pelvis tube).
// BodyOutline blends the thigh in only where its box is nearer than pelvis + 30 (deeper in the
// pelvis it is left out, a step of the depth): where it is blended in, the hint either keeps
// within the distance where it stays blended in, or takes the depth without it (a lower bound,
// as the blend only deepens). The gluteal cleft is not in the hint: its first-order distance is
// far from Lipschitz (a thin slot), OutlineMargin evaluates it where it may matter.
Anatomy::OutlineHint Anatomy::MakeOutlineHint(const Vec3& b, const OutlineParts& parts,
                                              double fat) const {
  OutlineHint h;
  const double r1 = Radius(b.x, b.y + 20);
  double cy = 0;
  pelvis_.SectionCentreY(b.z, cy);
  const double r2 = Radius(b.x, b.y - cy);
  const double tubeSlope = 1.5 + 4e4 / (r2 * r2);
  h.body = b;
  h.fat = fat;
  h.depthSlope = tubeSlope + 2 * outlineTurn_ / r1;
  h.fatSlope = 2.5 * fatTurn_ / r2;
  h.radius = std::max(0.0, Min(0.5 * r1, 0.5 * r2, std::fabs(b.z + 60),
                               std::fabs(b.z - pelvis_.zMin()), std::fabs(b.z - pelvis_.zMax())));
  h.depth = -(parts.pelvis - parts.harmonics);
  if (parts.thigh) {
    // The thigh stays blended in while its box distance (slope 1) stays below pelvis + 30.
    const double keep = (parts.pelvis + 30 - std::sqrt(parts.thighBox2)) / (tubeSlope + 1);
    if (keep >= 0.5 * h.radius) {
      h.depth = -(parts.tubes - parts.harmonics);
      h.radius = std::min(h.radius, keep);
    }
  }
  return h;
}

double Anatomy::OutlineMargin(const OutlineHint& h, const Vec3& b) const {
  const Vec3 v = b - h.body;
  const double d2 = Dot(v, v);
  if (!(d2 <= h.radius * h.radius)) return -1;
  const double d = std::sqrt(d2);
  const double low = h.depth - h.depthSlope * d, high = h.depth + h.depthSlope * d;
  if (low <= 0) return -1;
  // CarveCleft makes the depth -SmoothMin(depth, cleft, 8) >= min(depth, cleft) - 2, and only
  // where the cleft's box is nearer than |outline| + 12 (<= high + 12).
  double depth = low;
  if (SqrtBelow(cleft_.BoundDistance2(b), high + 12)) depth = std::min(low, cleft_.Sdf(b)) - 2;
  return depth - skin_ - (h.fat + h.fatSlope * d);
}

namespace {
// SmoothMin(f, g(), k) that skips g when its box proves g >= f + k (the result is then f).
template <class G>
inline double LazySmoothMin(double f, const Vec3& q, const Box& box, double k, G&& g) {
  if (!SqrtBelow(box.Distance2(q), f + k)) return f;
  return SmoothMin(f, g(), k);
}
}  // namespace

double Anatomy::HipBoneSdf(const Side& s, const Vec3& q, bool* ischium, double* split) const {
  const Box* b = s.hipParts;
  double fIsch = s.tuberosity.Sdf(q);
  fIsch = LazySmoothMin(fIsch, q, b[0], 6, [&] { return s.ischialBody.Sdf(q); });
  fIsch = LazySmoothMin(fIsch, q, b[1], 5, [&] { return s.inferiorRamus.Sdf(q); });
  double fOther = s.pubicBody.Sdf(q);
  fOther = LazySmoothMin(fOther, q, b[2], 5, [&] { return s.superiorRamus.Sdf(q); });
  fOther = LazySmoothMin(fOther, q, b[3], 6, [&] {
    const Vec3 dh = q - s.femoralHead;
    double fCup = s.acetabulum.Sdf(q);
    fCup = std::max(fCup, s.headRadius + 2.5 - Norm(dh));            // socket
    return std::max(fCup, Dot(dh, s.openDir) - 0.3 * s.headRadius);  // open laterally
  });
  fOther = LazySmoothMin(fOther, q, b[4], 8, [&] { return s.supraAcetabular.Sdf(q); });
  fOther = LazySmoothMin(fOther, q, b[5], 10, [&] { return s.ilium.Sdf(q); });
  if (ischium) *ischium = fIsch <= fOther;
  if (split) *split = std::fabs(fIsch - fOther);
  return SmoothMin(fIsch, fOther, 6);
}

double Anatomy::FemurSdf(const Side& s, const Vec3& q, double* cortex) const {
  const Box* b = s.femurParts;
  double f = Norm(q - s.femoralHead) - s.headRadius;
  f = LazySmoothMin(f, q, b[0], 8, [&] { return s.neck.Sdf(q); });
  f = LazySmoothMin(f, q, b[1], 10, [&] { return s.greaterTrochanter.Sdf(q); });
  f = LazySmoothMin(f, q, b[2], 12, [&] { return s.shaft.Sdf(q); });
  f = LazySmoothMin(f, q, b[3], 6, [&] { return s.lesserTrochanter.Sdf(q); });
  const double t = std::clamp((s.lesserTrochanterZ - 10 - q.z) / 40.0, 0.0, 1.0);
  *cortex = 1.4 + t * 4.0;
  return f;
}

// ---------------------------------------------------------------------------------------------
double Anatomy::TendonReach(const Side& s) const {
  return (s.periOedema ? 2.4 * s.periRim : 0.0) + 2.0;
}

bool Anatomy::ClassifyTendon(const Side& s, const Vec3& q, double& dist, Tissue& tissue,
                             std::uint64_t cells) const {
  const Tendon& t = s.tendon;
  const double rim = s.periOedema ? s.periRim : 0.0;
  // The shapes are needed as far as their tissues reach: the oedema to rim, the gap's margin
  // by 1.5 mm of noise, and its oedema (fG < rim, fG scaled by 2.3) to 2.3 rim beyond that.
  double fCJ = 1e9, fSM = 1e9, fG = 1e9;
  if ((cells >> 2 & 1) && SqrtAtMost(t.conjoint.BoundDistance2(q), dist + rim))
    fCJ = t.conjoint.Sdf(q);
  if ((cells >> 3 & 1) && SqrtAtMost(t.semimembranosus.BoundDistance2(q), dist + rim))
    fSM = t.semimembranosus.Sdf(q);
  if (t.hasGap && (cells >> 4 & 1) && SqrtAtMost(t.gap.BoundDistance2(q), dist + TendonReach(s))) {
    // Irregular haematoma margin: the gap's surface is displaced by up to ~1.5 mm of noise
    // (slope <= 1.5 * 2.5 / 3 per mm, hence the division).
    fG = (t.gap.Sdf(q) + 1.5 * GradientNoise(seed_ ^ 0x6A9, q.x / 3.0, q.y / 3.0, q.z / 4.0)) / 2.3;
  }
  dist = Min(dist, std::fabs(fCJ), std::fabs(fSM), std::fabs(fG));
  const bool inCJ = fCJ < 0, inSM = fSM < 0;
  if (inCJ || inSM) {
    double u, v;
    TubeKey k;
    const ZTube& tube = inCJ ? t.conjoint : t.semimembranosus;
    tube.Local(q, u, v, k);
    const double vn = (v + k.bend * u * u / k.a) / k.b, un = u / k.a;
    const double minAxis = std::min(k.a, k.b) / 1.6;
    if (inCJ && s.pathology == PhantomCase::PartialTear && q.z <= t.cleftTop &&
        q.z >= t.cleftBottom) {
      // Fluid replacing the deep (bone-side) part of the thickness, with an undulating edge.
      const double thr =
          -1.0 + 2.0 * t.cleftFraction + 0.12 * std::sin(1.7 * un * M_PI + 0.35 * q.z);
      const double taper = std::min(1.0, (q.z - t.cleftBottom) / 4.0);
      const double w = t.cleftWidth * taper;
      const bool inCleft = vn < thr && std::fabs(un) < w;
      dist =
          Min(dist, std::fabs(vn - thr) * minAxis * 0.7,
                    std::fabs(std::fabs(un) - w) * minAxis, q.z - t.cleftBottom, t.cleftTop - q.z);
      if (inCleft) {
        tissue = kTearFluid;
        return true;
      }
    }
    if (s.intrasubstance && q.z > t.zFootprint - 45 && q.z < t.zFootprint + 12) {
      // Degenerate tissue in longitudinal streaks and patches, denser in the core and near the
      // footprint: a noise field thresholded by the depth in the section.
      const double rho = std::sqrt(un * un + vn * vn);
      const double n = GradientNoise(seed_ ^ 0x7E4D, q.x / 1.8, q.y / 1.8, q.z / 7.0);
      const double along = std::clamp((q.z - (t.zFootprint - 45)) / 20.0, 0.0, 1.0);
      const double thr = 0.55 * rho * rho - 0.25 * along + 0.05;
      // Gradient noise changes by at most ~2.5 per lattice unit (1.8 mm here).
      dist = Min(dist, std::fabs(n - thr) * 0.5, std::fabs(q.z - (t.zFootprint - 45)),
                       std::fabs(q.z - (t.zFootprint + 12)));
      if (n > thr) {
        tissue = kTendinosis;
        return true;
      }
    }
    tissue = kTendon;
    return true;
  }
  if (fG < 0) {
    // Fluid with patches of clot (more clot in a larger share of older haematomas).
    const double h = GradientNoise(seed_ ^ 0x6AA, q.x / 3.5, q.y / 3.5, q.z / 5.0);
    dist = std::min(dist, std::fabs(h - s.clotThreshold) * 1.2);
    tissue = h > s.clotThreshold ? kTearHaematoma : kTearFluid;
    return true;
  }
  if (rim > 0) {
    const double f = Min(fCJ, fSM, fG);
    if (f < rim) {
      // Patchy oedema: its thickness varies around and along the tendon, fading at the ends.
      const double zTop = t.zFootprint + 15, zBottom = t.zFootprint - 45;
      const double fade = std::clamp(std::min(zTop - q.z, q.z - zBottom) / 10.0, 0.0, 1.0);
      const double n = 0.5 + 0.5 * GradientNoise(seed_ ^ 0x0EDE, q.x / 4.0, q.y / 4.0, q.z / 9.0);
      const double local = rim * fade * (0.2 + 1.3 * n);
      // |d local| <= rim * 1.3 * 0.5 * 2.5 / 4 per mm: keep a margin for it.
      dist = std::min(dist, std::fabs(f - local) / (1.0 + 0.41 * rim));
      if (f < local) {
        tissue = kPeritendinousOedema;
        return true;
      }
    } else {
      dist = std::min(dist, f - rim);
    }
  }
  return false;
}

// `stop`: see Classify; "decided" with an unspecified tissue once dist <= stop. `cells`: the
// side shapes to test (CellMask::side).
bool Anatomy::ClassifySide(const Side& s, const Vec3& q, bool inEnvelope, double stop,
                           double& dist, Tissue& tissue, std::uint64_t cells) const {
  // Bones.
  const Vec3 dh = q - s.femoralHead;
  const bool hip = cells & 1, femur = cells >> 1 & 1;
  const double hipBound2 = hip ? s.hipBox.Distance2(q) : 1e18,  // not listed: far
               femurBound2 = femur ? s.femurBox.Distance2(q) : 1e18;
  const bool nearHip = hip && SqrtAtMost(hipBound2, dist),
             nearFemur = femur && SqrtAtMost(femurBound2, dist);
  if (nearHip || nearFemur) {
    bool ischium = false;
    double split = 1e9;  // |ischium - other hip bone distance|: the label changes where it is 0
    const double fh = nearHip ? HipBoneSdf(s, q, &ischium, &split) : std::sqrt(hipBound2);
    double cortex = 1.5;
    const double ff = nearFemur ? FemurSdf(s, q, &cortex) : std::sqrt(femurBound2);
    dist = std::min(
        {dist, std::fabs(fh), std::fabs(fh + kHipCortex), std::fabs(ff), std::fabs(ff + cortex)});
    if (fh < 0) {
      dist = std::min(dist, 0.5 * split);  // both distances have slopes of about 1
      // Deep in the flat parts (ilium) the first-order distance runs along them: a part that
      // holds q bounds the distance to the bone's surface (to the marrow's, less the cortex).
      const double inner = Max(s.tuberosity.InteriorDistance(q), s.acetabulum.InteriorDistance(q),
                               s.ilium.InteriorDistance(q));
      if (inner > 0)
        dist = std::min(dist, fh < -kHipCortex ? std::max(0.0, inner - 2 * kHipCortex) : inner);
      const bool marrow = fh < -kHipCortex;
      if (ischium) {
        if (marrow && s.marrowOedema) {
          const double fo = s.oedemaZone.Sdf(q);
          dist = std::min(dist, std::fabs(fo));
          if (fo < 0) {
            tissue = kIschiumOedema;
            return true;
          }
        }
        tissue = marrow ? kIschiumMarrow : kIschiumCortex;
      } else {
        tissue = marrow ? kMarrow : kCortex;
      }
      return true;
    }
    if (ff < 0) {
      tissue = ff < -cortex ? kMarrow : kCortex;
      return true;
    }
    // Hip joint: cartilage on both surfaces and a film of fluid.
    const double r = Norm(dh);
    const double rel = r - s.headRadius;
    if (rel < 4.0) {
      const bool inCup = Dot(dh, s.openDir) < 0.3 * s.headRadius;
      dist = Min(dist, std::fabs(rel - 1.3), std::fabs(rel - 2.5));
      if (rel < 1.3) {
        tissue = kCartilage;
        return true;
      }
      if (inCup && rel < 2.5) {
        tissue = kJointFluid;
        return true;
      }
    }
  }
  if (dist <= stop) return true;
  if (ClassifyTendon(s, q, dist, tissue, cells)) return true;
  if (!inEnvelope || dist <= stop) return dist <= stop;
  if ((cells >> 5 & 1) && SqrtAtMost(s.adductorTendon.BoundDistance2(q), dist)) {
    const double f = s.adductorTendon.Sdf(q);
    dist = std::min(dist, std::fabs(f));
    if (f < 0) {
      tissue = kOtherTendon;
      return true;
    }
  }
  if ((cells >> 6 & 1) && SqrtAtMost(s.sciatic.BoundDistance2(q), dist)) {
    const double f = s.sciatic.Sdf(q);
    dist = std::min(dist, std::fabs(f));
    if (f < 0) {
      // Fascicles with fat between them.
      double u, v;
      TubeKey k;
      s.sciatic.Local(q, u, v, k);
      const double gu = 1.7, gv = 1.5;
      const double iu = std::round(u / gu),
                   iv = std::round(v / gv + 0.5 * (static_cast<long>(iu) & 1));
      const std::uint64_t h = Mix64(static_cast<std::uint64_t>(iu * 7919 + iv * 104729 + 1e6));
      const double jx = ((h & 0xFF) / 255.0 - 0.5) * 0.5,
                   jy = (((h >> 8) & 0xFF) / 255.0 - 0.5) * 0.5;
      const double cu = iu * gu + jx, cv = (iv - 0.5 * (static_cast<long>(iu) & 1)) * gv + jy;
      const double rr = 0.5 + 0.25 * (((h >> 16) & 0xFF) / 255.0);
      const double d = std::hypot(u - cu, v - cv) - rr;
      dist = std::min(dist, std::fabs(d) * 0.5);
      tissue = d < 0 ? kNerve : kFat;
      return true;
    }
  }
  for (const ZTube* vessel : {&s.artery, &s.vein}) {
    if (!(cells >> (vessel == &s.artery ? 7 : 8) & 1)) continue;
    if (!SqrtAtMost(vessel->BoundDistance2(q), dist)) continue;
    const double f = vessel->Sdf(q);
    dist = std::min(dist, std::fabs(f));
    if (f < 0) {
      tissue = vessel == &s.artery ? kArtery : kVein;
      return true;
    }
  }
  if (dist <= stop) return true;
  bool inPad = false;
  s.padIndex.ForNear(
      q, dist,
      [&](std::size_t i) {
        if (inPad) return;
        const double f = s.fatPads[i].Sdf(q);
        dist = std::min(dist, std::fabs(f));
        inPad = f < 0;
      },
      cells >> CellGrid::kPadBit);
  if (inPad || dist <= stop) {
    tissue = kFat;
    return true;
  }
  // Muscle compartments: the nearest muscle shape wins (a power diagram of the shapes, dilated
  // by gapFill into the gaps between them); a thin fat septum separates neighbours.
  double best = 1e9, second = 1e9;
  std::size_t bestIndex = 0;
  const double reach = s.gapFill + s.septum;
  s.muscleIndex.ForNear(
      q, dist + reach,
      [&](std::size_t i) {
        const double f = s.muscles[i].Sdf(q);
        if (f < best) {
          second = best;
          best = f;
          bestIndex = i;
        } else if (f < second) {
          second = f;
        }
      },
      cells >> CellGrid::kMuscleBit);
  if (best > s.gapFill) {
    dist = std::min(dist, best - s.gapFill);
    return false;
  }
  dist = std::min(dist, s.gapFill - best);
  const double gap = second - best;
  dist = std::min(dist, 0.5 * std::fabs(gap - s.septum));
  tissue = gap < s.septum ? kFat : s.muscleTissue[bestIndex];
  return true;
}

// `cells`: the midline shapes to test (CellMask::midline).
bool Anatomy::ClassifyMidline(const Vec3& b, double stop, double& dist, Tissue& tissue,
                              std::uint32_t cells) const {
  if ((cells & 1) && SqrtAtMost(sacrum_.BoundDistance2(b), dist)) {
    const double f = sacrum_.Sdf(b);
    dist = Min(dist, std::fabs(f), std::fabs(f + 1.6));
    if (f < 0) {
      tissue = f < -1.6 ? kMarrow : kCortex;
      return true;
    }
  }
  if ((cells >> 1 & 1) && SqrtAtMost(analCanal_.BoundDistance2(b), dist)) {
    const double f = analCanal_.Sdf(b);
    dist = Min(dist, std::fabs(f), std::fabs(f + 5));
    if (f < 0) {
      tissue = f < -5 ? kBowelContent : kMuscleOther;
      return true;
    }
  }
  if (dist <= stop) return true;
  struct Organ {
    const Ellipsoid* e;
    double wall;
    Tissue inside, wallTissue;
  };
  const Organ organs[] = {{&rectum_, 3.5, kBowelContent, kMuscleOther},
                          {&bladder_, 3.0, kUrine, kMuscleOther},
                          {&prostate_, 0.0, kProstate, kProstate}};
  for (int i = 0; i < 3; ++i) {
    const Organ& o = organs[i];
    if (!(cells >> (2 + i) & 1)) continue;
    if (Norm(b - o.e->centre) - Max(o.e->radii.x, o.e->radii.y, o.e->radii.z) > dist)
      continue;
    const double f = o.e->Sdf(b);
    dist = Min(dist, std::fabs(f), o.wall > 0 ? std::fabs(f + o.wall) : 1e9);
    if (f < 0) {
      tissue = f < -o.wall ? o.inside : o.wallTissue;
      return true;
    }
  }
  if (dist <= stop) return true;
  // Only the bowel loops whose z range is near (the others fail the z test below).
  bool inBowel = false;
  bowelIndex_.ForCandidates(b.z, dist, [&](std::size_t i) {
    if (inBowel || !(cells >> (CellGrid::kBowelBit + i) & 1)) return;
    const Ellipsoid& e = bowel_[i];
    const double r = Max(e.radii.x, e.radii.y, e.radii.z);
    if (std::fabs(b.z - e.centre.z) - r > dist || std::fabs(b.x - e.centre.x) - r > dist) return;
    if (Norm(b - e.centre) - r > dist) return;
    const double f = e.Sdf(b);
    dist = Min(dist, std::fabs(f), std::fabs(f + 2.5));
    if (f < 0) {
      tissue = f < -2.5 ? (bowelGas_[i] ? kAir : kBowelContent) : kMuscleOther;
      inBowel = true;
    }
  });
  return inBowel;
}

Tissue Anatomy::Classify(const Vec3& lps, double* distance, double stop, OutlineHint* outline,
                         double care) const {
  const Vec3 b = ToBody(lps);
  Tissue tissue = kAir;
  double dist;
  bool inEnvelope = true;
  OutlineParts parts;
  // The outline's distance terms: near the axis of the outline harmonics their slope
  // (outlineTurn_ / r within r / 4 of b) dominates; they move the outline by at most
  // outlineSwing_ either way.
  const double axis = Radius(b.x, b.y + 20);
  const double slope = std::max(1.0, outlineTurn_ / (0.75 * axis));
  auto conservative = [&](double d) {
    return std::max(std::min(d / slope, 0.25 * axis), d - 2 * outlineSwing_);
  };
  // Inside the envelope those terms are min(depth, depth - skin, 0.8 (depth - skin - fat)) =
  // 0.8 margin; a hint's lower bound of the margin will do.
  const double known =
      outline && outline->radius > 0 ? conservative(0.8 * OutlineMargin(*outline, b)) : -1;
  if (known > std::max(stop, 0.0)) {
    dist = known;
  } else {
    const double fb = CarveCleft(b, BodyOutline(b, &parts));
    dist = conservative(std::fabs(fb));
    if (outline) outline->radius = 0;
    if (fb > 0) {
      // Air inside the gluteal cleft: its first-order distance there runs along the slot.
      *distance = SqrtAtMost(cleft_.BoundDistance2(b), 0)
                      ? std::min(dist, cleft_.InteriorDistance(b))
                      : dist;
      return kAir;
    }
    const double depth = -fb;
    if (depth < skin_) {
      *distance = std::min(dist, conservative(skin_ - depth));
      return kSkin;
    }
    dist = std::min(dist, conservative(depth - skin_));
    const double fat = FatThickness(b);
    inEnvelope = depth > skin_ + fat;
    // The fat thickness varies smoothly with the angle: keep a margin for its slope.
    dist = std::min(dist, conservative(std::fabs(depth - skin_ - fat) * 0.8));
    if (outline && inEnvelope) *outline = MakeOutlineHint(b, parts, fat);
  }
  // Terms beyond `care` decide nothing for the caller: the running distance starts just above
  // it, and the culling below (shapes whose bounds are farther than it) skips more shapes.
  if (stop >= 0) care = stop;
  if (care >= 0) dist = std::min(dist, care * (1 + 1e-9) + 1e-9);
  const int sideIndex = b.x >= 0 ? 1 : 0;
  const Side& s = sides_[sideIndex];
  const Vec3 q{std::fabs(b.x), b.y, b.z};
  dist = std::min(dist, std::fabs(b.x) + 0.5);  // the other side's structures
  // Where the culling radius stays small, only the shapes the cell grid lists near b.
  CellMask cells;
  if (dist + CellGrid::kSlack < CellGrid::kReach)
    cells = cells_.At(b, sideIndex);
  else
    cells = {~0ull, ~0ull, ~0u};
  bool decided = dist <= stop;
  if (inEnvelope && !decided) decided = ClassifyMidline(b, stop, dist, tissue, cells.midline);
  if (!decided) decided = ClassifySide(s, q, inEnvelope, stop, dist, tissue, cells.side);
  if (!decided && dist > stop) {
    tissue = inEnvelope ? kFat : kSubcutaneousFat;
    // Only the vessels whose z range is near (the others fail the box test).
    bool inVessel = false;
    s.vesselIndex.ForCandidates(q.z, dist, [&](std::size_t i) {
      if (inVessel || !(cells.vessels >> i & 1)) return;
      const Capsule& c = s.vessels[i];
      if (!SqrtAtMost(s.vesselBoxes[i].Distance2(q), dist)) return;
      const double f = c.Sdf(q);
      dist = std::min(dist, std::fabs(f));
      if (f < 0) {
        tissue = kVein;
        inVessel = true;
      }
    });
  }
  *distance = dist;
  return tissue;
}

// Muscle fibre bundles run mostly cranio-caudally; fat septa are a zero set of noise.
double Anatomy::TextureFibre(const Vec3& lps, TextureCache& cache) const {
  const Vec3 b = ToBody(lps);
  return GradientNoise(seed_ ^ 0x11, b.x / 1.6, b.y / 1.6, b.z / 10.0, cache.cells[0]);
}

double Anatomy::TextureSeptum(const Vec3& lps, TextureCache& cache) const {
  const Vec3 b = ToBody(lps);
  const double n2 = GradientNoise(seed_ ^ 0x21, b.x / 16.0, b.y / 16.0, b.z / 24.0, cache.cells[1]);
  return std::max(0.0, 1.0 - std::fabs(n2) / 0.035);
}

double Anatomy::TextureMedium(const Vec3& lps, TextureCache& cache) const {
  const Vec3 b = ToBody(lps);
  const double n = GradientNoise(seed_ ^ 0x12, b.x / 5.0, b.y / 5.0, b.z / 25.0, cache.cells[0]);
  return std::max(0.0, 1.0 - std::fabs(n) / 0.08);  // fatty streaks between fascicles
}

void Anatomy::TextureCoarse(const Vec3& lps, double& gate, double& hetero,
                            TextureCache& cache) const {
  const Vec3 b = ToBody(lps);
  gate = std::clamp(
      4.0 * GradientNoise(seed_ ^ 0x23, b.x / 25.0, b.y / 25.0, b.z / 25.0, cache.cells[0]), 0.0,
      1.0);
  hetero = GradientNoise(seed_ ^ 0x31, b.x / 30.0, b.y / 30.0, b.z / 30.0, cache.cells[1]);
}

bool Anatomy::InTendonEnvelope(const Vec3& lps, int sideIndex) const {
  const Vec3 b = ToBody(lps);
  const Side& s = sides_[sideIndex];
  const Vec3 q{s.sign * b.x, b.y, b.z};
  if (!(s.tendon.conjoint.Sdf(q) < 0 || s.tendon.semimembranosus.Sdf(q) < 0)) return false;
  return HipBoneSdf(s, q, nullptr) >= 0;
}

Box Anatomy::LabelBox(int sideIndex) const {
  const Side& s = sides_[sideIndex];
  Box body;  // left frame
  body.Add(s.tuberosity.centre,
           Max(s.tuberosity.radii.x, s.tuberosity.radii.y, s.tuberosity.radii.z) + 10);
  for (const Capsule* c : {&s.ischialBody, &s.inferiorRamus}) {
    body.Add(c->a, c->ra + 10);
    body.Add(c->b, c->rb + 10);
  }
  for (const ZTube* t : {&s.tendon.conjoint, &s.tendon.semimembranosus, &s.tendon.gap}) {
    if (t == &s.tendon.gap && !s.tendon.hasGap) continue;
    for (double z = t->zMin(); z <= t->zMax(); z += 2) {
      TubeKey k;
      t->Section(z, k);
      body.Add({k.cx, k.cy, z}, std::max(k.a, k.b) * (1 + std::fabs(k.bend)) + 5);
    }
  }
  Box out;
  for (int c = 0; c < 8; ++c) {
    const Vec3 q{(c & 1) ? body.hi[0] : body.lo[0], (c & 2) ? body.hi[1] : body.lo[1],
                 (c & 4) ? body.hi[2] : body.lo[2]};
    out.Add(SideToLps(q, sideIndex), 1.0);
  }
  return out;
}

Vec3 Anatomy::FindTuberosityTip(int sideIndex) const {
  const Side& s = sides_[sideIndex];
  const double step = 0.25;
  auto hits = [&](double z, Vec3& mean) {
    int n = 0;
    double sx = 0, sy = 0;
    for (double x = s.xI - 18; x <= s.xI + 18; x += step) {
      for (double y = -20; y <= 20; y += step) {
        if (HipBoneSdf(s, {x, y, z}, nullptr) < 0) {
          ++n;
          sx += x;
          sy += y;
        }
      }
    }
    if (n) mean = {sx / n, sy / n, z};
    return n > 0;
  };
  Vec3 mean;
  double z = s.tipZ - 4;
  while (!hits(z, mean)) {
    z += 0.5;
    if (z > s.tipZ + 10) throw std::runtime_error("phantom: tuberosity tip not found");
  }
  double lo = z - 0.5, hi = z;
  for (int i = 0; i < 12; ++i) {
    const double mid = 0.5 * (lo + hi);
    Vec3 m;
    if (hits(mid, m)) {
      hi = mid;
      mean = m;
    } else {
      lo = mid;
    }
  }
  return SideToLps(mean, sideIndex);
}

// ---------------------------------------------------------------------------------------------
TendonSection MeasureTendonSection(const Anatomy& anatomy, int sideIndex, double zLps) {
  TendonSection out;
  out.zMm = zLps;
  const Side& s = anatomy.GetSide(sideIndex);
  const double zb = anatomy.ToBody({0, 0, zLps}).z;
  // Bounding box of the sections in the left frame.
  double x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
  for (const ZTube* tube : {&s.tendon.conjoint, &s.tendon.semimembranosus}) {
    TubeKey k;
    if (!tube->Section(zb, k)) continue;
    const double r = std::max(k.a, k.b) * (1 + std::fabs(k.bend)) + 1.0;
    x0 = std::min(x0, k.cx - r);
    x1 = std::max(x1, k.cx + r);
    y0 = std::min(y0, k.cy - r);
    y1 = std::max(y1, k.cy + r);
  }
  if (x0 > x1) return out;
  const double h = 0.1;
  double n = 0, sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
  std::vector<std::pair<double, double>> pts;
  // One level: the tubes' sections are looked up once.
  const ZTube::Row cjRow = s.tendon.conjoint.RowAt(zb), smRow = s.tendon.semimembranosus.RowAt(zb);
  for (double y = y0 + h / 2; y < y1; y += h) {
    for (double x = x0 + h / 2; x < x1; x += h) {
      const Vec3 q{x, y, zb};
      if (!(s.tendon.conjoint.Inside(q, cjRow) || s.tendon.semimembranosus.Inside(q, smRow)))
        continue;
      if (anatomy.HipBoneSdf(s, q, nullptr) < 0) continue;
      pts.emplace_back(x, y);
      n += 1;
      sx += x;
      sy += y;
    }
  }
  if (n == 0) return out;
  const double mx = sx / n, my = sy / n;
  for (const auto& p : pts) {
    const double dx = p.first - mx, dy = p.second - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  const double ang = 0.5 * std::atan2(2 * sxy, sxx - syy);  // major axis
  const double c = std::cos(ang), sn = std::sin(ang);
  double umin = 1e9, umax = -1e9, vmin = 1e9, vmax = -1e9;
  for (const auto& p : pts) {
    const double dx = p.first - mx, dy = p.second - my;
    const double u = dx * c + dy * sn, v = -dx * sn + dy * c;
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    vmin = std::min(vmin, v);
    vmax = std::max(vmax, v);
  }
  out.csaMm2 = n * h * h;
  out.widthMm = umax - umin + h;
  out.thicknessMm = vmax - vmin + h;
  return out;
}

}  // namespace ischia::phantom
