// Stages 4-6: the proximal hamstring tendon of each side, its tears and its measurements.
// Tendon = dark on both T1 and fat-sat (muscle intermediate, fat bright on T1, fluid bright on
// fat-sat), outside the bone, in the posterior compartment below the tuberosity; chosen among
// the dark structures there by length along z and contact with the tuberosity (the adductor
// magnus tendon lies anterior and does not attach there; the sciatic nerve is not dark).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "hamstring_internal.h"

namespace ischia {
namespace {
using namespace hamstring;

struct Levels {
  double fluid = 4;        // fluid level on fat-sat (standardised)
  double tearThr = 2;      // fluid-bright
  double oedemaThr = 1.5;  // oedema: brighter than muscle, below fluid
  double tendonMaxF = 1;   // tendon (even degenerate) is darker than muscle on fat-sat
};

// Dark tissue per slice (DarkTissueSlice), shared by both sides and filled on first use.
struct DarkTissue {
  const std::uint8_t* bone = nullptr;  // both sides' labelled bone
  std::vector<Mask> slices;
};

struct SideContext {
  int sign = 1;  // +1 left, -1 right
  std::array<double, 3> tip{};
  const std::uint8_t* bone = nullptr;
  DarkTissue* dark = nullptr;
};

// Contact with the bone, for a tendon and for the gap's fluid alike: within 2 mm beyond the
// one-pixel band kept free around it.
std::vector<std::array<int, 2>> BoneContactDisk(const Grid& g) {
  return DiskOffsets(g, 2.0 + std::max(g.sx, g.sy));
}

bool TouchesBone(const Grid& g, const std::uint8_t* bone, int i, int j, int k,
                 const std::vector<std::array<int, 2>>& disk) {
  for (const auto& o : disk) {
    const int a = i + o[0], b = j + o[1];
    if (a >= 0 && b >= 0 && a < g.nx && b < g.ny && bone[g.Index(a, b, k)]) return true;
  }
  return false;
}

// The height below which a share `q` of voxels at heights `zs` lies, each voxel standing for
// its slab (its centre +- half the slice spacing `slab`) rather than a point. Voxel heights
// are slice centres: with slices 5-6 mm apart a point quantile jumps a whole slice with the
// share each slice holds, while the slabs' share moves it within the slab.
double SlabQuantile(const std::vector<double>& zs, double slab, double q) {
  const double h = 0.5 * slab;
  auto below = [&](double z) {
    double share = 0;
    for (double c : zs) share += std::clamp((z - (c - h)) / slab, 0.0, 1.0);
    return share / static_cast<double>(zs.size());
  };
  double lo = *std::min_element(zs.begin(), zs.end()) - h;
  double hi = *std::max_element(zs.begin(), zs.end()) + h;
  for (int it = 0; it < 40; ++it) {
    const double mid = 0.5 * (lo + hi);
    (below(mid) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Per-slice section statistics of a mask.
struct Section {
  int k = 0;
  std::size_t count = 0;
  double cx = 0, cy = 0, cz = 0;
};

std::vector<Section> Sections(const Mask& m, const Grid& g) {
  std::vector<Section> out;
  const std::size_t ss = g.SliceSize();
  for (int k = 0; k < g.nz; ++k) {
    Section s;
    s.k = k;
    for (std::size_t q = 0; q < ss; ++q) {
      if (!m[k * ss + q]) continue;
      const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k);
      s.cx += p[0], s.cy += p[1], s.cz += p[2], ++s.count;
    }
    if (s.count) {
      s.cx /= s.count, s.cy /= s.count, s.cz /= s.count;
      out.push_back(s);
    }
  }
  return out;
}

std::vector<float> SliceZ(const Grid& g, double x, double y) {
  // Patient z of each slice at the in-plane position (x, y) (slices may be tilted).
  std::vector<float> z(g.nz);
  for (int k = 0; k < g.nz; ++k) {
    const auto c = g.ContinuousIndex({x, y, 0});
    z[k] = static_cast<float>(g.Point(c[0], c[1], k)[2]);
  }
  return z;
}


// Minor-axis extent (mm) of one slice's mask (principal axes in-plane), 0 if empty.
double SliceThickness(const std::uint8_t* m, const Grid& g, double* area = nullptr) {
  double mx = 0, my = 0, c = 0;
  for (int j = 0; j < g.ny; ++j)
    for (int i = 0; i < g.nx; ++i)
      if (m[static_cast<std::size_t>(j) * g.nx + i]) mx += i * g.sx, my += j * g.sy, c += 1;
  if (area) *area = c * g.sx * g.sy;
  if (c < 3) return 0;
  mx /= c, my /= c;
  double cxx = 0, cyy = 0, cxy = 0;
  for (int j = 0; j < g.ny; ++j)
    for (int i = 0; i < g.nx; ++i) {
      if (!m[static_cast<std::size_t>(j) * g.nx + i]) continue;
      const double x = i * g.sx - mx, y = j * g.sy - my;
      cxx += x * x, cyy += y * y, cxy += x * y;
    }
  const double ang = 0.5 * std::atan2(2 * cxy, cxx - cyy);
  const double ux = std::cos(ang), uy = std::sin(ang);
  double b0 = 1e9, b1 = -1e9;
  for (int j = 0; j < g.ny; ++j)
    for (int i = 0; i < g.nx; ++i) {
      if (!m[static_cast<std::size_t>(j) * g.nx + i]) continue;
      const double b = -(i * g.sx) * uy + (j * g.sy) * ux;
      b0 = std::min(b0, b), b1 = std::max(b1, b);
    }
  return b1 - b0 + std::fabs(uy) * g.sx + std::fabs(ux) * g.sy;
}

// A tendon section is one piece, or adjacent pieces (conjoint tendon and semimembranosus, the
// two sides of a cleft). A part of the same 3-D component lying further than `gapMm` from a
// slice's largest part (cortex of a bone the tuberosity stage did not label, joined through
// another slice) is not this section of the tendon.
void DropDetachedParts(Mask& tendon, const Grid& g, double gapMm) {
  const std::size_t ss = g.SliceSize();
  const auto gapDisk = DiskOffsets(g, gapMm);
  ForEachSlice(g.nz, [&](int k) {
    std::uint8_t* m = tendon.data() + static_cast<std::size_t>(k) * ss;
    std::vector<int> lab;
    const int nc = LabelSlice(m, g.nx, g.ny, lab);
    if (nc < 2) return;
    std::vector<std::size_t> cnt(nc + 1, 0);
    for (std::size_t q = 0; q < ss; ++q) cnt[lab[q]] += lab[q] ? 1 : 0;
    const int big = static_cast<int>(std::max_element(cnt.begin() + 1, cnt.end()) - cnt.begin());
    Mask main(ss), near(ss);
    for (std::size_t q = 0; q < ss; ++q) main[q] = lab[q] == big;
    DilateSlice(main.data(), near.data(), g, gapDisk);
    std::vector<char> keep(nc + 1, 0);
    for (std::size_t q = 0; q < ss; ++q)
      if (lab[q] && near[q]) keep[lab[q]] = 1;
    for (std::size_t q = 0; q < ss; ++q) m[q] = lab[q] && keep[lab[q]];
  });
}

// Per-section plausibility: a tendon section is a compact crescent or oval whose thickness
// changes slowly along the course. A section much thicker than the median of its neighbours
// (an unlabelled cortex ring, a muscle septum or another dark structure joined to it) is cut
// back to the part that continues the neighbouring sections.
void CutLeakedSections(Mask& tendon, const Grid& g) {
  const std::size_t ss = g.SliceSize();
  std::vector<double> th(g.nz, 0), area(g.nz, 0);
  for (int k = 0; k < g.nz; ++k) th[k] = SliceThickness(tendon.data() + k * ss, g, &area[k]);
  const auto keepDisk = DiskOffsets(g, 3.0);
  Mask orig = tendon;
  for (int k = 0; k < g.nz; ++k) {
    if (th[k] <= 0) continue;
    std::vector<double> nb, nbA;
    for (int d = -2; d <= 2; ++d) {
      const int kk = k + d;
      if (d == 0 || kk < 0 || kk >= g.nz || th[kk] <= 0) continue;
      nb.push_back(th[kk]), nbA.push_back(area[kk]);
    }
    if (nb.size() < 2) continue;
    std::sort(nb.begin(), nb.end());
    std::sort(nbA.begin(), nbA.end());
    const double med = nb.size() % 2 ? nb[nb.size() / 2]
                                     : 0.5 * (nb[nb.size() / 2 - 1] + nb[nb.size() / 2]);
    const double medA = nbA.size() % 2 ? nbA[nbA.size() / 2]
                                       : 0.5 * (nbA[nbA.size() / 2 - 1] + nbA[nbA.size() / 2]);
    // A tendon's thickness does not double from one slice to the next: more than twice the
    // neighbours' median (and at least 4 mm more) is a leak.
    if ((th[k] <= 2.0 * med || th[k] < med + 4.0) && area[k] <= 3.0 * medA) continue;
    // Keep the part within a few mm of the neighbouring sections (adjacent slices first).
    Mask nbU(ss, 0), near(ss);
    for (int d : {-1, 1, -2, 2}) {
      const int kk = k + d;
      if (kk < 0 || kk >= g.nz || th[kk] <= 0 || th[kk] > 2.0 * med) continue;
      for (std::size_t q = 0; q < ss; ++q) nbU[q] |= orig[kk * ss + q];
    }
    DilateSlice(nbU.data(), near.data(), g, keepDisk);
    std::uint8_t* m = tendon.data() + k * ss;
    for (std::size_t q = 0; q < ss; ++q) m[q] = m[q] && near[q];
    // Then only its largest connected part.
    std::vector<int> lab;
    const int nc = LabelSlice(m, g.nx, g.ny, lab);
    if (nc > 1) {
      std::vector<std::size_t> cnt(nc + 1, 0);
      for (std::size_t q = 0; q < ss; ++q) cnt[lab[q]] += lab[q] ? 1 : 0;
      const int big = static_cast<int>(std::max_element(cnt.begin() + 1, cnt.end()) - cnt.begin());
      for (std::size_t q = 0; q < ss; ++q) m[q] = lab[q] == big;
    }
  }
}

// Edges of each tendon section at half contrast. The candidate mask is a threshold between
// tendon and muscle, so it runs wide where the tendon borders muscle and narrow where it
// borders fat. Each boundary pixel (one pixel either side of the edge) is decided instead
// against the midpoint between the section's own tendon level and the level of the tissue
// just outside that part of the edge (its lower quartile; a partial-volume pixel is tendon
// when at least half of it is). Intensities are averaged over the pixel and its 4 neighbours (noise; a symmetric
// average leaves a straight edge's midpoint in place). Where the outside is no brighter than
// the tendon (cortex, another tendon) the edge is left as it is.
void RefineSectionEdges(Mask& tendon, const Grid& g, const float* image, const std::uint8_t* bone,
                        const std::uint8_t* body) {
  const std::size_t ss = g.SliceSize();
  const auto px = DiskOffsets(g, 1.01 * std::max(g.sx, g.sy));
  const auto ringOuter = DiskOffsets(g, 3.01 * std::max(g.sx, g.sy));
  const auto local = DiskOffsets(g, std::max(3.0, 2.5 * std::max(g.sx, g.sy)));
  ForEachSlice(g.nz, [&](int k) {
    const std::size_t off = static_cast<std::size_t>(k) * ss;
    std::uint8_t* m = tendon.data() + off;
    std::size_t count = 0;
    for (std::size_t q = 0; q < ss; ++q) count += m[q];
    if (count < 3) return;
    auto at = [&](int i, int j) {  // 5-point average
      double v = 0, c = 0;
      for (const auto& o : {std::array<int, 2>{0, 0}, {1, 0}, {-1, 0}, {0, 1}, {0, -1}}) {
        const int a = i + o[0], b = j + o[1];
        if (a < 0 || b < 0 || a >= g.nx || b >= g.ny) continue;
        v += image[off + static_cast<std::size_t>(b) * g.nx + a], c += 1;
      }
      return v / c;
    };
    Mask core(ss), d1(ss), d3(ss);
    ErodeSlice(m, core.data(), g, px);
    std::size_t coreCount = 0;
    for (std::size_t q = 0; q < ss; ++q) coreCount += core[q];
    const double lt = Percentile(image + off, coreCount >= 5 ? core.data() : m, ss, 0.5);
    DilateSlice(m, d1.data(), g, px);
    DilateSlice(m, d3.data(), g, ringOuter);
    // The tissue around the section: outside it by 2-3 pixels, not bone, not as dark as tendon.
    Mask outside(ss, 0);
    const double brighter = lt + 0.5 * (1.0 - lt);  // halfway to muscle (standardised = 1)
    for (std::size_t q = 0; q < ss; ++q) {
      outside[q] = d3[q] && !d1[q] && body[off + q] && !bone[off + q] && image[off + q] > brighter;
    }
    Mask next(m, m + ss);
    std::vector<float> near;
    for (int j = 0; j < g.ny; ++j) {
      for (int i = 0; i < g.nx; ++i) {
        const std::size_t q = static_cast<std::size_t>(j) * g.nx + i;
        if (!d1[q] || core[q] || bone[off + q] || !body[off + q]) continue;
        near.clear();
        for (const auto& o : local) {
          const int a = i + o[0], b = j + o[1];
          if (a < 0 || b < 0 || a >= g.nx || b >= g.ny) continue;
          const std::size_t t = static_cast<std::size_t>(b) * g.nx + a;
          if (outside[t]) near.push_back(image[off + t]);
        }
        if (near.size() < 3) continue;
        // The darker part of the surroundings: a thin bright fat plane beyond muscle must not
        // pull the midpoint up (the pixel's other part is the tissue next to it).
        std::nth_element(near.begin(), near.begin() + near.size() / 4, near.end());
        const double ls = near[near.size() / 4];
        if (ls - lt < 0.3) continue;
        next[q] = at(i, j) < 0.5 * (lt + ls);
      }
    }
    // Keep what is connected to the section's core (a flipped pixel never starts a new piece).
    std::vector<int> lab;
    const int nc = LabelSlice(next.data(), g.nx, g.ny, lab);
    std::vector<char> keep(nc + 1, 0);
    for (std::size_t q = 0; q < ss; ++q)
      if (lab[q] && (coreCount >= 5 ? core[q] : m[q])) keep[lab[q]] = 1;
    for (std::size_t q = 0; q < ss; ++q) m[q] = lab[q] && keep[lab[q]];
  });
}

struct TendonSegmentation {
  Mask tendon, tear;
  bool found = false;
  bool attached = true;
  double footprintZ = 0, stumpTopZ = 0;
  std::array<double, 3> footprint{};
  std::string reason;
  Mask roi;
  double searchBottomZ = 0;  // the lowest level searched (the region's or the image's end)
};

// Tendon-like tissue (dark on T1 and on fat-sat) over one whole body section, less the
// labelled bone with a one-pixel rim and less the cortex of bones the tuberosity stage did not
// label. Over the whole section, so that a ring a region of interest cuts through is still seen
// whole; both sides read it, so it is computed once per slice.
Mask DarkTissueSlice(const Grid& g, int k, const float* F, const float* T, const std::uint8_t* V,
                     const std::uint8_t* B, const std::uint8_t* bone, const Levels& lv,
                     const HamstringAnalysisParameters& params) {
  const std::size_t ss = g.SliceSize(), off = static_cast<std::size_t>(k) * ss;
  const double pixelArea = g.sx * g.sy;
  Mask boneDil(ss), dark(ss, 0);
  DilateSlice(bone + off, boneDil.data(), g, DiskOffsets(g, std::max(g.sx, g.sy) * 1.01));
  for (std::size_t q = 0; q < ss; ++q) {
    const std::size_t s = off + q;
    if (!B[s] || boneDil[q]) continue;
    dark[q] = (T && (!V || V[s])) ? T[s] < params.tendonT1Level && F[s] < lv.tendonMaxF
                                  : F[s] < params.tendonFluidOnlyLevel;
  }
  // Cortex rings around marrow the tuberosity stage did not label (other bones such as the
  // femur, sections it skipped) are as dark as tendon. Each enclosed fatty region is grown
  // ring by ring: the cortex is the run of rings that are almost wholly dark (a tendon
  // against the bone covers only part of a ring). Its thickness varies, from the thin
  // ischial cortex to the thick femoral shaft, so it is measured and not assumed.
  if (!T) return dark;
  Mask out(dark);
  Mask filled(dark);
  FillHolesSlice(filled.data(), g.nx, g.ny);
  for (std::size_t q = 0; q < ss; ++q) filled[q] = filled[q] && !dark[q];
  std::vector<int> hl;
  const int nh = LabelSlice(filled.data(), g.nx, g.ny, hl);
  if (!nh) return out;
  std::vector<double> sumT(nh + 1, 0), cnt(nh + 1, 0);
  std::vector<std::vector<std::size_t>> holePx(nh + 1);
  for (std::size_t q = 0; q < ss; ++q) {
    if (hl[q]) sumT[hl[q]] += T[off + q], cnt[hl[q]] += 1, holePx[hl[q]].push_back(q);
  }
  const double px = std::min(g.sx, g.sy);
  const int minRings = static_cast<int>(std::ceil(params.cortexThicknessMm / px)) + 1;
  const int maxRings = static_cast<int>(std::ceil(params.maxCortexThicknessMm / px));
  std::vector<int> seen(ss, 0);
  std::vector<std::size_t> next;
  for (int h = 1; h <= nh; ++h) {
    if (cnt[h] * pixelArea < 15 || sumT[h] / cnt[h] <= 1.15) continue;
    std::vector<std::size_t> front = std::move(holePx[h]);
    for (const std::size_t q : front) seen[q] = h;
    for (int r = 0; r < maxRings && !front.empty(); ++r) {
      next.clear();
      std::size_t nDark = 0;
      for (const std::size_t q : front) {
        const int i = static_cast<int>(q % g.nx), j = static_cast<int>(q / g.nx);
        for (int dj = -1; dj <= 1; ++dj) {
          for (int di = -1; di <= 1; ++di) {
            const int a = i + di, b = j + dj;
            if (a < 0 || b < 0 || a >= g.nx || b >= g.ny) continue;
            const std::size_t t = static_cast<std::size_t>(b) * g.nx + a;
            if (seen[t] == h) continue;
            seen[t] = h;
            next.push_back(t);
            nDark += dark[t];
          }
        }
      }
      if (r >= minRings && nDark < params.cortexRingDarkFraction * next.size()) break;
      for (const std::size_t t : next) out[t] = 0;
      front.swap(next);
    }
  }
  return out;
}

TendonSegmentation SegmentTendon(const Grid& g, const float* F, const float* T,
                                 const std::uint8_t* V, const std::uint8_t* B,
                                 const SideContext& sc, const Levels& lv, double scale,
                                 const HamstringAnalysisParameters& params) {
  TendonSegmentation out;
  const std::size_t n = g.Size(), ss = g.SliceSize();
  const double pixelArea = g.sx * g.sy;
  // Region of interest around the tuberosity tip (mm, scaled).
  const double latLo = -22 * scale, latHi = 45 * scale, postLo = -20 * scale, postHi = 45 * scale;
  const double zHi = params.tendonSearchAboveTipMm, zLo = -(params.tendonLengthMm + 25);
  Mask roi(n, 0), cand(n, 0);
  out.searchBottomZ = std::max(sc.tip[2] + zLo, std::min(g.Point(0, 0, 0)[2], g.Point(0, 0, g.nz - 1)[2]));
  ForEachSlice(g.nz, [&](int k) {
    const std::size_t off = static_cast<std::size_t>(k) * ss;
    bool anyRoi = false;
    for (int j = 0; j < g.ny; ++j) {
      for (int i = 0; i < g.nx; ++i) {
        const std::size_t s = off + static_cast<std::size_t>(j) * g.nx + i;
        if (!B[s]) continue;
        const auto p = g.Point(i, j, k);
        const double lat = sc.sign * (p[0] - sc.tip[0]), post = p[1] - sc.tip[1],
                     dz = p[2] - sc.tip[2];
        if (lat < latLo || lat > latHi || post < postLo || post > postHi || dz < zLo || dz > zHi)
          continue;
        roi[s] = 1;
        anyRoi = true;
      }
    }
    if (!anyRoi) return;
    Mask& dark = sc.dark->slices[k];
    if (dark.empty()) dark = DarkTissueSlice(g, k, F, T, V, B, sc.dark->bone, lv, params);
    for (std::size_t q = 0; q < ss; ++q) cand[off + q] = dark[q] && roi[off + q];
  });
  std::vector<int> lab;
  const int nc = LabelVolume(cand, g, lab);
  if (nc == 0) {
    out.reason = "no dark tendon-like structure below the tuberosity";
    out.roi = std::move(roi);
    return out;
  }
  struct Comp {
    std::size_t voxels = 0, contact = 0;
    double sumPost = 0, zTop = -1e9, zBottom = 1e9;
    int kTop = -1;
    std::vector<int> slices;
  };
  std::vector<Comp> comps(nc + 1);
  // In-plane second moments per component and slice (slice mm), for the section shapes.
  struct Moments {
    double n = 0, x = 0, y = 0, xx = 0, yy = 0, xy = 0;
  };
  std::vector<Moments> mom(static_cast<std::size_t>(nc + 1) * g.nz);
  const auto contactDisk = BoneContactDisk(g);
  for (std::size_t s = 0; s < n; ++s) {
    const int c = lab[s];
    if (!c) continue;
    const int k = static_cast<int>(s / ss), rem = static_cast<int>(s % ss);
    const int i = rem % g.nx, j = rem / g.nx;
    const auto p = g.Point(i, j, k);
    Comp& cc = comps[c];
    ++cc.voxels;
    {
      Moments& m = mom[static_cast<std::size_t>(c) * g.nz + k];
      const double x = i * g.sx, y = j * g.sy;
      m.n += 1, m.x += x, m.y += y, m.xx += x * x, m.yy += y * y, m.xy += x * y;
    }
    cc.sumPost += (p[1] - sc.tip[1] + sc.sign * (p[0] - sc.tip[0])) / std::sqrt(2.0);
    if (p[2] > cc.zTop) cc.zTop = p[2], cc.kTop = k;
    cc.zBottom = std::min(cc.zBottom, p[2]);
    cc.contact += TouchesBone(g, sc.bone, i, j, k, contactDisk);
  }
  const double voxelVolume = pixelArea * g.sz;
  const auto capDisk = DiskOffsets(g, 5.0);
  int best = 0;
  double bestScore = -1e9;
  for (int c = 1; c <= nc; ++c) {
    const Comp& cc = comps[c];
    if (cc.voxels * voxelVolume < 150 * scale * scale) continue;
    const double meanPost = cc.sumPost / cc.voxels;
    // The hamstring origin is posterolateral to the tip; the adductor magnus tendon lies
    // anteromedial, the sciatic nerve lateral (and not dark). A structure centred under the
    // tip is not it either: with the tip 5 mm further forward, a dark column running down from
    // under 10703's right tip (0.4 mm lateral, 2 mm behind) was taken for the stump of a tear
    // retracted 50 mm (8.6). The tendons found on 100 sides lie 13.6-35 mm posterolateral
    // (median 22; docs/accuracy.md, twenty-fifth round).
    if (meanPost < 5.0 * scale) continue;
    // The stump of a complete tear: fluid fills the gap just above its top
    // section. A long retraction leaves a short stump: two slices are enough then.
    double capMm3 = 0;
    {
      const std::size_t off = static_cast<std::size_t>(cc.kTop) * ss;
      Mask top(ss), foot(ss);
      for (std::size_t q = 0; q < ss; ++q) top[q] = lab[off + q] == c;
      DilateSlice(top.data(), foot.data(), g, capDisk);
      for (int step = 1; step <= 2; ++step) {
        const int ka = cc.kTop + g.SuperiorStep() * step;
        if (ka < 0 || ka >= g.nz) break;
        const std::size_t offA = static_cast<std::size_t>(ka) * ss;
        for (std::size_t q = 0; q < ss; ++q)
          capMm3 += foot[q] && roi[offA + q] && !sc.bone[offA + q] && F[offA + q] > lv.tearThr;
      }
      capMm3 *= voxelVolume;
    }
    const bool capped = capMm3 >= 100.0 * scale * scale;
    const double span = cc.zTop - cc.zBottom;
    if (span < (capped ? 0.9 : 2.5) * g.sz) continue;
    if (cc.zTop < sc.tip[2] - params.tendonLengthMm) continue;
    // The proximal hamstring tendon is flat (an oval or crescent several times wider than
    // thick); a vessel or a nerve is round. Median over the sections of long / short axis.
    std::vector<double> aspects;
    for (int k = 0; k < g.nz; ++k) {
      const Moments& m = mom[static_cast<std::size_t>(c) * g.nz + k];
      if (m.n < 6) continue;
      const double mx = m.x / m.n, my = m.y / m.n;
      const double cxx = m.xx / m.n - mx * mx, cyy = m.yy / m.n - my * my,
                   cxy = m.xy / m.n - mx * my;
      const double tr = 0.5 * (cxx + cyy), det = std::sqrt(0.25 * (cxx - cyy) * (cxx - cyy) + cxy * cxy);
      aspects.push_back(std::sqrt((tr + det) / std::max(1e-6, tr - det)));
    }
    double aspect = 1;
    if (!aspects.empty()) {
      std::nth_element(aspects.begin(), aspects.begin() + aspects.size() / 2, aspects.end());
      aspect = aspects[aspects.size() / 2];
    }
    const double score = span + (cc.contact * pixelArea > 15 || capped ? 25 : 0) +
                         1.0 * meanPost + 0.002 * cc.voxels * voxelVolume -
                         (aspect < 1.6 ? 30 : 0);
    if (score > bestScore) bestScore = score, best = c;
  }
  if (!best) {
    out.reason = "no dark tendon-like structure below the tuberosity";
    out.roi = std::move(roi);
    return out;
  }
  out.tendon.assign(n, 0);
  for (std::size_t s = 0; s < n; ++s) out.tendon[s] = lab[s] == best;
  DropDetachedParts(out.tendon, g, 6.0);
  CutLeakedSections(out.tendon, g);
  // T1 has contrast against both muscle and fat; the fluid-sensitive image only against muscle.
  RefineSectionEdges(out.tendon, g, T ? T : F, sc.bone, B);
  out.found = true;
  out.attached = comps[best].contact * pixelArea > 15;
  // The stump's proximal end: its highest real section (a few pixels of dark partial volume
  // trailing up into the gap are not tendon).
  out.stumpTopZ = comps[best].zTop;
  {
    double top = -1e9;
    for (const Section& st : Sections(out.tendon, g)) {
      if (st.count * pixelArea < params.minStumpSectionMm2 * scale * scale) continue;
      const std::size_t off = static_cast<std::size_t>(st.k) * ss;
      for (std::size_t q = 0; q < ss; ++q) {
        if (out.tendon[off + q])
          top = std::max(top, g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), st.k)[2]);
      }
    }
    if (top > -1e9) out.stumpTopZ = top;
  }
  out.roi = std::move(roi);
  return out;
}

}  // namespace

std::vector<TendonSectionMeasure> MeasureTendonCrossSections(const MaskImage& envelope,
                                                             double footprintZmm,
                                                             double maxDistanceMm) {
  // Reuse the float grid helper through a geometry-only copy.
  FloatImage::Pointer like = FloatImage::New();
  like->CopyInformation(&envelope);
  like->SetRegions(envelope.GetLargestPossibleRegion());
  const Grid g = MakeGrid(*like);
  const std::uint8_t* m = envelope.GetBufferPointer();
  const std::size_t ss = g.SliceSize();
  // The calipers go across the tendon's body: a strip under 3 mm wide standing out of the
  // section (cortex or a vessel beside the tendon, dark like it) is not its thickness. The
  // axes are measured on the section opened by a 1.5 mm disk (the whole section if that
  // leaves under half of it); the area on the whole section.
  const auto body = DiskOffsets(g, 1.5);
  Mask opened(ss);
  std::vector<TendonSectionMeasure> out;
  for (int k = 0; k < g.nz; ++k) {
    const std::uint8_t* sec = m + static_cast<std::size_t>(k) * ss;
    std::size_t count = 0;
    double cz = 0;
    for (std::size_t q = 0; q < ss; ++q) {
      if (!sec[q]) continue;
      ++count;
      cz += g.Point(static_cast<double>(q % g.nx), static_cast<double>(q / g.nx), k)[2];
    }
    if (count < 3) continue;
    cz /= count;
    const double d = footprintZmm - cz;
    if (d < -0.5 * g.sz || d > maxDistanceMm + 0.5 * g.sz) continue;
    OpenSlice(sec, opened.data(), g, body);
    std::size_t kept = 0;
    for (std::size_t q = 0; q < ss; ++q) kept += opened[q];  // an opening lies within the section
    const std::uint8_t* axes = 2 * kept >= count ? opened.data() : sec;
    std::vector<std::array<double, 2>> pts;
    for (std::size_t q = 0; q < ss; ++q) {
      if (!axes[q]) continue;
      const double i = static_cast<double>(q % g.nx), j = static_cast<double>(q / g.nx);
      pts.push_back({i * g.sx, j * g.sy});  // in-plane slice coordinates (mm)
    }
    double mx = 0, my = 0;
    for (auto& p : pts) mx += p[0], my += p[1];
    mx /= pts.size(), my /= pts.size();
    double cxx = 0, cyy = 0, cxy = 0;
    for (auto& p : pts) {
      cxx += (p[0] - mx) * (p[0] - mx), cyy += (p[1] - my) * (p[1] - my),
          cxy += (p[0] - mx) * (p[1] - my);
    }
    const double ang = 0.5 * std::atan2(2 * cxy, cxx - cyy);  // major axis
    const double ux = std::cos(ang), uy = std::sin(ang);
    double a0 = 1e9, a1 = -1e9, b0 = 1e9, b1 = -1e9;
    for (auto& p : pts) {
      const double a = p[0] * ux + p[1] * uy, b = -p[0] * uy + p[1] * ux;
      a0 = std::min(a0, a), a1 = std::max(a1, a), b0 = std::min(b0, b), b1 = std::max(b1, b);
    }
    // Extent of pixel centres plus one pixel footprint along the axis.
    const double padA = std::fabs(ux) * g.sx + std::fabs(uy) * g.sy;
    const double padB = std::fabs(uy) * g.sx + std::fabs(ux) * g.sy;
    TendonSectionMeasure s;
    s.zMm = cz;
    s.distanceMm = d;
    s.csaMm2 = count * g.sx * g.sy;
    s.widthMm = a1 - a0 + padA;
    s.thicknessMm = b1 - b0 + padB;
    // Caliper end points: through the centroid, along each axis, to the section's edges.
    const double ma = mx * ux + my * uy, mb = -mx * uy + my * ux;
    auto toLps = [&](double a, double b) {
      const double x = a * ux - b * uy, y = a * uy + b * ux;  // back to slice mm
      const auto p = g.Point(x / g.sx, y / g.sy, k);
      return std::array<double, 3>{p[0], p[1], p[2]};
    };
    s.thicknessCaliperLps = {toLps(ma, b0 - 0.5 * padB), toLps(ma, b1 + 0.5 * padB)};
    s.widthCaliperLps = {toLps(a0 - 0.5 * padA, mb), toLps(a1 + 0.5 * padA, mb)};
    out.push_back(s);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.distanceMm < b.distanceMm; });
  return out;
}

