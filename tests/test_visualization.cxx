// Visualization: ITK->VTK geometry, surfaces against the label map, plane sampling, the mesh
// files' coordinate tags, and picture checks (left/right placement and an image-regression
// test against a committed reference with a tolerance). Rendering tests skip when no X
// display can be had (they need Xvfb, which scripts/setup.sh installs).
#include <gtest/gtest.h>
#include <unistd.h>
#include <vtkFeatureEdges.h>
#include <vtkFieldData.h>
#include <vtkImageData.h>
#include <vtkMassProperties.h>
#include <vtkMatrix3x3.h>
#include <vtkPNGReader.h>
#include <vtkPNGWriter.h>
#include <vtkPointData.h>
#include <vtkRenderWindow.h>
#include <vtkRenderer.h>
#include <vtkStringArray.h>
#include <vtkTriangleFilter.h>
#include <vtkWindowToImageFilter.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "offscreen_display.h"
#include "plane_sampling.h"
#include "surfaces.h"
#include "viewer.h"
#include "visuals_internal.h"
#include "vtk_convert.h"

namespace fs = std::filesystem;
using namespace ischia;

namespace {

// Oblique (15 deg about z, 8 deg about x), anisotropic (0.8 x 0.9 x 4 mm) grid.
template <typename TImage>
typename TImage::Pointer ObliqueGrid(typename TImage::SizeType size = {{90, 80, 16}}) {
  auto image = TImage::New();
  image->SetRegions(typename TImage::RegionType(size));
  typename TImage::SpacingType sp;
  sp[0] = 0.8, sp[1] = 0.9, sp[2] = 4.0;
  image->SetSpacing(sp);
  const double a = 15 * M_PI / 180, b = 8 * M_PI / 180;
  typename TImage::DirectionType rz, rx;
  rz.SetIdentity();
  rx.SetIdentity();
  rz[0][0] = std::cos(a), rz[0][1] = -std::sin(a), rz[1][0] = std::sin(a), rz[1][1] = std::cos(a);
  rx[1][1] = std::cos(b), rx[1][2] = -std::sin(b), rx[2][1] = std::sin(b), rx[2][2] = std::cos(b);
  image->SetDirection(rx * rz);
  typename TImage::PointType o;
  o[0] = -30, o[1] = -25, o[2] = -40;
  image->SetOrigin(o);
  image->Allocate(true);
  return image;
}

Vec3 World(const itk::ImageBase<3>& g, double i, double j, double k) {
  itk::ContinuousIndex<double, 3> ci;
  ci[0] = i, ci[1] = j, ci[2] = k;
  itk::Point<double, 3> p;
  g.TransformContinuousIndexToPhysicalPoint(ci, p);
  return {p[0], p[1], p[2]};
}

// Physical bounds of the voxels (their corners) labelled `value` with x > 0 (left) or <= 0.
std::array<double, 6> LabelBounds(const LabelImage& l, std::uint16_t value, bool left) {
  std::array<double, 6> b{1e9, -1e9, 1e9, -1e9, 1e9, -1e9};
  const auto size = l.GetLargestPossibleRegion().GetSize();
  for (unsigned k = 0; k < size[2]; ++k)
    for (unsigned j = 0; j < size[1]; ++j)
      for (unsigned i = 0; i < size[0]; ++i) {
        LabelImage::IndexType idx = {{i, j, k}};
        if (l.GetPixel(idx) != value || (World(l, i, j, k)[0] > 0) != left) continue;
        // In-plane corners at +-0.5 pixel; along the slice normal the centre +-0.5 slice.
        for (int c = 0; c < 8; ++c) {
          const Vec3 p = World(l, i + ((c & 1) ? 0.5 : -0.5), j + ((c & 2) ? 0.5 : -0.5),
                               k + ((c & 4) ? 0.5 : -0.5));
          for (int a = 0; a < 3; ++a)
            b[2 * a] = std::min(b[2 * a], p[a]), b[2 * a + 1] = std::max(b[2 * a + 1], p[a]);
        }
      }
  return b;
}

// A label map: an ellipsoid "tendon" (2) on the patient's left, a box "bone" (1) on the right.
LabelImage::Pointer TwoStructures() {
  auto l = ObliqueGrid<LabelImage>();
  const auto size = l->GetLargestPossibleRegion().GetSize();
  for (unsigned k = 0; k < size[2]; ++k)
    for (unsigned j = 0; j < size[1]; ++j)
      for (unsigned i = 0; i < size[0]; ++i) {
        const Vec3 p = World(*l, i, j, k);
        const double e = std::pow((p[0] - 12) / 7, 2) + std::pow((p[1] - 8) / 5, 2) +
                         std::pow((p[2] + 10) / 14, 2);
        LabelImage::IndexType idx = {{i, j, k}};
        if (e <= 1) l->SetPixel(idx, kLabelTendon);
        if (p[0] < -8 && p[0] > -22 && std::fabs(p[1] - 5) < 6 && p[2] > -20 && p[2] < 0)
          l->SetPixel(idx, kLabelBone);
      }
  return l;
}

bool RenderingAvailable() {
  static const bool ok = EnsureOpenGlDisplay(true).usable;
  return ok;
}

}  // namespace

