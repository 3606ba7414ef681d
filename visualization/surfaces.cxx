#include "surfaces.h"

#include <vtkFieldData.h>
#include <vtkFloatArray.h>
#include <vtkFlyingEdges3D.h>
#include <vtkImageData.h>
#include <vtkImageGaussianSmooth.h>
#include <vtkPointData.h>
#include <vtkPolyDataNormals.h>
#include <vtkQuadricDecimation.h>
#include <vtkSTLWriter.h>
#include <vtkStringArray.h>
#include <vtkWindowedSincPolyDataFilter.h>
#include <vtkXMLPolyDataWriter.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ischia {
namespace {

constexpr double kInf = 1e20;

// Exact 1-D squared Euclidean distance transform (lower envelope of parabolas, Felzenszwalb
// and Huttenlocher 2012) of `f` sampled every `s` mm; in place.
void SquaredDistance1d(double* f, int n, double s, std::vector<double>& d, std::vector<int>& v,
                       std::vector<double>& z) {
  d.resize(n), v.resize(n), z.resize(n + 1);
  int k = -1;  // parabolas in the lower envelope: v[0..k], boundaries z[0..k+1]
  for (int q = 0; q < n; ++q) {
    if (f[q] >= kInf) continue;  // no seed here
    const double xq = q * s;
    double inter = -kInf;
    while (k >= 0) {
      const double xv = v[k] * s;
      inter = ((f[q] + xq * xq) - (f[v[k]] + xv * xv)) / (2 * (xq - xv));
      if (inter > z[k]) break;
      --k;
    }
    ++k;
    v[k] = q, z[k] = k == 0 ? -kInf : inter, z[k + 1] = kInf;
  }
  if (k < 0) return;  // no seed at all: distances stay infinite
  int j = 0;
  for (int q = 0; q < n; ++q) {
    while (z[j + 1] < q * s) ++j;
    const double dx = (q - v[j]) * s;
    d[q] = dx * dx + f[v[j]];
  }
  std::copy(d.begin(), d.begin() + n, f);
}

// Squared distance (mm^2) from each pixel centre to the nearest pixel where `seed` is true.
std::vector<double> SquaredDistance2d(const std::vector<char>& seed, int nx, int ny, double sx,
                                      double sy) {
  std::vector<double> g(seed.size());
  for (std::size_t i = 0; i < seed.size(); ++i) g[i] = seed[i] ? 0 : kInf;
  std::vector<double> d, z, col(ny);
  std::vector<int> v;
  for (int j = 0; j < ny; ++j)
    SquaredDistance1d(&g[static_cast<std::size_t>(j) * nx], nx, sx, d, v, z);
  for (int i = 0; i < nx; ++i) {
    for (int j = 0; j < ny; ++j) col[j] = g[static_cast<std::size_t>(j) * nx + i];
    SquaredDistance1d(col.data(), ny, sy, d, v, z);
    for (int j = 0; j < ny; ++j) g[static_cast<std::size_t>(j) * nx + i] = col[j];
  }
  return g;
}

}  // namespace