void GradeSide(SideAnalysis& side, const SideAnalysis* other, const GradeParameters& p) {
  std::ostringstream rule;
  rule << "complete_tear if a fluid gap separates the tuberosity from a retracted stump; "
          "partial_tear if fluid-bright signal lies inside a still attached tendon; "
          "tendinopathy if max thickness >= "
       << p.thickTendonMm << " mm, or thickness >= " << p.thicknessAsymmetryRatio
       << " x the other side, or tendon/muscle signal ratio >= " << p.signalRatioTendinopathy
       << ", or peritendinous + marrow oedema >= " << p.oedemaVolumeMm3 << " mm3; else normal";
  side.gradeRule = rule.str();
  if (side.tear.type == "complete") {
    side.grade = "complete_tear";
  } else if (side.tear.type == "partial") {
    side.grade = "partial_tear";
  } else {
    const double th = side.maximum.thicknessMm;
    bool thick = th >= p.thickTendonMm;
    if (other && other->tendonFound && other->tear.type == "none" &&
        other->maximum.thicknessMm > 0) {
      thick |= th >= p.thicknessAsymmetryRatio * other->maximum.thicknessMm;
    }
    const bool signal = side.signalRatio >= p.signalRatioTendinopathy;
    const bool oedema = side.peritendinousOedemaMm3 + side.marrowOedemaMm3 >= p.oedemaVolumeMm3;
    side.grade = (side.tendonFound && (thick || signal || oedema)) ? "tendinopathy" : "normal";
  }
}