TEST(ToVtkImage, SameWorldPointForEveryIndexObliqueAnisotropic) {
  auto f = ObliqueGrid<FloatImage>();
  float* buf = f->GetBufferPointer();
  for (std::size_t i = 0; i < f->GetLargestPossibleRegion().GetNumberOfPixels(); ++i)
    buf[i] = static_cast<float>(i % 977) * 0.5f;  // not constant
  const auto v = ToVtkImage(*f);
  int dims[3];
  v->GetDimensions(dims);
  EXPECT_EQ(dims[0], 90);
  EXPECT_EQ(dims[1], 80);
  EXPECT_EQ(dims[2], 16);
  for (const std::array<int, 3>& idx : {std::array<int, 3>{0, 0, 0},
                                        {89, 0, 0},
                                        {0, 79, 0},
                                        {0, 0, 15},
                                        {45, 33, 7},
                                        {89, 79, 15}}) {
    double pv[3];
    v->TransformIndexToPhysicalPoint(idx[0], idx[1], idx[2], pv);
    const Vec3 pi = World(*f, idx[0], idx[1], idx[2]);
    for (int a = 0; a < 3; ++a)
      EXPECT_NEAR(pv[a], pi[a], 1e-6) << "index " << idx[0] << "," << idx[1] << "," << idx[2];
    FloatImage::IndexType ii = {{idx[0], idx[1], idx[2]}};
    EXPECT_EQ(v->GetScalarComponentAsFloat(idx[0], idx[1], idx[2], 0), f->GetPixel(ii));
  }
  // LPS kept: the direction's first column points mostly to +x (patient left).
  EXPECT_GT(v->GetDirectionMatrix()->GetElement(0, 0), 0.9);
  // Label and mask types keep their scalar type and geometry too.
  auto l = TwoStructures();
  const auto vl = ToVtkImage(*l);
  EXPECT_EQ(vl->GetScalarType(), VTK_UNSIGNED_SHORT);
  double pv[3];
  vl->TransformIndexToPhysicalPoint(10, 20, 3, pv);
  const Vec3 pi = World(*l, 10, 20, 3);
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(pv[a], pi[a], 1e-6);
  auto m = ObliqueGrid<MaskImage>();
  EXPECT_EQ(ToVtkImage(*m)->GetScalarType(), VTK_UNSIGNED_CHAR);
}