vtkSmartPointer<vtkPolyData> ExtractLabelSurface(const LabelImage& labels, std::uint16_t label,
                                                 BodySide side, double midlineXmm,
                                                 const SurfaceParameters& params) {
  const auto size = labels.GetLargestPossibleRegion().GetSize();
  const int nx = static_cast<int>(size[0]), ny = static_cast<int>(size[1]),
            nz = static_cast<int>(size[2]);
  const auto& sp = labels.GetSpacing();
  const auto& dir = labels.GetDirection();
  LabelImage::PointType o;
  labels.TransformIndexToPhysicalPoint(labels.GetLargestPossibleRegion().GetIndex(), o);
  // World point of continuous index (i, j, k): o + D * (i sx, j sy, k sz).
  auto world = [&](double i, double j, double k) {
    std::array<double, 3> p{};
    for (int r = 0; r < 3; ++r)
      p[r] = o[r] + dir[r][0] * i * sp[0] + dir[r][1] * j * sp[1] + dir[r][2] * k * sp[2];
    return p;
  };
  const std::uint16_t* buf = labels.GetBufferPointer();
  const std::size_t sliceSize = static_cast<std::size_t>(nx) * ny;
  auto onSide = [&](int i, int j, int k) {
    if (side == BodySide::Both) return true;
    const double x = world(i, j, k)[0];
    return side == BodySide::Left ? x > midlineXmm : x <= midlineXmm;
  };
  auto in = [&](int i, int j, int k) {
    if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) return false;
    return buf[k * sliceSize + static_cast<std::size_t>(j) * nx + i] == label && onSide(i, j, k);
  };
  // Bounding box of the structure (index space).
  int i0 = nx, i1 = -1, j0 = ny, j1 = -1, k0 = nz, k1 = -1;
  for (int k = 0; k < nz; ++k)
    for (int j = 0; j < ny; ++j)
      for (int i = 0; i < nx; ++i) {
        if (buf[k * sliceSize + static_cast<std::size_t>(j) * nx + i] != label || !onSide(i, j, k))
          continue;
        i0 = std::min(i0, i), i1 = std::max(i1, i), j0 = std::min(j0, j), j1 = std::max(j1, j);
        k0 = std::min(k0, k), k1 = std::max(k1, k);
      }
  auto empty = vtkSmartPointer<vtkPolyData>::New();
  if (i1 < 0) return empty;

  // Crop with background margins (beyond the image too: outside counts as background).
  i0 -= 3, i1 += 3, j0 -= 3, j1 += 3, k0 -= 1, k1 += 1;
  const int cx = i1 - i0 + 1, cy = j1 - j0 + 1, cz = k1 - k0 + 1;
  const std::size_t cs = static_cast<std::size_t>(cx) * cy;
  std::vector<float> sdf(cs * cz, 0.f);
  std::vector<double> depth(cz, 0.0);
  std::vector<char> hasVoxels(cz, 0);
  const double halfPixel = 0.5 * std::min(sp[0], sp[1]);
  for (int kk = 0; kk < cz; ++kk) {
    std::vector<char> inside(cs), outside(cs);
    bool any = false;
    for (int jj = 0; jj < cy; ++jj)
      for (int ii = 0; ii < cx; ++ii) {
        const bool v = in(i0 + ii, j0 + jj, k0 + kk);
        inside[static_cast<std::size_t>(jj) * cx + ii] = v;
        outside[static_cast<std::size_t>(jj) * cx + ii] = !v;
        any |= v;
      }
    if (!any) continue;
    hasVoxels[kk] = 1;
    const auto dOut = SquaredDistance2d(inside, cx, cy, sp[0], sp[1]);
    const auto dIn = SquaredDistance2d(outside, cx, cy, sp[0], sp[1]);
    float* s = &sdf[kk * cs];
    for (std::size_t q = 0; q < cs; ++q) {
      s[q] = static_cast<float>(inside[q] ? -(std::sqrt(dIn[q]) - halfPixel)
                                          : std::sqrt(dOut[q]) - halfPixel);
      depth[kk] = std::max(depth[kk], static_cast<double>(-s[q]));
    }
  }
  // Slices without the structure: a constant as large as the neighbours' deepest point, so the
  // interpolated surface closes as a dome reaching at most half-way to that slice.
  for (int kk = 0; kk < cz; ++kk) {
    if (hasVoxels[kk]) continue;
    double c = std::max(sp[0], sp[1]);
    if (kk > 0 && hasVoxels[kk - 1]) c = std::max(c, depth[kk - 1]);
    if (kk + 1 < cz && hasVoxels[kk + 1]) c = std::max(c, depth[kk + 1]);
    std::fill(sdf.begin() + kk * cs, sdf.begin() + (kk + 1) * cs, static_cast<float>(c));
  }

  // Isotropic axis-aligned grid over the crop's physical bounds.
  std::array<double, 3> lo{kInf, kInf, kInf}, hi{-kInf, -kInf, -kInf};
  for (double a : {-0.5, cx - 0.5})
    for (double b : {-0.5, cy - 0.5})
      for (double c : {0.0, cz - 1.0}) {
        const auto p = world(i0 + a, j0 + b, k0 + c);
        for (int r = 0; r < 3; ++r) lo[r] = std::min(lo[r], p[r]), hi[r] = std::max(hi[r], p[r]);
      }
  const double s = params.spacingMm;
  std::array<int, 3> dims{};
  for (int r = 0; r < 3; ++r) dims[r] = static_cast<int>(std::ceil((hi[r] - lo[r]) / s)) + 1;
  auto grid = vtkSmartPointer<vtkImageData>::New();
  grid->SetDimensions(dims[0], dims[1], dims[2]);
  grid->SetOrigin(lo[0], lo[1], lo[2]);
  grid->SetSpacing(s, s, s);
  grid->AllocateScalars(VTK_FLOAT, 1);
  float* g = static_cast<float*>(grid->GetScalarPointer());
  const auto c0 = world(i0, j0, k0);
  const float far = static_cast<float>(std::max(sp[2], 5.0));
  for (int z = 0; z < dims[2]; ++z)
    for (int y = 0; y < dims[1]; ++y)
      for (int x = 0; x < dims[0]; ++x) {
        const double d[3] = {lo[0] + x * s - c0[0], lo[1] + y * s - c0[1], lo[2] + z * s - c0[2]};
        double ci[3];
        for (int a = 0; a < 3; ++a)
          ci[a] = (dir[0][a] * d[0] + dir[1][a] * d[1] + dir[2][a] * d[2]) / sp[a];
        float& out = g[(static_cast<std::size_t>(z) * dims[1] + y) * dims[0] + x];
        if (ci[2] < 0 || ci[2] > cz - 1) {
          out = far;
          continue;
        }
        // In-plane: clamp to the crop (its border is background).
        const double fi = std::clamp(ci[0], 0.0, cx - 1.0), fj = std::clamp(ci[1], 0.0, cy - 1.0);
        const int a = std::min(static_cast<int>(fi), cx - 2),
                  b = std::min(static_cast<int>(fj), cy - 2),
                  c = std::min(static_cast<int>(ci[2]), cz - 2);
        const double u = fi - a, v = fj - b, w = ci[2] - c;
        auto at = [&](int da, int db, int dc) {
          return sdf[(c + dc) * cs + static_cast<std::size_t>(b + db) * cx + (a + da)];
        };
        const double v0 = (1 - u) * (1 - v) * at(0, 0, 0) + u * (1 - v) * at(1, 0, 0) +
                          (1 - u) * v * at(0, 1, 0) + u * v * at(1, 1, 0);
        const double v1 = (1 - u) * (1 - v) * at(0, 0, 1) + u * (1 - v) * at(1, 0, 1) +
                          (1 - u) * v * at(0, 1, 1) + u * v * at(1, 1, 1);
        out = static_cast<float>((1 - w) * v0 + w * v1);
      }

  vtkNew<vtkImageGaussianSmooth> blur;
  blur->SetInputData(grid);
  blur->SetDimensionality(3);
  const double sigmaVox = params.blurSigmaMm / s;
  blur->SetStandardDeviations(sigmaVox, sigmaVox, sigmaVox);
  blur->SetRadiusFactors(2.0, 2.0, 2.0);
  vtkNew<vtkFlyingEdges3D> contour;
  contour->SetInputConnection(blur->GetOutputPort());
  contour->SetValue(0, 0.0);
  contour->ComputeNormalsOff();
  contour->ComputeGradientsOff();
  contour->ComputeScalarsOff();
  contour->Update();
  // A structure thinner than the blur leaves no surface: an empty mesh (VTK's smoother would
  // report an error on it).
  if (contour->GetOutput()->GetNumberOfPoints() == 0) return vtkSmartPointer<vtkPolyData>::New();
  vtkNew<vtkWindowedSincPolyDataFilter> smooth;
  smooth->SetInputConnection(contour->GetOutputPort());
  smooth->SetNumberOfIterations(params.smoothingIterations);
  smooth->SetPassBand(params.smoothingPassBand);
  smooth->BoundarySmoothingOff();
  smooth->FeatureEdgeSmoothingOff();
  smooth->NonManifoldSmoothingOn();
  smooth->NormalizeCoordinatesOn();
  smooth->Update();
  vtkSmartPointer<vtkPolyData> mesh = smooth->GetOutput();
  if (mesh->GetNumberOfPolys() > params.maxTriangles) {
    vtkNew<vtkQuadricDecimation> decimate;
    decimate->SetInputData(mesh);
    decimate->SetTargetReduction(1.0 - static_cast<double>(params.maxTriangles) /
                                           mesh->GetNumberOfPolys());
    decimate->VolumePreservationOn();
    decimate->Update();
    mesh = decimate->GetOutput();
  }
  vtkNew<vtkPolyDataNormals> normals;
  normals->SetInputData(mesh);
  normals->SplittingOff();
  normals->ConsistencyOn();
  normals->ComputePointNormalsOn();
  normals->Update();
  auto out = vtkSmartPointer<vtkPolyData>::New();
  out->ShallowCopy(normals->GetOutput());
  return out;
}