HamstringAnalysisResult AnalyseHamstrings(const HamstringAnalysisInput& input,
                                          const HamstringAnalysisParameters& params) {
  HamstringAnalysisResult result;
  const TuberosityResult tub = FindIschialTuberosities(input, params);
  result.midlineXmm = tub.midlineXmm;
  result.bodyScale = tub.bodyScale;
  const Grid g = MakeGrid(*input.fluid);
  const std::size_t n = g.Size();
  const float* F = input.fluid->GetBufferPointer();
  const float* T = input.t1 ? input.t1->GetBufferPointer() : nullptr;
  const std::uint8_t* V = input.t1FieldOfView ? input.t1FieldOfView->GetBufferPointer() : nullptr;
  const std::uint8_t* B = input.body->GetBufferPointer();

  // Fat-sat levels measured in this image: muscle (voxels that are muscle on T1) and fluid
  // (the brightest small class). Thresholds lie between them, so a mis-scaled series or another
  // sequence (STIR, T2 FS) shifts them with the tissues.
  Levels lv;
  double muscleF = 1.0;
  if (T) {
    Mask muscle(n, 0);
    for (std::size_t s = 0; s < n; ++s)
      muscle[s] = B[s] && (!V || V[s]) && T[s] > 0.85f && T[s] < 1.2f;
    const auto cnt = std::count(muscle.begin(), muscle.end(), 1);
    if (cnt > 1000) muscleF = std::max(0.2, Percentile(F, muscle.data(), n, 0.5));
  }
  lv.fluid = std::max(muscleF + 1.0, Percentile(F, B, n, 0.999));
  lv.tearThr = muscleF + params.fluidFraction * (lv.fluid - muscleF);
  lv.oedemaThr = muscleF + params.oedemaFraction * (lv.fluid - muscleF);
  lv.tendonMaxF = muscleF * params.tendonMaxFluidRatio;
  result.muscleFluidLevel = muscleF;
  result.fluidLevel = lv.fluid;

  result.labels = LabelImage::New();
  result.labels->CopyInformation(input.fluid);
  result.labels->SetRegions(input.fluid->GetLargestPossibleRegion());
  result.labels->Allocate();
  result.labels->FillBuffer(0);
  std::uint16_t* L = result.labels->GetBufferPointer();
  const std::size_t ss = g.SliceSize();
  const double pixelArea = g.sx * g.sy, voxelVolume = pixelArea * g.sz;

  Mask boneBoth(n, 0);
  for (const TuberosityFinding* tf : {&tub.left, &tub.right}) {
    if (!tf->found) continue;
    const std::uint8_t* b = tf->bone->GetBufferPointer();
    for (std::size_t s = 0; s < n; ++s) boneBoth[s] |= b[s];
  }
  DarkTissue dark;
  dark.bone = boneBoth.data();
  dark.slices.resize(g.nz);
  for (int side = 0; side < 2; ++side) {
    SideAnalysis& sa = side ? result.left : result.right;
    const TuberosityFinding& tf = side ? tub.left : tub.right;
    sa.side = side ? "left" : "right";
    sa.volumeLengthMm = params.volumeLengthMm;
    if (!tf.found) {
      sa.reason = tf.reason;
      continue;
    }
    sa.found = true;
    sa.tuberosityTipLps = tf.tipLps;
    const std::uint8_t* bone = tf.bone->GetBufferPointer();
    for (std::size_t s = 0; s < n; ++s) {
      if (bone[s]) L[s] = kLabelBone;
    }
    // The footprint level: the origin on the tuberosity lies about 1-1.5 cm above its tip
    // (a complete tear bares it: see below).
    double footprintZ = tf.tipLps[2] + params.footprintAboveTipMm * tub.bodyScale;
    // Marrow oedema: fluid-bright voxels in the tuberosity's marrow, within a radius of the
    // tendon footprint. Higher up, the ischium label may take in a neighbouring bone or fat
    // that joins it, and marrow oedema far from the origin is not hamstring enthesopathy.
    const double marrowRadius = params.marrowOedemaRadiusMm * tub.bodyScale;
    for (std::size_t s = 0; s < n; ++s) {
      if (!bone[s] || F[s] <= lv.oedemaThr) continue;
      const auto p = g.Point(static_cast<int>(s % g.nx), static_cast<int>((s / g.nx) % g.ny),
                             static_cast<int>(s / ss));
      const double d = std::hypot(p[0] - tf.tipLps[0], p[1] - tf.tipLps[1], p[2] - footprintZ);
      if (d <= marrowRadius) sa.marrowOedemaMm3 += voxelVolume;
    }
    SideContext sc;
    sc.sign = side ? 1 : -1;
    sc.tip = tf.tipLps;
    sc.bone = bone;
    sc.dark = &dark;
    TendonSegmentation ts = SegmentTendon(g, F, T, V, B, sc, lv, tub.bodyScale, params);
    sa.footprintLps = {tf.tipLps[0], tf.tipLps[1], footprintZ};
    if (!ts.found) {
      // A tuberosity with no tendon below it is a bared footprint: a complete tear whose stump
      // lies beyond the search (or was missed). Graded as one, never as normal, and flagged:
      // the retraction is unknown.
      sa.qc.push_back(ts.reason);
      sa.tear.type = "complete";
      sa.tear.stumpFound = false;
      sa.tear.stumpSearchedMm = std::max(0.0, footprintZ - ts.searchBottomZ - g.sz);
      double fluidMm3 = 0;
      for (std::size_t s = 0; s < n; ++s) {
        if (!ts.roi[s] || bone[s] || F[s] <= lv.tearThr || (T && T[s] >= 1.0)) continue;
        const double z = g.Point(0, 0, static_cast<int>(s / ss))[2];
        fluidMm3 += z <= footprintZ + 10 && z >= footprintZ - 30;
      }
      fluidMm3 *= voxelVolume;
      std::ostringstream why;
      why << "no tendon below the tuberosity: taken as a complete tear with no stump found within "
          << std::lround(sa.tear.stumpSearchedMm) << " mm below the footprint (retraction not "
          << "measured); ";
      if (fluidMm3 >= params.minTearVolumeMm3)
        why << std::lround(fluidMm3) << " mm3 of fluid lies at the footprint";
      else
        why << "no fluid at the footprint: a chronic tear, or a tendon the analysis missed; "
               "check the images";
      sa.qc.push_back(why.str());
      continue;
    }
    sa.tendonFound = true;
    const auto secs = Sections(ts.tendon, g);

    // Fluid-bright voxels near the tendon or in its course.
    Mask bright(n, 0), tear(n, 0);
    for (std::size_t s = 0; s < n; ++s) bright[s] = ts.roi[s] && !bone[s] && F[s] > lv.tearThr;
    Mask envelope = ts.tendon;
    const auto closeDisk = DiskOffsets(g, 3.0);
    const auto nearDisk = DiskOffsets(g, 1.5);
    auto findPartialTear = [&] {
      // Partial tear: fluid inside the tendon's closed outline, or hugging part of its
      // surface (a cleft open to the surface). Fluid around most of the outline is a
      // peritendinous fluid ring, not a tear: then only the enclosed fluid counts. So it is
      // on a slice whose free surface is mostly wet, and on every slice when fluid wets more
      // than `peritendinousWetFraction` of the free surface over the whole tendon (oedema
      // along a degenerate tendon; a cleft is focal).
      Mask enclosed(n, 0), surface(n, 0);
      std::vector<double> edges(g.nz, 0), wets(g.nz, 0);
      ForEachSlice(g.nz, [&](int k) {
        const std::size_t off = static_cast<std::size_t>(k) * ss;
        const std::uint8_t* t = ts.tendon.data() + off;
        bool any = false;
        for (std::size_t q = 0; q < ss && !any; ++q) any = t[q] != 0;
        if (!any) return;
        Mask d(ss), c(ss), nearT(ss), fluid(ss), nearF(ss), nearB(ss);
        DilateSlice(t, d.data(), g, closeDisk);
        ErodeSlice(d.data(), c.data(), g, closeDisk);
        for (std::size_t q = 0; q < ss; ++q) c[q] |= t[q];
        FillHolesSlice(c.data(), g.nx, g.ny);
        DilateSlice(t, nearT.data(), g, nearDisk);
        for (std::size_t q = 0; q < ss; ++q) fluid[q] = bright[off + q] && !t[q];
        DilateSlice(fluid.data(), nearF.data(), g, nearDisk);
        DilateSlice(bone + off, nearB.data(), g, nearDisk);
        // Over the free surface (not where the tendon lies on the bone).
        double edge = 0, wet = 0;
        for (int j = 0; j < g.ny; ++j) {
          for (int i = 0; i < g.nx; ++i) {
            const std::size_t q = static_cast<std::size_t>(j) * g.nx + i;
            if (!t[q]) continue;
            const bool boundary = i == 0 || j == 0 || i == g.nx - 1 || j == g.ny - 1 ||
                                  !t[q - 1] || !t[q + 1] || !t[q - g.nx] || !t[q + g.nx];
            if (!boundary || nearB[q]) continue;
            edge += 1, wet += nearF[q];
          }
        }
        edges[k] = edge, wets[k] = wet;
        for (std::size_t q = 0; q < ss; ++q) {
          enclosed[off + q] = fluid[q] && c[q];
          surface[off + q] = fluid[q] && nearT[q] && !c[q];
        }
      });
      double edgeAll = 0, wetAll = 0;
      for (int k = 0; k < g.nz; ++k) edgeAll += edges[k], wetAll += wets[k];
      const bool peritendinous = wetAll > params.peritendinousWetFraction * edgeAll;
      {
        std::ostringstream why;
        why << "fluid along " << std::lround(100 * wetAll / std::max(1.0, edgeAll))
            << "% of the tendon's free surface"
            << (peritendinous ? " (peritendinous: only fluid enclosed by the tendon is taken as a tear)"
                              : "");
        sa.qc.push_back(why.str());
      }
      for (int k = 0; k < g.nz; ++k) {
        const bool ring = peritendinous || wets[k] > 0.7 * edges[k];
        const std::size_t off = static_cast<std::size_t>(k) * ss;
        for (std::size_t q = off; q < off + ss; ++q)
          tear[q] = enclosed[q] || (surface[q] && !ring);
      }
      const auto tearVox = std::count(tear.begin(), tear.end(), 1);
      // A cleft takes a real share of the section it crosses; fluid-bright specks scattered
      // through a thickened tendon are intrasubstance signal (tendinosis), not a tear.
      double maxShare = 0;
      for (const Section& st : Sections(tear, g)) {
        const std::size_t off = static_cast<std::size_t>(st.k) * ss;
        double withTendon = 0;
        for (std::size_t q = off; q < off + ss; ++q) withTendon += tear[q] || ts.tendon[q];
        maxShare = std::max(maxShare, 100.0 * st.count / withTendon);
      }
      const bool enough = tearVox * voxelVolume >= params.minTearVolumeMm3;
      const bool cleft = maxShare >= params.minPartialTearSectionPercent;
      if (enough && !cleft) {
        std::ostringstream why;
        why << "fluid-bright signal in the tendon takes at most " << std::lround(maxShare)
            << "% of a section (under " << params.minPartialTearSectionPercent
            << "%): intrasubstance signal, not a tear";
        sa.qc.push_back(why.str());
      }
      if (enough && cleft) {
        sa.tear.type = "partial";
        // The envelope takes the cleft within the tendon's closed outline; fluid lying on
        // its surface is a tear's edge, not tendon thickness.
        for (std::size_t s = 0; s < n; ++s) envelope[s] |= tear[s] && enclosed[s];
      } else {
        std::fill(tear.begin(), tear.end(), 0);
      }
    };
    if (ts.attached) {
      findPartialTear();
    } else {
      // Complete tear: no attachment; fluid fills the course from the tuberosity down to the
      // stump, whose proximal end gives the retraction.
      const double stumpTop = ts.stumpTopZ + params.stumpTopOffsetSlices * g.sz;
      double sx = 0, sy = 0, c0 = 0;
      for (const Section& sct : secs) {
        if (sct.cz > ts.stumpTopZ - 1.5 * g.sz)
          sx += sct.cx * sct.count, sy += sct.cy * sct.count, c0 += sct.count;
      }
      sx /= std::max(1.0, c0), sy /= std::max(1.0, c0);
      auto inGap = [&](std::size_t s, double level, std::array<double, 3>& p) {
        if (!(ts.roi[s] && !bone[s] && F[s] > level && (!T || T[s] < 1.0))) return false;
        const int k = static_cast<int>(s / ss), rem = static_cast<int>(s % ss);
        p = g.Point(rem % g.nx, rem / g.nx, k);
        return p[2] >= ts.stumpTopZ - 0.5 * g.sz &&
               std::hypot(p[0] - sx, p[1] - sy) < 25 * tub.bodyScale;
      };
      // The bared footprint: the gap's fluid lies on the bone the tendon left. The tendon
      // arose from an area on the bone and leaves it at that area's lower edge, the level the
      // retraction is measured from: the lower fifth of the contact places it (its lowest
      // pixels alone are noise; its centre lies above the edge, by half the bared area's
      // height), each contact voxel standing for its slab (SlabQuantile; on 106 complete tears
      // the footprint's error SD fell from 1.7 to 1.3 mm, docs/accuracy.md). A tuberosity
      // without fluid on it keeps the prior above the tip.
      const double priorZ = footprintZ;
      std::vector<double> contactZs;
      {
        const auto contactDisk = BoneContactDisk(g);
        std::array<double, 3> p{};
        for (std::size_t s = 0; s < n; ++s) {
          if (!inGap(s, lv.tearThr, p)) continue;
          const int k = static_cast<int>(s / ss), rem = static_cast<int>(s % ss);
          if (TouchesBone(g, bone, rem % g.nx, rem / g.nx, k, contactDisk))
            contactZs.push_back(p[2]);
        }
      }
      const double contactArea = contactZs.size() * pixelArea;
      const bool bared =
          contactArea >= params.minBaredFootprintMm2 * tub.bodyScale * tub.bodyScale;
      double contactZ = 0;
      if (bared) contactZ = SlabQuantile(contactZs, g.sz, 0.2);
      const double tornFootprintZ = bared ? contactZ : priorZ;
      // Fluid and haematoma in the gap: brighter than oedema on fat-sat, not fat on T1.
      {
        std::array<double, 3> p{};
        for (std::size_t s = 0; s < n; ++s)
          tear[s] = inGap(s, lv.oedemaThr, p) && p[2] <= tornFootprintZ + 10;
      }
      const auto tearVox = std::count(tear.begin(), tear.end(), 1);
      if (tornFootprintZ - stumpTop > 5 && tearVox * voxelVolume >= params.minTearVolumeMm3) {
        footprintZ = tornFootprintZ;
        sa.footprintLps[2] = footprintZ;
        std::ostringstream why;
        why << std::fixed << std::setprecision(1) << "footprint level " << footprintZ << " mm: ";
        if (bared)
          why << "lower edge (lowest fifth) of the " << std::lround(contactArea)
              << " mm2 of gap fluid lying on the bone (" << params.footprintAboveTipMm
              << " mm above the tip, scaled, would be " << priorZ << ")";
        else
          why << params.footprintAboveTipMm
              << " mm above the tip, scaled (too little gap fluid on the bone to place it)";
        sa.qc.push_back(why.str());
        sa.tear.type = "complete";
        sa.tear.gapMm = footprintZ - stumpTop;
        sa.tear.retractionMm = footprintZ - stumpTop;
      } else {
        // No gap: the tendon is taken as attached (the bone label may end a little above the
        // footprint) and examined for a partial tear.
        std::fill(tear.begin(), tear.end(), 0);
        sa.qc.push_back(
            "tendon not in contact with the labelled tuberosity but no fluid gap: taken as "
            "attached");
        findPartialTear();
      }
    }
    sa.tear.volumeMm3 = std::count(tear.begin(), tear.end(), 1) * voxelVolume;

    // Measurements on the envelope (tendon + intratendinous tear).
    MaskImage::Pointer env = MaskImage::New();
    env->CopyInformation(input.fluid);
    env->SetRegions(input.fluid->GetLargestPossibleRegion());
    env->Allocate();
    std::copy(envelope.begin(), envelope.end(), env->GetBufferPointer());
    sa.profile = MeasureTendonCrossSections(*env, footprintZ, 50.0);
    // The maxima, each confirmed on an adjacent slice (as a reader checks a measurement on
    // the neighbouring slices): a single section swollen by a partial-volume merge with the
    // cortex or a septum does not set the figure. Each reported value is one slice's own
    // measurement, and its calipers are that slice's.
    {
      const auto& pr = sa.profile;
      auto confirmed = [&](auto value, auto apply) {
        double best = 0;
        for (std::size_t i = 0; i < pr.size(); ++i) {
          double nb = -1;
          std::size_t nbi = i;
          for (std::size_t j : {i - 1, i + 1}) {
            if (j >= pr.size() || std::fabs(pr[j].distanceMm - pr[i].distanceMm) > 1.5 * g.sz)
              continue;
            if (value(pr[j]) > nb) nb = value(pr[j]), nbi = j;
          }
          if (nb < 0 && pr.size() > 1) continue;  // no neighbour: unconfirmed
          const std::size_t src = (nb < 0 || value(pr[i]) <= nb) ? i : nbi;
          if (value(pr[src]) > best) best = value(pr[src]), apply(pr[src]);
        }
      };
      confirmed([](const TendonSectionMeasure& m) { return m.thicknessMm; },
                [&](const TendonSectionMeasure& m) {
                  sa.maximum.thicknessMm = m.thicknessMm;
                  sa.maximum.thicknessCaliperLps = m.thicknessCaliperLps;
                });
      confirmed([](const TendonSectionMeasure& m) { return m.widthMm; },
                [&](const TendonSectionMeasure& m) {
                  sa.maximum.widthMm = m.widthMm;
                  sa.maximum.widthCaliperLps = m.widthCaliperLps;
                });
      confirmed([](const TendonSectionMeasure& m) { return m.csaMm2; },
                [&](const TendonSectionMeasure& m) { sa.maximum.csaMm2 = m.csaMm2; });
    }
    // Values at fixed levels: linear between the neighbouring slices.
    for (double level : {0.0, 10.0, 20.0, 30.0}) {
      TendonSectionMeasure m;
      m.distanceMm = level;
      m.zMm = footprintZ - level;
      const auto& pr = sa.profile;
      for (std::size_t i = 0; i + 1 < pr.size(); ++i) {
        if (pr[i].distanceMm <= level && pr[i + 1].distanceMm >= level) {
          const double t =
              (level - pr[i].distanceMm) / std::max(1e-6, pr[i + 1].distanceMm - pr[i].distanceMm);
          m.csaMm2 = pr[i].csaMm2 + t * (pr[i + 1].csaMm2 - pr[i].csaMm2);
          m.thicknessMm = pr[i].thicknessMm + t * (pr[i + 1].thicknessMm - pr[i].thicknessMm);
          m.widthMm = pr[i].widthMm + t * (pr[i + 1].widthMm - pr[i].widthMm);
          break;
        }
      }
      // Calipers of the nearest native slice (the figures above are interpolated).
      const TendonSectionMeasure* nearest = nullptr;
      for (const auto& sec : pr) {
        if (!nearest || std::fabs(sec.distanceMm - level) < std::fabs(nearest->distanceMm - level))
          nearest = &sec;
      }
      if (nearest && m.thicknessMm > 0) {
        m.thicknessCaliperLps = nearest->thicknessCaliperLps;
        m.widthCaliperLps = nearest->widthCaliperLps;
      }
      sa.atLevels.push_back(m);
    }
    // Volume: CSA integrated over 0..volumeLength (trapezoids between slices).
    {
      const auto& pr = sa.profile;
      for (std::size_t i = 0; i + 1 < pr.size(); ++i) {
        const double a = std::max(0.0, pr[i].distanceMm),
                     b = std::min(params.volumeLengthMm, pr[i + 1].distanceMm);
        if (b > a) sa.volumeMm3 += 0.5 * (pr[i].csaMm2 + pr[i + 1].csaMm2) * (b - a);
      }
    }
    // Partial tear extent: largest share of a section's area that is fluid (a proxy of the
    // share of the thickness), and its length along z.
    if (sa.tear.type == "partial") {
      double zMin = 1e9, zMax = -1e9;
      for (const Section& st : Sections(tear, g)) {
        zMin = std::min(zMin, st.cz), zMax = std::max(zMax, st.cz);
        std::size_t envCount = 0;
        for (std::size_t q = 0; q < ss; ++q) envCount += envelope[st.k * ss + q];
        if (envCount)
          sa.tear.extentPercent = std::max(sa.tear.extentPercent, 100.0 * st.count / envCount);
      }
      sa.tear.lengthMm = zMax - zMin + g.sz;
    }
    // Signal ratio (tendon core / muscle) and peritendinous oedema (shell around the envelope).
    double sumF = 0;
    std::size_t cnt = 0;
    const auto shellDisk = DiskOffsets(g, params.oedemaShellMm);
    for (int k = 0; k < g.nz; ++k) {
      const std::size_t off = static_cast<std::size_t>(k) * ss;
      bool any = false;
      for (std::size_t q = 0; q < ss && !any; ++q) any = envelope[off + q] != 0;
      if (!any) continue;
      Mask d(ss), e(ss);
      DilateSlice(envelope.data() + off, d.data(), g, shellDisk);
      ErodeSlice(ts.tendon.data() + off, e.data(), g, nearDisk);
      for (std::size_t q = 0; q < ss; ++q) {
        const std::size_t s = off + q;
        if (ts.tendon[s]) L[s] = kLabelTendon;
        if (e[q]) sumF += F[s], ++cnt;
        if (d[q] && !envelope[s] && !bone[s] && B[s] && F[s] > lv.oedemaThr && F[s] <= lv.tearThr) {
          sa.peritendinousOedemaMm3 += voxelVolume;
        }
      }
    }
    // The tear everywhere, also on the slices of a complete tear's gap (no tendon there).
    for (std::size_t s = 0; s < n; ++s) {
      if (tear[s]) L[s] = kLabelTear;
    }
    if (!cnt) {
      for (std::size_t s = 0; s < n; ++s) {
        if (ts.tendon[s]) sumF += F[s], ++cnt;
      }
    }
    sa.signalRatio = cnt ? sumF / cnt / muscleF : 0;
  }
  GradeSide(result.left, &result.right, params.grade);
  GradeSide(result.right, &result.left, params.grade);
  return result;
}

}  // namespace ischia
