// Stage 3: the ischial tuberosities. Bone is fatty marrow (bright on T1) ringed by cortex (dark
// on T1 and on fat-sat); the ischium of a side is the marrow group whose lowest point is the
// lowest of that side and ends inside the field of view (the femur leaves it caudally).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "hamstring_internal.h"

namespace ischia {
namespace {
using namespace hamstring;

MaskImage::Pointer MakeMask(const FloatImage& like, const Mask& m) {
  MaskImage::Pointer out = MaskImage::New();
  out->CopyInformation(&like);
  out->SetRegions(like.GetLargestPossibleRegion());
  out->Allocate();
  std::copy(m.begin(), m.end(), out->GetBufferPointer());
  return out;
}

// Per component l of a slice labelling (1..n) for which use(l) holds: the number of its
// boundary pixels, and of those how many see within `ring` a pixel t outside the component
// with bit 0 (hits0) or bit 1 (hits1) of flags(t) set.
template <class Use, class Flags>
void RimCounts(const std::vector<int>& lab, int n, const Grid& g,
               const std::vector<std::array<int, 2>>& ring, Use use, Flags flags,
               std::vector<double>& edge, std::vector<double>& hits0,
               std::vector<double>& hits1) {
  edge.assign(n + 1, 0), hits0.assign(n + 1, 0), hits1.assign(n + 1, 0);
  std::vector<char> used(n + 1, 0);
  for (int l = 1; l <= n; ++l) used[l] = use(l);
  for (int j = 0; j < g.ny; ++j) {
    for (int i = 0; i < g.nx; ++i) {
      const int l = lab[static_cast<std::size_t>(j) * g.nx + i];
      if (!l || !used[l]) continue;
      bool boundary = false;
      for (int d = 0; d < 4 && !boundary; ++d) {
        const int a = i + (d == 0) - (d == 1), b = j + (d == 2) - (d == 3);
        boundary = a < 0 || b < 0 || a >= g.nx || b >= g.ny ||
                   lab[static_cast<std::size_t>(b) * g.nx + a] != l;
      }
      if (!boundary) continue;
      edge[l] += 1;
      unsigned seen = 0;
      for (const auto& o : ring) {
        const int a = i + o[0], b = j + o[1];
        if (a < 0 || b < 0 || a >= g.nx || b >= g.ny) continue;
        const std::size_t t = static_cast<std::size_t>(b) * g.nx + a;
        if (lab[t] != l) seen |= flags(t);
        if (seen == 3) break;
      }
      hits0[l] += seen & 1, hits1[l] += (seen >> 1) & 1;
    }
  }
}

}  // namespace

TuberosityResult FindIschialTuberosities(const HamstringAnalysisInput& input,
                                         const HamstringAnalysisParameters& params) {
  if (!input.fluid || !input.body) {
    throw std::invalid_argument(
        "FindIschialTuberosities: the fluid-sensitive image and the body mask are required");
  }
  const Grid g = MakeGrid(*input.fluid);
  const std::size_t n = g.Size(), ss = g.SliceSize();
  if (input.body->GetLargestPossibleRegion().GetNumberOfPixels() != n ||
      (input.t1 && input.t1->GetLargestPossibleRegion().GetNumberOfPixels() != n)) {
    throw std::invalid_argument("FindIschialTuberosities: images are not in one grid");
  }
  const float* F = input.fluid->GetBufferPointer();
  const std::uint8_t* B = input.body->GetBufferPointer();
  TuberosityResult r;

  // Body midline and width (per slice, median over slices): the symmetry plane and the scale.
  std::vector<double> mids, widths;
  for (int k = 0; k < g.nz; ++k) {
    double sx = 0, minX = 1e9, maxX = -1e9;
    std::size_t c = 0;
    for (int j = 0; j < g.ny; j += 2) {
      for (int i = 0; i < g.nx; i += 2) {
        if (!B[g.Index(i, j, k)]) continue;
        const double x = g.Point(i, j, k)[0];
        sx += x, ++c;
        minX = std::min(minX, x), maxX = std::max(maxX, x);
      }
    }
    if (c > 100) mids.push_back(sx / c), widths.push_back(maxX - minX);
  }
  if (mids.empty()) {
    r.left.reason = r.right.reason = "empty body mask";
    return r;
  }
  std::nth_element(mids.begin(), mids.begin() + mids.size() / 2, mids.end());
  std::nth_element(widths.begin(), widths.begin() + widths.size() / 2, widths.end());
  r.midlineXmm = mids[mids.size() / 2];
  r.bodyScale = std::clamp(widths[widths.size() / 2] / 340.0, 0.75, 1.3);
  const double scale = r.bodyScale;

  if (!input.t1) {
    r.left.reason = r.right.reason =
        "no axial T1: fatty marrow cannot be told from suppressed fat on the fluid-sensitive "
        "image alone";
    return r;
  }
  const float* T = input.t1->GetBufferPointer();
  const std::uint8_t* V = input.t1FieldOfView ? input.t1FieldOfView->GetBufferPointer() : nullptr;
  Mask bodyT1(n);
  for (std::size_t s = 0; s < n; ++s) bodyT1[s] = B[s] && (!V || V[s]);
  r.fatT1Level = Percentile(T, bodyT1.data(), n, 0.90);
  if (r.fatT1Level < 1.3) {
    r.left.reason = r.right.reason = "no usable fat/muscle contrast on the T1 image";
    return r;
  }
  const double marrowThr = 1.0 + params.marrowT1Fraction * (r.fatT1Level - 1.0);
  // Marrow oedema: brighter than muscle on fat-sat, not dark on T1 (fluid level measured).
  r.fluidLevel = std::max(2.0, Percentile(F, B, n, 0.999));
  const double oedemaThr = 1.0 + params.oedemaFraction * (r.fluidLevel - 1.0);
  const double cortexT1 = 0.5 * (1.0 + params.darkLevel);
  const double fluidThr = 1.0 + params.fluidFraction * (r.fluidLevel - 1.0);

  // Marrow candidates per slice: T1-bright regions whose surrounding ring is mostly dark
  // (cortex) and inside the body (subcutaneous fat borders air and skin, not cortex).
  Mask marrow(n, 0), pieces(n, 0);
  const auto ring = DiskOffsets(g, params.cortexThicknessMm + std::max(g.sx, g.sy));
  const auto bridgeDisk = DiskOffsets(g, params.minMarrowWidthMm / 2);
  const double pixelArea = g.sx * g.sy;
  // Every marrow-bright region per slice, ringed by cortex or not: towards the tip the slice
  // cuts the curved cortex obliquely and partial volume turns the ring grey, so there the
  // bone is followed from the section above instead (see BrightTowardsTip).
  std::vector<std::vector<int>> blab(g.nz);
  std::vector<int> nbright(g.nz, 0);
  ForEachSlice(g.nz, [&](int k) {
    const std::size_t off = static_cast<std::size_t>(k) * ss;
    Mask cand(ss);
    for (std::size_t s = 0; s < ss; ++s) {
      cand[s] = bodyT1[off + s] &&
                (T[off + s] > marrowThr || (F[off + s] > oedemaThr && T[off + s] > cortexT1));
    }
    std::vector<int>& lab = blab[k];
    const int nc = LabelSlice(cand.data(), g.nx, g.ny, lab);
    nbright[k] = nc;
    if (nc == 0) return;
    std::vector<std::vector<int>> pix(nc + 1);
    for (std::size_t s = 0; s < ss; ++s) {
      if (lab[s]) pix[lab[s]].push_back(static_cast<int>(s));
    }
    // Every boundary pixel of marrow sees cortex (darker than muscle on T1) just outside, and
    // the body (subcutaneous fat borders air).
    auto sizeOk = [&](int c) {
      const double area = pix[c].size() * pixelArea;
      return area >= 12.0 * scale * scale && area <= 6000.0 * scale * scale;
    };
    std::vector<double> edge, edgeDark, edgeOut;
    RimCounts(lab, nc, g, ring, sizeOk,
              [&](std::size_t t) {
                if (!bodyT1[off + t]) return 2u;
                return T[off + t] < cortexT1 ? 1u : 0u;
              },
              edge, edgeDark, edgeOut);
    auto ringed = [&](const std::vector<double>& e, const std::vector<double>& d,
                      const std::vector<double>& o, int c) {
      return e[c] > 0 && o[c] <= 0.05 * e[c] && d[c] >= 0.6 * e[c];
    };
    Mask joined(ss, 0);
    bool anyJoined = false;
    for (int c = 1; c <= nc; ++c) {
      if (sizeOk(c) && ringed(edge, edgeDark, edgeOut, c)) {
        for (int p : pix[c]) marrow[off + p] = 1;
      } else if (pix[c].size() * pixelArea >= 12.0 * scale * scale) {
        for (int p : pix[c]) joined[p] = 1;
        anyJoined = true;
      }
    }
    // Where the slice cuts a thin cortex obliquely (towards the tuberosity's rounded end) a
    // bridge a pixel or two wide can join the marrow to the fat around the bone: the joined
    // region has no cortical ring. An opening (`minMarrowWidthMm` across, the narrowest
    // marrow) cuts such bridges, and each piece is tested as any region.
    if (!anyJoined) return;
    Mask opened(ss);
    OpenSlice(joined.data(), opened.data(), g, bridgeDisk);
    std::vector<int> plab;
    const int np = LabelSlice(opened.data(), g.nx, g.ny, plab);
    std::vector<std::size_t> pcount(np + 1, 0);
    for (std::size_t q = 0; q < ss; ++q) pcount[plab[q]] += plab[q] ? 1 : 0;
    auto pieceSizeOk = [&](int c) {
      const double area = pcount[c] * pixelArea;
      return area >= 12.0 * scale * scale && area <= 6000.0 * scale * scale;
    };
    RimCounts(plab, np, g, ring, pieceSizeOk,
              [&](std::size_t t) {
                if (!bodyT1[off + t]) return 2u;
                return T[off + t] < cortexT1 ? 1u : 0u;
              },
              edge, edgeDark, edgeOut);
    for (std::size_t q = 0; q < ss; ++q) {
      const int c = plab[q];
      if (c && pieceSizeOk(c) && ringed(edge, edgeDark, edgeOut, c)) pieces[off + q] = 1;
    }
  });
  // A piece cut from a joined region is bone only where it continues, slice by slice, the
  // marrow ringed by cortex (within the 4 mm the bone's sections shift between slices): a
  // ringed-looking piece of fat between muscles, or of fat next to the tip, does not (10519
  // left: 19.9 mm off when every piece was taken). Pieces are added in a sweep upwards and one
  // downwards, each against the marrow of the slice before it.
  // How far a bone's section moves between neighbouring slices (scaled).
  const auto link = DiskOffsets(g, 4.0 * scale);
  {
    std::vector<std::vector<int>> plabs(g.nz);
    std::vector<int> npieces(g.nz, 0);
    ForEachSlice(g.nz, [&](int k) {
      npieces[k] = LabelSlice(pieces.data() + static_cast<std::size_t>(k) * ss, g.nx, g.ny, plabs[k]);
    });
    auto sweep = [&](int k0, int k1, int dk) {
      for (int k = k0 + dk; k != k1; k += dk) {
        if (npieces[k] == 0) continue;
        const std::size_t off = static_cast<std::size_t>(k) * ss;
        const std::size_t offPrev = static_cast<std::size_t>(k - dk) * ss;
        const std::vector<int>& lab = plabs[k];
        std::vector<std::uint8_t> ok(npieces[k] + 1, 0);
        Mask prevNear(ss);
        DilateSlice(marrow.data() + offPrev, prevNear.data(), g, link);
        for (std::size_t q = 0; q < ss; ++q) {
          if (lab[q] && prevNear[q]) ok[lab[q]] = 1;
        }
        for (std::size_t q = 0; q < ss; ++q) {
          if (lab[q] && ok[lab[q]]) marrow[off + q] = 1;
        }
      }
    };
    sweep(0, g.nz, 1);
    sweep(g.nz - 1, -1, -1);
  }

  // The lowest point of each bone: a marrow section with no marrow just below it (within a
  // few mm in-plane) that continues upwards. The femur enters through the inferior edge of the
  // field of view, so it has no such start; the ischium's start is its tuberosity tip.
  const int up = g.SuperiorStep();
  std::vector<std::vector<int>> slab(g.nz);
  std::vector<int> nlab(g.nz);
  ForEachSlice(g.nz, [&](int k) {
    nlab[k] = LabelSlice(marrow.data() + static_cast<std::size_t>(k) * ss, g.nx, g.ny, slab[k]);
  });
  // Dilated marrow per slice (for overlap tests with the neighbouring slices).
  Mask near(n, 0);
  ForEachSlice(g.nz, [&](int k) {
    DilateSlice(marrow.data() + static_cast<std::size_t>(k) * ss,
                near.data() + static_cast<std::size_t>(k) * ss, g, link);
  });
  // The bulb of a section: where the ischiopubic ramus still joins the tuberosity there (a
  // bar running anteromedially), the section's centre lies between the two, and the bone
  // followed below it runs down the ramus. The opening by a disk wider than the ramus removes
  // the ramus; its pieces are the section's bulbs, the largest the bulb (see Bulb).
  const auto bulbDisk = DiskOffsets(g, 5.0 * scale);
  constexpr double kRamusBarMm2 = 100.0;  // the least piece of ramus the opening removes
  auto BulbPieces = [&](const Mask& sec, std::vector<int>& lab) {
    Mask opened(ss);
    OpenSlice(sec.data(), opened.data(), g, bulbDisk);
    for (std::size_t q = 0; q < ss; ++q) opened[q] = opened[q] && sec[q];
    return LabelSlice(opened.data(), g.nx, g.ny, lab);
  };
  // The pieces of the section `sec` on slice k that the opening of BulbPieces removed, given
  // its bulbs `bl`: per piece its pixel count and the sum of its pixels' y (mm).
  struct RemovedPiece {
    double count = 0, sumY = 0;
  };
  auto RemovedPieces = [&](const Mask& sec, const std::vector<int>& bl, int k) {
    Mask removed(ss);
    for (std::size_t q = 0; q < ss; ++q) removed[q] = sec[q] && !bl[q];
    std::vector<int> lab;
    const int n = LabelSlice(removed.data(), g.nx, g.ny, lab);
    std::vector<RemovedPiece> pieces(n);
    for (std::size_t q = 0; q < ss; ++q) {
      if (!lab[q]) continue;
      RemovedPiece& p = pieces[lab[q] - 1];
      p.count += 1;
      p.sumY += g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k)[1];
    }
    return pieces;
  };
  // The largest of the bulbs `bl` (nb of them, see BulbPieces); empty when there is none.
  auto LargestBulb = [&](const std::vector<int>& bl, int nb) {
    std::vector<double> cnt(nb + 1, 0);
    for (std::size_t q = 0; q < ss; ++q) cnt[bl[q]] += bl[q] != 0;
    const int big =
        nb ? static_cast<int>(std::max_element(cnt.begin() + 1, cnt.end()) - cnt.begin()) : 0;
    Mask out(ss);
    for (std::size_t q = 0; q < ss; ++q) out[q] = big && bl[q] == big;
    return out;
  };
  // The largest bulb of a lowest section; empty when nothing survives (a small end).
  auto Bulb = [&](const Mask& sec) {
    std::vector<int> bl;
    const int nb = BulbPieces(sec, bl);
    return LargestBulb(bl, nb);
  };
  // The in-plane centre (x, y) of the region `m` on slice k; false when it is empty.
  auto Centre = [&](const Mask& m, int k, double& x, double& y) {
    double sx = 0, sy = 0, cnt = 0;
    for (std::size_t q = 0; q < ss; ++q) {
      if (!m[q]) continue;
      const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k);
      sx += p[0], sy += p[1], cnt += 1;
    }
    if (cnt > 0) x = sx / cnt, y = sy / cnt;
    return cnt > 0;
  };
  // The in-plane centre (x, y) of the bulb of the section `sec` on slice k; false when the
  // bulb is empty.
  auto BulbCentre = [&](const Mask& sec, int k, double& x, double& y) {
    return Centre(Bulb(sec), k, x, y);
  };
  // The bulb of the section `sec` on slice k where the ischiopubic ramus still joins it: the
  // opening that leaves the bulb removed a piece of the ramus's size (a bar, not the rim of a
  // slim section shaved off; see BrightTowardsTip) in front of the bulb (the ramus runs forward
  // from the tuberosity). None where no ramus joins it.
  auto BulbBesideRamus = [&](const Mask& sec, int k) -> std::optional<Mask> {
    std::vector<int> bl;
    const int nb = BulbPieces(sec, bl);
    Mask bulb = LargestBulb(bl, nb);
    double bulbX = 0, bulbY = 0;
    if (!Centre(bulb, k, bulbX, bulbY)) return std::nullopt;
    const double minBar = kRamusBarMm2 * scale * scale;
    for (const auto& piece : RemovedPieces(sec, bl, k))
      if (piece.count * pixelArea >= minBar && piece.sumY < bulbY * piece.count) return bulb;
    return std::nullopt;
  };
  // The marrow of the slice below (kb) that continues the bone section `cur` towards its tip.
  // There the slice cuts the curved cortex obliquely: the cortex turns grey and the marrow may
  // touch fat outside it. So the bright pixels within the section's footprint are taken where
  // a grey or dark rim (not fat) surrounds most of their boundary.
  // `greySpot` tells whether the result holds the bone's end grazed by the slice (see below).
  // With `cortexRim`, a region's rim must also be dark on fat-sat over most of its boundary:
  // cortex, in partial volume with fatty marrow, is dark on both images, while the muscle
  // around a pocket of fat is not; and a grey spot is not taken (below a section that large
  // the bone's end is not a graze, so the spot is fat, tendon or muscle in partial volume).
  auto BrightTowardsTip = [&](int kb, const Mask& cur, bool& greySpot, bool cortexRim) {
    Mask out(ss, 0), in(ss);
    const std::size_t off = static_cast<std::size_t>(kb) * ss;
    const std::vector<int>& lab = blab[kb];
    for (std::size_t q = 0; q < ss; ++q) in[q] = lab[q] && cur[q];
    // Where the slice only grazes the tip, the bone is a grey spot (cortex and marrow in
    // partial volume with the fat around them) that the fat around the tip encloses: a bright
    // ring with a grey hole. A hole of a real size, a tenth of its ring or more, is the bone's
    // end and the ring around it is fat, not marrow.
    Mask spot(ss, 0);
    {
      Mask hole = in;
      FillHolesSlice(hole.data(), g.nx, g.ny);
      for (std::size_t q = 0; q < ss; ++q)
        hole[q] = hole[q] && !in[q] && T[off + q] >= cortexT1 && F[off + q] <= fluidThr;
      std::vector<int> hl, il;
      const int nh = LabelSlice(hole.data(), g.nx, g.ny, hl);
      const int ni = LabelSlice(in.data(), g.nx, g.ny, il);
      std::vector<double> holeCnt(nh + 1, 0), ringCnt(ni + 1, 0);
      std::vector<int> ringOf(nh + 1, 0);
      for (std::size_t q = 0; q < ss; ++q) {
        if (il[q]) ringCnt[il[q]] += 1;
        const int h = hl[q];
        if (!h) continue;
        holeCnt[h] += 1;
        const int i = static_cast<int>(q % g.nx);
        for (const std::size_t t : {q - 1, q + 1, q - g.nx, q + g.nx})
          if (t < ss && std::abs(static_cast<int>(t % g.nx) - i) <= 1 && il[t]) ringOf[h] = il[t];
      }
      std::vector<char> isRing(ni + 1, 0);
      for (std::size_t q = 0; q < ss; ++q) {
        const int h = hl[q];
        if (h && ringOf[h] && holeCnt[h] * pixelArea >= 12.0 * scale * scale &&
            holeCnt[h] >= 0.1 * ringCnt[ringOf[h]])
          spot[q] = 1, isRing[ringOf[h]] = 1;
      }
      for (std::size_t q = 0; q < ss; ++q)
        if (il[q] && isRing[il[q]]) in[q] = 0;
    }
    std::vector<int> rl, cl;
    const int nr = LabelSlice(in.data(), g.nx, g.ny, rl);
    std::vector<double> edge, rim, darkRim;
    RimCounts(rl, nr, g, ring, [](int) { return true; },
              [&](std::size_t t) {
                if (!bodyT1[off + t] || lab[t]) return 0u;
                return F[off + t] < cortexT1 ? 3u : 1u;  // dark on fat-sat too (muscle = 1)
              },
              edge, rim, darkRim);
    // Not a speck: at least the marrow minimum and a fifth of the section above it (of the
    // part of `cur` it lies under, when `cur` holds several). Where the ischiopubic ramus
    // still joins that part, the tuberosity's last section is small beside the two: there a
    // fifth of the bulb it lies under is enough (see BulbPieces).
    const int ncl = LabelSlice(cur.data(), g.nx, g.ny, cl);
    std::vector<double> cnt(nr + 1, 0), curCnt(ncl + 1, 0), above(nr + 1, 0);
    std::vector<int> under(nr + 1, 0);
    std::vector<std::map<int, double>> share(nr + 1);
    for (std::size_t q = 0; q < ss; ++q) {
      if (rl[q]) cnt[rl[q]] += 1;
      if (cl[q]) curCnt[cl[q]] += 1;
      if (rl[q] && cl[q]) share[rl[q]][cl[q]] += 1;
    }
    for (int l = 1; l <= nr; ++l) {
      double most = 0;
      for (const auto& [c, v] : share[l])
        if (v > most) most = v, above[l] = curCnt[c], under[l] = c;
    }
    const double minArea = 12.0 * scale * scale;
    // The bulbs of each part of `cur`, opened once however many regions lie under it.
    std::vector<std::vector<int>> bulbLab(ncl + 1);
    std::vector<int> nBulbs(ncl + 1, -1);
    std::vector<double> barCnt(ncl + 1, 0);  // per part, the largest piece the opening removed
    for (int l = 1; l <= nr; ++l) {
      if (cnt[l] * pixelArea < minArea || rim[l] < 0.6 * edge[l] || cnt[l] >= 0.2 * above[l])
        continue;
      const int c = under[l];
      if (nBulbs[c] < 0) {
        Mask part(ss);
        for (std::size_t q = 0; q < ss; ++q) part[q] = cl[q] == c;
        nBulbs[c] = BulbPieces(part, bulbLab[c]);
        for (const auto& piece : RemovedPieces(part, bulbLab[c], kb))
          barCnt[c] = std::max(barCnt[c], piece.count);
      }
      const std::vector<int>& bl = bulbLab[c];
      const int nb = nBulbs[c];
      std::vector<double> bulbCnt(nb + 1, 0), bulbShare(nb + 1, 0);
      for (std::size_t q = 0; q < ss; ++q) {
        if (!bl[q]) continue;
        bulbCnt[bl[q]] += 1;
        bulbShare[bl[q]] += rl[q] == l;
      }
      int b = 0;
      for (int t = 1; t <= nb; ++t)
        if (!b || bulbShare[t] > bulbShare[b]) b = t;
      // The ramus: the opening removed at least half of the part, or one piece of it a bar of
      // the ramus's size (100 mm2 scaled: as wide as the 10 mm disk and as long), not just the
      // part's rim (the ends of a slim section shaved off). A ramus joined to a large bulb is
      // a small share of the part yet more than the rim (10706 right: 15.7 mm off, the
      // tuberosity's last section, 180 mm2, refused as under a fifth of bulb and ramus, 920,
      // with a bar of 230; docs/accuracy.md has the replay of other bar sizes).
      const bool ramus = bulbCnt[b] <= 0.5 * above[l] ||
                         barCnt[c] * pixelArea >= kRamusBarMm2 * scale * scale;
      if (b && bulbShare[b] >= 0.5 * cnt[l] && ramus) above[l] = bulbCnt[b];
    }
    for (std::size_t q = 0; q < ss; ++q) {
      const int l = rl[q];
      if (l && cnt[l] * pixelArea >= minArea && cnt[l] >= 0.2 * above[l] &&
          rim[l] >= 0.6 * edge[l] && (!cortexRim || darkRim[l] >= 0.8 * edge[l]))
        out[q] = 1;
    }
    greySpot = !cortexRim && std::find(spot.begin(), spot.end(), 1) != spot.end();
    if (greySpot)
      for (std::size_t q = 0; q < ss; ++q) out[q] |= spot[q];
    return out;
  };
  // Going up from a section found that way: the bright regions of slice k that cover most of
  // the section below and do not balloon.
  auto BrightUpwards = [&](int k, const Mask& below) {
    Mask out(ss, 0);
    const std::vector<int>& lab = blab[k];
    std::vector<double> cnt(nbright[k] + 1, 0), over(nbright[k] + 1, 0);
    double belowCnt = 0;
    for (std::size_t q = 0; q < ss; ++q) {
      belowCnt += below[q];
      if (!lab[q]) continue;
      cnt[lab[q]] += 1;
      over[lab[q]] += below[q];
    }
    for (std::size_t q = 0; q < ss; ++q) {
      const int l = lab[q];
      if (l && cnt[l] * pixelArea >= 4.0 && over[l] >= 0.5 * std::min(cnt[l], belowCnt) &&
          cnt[l] * pixelArea <= 2.5 * belowCnt * pixelArea + 100.0 * scale * scale)
        out[q] = 1;
    }
    return out;
  };
  // The component of `m` that overlaps `ref` most (ties: the larger).
  auto BestOverlap = [&](const Mask& m, const Mask& ref) {
    std::vector<int> lab;
    const int nl = LabelSlice(m.data(), g.nx, g.ny, lab);
    std::vector<double> ov(nl + 1, 0);
    for (std::size_t q = 0; q < ss; ++q)
      if (lab[q]) ov[lab[q]] += ref[q] ? 1.0 : 1e-3;
    int best = 0;
    for (int l = 1; l <= nl; ++l)
      if (!best || ov[l] > ov[best]) best = l;
    Mask out(ss, 0);
    for (std::size_t q = 0; q < ss; ++q) out[q] = best && lab[q] == best;
    return out;
  };
  struct Start {
    int k = -1;
    std::size_t key = 0;  // first pixel of the section (identifies it on slice k)
    Mask sec;             // the lowest section followed
    double x = 0, y = 0, z = 0, area = 0;
    bool aimed = false;   // the tip's in-plane position is (aimX, aimY), not the section's
    double aimX = 0, aimY = 0;
  };
  // Mid-ischium sections: large fatty-marrow sections ringed by cortex (the marrow test above),
  // lateral to the midline within the anatomical range. Each is followed caudally (sections
  // overlapping the one above, dilated; one missing slice tolerated: oedema, partial volume) to
  // its lowest extent. Chains that leave the field of view caudally are the femur (or cut
  // bone) and are rejected; what remains ends at a bone end inside the image: the tuberosity
  // tip. Of these, the pair chosen is posterior and at similar heights left and right.
  struct Sec {
    double x = 0, y = 0, z = 0, area = 0;
  };
  std::vector<std::vector<Sec>> secs(g.nz);
  for (int k = 0; k < g.nz; ++k) {
    secs[k].assign(nlab[k] + 1, Sec{});
    for (std::size_t q = 0; q < ss; ++q) {
      const int c = slab[k][q];
      if (!c) continue;
      const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k);
      Sec& s = secs[k][c];
      s.x += p[0], s.y += p[1], s.z += p[2], s.area += pixelArea;
    }
    for (int c = 1; c <= nlab[k]; ++c) {
      const double cnt = secs[k][c].area / pixelArea;
      secs[k][c].x /= cnt, secs[k][c].y /= cnt, secs[k][c].z /= cnt;
    }
  }
  // Body centre (y) per slice: "posterior" is relative to it.
  std::vector<double> bodyY(g.nz, 0);
  for (int k = 0; k < g.nz; ++k) {
    double sy = 0, c = 0;
    for (int j = 0; j < g.ny; j += 2)
      for (int i = 0; i < g.nx; i += 2)
        if (B[g.Index(i, j, k)]) sy += g.Point(i, j, k)[1], c += 1;
    bodyY[k] = c > 0 ? sy / c : 0;
  }
  auto inFov = [&](int k, const Mask& m) {  // most of the section's footprint imaged on T1
    if (k < 0 || k >= g.nz) return false;
    std::size_t a = 0, b = 0;
    const std::size_t off = static_cast<std::size_t>(k) * ss;
    for (std::size_t q = 0; q < ss; ++q) {
      if (!m[q]) continue;
      ++a;
      b += B[off + q] && (!V || V[off + q]);
    }
    return a > 0 && b >= 0.8 * a;
  };
  // Towards the tip, partial volume and marrow oedema make the marrow grey on T1 (neither fat
  // nor fluid bright) while the cortex still rings it: below a section, regions that are not
  // dark, lie under it, are no larger and are ringed by dark cortex continue the bone.
  // That grey end spans a few mm (about 5), not slice after slice: a column of grey pixels
  // hugging a dark tendon or vessel below the tip is ringed by dark too (10308 right: five
  // slices, 18.5 mm below the tip). So one slice at the usual 3-6 mm, more when thinner.
  const int maxGreySteps = std::max(1, static_cast<int>(5.0 / g.sz));
  const auto pixelDisk = DiskOffsets(g, 1.01 * std::max(g.sx, g.sy));  // one pixel around
  // Voxel s imaged on T1 is neither dark nor fluid (marrow, bright or grey; fat; muscle), or
  // is dark cortex: dark on every sequence (fluid, a tear gap, is dark only on T1).
  auto NotDark = [&](std::size_t s) {
    return bodyT1[s] && T[s] >= cortexT1 && F[s] <= fluidThr;
  };
  auto Cortex = [&](std::size_t s) {
    return bodyT1[s] && T[s] < cortexT1 && F[s] < oedemaThr;
  };
  // The pixels of slice kb under `above` (within a pixel) that are neither dark nor fluid.
  auto NotDarkUnder = [&](int kb, const Mask& above) {
    const std::size_t offB = static_cast<std::size_t>(kb) * ss;
    Mask foot(ss), cand(ss);
    DilateSlice(above.data(), foot.data(), g, pixelDisk);
    for (std::size_t q = 0; q < ss; ++q) cand[q] = foot[q] && NotDark(offB + q);
    return cand;
  };
  // The grey end under `above` on slice kb: the regions there that are not dark, lie under it
  // (within a pixel), are no larger and are ringed by dark cortex (60% of their rim or more),
  // and are not specks: a region under a tenth of the section above is fat or a vessel caught
  // in the cortex at the section's edge, not its end (11718 left: a 10 mm2 speck under a
  // 365 mm2 section put the tip 14 mm off; the specks under sections ten times their size lie
  // 5-15 mm from the tip on 272 replayed sides).
  constexpr double kSpeckShare = 0.1;
  auto RingedUnder = [&](int kb, const Mask& above) {
    const std::size_t offB = static_cast<std::size_t>(kb) * ss;
    const Mask cand = NotDarkUnder(kb, above);
    const double aboveCnt = static_cast<double>(std::count(above.begin(), above.end(), 1));
    std::vector<int> hl;
    const int nh = LabelSlice(cand.data(), g.nx, g.ny, hl);
    std::vector<double> cnt(nh + 1, 0), edge, edgeDark, unused;
    for (std::size_t q = 0; q < ss; ++q) cnt[hl[q]] += hl[q] ? 1 : 0;
    RimCounts(hl, nh, g, ring, [](int) { return true; },
              [&](std::size_t t) { return Cortex(offB + t) ? 1u : 0u; }, edge, edgeDark, unused);
    Mask sec(ss, 0);
    for (std::size_t q = 0; q < ss; ++q) {
      const int h = hl[q];
      sec[q] = h && cnt[h] * pixelArea >= 4.0 && edgeDark[h] >= 0.6 * edge[h] &&
               cnt[h] <= 1.2 * aboveCnt && cnt[h] >= kSpeckShare * aboveCnt;
    }
    return sec;
  };
  // The area of a bone's end of a real size (mm2, scaled); a section under it is a speck.
  const double minEndArea = 50.0 * scale * scale;
  // The grey end below the section `start` on slice k, slice by slice. Under a speck there is
  // none: a section that small is the bone's end grazed by its slice, and what is ringed by
  // dark below it is the tendon or a vessel beside the end, not more bone (12129 right: grey
  // pixels hugging the tendon under a 14 mm2 last section put the tip 10.0 mm off, 5.9 now;
  // 10802 right 5.5 -> 0.9 mm. Replayed on 512 sides, 2 others moved, both closer: 12011 left
  // 6.2 -> 2.7, 11604 left 3.1 -> 0.8).
  auto greyExtension = [&](int k, const Mask& start) {
    std::vector<std::pair<int, Mask>> out;
    Mask above = start;
    for (int step = 1; step <= maxGreySteps; ++step) {
      const int kb = g.Inferior(k, step);
      if (kb < 0 || kb >= g.nz) break;
      if (std::count(above.begin(), above.end(), 1) * pixelArea < minEndArea) break;
      Mask sec = RingedUnder(kb, above);
      if (std::find(sec.begin(), sec.end(), 1) == sec.end()) break;
      out.emplace_back(kb, sec);
      above.swap(sec);
    }
    return out;
  };
  // The whole of a bone's section whose marrow was found only in part: towards the tip the
  // marrow of part of the section turns grey on T1 (marrow oedema, or partial volume with the
  // cortex the slice cuts obliquely), and its broken ring of dark cortex fails the marrow test.
  // The section `sec` on slice kb takes the pixels that are neither dark nor fluid, lie under
  // `above` (the bone's section on the slice above: a bone narrowing to its end lies within it),
  // touch `sec`, and are enclosed by dark cortex (gaps of up to two pixels closed): fat or muscle
  // beside the bone is not enclosed.
  const auto closeDisk = DiskOffsets(g, 2.01 * std::max(g.sx, g.sy));
  auto WholeSection = [&](int kb, const Mask& above, const Mask& sec) {
    const std::size_t offB = static_cast<std::size_t>(kb) * ss;
    Mask cand(ss), dark(ss), enclosed(ss), whole = sec;
    for (std::size_t q = 0; q < ss; ++q) {
      cand[q] = above[q] && NotDark(offB + q);
      dark[q] = Cortex(offB + q);
    }
    DilateSlice(dark.data(), enclosed.data(), g, closeDisk);
    for (std::size_t q = 0; q < ss; ++q) enclosed[q] = enclosed[q] || sec[q];
    FillHolesSlice(enclosed.data(), g.nx, g.ny);
    std::vector<int> cl;
    const int nc = LabelSlice(cand.data(), g.nx, g.ny, cl);
    std::vector<char> touches(nc + 1, 0);
    for (std::size_t q = 0; q < ss; ++q)
      if (cl[q] && sec[q]) touches[cl[q]] = 1;
    for (std::size_t q = 0; q < ss; ++q)
      if (cl[q] && touches[cl[q]] && enclosed[q]) whole[q] = 1;
    return whole;
  };
  // The end of the bone on slice kc, whose last section there is `sec`, under the section
  // `above`: the region of pixels neither dark nor fluid under `above` (within a pixel) that
  // holds most of `sec`. Bright marrow, grey marrow and the fat between the marrow and the
  // cortex are all in it; the dark cortex or tendon around it, and fluid, are not.
  // Where the ischiopubic ramus still joins the section above (see BulbBesideRamus), the end lies
  // under its bulb (see Bulb), not under the ramus: the muscle under the ramus joined the
  // region and drew its centre forward (12228 left: 12.3 mm off, 2.1 now). Replayed on 572
  // sides: 13 moved by over 0.5 mm; 3 closer by over 1 mm (12228 left, 11812 left 8.1 -> 1.5,
  // 12225 left 4.9 -> 2.0), 6 further (the most 11802 left 1.2 -> 5.1); the largest error
  // 12.3 -> 8.0. Taken under the bulb of every section above, whether a ramus joins it or not,
  // 62 moved and 10028 left went 2.8 -> 5.6 mm (the opening shaved the back of a small section).
  auto EndRegion = [&](int kc, int kAbove, const Mask& above, const Mask& sec) {
    const std::optional<Mask> bulb = BulbBesideRamus(above, kAbove);
    const Mask cand = NotDarkUnder(kc, bulb ? *bulb : above);
    std::vector<int> cl;
    const int nc = LabelSlice(cand.data(), g.nx, g.ny, cl);
    std::vector<double> held(nc + 1, 0);
    for (std::size_t q = 0; q < ss; ++q) held[cl[q]] += cl[q] && sec[q];
    const int best =
        nc ? static_cast<int>(std::max_element(held.begin() + 1, held.end()) - held.begin()) : 0;
    Mask out(ss);
    for (std::size_t q = 0; q < ss; ++q) out[q] = best && held[best] > 0 && cl[q] == best;
    return out;
  };
  // The largest end region (mm2, scaled) the tip is aimed at (see the chain's end).
  const double maxEndRegion = 500.0 * scale * scale;
  // The share of the part found that the grey part lost must reach (see the chain's end).
  constexpr double kLostShare = 1.0 / 3.0;
  struct Chain {
    int k0 = -1, c0 = 0;         // the mid-ischium section
    int kLow = -1;               // its lowest extent
    Mask lowSec;
    double topArea = 0, lowY = 0, lowX = 0, lowZ = 0, lowArea = 0, posterior = 0;
    int length = 0;
    bool aimed = false;  // aimX, aimY: where the tip is aimed (see the chain's end)
    double aimX = 0, aimY = 0;
  };
  std::vector<Chain> chains;
  // The walk from a section depends only on its state: the slice, the current section and the
  // two above it, the previous slice, the run of relaxed steps, the grey spot and the side.
  // Chains from the sections of a tall ischium merge into one path down to the tip, so a chain
  // that reaches a state already walked takes that walk's ends (with its lengths shifted)
  // instead of walking it again: most of the steps (74% on the benchmark study) are repeats.
  using WalkKey = std::vector<std::uint32_t>;
  struct WalkTail {
    bool exits = false;
    std::vector<std::pair<std::size_t, int>> ends;  // index in `chains`, length past the state
  };
  std::map<WalkKey, WalkTail> walked;
  // A section under 1/kEndTaper of the one above it ends within its own slice (see the walk).
  constexpr double kEndTaper = 2.5;
  const auto stripDisk = DiskOffsets(g, params.minMarrowWidthMm / 2);
  const double minMidArea = 150.0 * scale * scale, maxMidArea = 3000.0 * scale * scale;
  for (int k = 0; k < g.nz; ++k) {
    for (int c = 1; c <= nlab[k]; ++c) {
      const Sec& s = secs[k][c];
      if (s.area < minMidArea || s.area > maxMidArea) continue;
      const double lateral = std::fabs(s.x - r.midlineXmm);
      if (lateral < params.minMidlineDistanceMm * scale ||
          lateral > params.maxMidlineDistanceMm * scale)
        continue;
      Chain ch;
      ch.k0 = k, ch.c0 = c, ch.topArea = s.area;
      std::vector<std::tuple<int, Mask, int>> ends;  // slice, section, steps down to it
      // Per end (index in `ends`): the in-plane point the tip is aimed at (see the chain's end).
      std::map<std::size_t, std::array<double, 2>> aims;
      Mask cur(ss), dil(ss), nxt(ss);
      for (std::size_t q = 0; q < ss; ++q) cur[q] = slab[k][q] == c;
      Mask prevCur = cur, prevPrevCur = cur;  // the two sections above the current one
      int kc = k, kPrev = k, relaxedSteps = 0;
      bool endsInGreySpot = false;  // the current section holds a grey spot (BrightTowardsTip)
      bool exits = false;
      const bool sideLeft = s.x > r.midlineXmm;
      DilateSlice(cur.data(), dil.data(), g, link);  // kept the dilation of `cur` at each step
      // The states this chain passed through: key, ends found before it, length at it.
      std::vector<std::tuple<WalkKey, std::size_t, int>> trail;
      const WalkTail* tail = nullptr;  // the rest of the walk, already known
      for (;;) {
        // The pixel counts of the current section and the one above it (from the key).
        std::array<std::size_t, 3> secCnt{};
        {
          WalkKey key{static_cast<std::uint32_t>(kc), static_cast<std::uint32_t>(kPrev),
                      static_cast<std::uint32_t>(relaxedSteps),
                      static_cast<std::uint32_t>(endsInGreySpot),
                      static_cast<std::uint32_t>(sideLeft)};
          int i = 0;
          for (const Mask* m : {&cur, &prevCur, &prevPrevCur}) {
            const std::size_t at = key.size();
            key.push_back(0);  // the section's pixel count, then its pixels
            for (std::size_t q = 0; q < ss; ++q)
              if ((*m)[q]) key.push_back(static_cast<std::uint32_t>(q));
            secCnt[i] = key.size() - at - 1;
            key[at] = static_cast<std::uint32_t>(secCnt[i++]);
          }
          const auto it = walked.find(key);
          if (it != walked.end()) {
            tail = &it->second;
            break;
          }
          trail.emplace_back(std::move(key), ends.size(), ch.length);
        }
        int kn = -1;
        bool relaxedNext = false, wideRelaxed = false, greySpotNext = false;
        // A section under 1/kEndTaper of the one above it ends within its own slice (below): the
        // bone is not looked for two slices down (10920 left: 7.1 mm off, marrow two slices
        // under such a section taken as the bone going on).
        const double curArea = secCnt[0] * pixelArea, aboveArea = secCnt[1] * pixelArea;
        const bool endsHere = kEndTaper * curArea < aboveArea;
        for (int step = 1; step <= (endsHere ? 1 : 2) && kn < 0; ++step) {
          const int kb = g.Inferior(kc, step);
          if (!inFov(kb, cur)) {
            exits = true;
            break;
          }
          // Follow every section under the current ones (the lowest reached is the tip), but
          // not one on the other side or one that balloons (another bone joining).
          std::vector<char> keep(nlab[kb] + 1, 0);
          bool any = false;
          // On the next slice most of a section lies under the current one, and so it does two
          // slices down when the walk skips one (the bone tapers to its tip); a fragment at its
          // edge (fat trapped between tendon and cortex) does not continue the bone, nor does
          // fat further out that tendons ring as cortex rings marrow (12129 left: fat inside the
          // hamstring tendons, two slices under the bone's last section and 20 mm behind it,
          // was walked down as the bone: 25.7 mm off, the tendon taken as bone).
          std::vector<double> under(nlab[kb] + 1, 0);
          for (std::size_t q = 0; q < ss; ++q)
            if (slab[kb][q] && cur[q]) under[slab[kb][q]] += pixelArea;
          for (std::size_t q = 0; q < ss; ++q) {
            const int l = slab[kb][q];
            if (!l || !dil[q] || keep[l]) continue;
            if (under[l] < 0.5 * secs[kb][l].area) continue;
            const Sec& sl = secs[kb][l];
            if ((sl.x > r.midlineXmm) != sideLeft ||
                std::fabs(sl.x - r.midlineXmm) < 0.5 * params.minMidlineDistanceMm * scale ||
                sl.area > 2.5 * curArea + 100.0 * scale * scale || sl.area < 4.0)
              continue;
            keep[l] = 1, any = true;
          }
          for (std::size_t q = 0; q < ss; ++q) nxt[q] = slab[kb][q] && keep[slab[kb][q]];
          // Marrow whose cortex partial volume has turned grey, under the section: over at most
          // two slices in a row (the oblique cut through the rounded tip; wide oedematous
          // sections aside, see below). Under a section as large as a mid-ischium one the bone
          // may still taper over more slices, cut obliquely along its surface: there the grey
          // marrow is followed on where its rim is cortex (dark on fat-sat), not fat ringed by
          // muscle under the tip.
          const bool pastLimit = relaxedSteps >= 2;
          if (step == 1 && (!pastLimit || curArea >= minMidArea)) {
            const Mask extra = BrightTowardsTip(kb, cur, greySpotNext, pastLimit);
            const bool fromSlab = any;
            for (std::size_t q = 0; q < ss; ++q) {
              any |= extra[q] && !nxt[q];
              nxt[q] |= extra[q];
            }
            relaxedNext = any && !fromSlab;
            // Near its rounded end the bone narrows faster and faster. A section under
            // 1/2.5 of the one above it ends within its own slice (the two, extrapolated,
            // reach zero within 2/3 of a slice below it, so less than a sixth of a slice into
            // the next slab: too little to show there as more than a speck): grey marrow
            // under it that is more than half its size is fat or oedema under the tip. (A
            // third, half a slice, left 10810 right 13.1 mm off; 2.5 moved 7 of 240 sides,
            // 6 closer.)
            if (relaxedNext) {
              double below = 0;
              for (std::size_t q = 0; q < ss; ++q) below += nxt[q];
              below *= pixelArea;
              if (endsHere && below > 0.5 * curArea) any = false, relaxedNext = false;
              // A grey section as wide as half the one above, a quarter of it oedema-bright on
              // the fluid-sensitive image, is the bone's body with marrow oedema (which greys
              // the marrow on T1), not the oblique cut through its rounded end nor fat under it
              // (dark on fat-sat): it does not count towards the limit.
              if (relaxedNext) {
                const std::size_t offB = static_cast<std::size_t>(kb) * ss;
                double oedema = 0;
                for (std::size_t q = 0; q < ss; ++q) oedema += nxt[q] && F[offB + q] > oedemaThr;
                oedema *= pixelArea;
                wideRelaxed =
                    below >= 0.5 * curArea && below >= minEndArea && oedema >= 0.25 * below;
              }
            }
          }
          if (!any) continue;
          kn = kb;
        }
        if (exits || kn < 0) break;
        // A branch that does not continue below ends here (the ischial ramus and the
        // tuberosity end at different heights): each such end of a real size is a candidate.
        {
          std::vector<int> cl;
          const int ncl = LabelSlice(cur.data(), g.nx, g.ny, cl);
          if (ncl > 1) {
            Mask piece(ss), grown(ss);
            for (int l = 1; l <= ncl; ++l) {
              double cnt = 0;
              for (std::size_t q = 0; q < ss; ++q) cnt += piece[q] = cl[q] == l;
              if (cnt * pixelArea < minEndArea) continue;
              DilateSlice(piece.data(), grown.data(), g, link);
              bool continues = false;
              for (std::size_t q = 0; q < ss && !continues; ++q) continues = grown[q] && nxt[q];
              if (!continues) ends.push_back({kc, piece, ch.length});
            }
          }
          // One section can hold the tuberosity's end and the ischiopubic ramus joined to it in
          // front: the bone below then runs on down the ramus alone. The part of the section
          // with nothing under it is an end when it is a bulb of a real size (see Bulb) whose
          // centre lies 15 mm (scaled) behind all that continues: the ramus runs forward from
          // the tuberosity, while a bone narrowing to its tip keeps what continues under it.
          // (The dilation of `nxt` is also the next step's dilation of `cur`.)
          Mask over(ss);
          DilateSlice(nxt.data(), dil.data(), g, link);
          auto y = [&](std::size_t q) {
            return g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), kc)[1];
          };
          double overCnt = 0, overMaxY = -1e18, nextMaxY = -1e18;
          for (std::size_t q = 0; q < ss; ++q) {
            over[q] = cur[q] && !dil[q];
            if (over[q]) overCnt += 1, overMaxY = std::max(overMaxY, y(q));
            if (nxt[q]) nextMaxY = std::max(nextMaxY, y(q));
          }
          const double behind = nextMaxY + 15.0 * scale;
          if (overCnt * pixelArea >= minEndArea && overMaxY > behind) {
            const Mask bulb = Bulb(over);
            double cnt = 0, bulbY = 0;
            for (std::size_t q = 0; q < ss; ++q)
              if (bulb[q]) cnt += 1, bulbY += y(q);
            if (cnt * pixelArea >= minEndArea && bulbY > behind * cnt)
              ends.push_back({kc, bulb, ch.length});
          }
        }
        relaxedSteps = relaxedNext ? (wideRelaxed ? relaxedSteps : relaxedSteps + 1) : 0;
        endsInGreySpot = relaxedNext && greySpotNext;
        prevPrevCur.swap(prevCur);
        prevCur.swap(cur);
        cur.swap(nxt);  // nxt is rewritten whole on the next step
        kPrev = kc;
        kc = kn;
        ++ch.length;
      }
      if (tail) exits = tail->exits;
      // Every state passed leads to this chain's fate: its exit, or the ends found from it on.
      auto remember = [&](const std::vector<std::ptrdiff_t>& endChain) {
        for (auto& [key, firstEnd, lengthAt] : trail) {
          WalkTail t;
          t.exits = exits;
          for (std::size_t i = firstEnd; i < endChain.size() && !exits; ++i)
            if (endChain[i] >= 0)
              t.ends.emplace_back(endChain[i], chains[endChain[i]].length - lengthAt);
          walked.emplace(std::move(key), std::move(t));
        }
      };
      if (exits) {
        remember({});
        continue;
      }
      if (!tail) {
        // Grey marrow without a clear section below it ends the bone within the rounded tip:
        // over thick slices only one such slice is its end; a second one that is only a speck
        // (less than a real end's area) is fat or oedema under the tip. A real section there
        // (the tuberosity's blunt end cut obliquely) stays, and so does a grey spot ringed by fat
        // (the bone's end grazed by the slice, however small).
        // (At most two relaxed steps follow one another, so at most one is dropped.)
        if (relaxedSteps > (2 * g.sz <= params.tipEndZoneMm ? 2 : 1) && !endsInGreySpot) {
          // Its compact part: a strip a few pixels wide is the fat plane between the tendon and
          // the muscle beside the bone, however long.
          Mask opened(ss);
          OpenSlice(cur.data(), opened.data(), g, stripDisk);
          const double area = static_cast<double>(std::count(opened.begin(), opened.end(), 1));
          if (area * pixelArea < minEndArea) {
            kc = kPrev;
            cur.swap(prevCur);
            prevCur.swap(prevPrevCur);
            --ch.length;
          }
        }
        // On the last slice: the section with most overlap with the sections above (a fat pocket
        // between tendon and cortex can look like a small marrow fragment), and any other of a
        // real size.
        {
          const Mask main = kc == k ? cur : BestOverlap(cur, prevCur);
          // Where the section above the last one lost a grey part of a third of the part found
          // or more (see WholeSection), and the last section does not lie under that grey
          // part, the last section is fat under the part that stayed bright (a pocket between
          // the bone's end and the tendon or muscle) and the true end, a grey oval the walk
          // cannot take, lies under the grey part: the tip is aimed, in-plane, at the centre
          // of the section made whole (its bulb), within 15 mm (scaled) of the last section.
          // The end's slice, and the choice of the pair, stay with the last section: ending the
          // bone on the slice above instead put sides whose last section was the bone's end a
          // slice high (docs/accuracy.md, twenty-fifth round). 11410 left was 11.0 mm off,
          // 11510 left 12.5 (2.6 and 4.3 now).
          if (kc != k && kPrev != kc) {
            const Mask whole = WholeSection(kPrev, prevPrevCur, prevCur);
            Mask lost(ss), nearLost(ss);
            double lostCnt = 0, foundCnt = 0, mainCnt = 0, mainUnder = 0;
            for (std::size_t q = 0; q < ss; ++q) {
              lost[q] = whole[q] && !prevCur[q];
              lostCnt += lost[q], foundCnt += prevCur[q];
            }
            if (lostCnt * pixelArea >= minEndArea && lostCnt >= kLostShare * foundCnt) {
              DilateSlice(lost.data(), nearLost.data(), g, pixelDisk);
              for (std::size_t q = 0; q < ss; ++q)
                mainCnt += main[q], mainUnder += main[q] && nearLost[q];
              // (Its centre is taken on its own slice; taken on the last one, as before
              // 8ab9f1e, it lies up to 0.5 mm elsewhere on a tilted series: 37 of 392 sides.)
              std::array<double, 2> at;
              if (mainUnder < 0.5 * mainCnt && BulbCentre(whole, kPrev, at[0], at[1]))
                aims[ends.size()] = at;
            }
          }
          // Otherwise the tip is aimed at the centre of the end region (see EndRegion) when
          // that is no larger than a bone's end: the last section the walk took may be a
          // pocket of fat at the edge of the end, whose grey marrow the walk cannot take
          // (10909, 11228, 10830 right, 11619 right: 10.8-13.1 mm off, 3.2-5.6 mm now). Under
          // a larger section above, the region takes in muscle too and its centre strays (of
          // 272 replayed sides, the 38 between 500 and 1000 mm2: 21 further off, 12 by over
          // 10 mm; the 89 under 500: 29 closer, 11 further, none over 10 mm).
          if (kc != k && !aims.count(ends.size())) {
            const Mask region = EndRegion(kc, kPrev, prevCur, main);
            const double area = std::count(region.begin(), region.end(), 1) * pixelArea;
            std::array<double, 2> at;
            if (area <= maxEndRegion && Centre(region, kc, at[0], at[1])) aims[ends.size()] = at;
          }
          ends.push_back({kc, main, ch.length});
          std::vector<int> cl;
          const int ncl = LabelSlice(cur.data(), g.nx, g.ny, cl);
          for (int l = 1; l <= ncl && ncl > 1; ++l) {
            Mask piece(ss);
            double cnt = 0;
            bool isMain = false;
            for (std::size_t q = 0; q < ss; ++q) {
              cnt += piece[q] = cl[q] == l;
              isMain |= piece[q] && main[q];
            }
            if (!isMain && cnt * pixelArea >= minEndArea) ends.push_back({kc, piece, ch.length});
          }
        }
      }
      std::vector<std::ptrdiff_t> endChain;  // per end, its index in `chains` (-1: none)
      for (std::size_t endIndex = 0; endIndex < ends.size(); ++endIndex) {
        auto& [kEnd, sec, length] = ends[endIndex];
        endChain.push_back(-1);
        Chain e = ch;
        e.kLow = kEnd, e.length = length, e.lowSec = Bulb(sec);
        if (std::find(e.lowSec.begin(), e.lowSec.end(), 1) == e.lowSec.end())
          e.lowSec = std::move(sec);
        double cnt = 0;
        for (std::size_t q = 0; q < ss; ++q) {
          if (!e.lowSec[q]) continue;
          const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), kEnd);
          e.lowX += p[0], e.lowY += p[1], e.lowZ += p[2], cnt += 1;
        }
        if (cnt == 0) continue;
        e.lowX /= cnt, e.lowY /= cnt, e.lowZ /= cnt;
        e.lowArea = cnt * pixelArea;
        if (const auto aim = aims.find(endIndex);
            aim != aims.end() &&
            std::hypot(aim->second[0] - e.lowX, aim->second[1] - e.lowY) <= 15.0 * scale)
          e.aimX = aim->second[0], e.aimY = aim->second[1], e.aimed = true;
        e.posterior = e.lowY - bodyY[kEnd];
        const double z0 = e.lowZ;
        const auto ext = greyExtension(kEnd, e.lowSec);
        if (!ext.empty()) e.lowZ = g.Point(0, 0, ext.back().first)[2] - g.Point(0, 0, kEnd)[2] + z0;
        endChain.back() = static_cast<std::ptrdiff_t>(chains.size());
        chains.push_back(std::move(e));
      }
      if (tail)
        for (const auto& [index, lengthPast] : tail->ends) {
          Chain e = chains[index];
          e.k0 = ch.k0, e.c0 = ch.c0, e.topArea = ch.topArea, e.length = ch.length + lengthPast;
          endChain.push_back(static_cast<std::ptrdiff_t>(chains.size()));
          chains.push_back(std::move(e));
        }
      remember(endChain);
    }
  }
  // Tips per side (one per distinct lowest section), with their best support.
  struct TipCand {
    Start st;
    double support = 0, posterior = 0;
    int length = 0;
  };
  std::array<std::vector<TipCand>, 2> tips;
  for (const Chain& ch : chains) {
    const int side = ch.lowX > r.midlineXmm ? 1 : 0;
    const double lateral = std::fabs(ch.lowX - r.midlineXmm);
    if (lateral < params.minMidlineDistanceMm * scale ||
        lateral > params.maxMidlineDistanceMm * scale)
      continue;
    if ((ch.lowX > r.midlineXmm) != (secs[ch.k0][ch.c0].x > r.midlineXmm)) continue;
    // The tuberosity is posterior; a bone ending anteriorly (pubis, symphysis) is not it.
    if (ch.posterior < -15.0 * scale) continue;
    const std::size_t key = static_cast<std::size_t>(
        std::find(ch.lowSec.begin(), ch.lowSec.end(), 1) - ch.lowSec.begin());
    TipCand* t = nullptr;
    for (auto& e : tips[side])
      if (e.st.k == ch.kLow && e.st.key == key) t = &e;
    if (!t) {
      tips[side].push_back({});
      t = &tips[side].back();
      t->st.k = ch.kLow, t->st.key = key, t->st.sec = ch.lowSec;
      t->st.x = ch.lowX, t->st.y = ch.lowY, t->st.z = ch.lowZ, t->st.area = ch.lowArea;
      t->st.aimed = ch.aimed, t->st.aimX = ch.aimX, t->st.aimY = ch.aimY;
      t->posterior = ch.posterior;
    }
    t->support = std::max(t->support, ch.topArea);
    t->length = std::max(t->length, ch.length);
  }
  // Each tip: posterior, well supported (a long chain from a large section). The pair: both
  // scores, penalised by the left/right height difference.
  auto score = [&](const TipCand& t) {
    return 1.0 * std::min(t.posterior, 60.0 * scale) + 10.0 * std::log(t.support) +
           2.0 * std::min(t.length, 8);
  };
  std::array<const TipCand*, 2> chosen{nullptr, nullptr};
  if (!tips[0].empty() && !tips[1].empty()) {
    double bestCost = -1e18;
    for (const TipCand& a : tips[0])
      for (const TipCand& b : tips[1]) {
        // The pelvis is roughly symmetric: tips at similar heights, similar anteroposterior
        // positions and similar distances from the midline.
        // The penalty is capped: one side's only (wrong) candidate must not drag a well
        // supported tip on the other side to a look-alike at its height.
        const double asym = std::fabs(a.st.z - b.st.z) + std::fabs(a.st.y - b.st.y) +
                            std::fabs(std::fabs(a.st.x - r.midlineXmm) -
                                      std::fabs(b.st.x - r.midlineXmm));
        const double v = score(a) + score(b) -
                         params.tipAsymmetryWeight * std::min(asym, 40.0 * scale);
        if (v > bestCost + 1e-9) bestCost = v, chosen = {&a, &b};
      }
  } else {
    for (int side = 0; side < 2; ++side) {
      double bestV = -1e18;
      for (const TipCand& t : tips[side])
        if (score(t) > bestV + 1e-9) bestV = score(t), chosen[side] = &t;
    }
  }
  // Tips far apart in height are not a pair (pelvic obliquity in a scanner is a few degrees,
  // a few mm over the inter-tuberosity distance): the less supported side is not reported.
  std::array<std::string, 2> rejected;
  if (chosen[0] && chosen[1] &&
      std::fabs(chosen[0]->st.z - chosen[1]->st.z) > params.maxTipHeightDifferenceMm * scale) {
    const int drop = score(*chosen[0]) < score(*chosen[1]) ? 0 : 1;
    std::ostringstream why;
    why << "the best ischium-like bone end on this side lies "
        << static_cast<int>(std::lround(std::fabs(chosen[0]->st.z - chosen[1]->st.z)))
        << " mm from the other side's tip in height (more than "
        << std::lround(params.maxTipHeightDifferenceMm * scale) << " mm): not a tuberosity; the tuberosity is not recognisable on this side";
    rejected[drop] = why.str();
    chosen[drop] = nullptr;
  }
  // The cortex as imaged: its thickness plus one pixel of partial volume with the marrow.
  const auto cortexDisk = DiskOffsets(g, params.cortexThicknessMm + std::max(g.sx, g.sy));
  for (int side = 0; side < 2; ++side) {  // 0 right (-x), 1 left (+x)
    TuberosityFinding& out = side ? r.left : r.right;
    const Start* best = chosen[side] ? &chosen[side]->st : nullptr;
    if (!best && !rejected[side].empty()) {
      out.reason = rejected[side];
      continue;
    }
    if (!best) {
      out.reason =
          "no ischium-like bone (fatty marrow ringed by cortex, ending inside the field "
          "of view) on this side: the tuberosity is outside the field of view or not "
          "recognisable";
      continue;
    }
    // Bone: follow the marrow up from the start (sections overlapping the one below, dilated),
    // each with its cortical ring and holes filled.
    Mask bone(n, 0), prev(ss, 0), cur(ss), dil(ss);
    // One bone section from its marrow at slice offset `off`: the cortical ring (dark on T1,
    // not oedema-bright) around it, and holes filled. Holes are marrow, not fluid: a tear cleft
    // enclosed by tendon and cortex stays out.
    auto BoneSection = [&](const Mask& marrow, std::size_t off) {
      Mask sl = marrow;
      DilateSlice(marrow.data(), dil.data(), g, cortexDisk);
      for (std::size_t q = 0; q < ss; ++q) {
        if (dil[q] && B[off + q] && T[off + q] < cortexT1 && F[off + q] < oedemaThr) sl[q] = 1;
      }
      const Mask before = sl;
      FillHolesSlice(sl.data(), g.nx, g.ny);
      for (std::size_t q = 0; q < ss; ++q)
        if (sl[q] && !before[q] && F[off + q] > fluidThr) sl[q] = 0;
      return sl;
    };
    prev = best->sec;
    bool lastGap = false;
    std::array<double, 3> low{};
    int lowK = best->k;
    Mask lowMask;
    for (int step = 0;; ++step) {
      const int k = best->k + up * step;
      if (k < 0 || k >= g.nz) break;
      const std::size_t off = static_cast<std::size_t>(k) * ss;
      if (step == 0) {
        cur = prev;
      } else {
        DilateSlice(prev.data(), dil.data(), g, link);
        // The marrow regions within reach that overlap the section below for a real part of
        // themselves, or hold most of it. Fat or a nerve beside the cortex, or another bone
        // within reach (the femur, the other ischium higher up), overlaps it little or not at
        // all, and taken in it would swallow the tendon at its footprint.
        std::vector<char> keep(nlab[k] + 1, 0);
        std::vector<double> area(nlab[k] + 1, 0), overlap(nlab[k] + 1, 0);
        double prevCnt = 0;
        for (std::size_t q = 0; q < ss; ++q) {
          prevCnt += prev[q];
          const int l = slab[k][q];
          if (!l) continue;
          area[l] += 1, overlap[l] += prev[q];
          if (dil[q]) keep[l] = 1;
        }
        for (int l = 1; l <= nlab[k]; ++l)
          keep[l] = keep[l] && (overlap[l] >= 0.2 * area[l] || overlap[l] >= 0.5 * prevCnt);
        double covered = 0;
        for (std::size_t q = 0; q < ss; ++q) {
          cur[q] = slab[k][q] && keep[slab[k][q]];
          covered += prev[q] && cur[q];
        }
        // Adjacent sections of one bone overlap for the most part. Where the ringed marrow
        // above covers little of the section below (its ring is broken by a tendon or fluid
        // against the cortex, or only a neighbouring piece passed), the bright regions over
        // the section continue it: whole if they do not balloon, else within its footprint.
        if (covered < 0.5 * prevCnt) {
          const Mask upward = BrightUpwards(k, prev);
          double upCovered = 0;
          for (std::size_t q = 0; q < ss; ++q) upCovered += prev[q] && upward[q];
          if (upCovered > covered) {
            for (std::size_t q = 0; q < ss; ++q) cur[q] = cur[q] || upward[q];
            covered = upCovered;
          }
          if (covered < 0.5 * prevCnt) {
            for (std::size_t q = 0; q < ss; ++q) cur[q] = cur[q] || (blab[k][q] && dil[q]);
          }
        }
        const bool any = std::find(cur.begin(), cur.end(), 1) != cur.end();
        if (!any) {
          // A gap (oedema, partial volume): keep the previous section's footprint once.
          if (lastGap) break;
          lastGap = true;
          continue;
        }
      }
      prev = cur;
      const Mask sl = BoneSection(cur, off);
      double cx = 0, cy = 0, cz = 0;
      std::size_t cnt = 0;
      for (std::size_t q = 0; q < ss; ++q) {
        if (!sl[q]) continue;
        const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k);
        cx += p[0], cy += p[1], cz += p[2], ++cnt;
      }
      if (step == 0) low = {cx / cnt, cy / cnt, cz / cnt}, lowK = k, lowMask = sl;
      if (cz / cnt > low[2] + params.boneLabelHeightMm) break;
      lastGap = false;
      for (std::size_t q = 0; q < ss; ++q) bone[off + q] |= sl[q];
    }
    // Below the lowest accepted section, partial volume and marrow oedema hide the marrow:
    // follow bone-like pixels (cortex-dark or oedema-bright) inside the
    // section above, while they fill a real part of it.
    int kLowest = best->k;
    Mask lowestSec = best->sec;
    for (auto& e : greyExtension(best->k, lowestSec)) {
      const int kb = e.first;
      const std::size_t off = static_cast<std::size_t>(kb) * ss;
      const Mask sl = BoneSection(e.second, off);
      double cx = 0, cy = 0, cz = 0, cnt = 0;
      for (std::size_t q = 0; q < ss; ++q) {
        if (!sl[q]) continue;
        bone[off + q] = 1;
        const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), kb);
        cx += p[0], cy += p[1], cz += p[2], ++cnt;
      }
      low = {cx / cnt, cy / cnt, cz / cnt}, lowK = kb, lowMask = sl;
      kLowest = kb;
      lowestSec = e.second;
    }
    {
      Mask above = lowestSec;
      for (int step = 1; step <= params.maxTipExtensionSlices; ++step) {
        const int kb = g.Inferior(kLowest, step);
        if (kb < 0 || kb >= g.nz) break;
        const std::size_t off = static_cast<std::size_t>(kb) * ss;
        double cx = 0, cy = 0, cz = 0, cnt = 0, aboveCnt = 0;
        Mask sec(ss, 0);
        for (std::size_t q = 0; q < ss; ++q) {
          if (!above[q]) continue;
          ++aboveCnt;
          const float t = T[off + q], f = F[off + q];
          // Cortex (dark on both) or marrow oedema (grey on T1, bright on fat-sat but not as
          // bright as the fluid of a tear gap just below the bone).
          if (!(B[off + q] && ((t < cortexT1 && f < oedemaThr) ||
                               (f > oedemaThr && f <= fluidThr && t > cortexT1))))
            continue;
          sec[q] = 1;
          const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), kb);
          cx += p[0], cy += p[1], cz += p[2], ++cnt;
        }
        if (cnt < 0.35 * aboveCnt || cnt * pixelArea < 8.0) break;
        low = {cx / cnt, cy / cnt, cz / cnt}, lowK = kb, lowMask = sec;
        for (std::size_t q = 0; q < ss; ++q) bone[off + q] |= sec[q];
        above = sec;
      }
    }
    // In-plane, the tip is the centre of the lowest section's bulb (see Bulb).
    if (!lowMask.empty()) BulbCentre(lowMask, lowK, low[0], low[1]);
    // An aimed end (the section above made whole, or the end region: see the chain's end)
    // places the tip in-plane, unless the bone was followed below its last section (a grey
    // end): then the section found there does.
    if (best->aimed && lowK == best->k) low[0] = best->aimX, low[1] = best->aimY;
    // In height, the tip lies half a slice below the lowest section's centre. The slice below
    // shows no section of the bone, so the bone ends within the slab between the two centres
    // (grazing the next slab at most by less than the walk can see), and its middle is the
    // estimate without bias. Extrapolating the lowest two sections' areas to zero placed it
    // worse: near the end the areas are partial volume and whatever part of the section the
    // walk took, so the taper they show is not the bone's (docs/accuracy.md, twenty-third round).
    const double sliceDz = std::fabs(g.Point(0, 0, 1)[2] - g.Point(0, 0, 0)[2]);
    const double tipZ = low[2] - 0.5 * sliceDz;
    out.found = true;
    out.tipLps = {low[0], low[1], tipZ};
    out.bone = MakeMask(*input.fluid, bone);
  }
  return r;
}

}  // namespace ischia
