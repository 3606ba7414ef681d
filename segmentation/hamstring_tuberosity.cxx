// Stage 3: the ischial tuberosities. Bone is fatty marrow (bright on T1) ringed by cortex (dark
// on T1 and on fat-sat); the ischium of a side is the marrow group whose lowest point is the
// lowest of that side and ends inside the field of view (the femur leaves it caudally).
#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

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

  // Marrow candidates per slice: T1-bright regions whose surrounding ring is mostly dark
  // (cortex) and inside the body (subcutaneous fat borders air and skin, not cortex).
  Mask marrow(n, 0);
  const auto ring = DiskOffsets(g, params.cortexThicknessMm + std::max(g.sx, g.sy));
  const double pixelArea = g.sx * g.sy;
  ForEachSlice(g.nz, [&](int k) {
    const std::size_t off = static_cast<std::size_t>(k) * ss;
    Mask cand(ss);
    for (std::size_t s = 0; s < ss; ++s) {
      cand[s] = bodyT1[off + s] &&
                (T[off + s] > marrowThr || (F[off + s] > oedemaThr && T[off + s] > cortexT1));
    }
    std::vector<int> lab;
    const int nc = LabelSlice(cand.data(), g.nx, g.ny, lab);
    if (nc == 0) return;
    std::vector<std::vector<int>> pix(nc + 1);
    for (std::size_t s = 0; s < ss; ++s) {
      if (lab[s]) pix[lab[s]].push_back(static_cast<int>(s));
    }
    std::vector<int> stamp(ss, 0);
    for (int c = 1; c <= nc; ++c) {
      const double area = pix[c].size() * pixelArea;
      if (area < 12.0 * scale * scale || area > 6000.0 * scale * scale) continue;
      // Every boundary pixel of marrow sees cortex (darker than muscle on T1) just outside.
      std::size_t edge = 0, edgeDark = 0, edgeOut = 0;
      for (int p : pix[c]) {
        const int i = p % g.nx, j = p / g.nx;
        bool boundary = false;
        for (int d = 0; d < 4 && !boundary; ++d) {
          const int a = i + (d == 0) - (d == 1), b = j + (d == 2) - (d == 3);
          boundary = a < 0 || b < 0 || a >= g.nx || b >= g.ny ||
                     lab[static_cast<std::size_t>(b) * g.nx + a] != c;
        }
        if (!boundary) continue;
        ++edge;
        bool dark = false, outside = false;
        for (const auto& o : ring) {
          const int a = i + o[0], b = j + o[1];
          if (a < 0 || b < 0 || a >= g.nx || b >= g.ny) continue;
          const std::size_t t = static_cast<std::size_t>(b) * g.nx + a;
          if (lab[t] == c) continue;
          if (!bodyT1[off + t]) {
            outside = true;
            continue;
          }
          dark |= T[off + t] < cortexT1;
        }
        edgeDark += dark;
        edgeOut += outside;
      }
      if (edge == 0 || edgeOut > 0.05 * edge || edgeDark < 0.6 * edge) continue;
      for (int p : pix[c]) marrow[off + p] = 1;
    }
  });

  // The lowest point of each bone: a marrow section with no marrow just below it (within a
  // few mm in-plane) that continues upwards. The femur enters through the inferior edge of the
  // field of view, so it has no such start; the ischium's start is its tuberosity tip.
  const int up = g.SuperiorStep();
  std::vector<std::vector<int>> slab(g.nz);
  std::vector<int> nlab(g.nz);
  ForEachSlice(g.nz, [&](int k) {
    nlab[k] = LabelSlice(marrow.data() + static_cast<std::size_t>(k) * ss, g.nx, g.ny, slab[k]);
  });
  const auto link = DiskOffsets(g, 4.0 * scale);
  // Dilated marrow per slice (for overlap tests with the neighbouring slices).
  Mask near(n, 0);
  ForEachSlice(g.nz, [&](int k) {
    DilateSlice(marrow.data() + static_cast<std::size_t>(k) * ss,
                near.data() + static_cast<std::size_t>(k) * ss, g, link);
  });
  struct Start {
    int k = -1, label = 0;
    double x = 0, y = 0, z = 0, area = 0;
  };
  std::vector<Start> starts;
  for (int k = 0; k < g.nz; ++k) {
    const int kb = g.Inferior(k);
    if (kb < 0 || kb >= g.nz) continue;  // inferior edge: cannot tell a start from a cut
    const std::size_t off = static_cast<std::size_t>(k) * ss,
                      offB = static_cast<std::size_t>(kb) * ss;
    std::vector<Start> cs(nlab[k] + 1);
    std::vector<double> continued(nlab[k] + 1, 0);
    for (std::size_t q = 0; q < ss; ++q) {
      const int c = slab[k][q];
      if (!c) continue;
      // One slice without marrow (noise, partial volume) does not start a bone.
      const int kb2 = g.Inferior(k, 2);
      if (near[offB + q])
        continued[c] += 1;
      else if (kb2 >= 0 && kb2 < g.nz && near[static_cast<std::size_t>(kb2) * ss + q])
        continued[c] += 1;
      const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k);
      cs[c].x += p[0], cs[c].y += p[1], cs[c].z += p[2], cs[c].area += pixelArea;
    }
    for (int c = 1; c <= nlab[k]; ++c) {
      // Continued from below when a real part of it (not a fragment's rim) has marrow below.
      if (continued[c] * pixelArea >= std::max(8.0, 0.1 * cs[c].area)) continue;
      Start st = cs[c];
      const double cnt = st.area / pixelArea;
      st.x /= cnt, st.y /= cnt, st.z /= cnt;
      st.k = k, st.label = c;
      // It must continue upwards: marrow over it in at least 2 of the next 3 slices.
      int hits = 0;
      for (int step = 1; step <= 3; ++step) {
        const int ku = k + up * step;
        if (ku < 0 || ku >= g.nz) break;
        bool hit = false;
        for (std::size_t q = 0; q < ss && !hit; ++q) {
          hit = slab[k][q] == c && near[static_cast<std::size_t>(ku) * ss + q];
        }
        hits += hit;
      }
      if (hits >= 2) starts.push_back(st);
    }
  }

  const auto cortexDisk = DiskOffsets(g, params.cortexThicknessMm);
  // Candidate tips per side; the pair is chosen jointly: both tips low and at similar heights
  // (the pelvis is roughly symmetric; a femoral marrow fragment far down is not a tuberosity).
  std::array<std::vector<const Start*>, 2> cands;
  for (int side = 0; side < 2; ++side) {
    const double sign = side ? 1.0 : -1.0;
    for (const Start& st : starts) {
      const double lateral = sign * (st.x - r.midlineXmm);
      if (lateral < params.minMidlineDistanceMm * scale ||
          lateral > params.maxMidlineDistanceMm * scale)
        continue;
      // A bone's lowest section is small (the rounded end of the tuberosity).
      if (st.area > params.maxTipSectionMm2 * scale * scale) continue;
      cands[side].push_back(&st);
    }
  }
  std::array<const Start*, 2> chosen{nullptr, nullptr};
  auto lower = [&](const Start* a, const Start* b) {  // a preferred over b?
    return !b || a->z < b->z - 0.5 * g.sz || (std::fabs(a->z - b->z) <= 0.5 * g.sz && a->y > b->y);
  };
  if (!cands[0].empty() && !cands[1].empty()) {
    double bestCost = 1e18;
    for (const Start* a : cands[0]) {
      for (const Start* b : cands[1]) {
        const double cost =
            0.5 * (a->z + b->z) + params.tipAsymmetryWeight * std::fabs(a->z - b->z);
        if (cost < bestCost - 1e-9) bestCost = cost, chosen = {a, b};
      }
    }
  } else {
    for (int side = 0; side < 2; ++side) {
      for (const Start* st : cands[side]) {
        if (lower(st, chosen[side])) chosen[side] = st;
      }
    }
  }
  for (int side = 0; side < 2; ++side) {  // 0 right (-x), 1 left (+x)
    TuberosityFinding& out = side ? r.left : r.right;
    const Start* best = chosen[side];
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
    for (std::size_t q = 0; q < ss; ++q) prev[q] = slab[best->k][q] == best->label;
    std::vector<double> areas, zs;
    std::array<double, 3> low{};
    for (int step = 0;; ++step) {
      const int k = best->k + up * step;
      if (k < 0 || k >= g.nz) break;
      const std::size_t off = static_cast<std::size_t>(k) * ss;
      if (step == 0) {
        cur = prev;
      } else {
        DilateSlice(prev.data(), dil.data(), g, link);
        std::vector<char> keep(nlab[k] + 1, 0);
        for (std::size_t q = 0; q < ss; ++q) {
          if (slab[k][q] && dil[q]) keep[slab[k][q]] = 1;
        }
        bool any = false;
        for (std::size_t q = 0; q < ss; ++q) {
          cur[q] = slab[k][q] && keep[slab[k][q]];
          any |= cur[q] != 0;
        }
        if (!any) {
          // A gap (oedema, partial volume): keep the previous section's footprint once.
          if (areas.size() >= 2 && areas.back() < 0) break;
          areas.push_back(-1);
          zs.push_back(0);
          continue;
        }
      }
      prev = cur;
      Mask sl = cur;
      DilateSlice(cur.data(), dil.data(), g, cortexDisk);
      for (std::size_t q = 0; q < ss; ++q) {
        if (dil[q] && B[off + q] && T[off + q] < cortexT1) sl[q] = 1;
      }
      FillHolesSlice(sl.data(), g.nx, g.ny);
      double cx = 0, cy = 0, cz = 0;
      std::size_t cnt = 0;
      for (std::size_t q = 0; q < ss; ++q) {
        if (!sl[q]) continue;
        const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), k);
        cx += p[0], cy += p[1], cz += p[2], ++cnt;
      }
      if (step == 0) low = {cx / cnt, cy / cnt, cz / cnt};
      if (cz / cnt > low[2] + params.boneLabelHeightMm) break;
      areas.push_back(cnt * pixelArea);
      zs.push_back(cz / cnt);
      for (std::size_t q = 0; q < ss; ++q) bone[off + q] |= sl[q];
    }
    // Below the lowest accepted section, partial volume and marrow oedema hide the marrow:
    // follow bone-like pixels (cortex-dark or oedema-bright) inside the
    // section above, while they fill a real part of it.
    {
      Mask above(ss);
      for (std::size_t q = 0; q < ss; ++q) above[q] = slab[best->k][q] == best->label;
      for (int step = 1; step <= params.maxTipExtensionSlices; ++step) {
        const int kb = g.Inferior(best->k, step);
        if (kb < 0 || kb >= g.nz) break;
        const std::size_t off = static_cast<std::size_t>(kb) * ss;
        double cx = 0, cy = 0, cz = 0, cnt = 0, aboveCnt = 0;
        Mask sec(ss, 0);
        for (std::size_t q = 0; q < ss; ++q) {
          if (!above[q]) continue;
          ++aboveCnt;
          const float t = T[off + q], f = F[off + q];
          if (!(B[off + q] && (t < cortexT1 || (f > oedemaThr && t > cortexT1)))) continue;
          sec[q] = 1;
          const auto p = g.Point(static_cast<int>(q % g.nx), static_cast<int>(q / g.nx), kb);
          cx += p[0], cy += p[1], cz += p[2], ++cnt;
        }
        if (cnt < 0.35 * aboveCnt || cnt * pixelArea < 8.0) break;
        low = {cx / cnt, cy / cnt, cz / cnt};
        for (std::size_t q = 0; q < ss; ++q) bone[off + q] |= sec[q];
        areas.insert(areas.begin(), cnt * pixelArea);
        zs.insert(zs.begin(), low[2]);
        above = sec;
      }
    }
    // The tip lies below the lowest section's centre: near an ellipsoidal end the section
    // area grows about linearly with height, extrapolated to zero (at most one slice).
    double tipZ = low[2];
    if (areas.size() >= 2 && areas[1] > areas[0] && zs[1] > zs[0]) {
      const double dz = std::min(g.sz, areas[0] / (areas[1] - areas[0]) * (zs[1] - zs[0]));
      tipZ = low[2] - dz;
    }
    out.found = true;
    out.tipLps = {low[0], low[1], tipZ};
    out.bone = MakeMask(*input.fluid, bone);
  }
  return r;
}

}  // namespace ischia