void AddThicknessScalars(vtkPolyData& surface, std::vector<std::pair<double, double>> zt,
                         double toleranceMm) {
  std::sort(zt.begin(), zt.end());
  vtkNew<vtkFloatArray> values;
  values->SetName("thickness_mm");
  values->SetNumberOfValues(surface.GetNumberOfPoints());
  for (vtkIdType i = 0; i < surface.GetNumberOfPoints(); ++i) {
    const double z = surface.GetPoint(i)[2];
    float t = std::numeric_limits<float>::quiet_NaN();
    if (!zt.empty() && z >= zt.front().first - toleranceMm && z <= zt.back().first + toleranceMm) {
      if (z <= zt.front().first) {
        t = static_cast<float>(zt.front().second);
      } else if (z >= zt.back().first) {
        t = static_cast<float>(zt.back().second);
      } else {
        const auto hiIt = std::upper_bound(zt.begin(), zt.end(), std::make_pair(z, -kInf));
        const auto& b = *hiIt;
        const auto& a = *(hiIt - 1);
        const double w = (z - a.first) / std::max(1e-9, b.first - a.first);
        t = static_cast<float>(a.second + w * (b.second - a.second));
      }
    }
    values->SetValue(i, t);
  }
  surface.GetPointData()->AddArray(values);
  surface.GetPointData()->SetActiveScalars("thickness_mm");
}

void WriteSurface(vtkPolyData& surface, const std::filesystem::path& vtpPath,
                  const std::filesystem::path& stlPath) {
  // 3D Slicer reads the coordinate system from this field (VTK files) or the header (STL).
  vtkNew<vtkStringArray> space;
  space->SetName("SPACE");
  space->InsertNextValue("LPS");
  surface.GetFieldData()->AddArray(space);
  vtkNew<vtkXMLPolyDataWriter> vtp;
  vtp->SetInputData(&surface);
  vtp->SetFileName(vtpPath.c_str());
  vtp->SetDataModeToBinary();
  vtp->SetCompressorTypeToZLib();
  if (!vtp->Write()) throw std::runtime_error("cannot write the surface " + vtpPath.string());
  vtkNew<vtkSTLWriter> stl;
  stl->SetInputData(&surface);
  stl->SetFileName(stlPath.c_str());
  stl->SetFileTypeToBinary();
  stl->SetHeader("ischia surface, patient coordinates in mm. SPACE=LPS");
  if (!stl->Write()) throw std::runtime_error("cannot write the surface " + stlPath.string());
}

}  // namespace ischia