TEST(ExtractLabelSurface, BoundsMatchTheLabelMapPerSideAndSurfaceIsClosed) {
  const auto l = TwoStructures();
  for (const bool left : {true, false}) {
    SCOPED_TRACE(left ? "left tendon" : "right bone");
    const std::uint16_t value = left ? kLabelTendon : kLabelBone;
    const auto mesh = ExtractLabelSurface(*l, value, left ? BodySide::Left : BodySide::Right, 0.0);
    ASSERT_GT(mesh->GetNumberOfPoints(), 100);
    const auto lb = LabelBounds(*l, value, left);
    const double* mb = mesh->GetBounds();
    // Within about one voxel: 1 mm in x/y (0.8-0.9 mm pixels, tilted slices), 4 mm in z.
    for (int a = 0; a < 3; ++a) {
      const double tol = a < 2 ? 1.6 : 4.0;
      EXPECT_NEAR(mb[2 * a], lb[2 * a], tol) << "axis " << a;
      EXPECT_NEAR(mb[2 * a + 1], lb[2 * a + 1], tol) << "axis " << a;
      // The surface never reaches beyond the voxels' extent by more than a little.
      EXPECT_GT(mb[2 * a], lb[2 * a] - 1.0) << "axis " << a;
      EXPECT_LT(mb[2 * a + 1], lb[2 * a + 1] + 1.0) << "axis " << a;
    }
    vtkNew<vtkFeatureEdges> edges;  // closed: no boundary or non-manifold edge
    edges->SetInputData(mesh);
    edges->BoundaryEdgesOn();
    edges->NonManifoldEdgesOn();
    edges->FeatureEdgesOff();
    edges->ManifoldEdgesOff();
    edges->Update();
    EXPECT_EQ(edges->GetOutput()->GetNumberOfLines(), 0);
  }
  // The left side has no bone: empty, not an error.
  EXPECT_EQ(ExtractLabelSurface(*l, kLabelBone, BodySide::Left, 0.0)->GetNumberOfPoints(), 0);
  EXPECT_EQ(ExtractLabelSurface(*l, kLabelTear, BodySide::Both, 0.0)->GetNumberOfPoints(), 0);
}

TEST(ExtractLabelSurface, VolumeCloseToTheEllipsoid) {
  const auto l = TwoStructures();
  const auto mesh = ExtractLabelSurface(*l, kLabelTendon, BodySide::Left, 0.0);
  vtkNew<vtkTriangleFilter> tri;
  tri->SetInputData(mesh);
  vtkNew<vtkMassProperties> mass;
  mass->SetInputConnection(tri->GetOutputPort());
  mass->Update();
  const double ellipsoid = 4.0 / 3.0 * M_PI * 7 * 5 * 14;  // mm3
  EXPECT_NEAR(mass->GetVolume(), ellipsoid, 0.2 * ellipsoid);
}

TEST(AddThicknessScalars, InterpolatesAlongZAndMarksUnmeasured) {
  const auto mesh = ExtractLabelSurface(*TwoStructures(), kLabelTendon, BodySide::Left, 0.0);
  AddThicknessScalars(*mesh, {{-20, 4.0}, {-10, 8.0}}, 1.0);
  auto* t = mesh->GetPointData()->GetArray("thickness_mm");
  ASSERT_NE(t, nullptr);
  int nan = 0, checked = 0;
  for (vtkIdType i = 0; i < mesh->GetNumberOfPoints(); ++i) {
    const double z = mesh->GetPoint(i)[2], v = t->GetTuple1(i);
    if (z > -9 || z < -21) {
      EXPECT_TRUE(std::isnan(v)) << z;
      ++nan;
    } else if (z > -20 && z < -10) {
      EXPECT_NEAR(v, 4.0 + (z + 20) * 0.4, 1e-3);
      ++checked;
    }
  }
  EXPECT_GT(nan, 0);
  EXPECT_GT(checked, 0);
}

TEST(WriteSurface, TagsLpsForSlicerAndKeepsCoordinates) {
  const fs::path dir = fs::temp_directory_path() / ("ischia_surface_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto mesh = ExtractLabelSurface(*TwoStructures(), kLabelBone, BodySide::Right, 0.0);
  WriteSurface(*mesh, dir / "b.vtp", dir / "b.stl");
  const auto back = ReadSurface(dir / "b.vtp");
  ASSERT_EQ(back->GetNumberOfPoints(), mesh->GetNumberOfPoints());
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(back->GetPoint(7)[a], mesh->GetPoint(7)[a], 1e-4);
  auto* space = vtkStringArray::SafeDownCast(back->GetFieldData()->GetAbstractArray("SPACE"));
  ASSERT_NE(space, nullptr);
  EXPECT_EQ(space->GetValue(0), "LPS");
  std::ifstream stl(dir / "b.stl", std::ios::binary);
  std::string header(80, '\0');
  stl.read(header.data(), 80);
  EXPECT_NE(header.find("SPACE=LPS"), std::string::npos);
  fs::remove_all(dir);
}

TEST(PlaneGrid, SamplesALinearRampExactlyOnAnObliqueGrid) {
  auto f = ObliqueGrid<FloatImage>();
  const auto size = f->GetLargestPossibleRegion().GetSize();
  for (unsigned k = 0; k < size[2]; ++k)
    for (unsigned j = 0; j < size[1]; ++j)
      for (unsigned i = 0; i < size[0]; ++i) {
        const Vec3 p = World(*f, i, j, k);
        f->SetPixel({{i, j, k}}, static_cast<float>(2 * p[0] - p[1] + 0.5 * p[2]));
      }
  const PlaneGrid g = PlaneGrid::Centred(World(*f, 45, 40, 8), {1, 0, 0}, {0, 1, 0}, 20, 10, 0.5);
  const auto s = SamplePlane(*f, g);
  for (int b = 0; b < g.nv; b += 3)
    for (int a = 0; a < g.nu; a += 3) {
      const Vec3 p = g.Point(a, b);
      EXPECT_NEAR(s[b * g.nu + a], 2 * p[0] - p[1] + 0.5 * p[2], 1e-3);
    }
  const auto px = g.ToPixel(g.Point(3.25, 7.5));
  EXPECT_NEAR(px[0], 3.25, 1e-9);
  EXPECT_NEAR(px[1], 7.5, 1e-9);
  // Outside the volume: NaN.
  const PlaneGrid far = PlaneGrid::Centred({500, 0, 0}, {1, 0, 0}, {0, 1, 0}, 4, 4, 1);
  EXPECT_TRUE(std::isnan(SamplePlane(*f, far)[0]));
}

// ---- Pictures -------------------------------------------------------------------------------

namespace {

// The 3D scene of TwoStructures() seen from posterior into a small window.
vtkSmartPointer<vtkImageData> RenderSmallScene(int w, int h) {
  static const auto labels = TwoStructures();
  static auto image = [] {
    auto f = ObliqueGrid<FloatImage>();
    const auto size = f->GetLargestPossibleRegion().GetSize();
    for (unsigned k = 0; k < size[2]; ++k)
      for (unsigned j = 0; j < size[1]; ++j)
        for (unsigned i = 0; i < size[0]; ++i)
          f->SetPixel({{i, j, k}}, static_cast<float>(
                                       100 + 50 * std::sin(0.2 * i) * std::cos(0.15 * j) + 3 * k));
    return f;
  }();
  SceneContent c;
  auto tendon = ExtractLabelSurface(*labels, kLabelTendon, BodySide::Left, 0.0);
  AddThicknessScalars(*tendon, {{-22, 3.0}, {-10, 9.0}, {2, 14.0}}, 1.0);
  c.surfaces["tendon_left"] = tendon;
  c.surfaces["bone_right"] = ExtractLabelSurface(*labels, kLabelBone, BodySide::Right, 0.0);
  c.planeImage = image.GetPointer();
  c.window = WindowFromPercentiles(*image, nullptr);
  c.compactLegend = true;
  auto window = OffscreenWindow(w, h);
  vtkNew<vtkRenderer> r;
  r->SetBackground(0, 0, 0);
  window->AddRenderer(r);
  const SceneActors s = PopulateScene(r, c);
  s.colourBar->SetVisibility(false);  // fonts aside: geometry and colours only
  r->RemoveAllViewProps();
  for (const auto& [name, actor] : s.surfaces) r->AddActor(actor);
  for (const auto& plane : s.planes) r->AddActor(plane);
  SetSceneCamera(r, s, 0, 0);
  window->Render();
  vtkNew<vtkWindowToImageFilter> grab;
  grab->SetInput(window);
  grab->SetInputBufferTypeToRGB();
  grab->ReadFrontBufferOff();
  grab->Update();
  auto out = vtkSmartPointer<vtkImageData>::New();
  out->DeepCopy(grab->GetOutput());
  return out;
}

}  // namespace

TEST(SceneRender, PatientLeftIsOnTheLeftOfAPosteriorView) {
  if (!RenderingAvailable()) GTEST_SKIP() << "no X display (install xvfb)";
  const auto img = RenderSmallScene(320, 240);
  // Bone (ivory, only on the patient's right) and tendon (viridis, only on the left): from
  // behind, the patient's left is on the viewer's left.
  double boneX = 0, tendonX = 0;
  int bone = 0, tendon = 0;
  for (int y = 0; y < 240; ++y)
    for (int x = 0; x < 320; ++x) {
      const auto* p = static_cast<unsigned char*>(img->GetScalarPointer(x, y, 0));
      const bool ivory = p[0] > 170 && p[1] > 150 && p[2] > 100 && p[2] < p[0] - 25;
      const bool viridis = p[1] > p[0] + 25 && p[1] > 60;  // green/teal-yellow, not grey
      if (ivory) boneX += x, ++bone;
      if (viridis) tendonX += x, ++tendon;
    }
  ASSERT_GT(bone, 50);
  ASSERT_GT(tendon, 50);
  // 34 mm apart in the scene: far more than a few pixels apart on the screen.
  EXPECT_GT(boneX / bone, tendonX / tendon + 40)
      << "bone (patient right) must be right of the tendon (patient left)";
}

TEST(SceneRender, MatchesTheReferencePictureWithinTolerance) {
  if (!RenderingAvailable()) GTEST_SKIP() << "no X display (install xvfb)";
  const auto img = RenderSmallScene(320, 240);
  const fs::path ref = fs::path(ISCHIA_TEST_DATA) / "scene_reference.png";
  if (std::getenv("ISCHIA_UPDATE_REFERENCE")) {
    vtkNew<vtkPNGWriter> w;
    w->SetInputData(img);
    w->SetFileName(ref.c_str());
    w->Write();
    GTEST_SKIP() << "reference written to " << ref;
  }
  ASSERT_TRUE(fs::exists(ref)) << ref << " missing: run with ISCHIA_UPDATE_REFERENCE=1";
  vtkNew<vtkPNGReader> reader;
  reader->SetFileName(ref.c_str());
  reader->Update();
  vtkImageData* r = reader->GetOutput();
  int d[3];
  r->GetDimensions(d);
  ASSERT_EQ(d[0], 320);
  ASSERT_EQ(d[1], 240);
  ASSERT_EQ(r->GetNumberOfScalarComponents(), 3);
  // Tolerance: mean absolute difference under 3 grey levels and under 2% of the pixels off
  // by more than 60 (rasterisation may differ by a pixel along edges).
  double sum = 0;
  int off = 0;
  const int n = 320 * 240;
  const auto* a = static_cast<unsigned char*>(img->GetScalarPointer());
  const auto* b = static_cast<unsigned char*>(r->GetScalarPointer());
  for (int i = 0; i < n; ++i) {
    int worst = 0;
    for (int c = 0; c < 3; ++c) {
      const int diff = std::abs(int(a[3 * i + c]) - int(b[3 * i + c]));
      sum += diff;
      worst = std::max(worst, diff);
    }
    off += worst > 60;
  }
  EXPECT_LT(sum / (3.0 * n), 3.0);
  EXPECT_LT(off, 0.02 * n);
}

TEST(KeyImages, RadiologicalOrientationPatientLeftOnTheImageRight) {
  if (!RenderingAvailable()) GTEST_SKIP() << "no X display (install xvfb)";
  // 200 x 100 mm axial grid (1 mm pixels, 4 mm slices); tuberosity tips at x = -50 (right)
  // and x = +50 (left); a "tendon" only on the patient's left, lateral to its tip.
  auto f = FloatImage::New();
  f->SetRegions(FloatImage::SizeType{{200, 100, 16}});
  FloatImage::SpacingType sp;
  sp[0] = 1, sp[1] = 1, sp[2] = 4;
  f->SetSpacing(sp);
  FloatImage::PointType o;
  o[0] = -99.5, o[1] = -49.5, o[2] = -60;
  f->SetOrigin(o);
  f->Allocate(true);
  auto l = LabelImage::New();
  l->CopyInformation(f);
  l->SetRegions(f->GetLargestPossibleRegion());
  l->Allocate(true);
  for (unsigned k = 0; k < 16; ++k)
    for (unsigned j = 0; j < 100; ++j)
      for (unsigned i = 0; i < 200; ++i) {
        const Vec3 p = World(*f, i, j, k);
        const bool tendon = std::hypot(p[0] - 62, p[1] - 5) < 5;
        f->SetPixel({{i, j, k}}, tendon ? 20.f : static_cast<float>(100 + 10 * std::sin(0.3 * i)));
        if (tendon) l->SetPixel({{i, j, k}}, kLabelTendon);
      }
  StudyVisualsInput in;
  in.fluid = f.GetPointer();
  in.labels = l.GetPointer();
  for (SideOverlay* s : {&in.left, &in.right}) {
    s->side = s == &in.left ? "left" : "right";
    s->found = true;
    s->tipLps = {s == &in.left ? 50.0 : -50.0, 0.0, -20.0};
    s->footprintLps = s->tipLps;
    s->footprintLps[2] += 12;
  }
  in.left.tendonFound = true;
  const fs::path dir = fs::temp_directory_path() / ("ischia_keys_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto window = OffscreenWindow(64, 64);
  std::vector<std::string> warnings;
  const auto images = WriteKeyImages(window, in, dir, "key_images", warnings);
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(images.size(), 6u);
  vtkNew<vtkPNGReader> png;
  png->SetFileName((dir / "axial_10mm.png").c_str());
  png->Update();
  vtkImageData* img = png->GetOutput();
  int d[3];
  img->GetDimensions(d);
  ASSERT_EQ(d[0], 1080);
  // Green tendon contour pixels inside the panels (VTK rows count from the bottom: skip the
  // 40-pixel legend at the bottom and the 64-pixel header at the top).
  int rightHalf = 0, leftHalf = 0;
  double sumX = 0;
  for (int y = 45; y < d[1] - 70; ++y)
    for (int x = 0; x < d[0]; ++x) {
      const auto* p = static_cast<unsigned char*>(img->GetScalarPointer(x, y, 0));
      if (p[1] > 180 && p[0] < 110 && p[2] < 130) {
        (x >= d[0] / 2 ? rightHalf : leftHalf)++;
        sumX += x;
      }
    }
  EXPECT_GT(rightHalf, 30) << "the patient's left tendon must be in the right panel";
  EXPECT_EQ(leftHalf, 0);
  // Lateral: to the right of the left panel's centre (the tip is at the crop's centre or
  // medial to it).
  if (rightHalf > 0) EXPECT_GT(sumX / rightHalf, 0.75 * d[0]);
  if (!std::getenv("ISCHIA_KEEP_TEST_OUTPUT")) fs::remove_all(dir);
}
