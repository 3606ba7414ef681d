#include "viewer.h"

#include <vtkCamera.h>
#include <vtkImageProperty.h>
#include <vtkInteractorStyleTrackballCamera.h>
#include <vtkMatrix4x4.h>
#include <vtkObjectFactory.h>
#include <vtkRenderWindowInteractor.h>
#include <vtkXMLPolyDataReader.h>

#include <functional>
#include <stdexcept>

#include "offscreen_display.h"

namespace ischia {
namespace fs = std::filesystem;

vtkSmartPointer<vtkPolyData> ReadSurface(const fs::path& vtpPath) {
  vtkNew<vtkXMLPolyDataReader> reader;
  if (!reader->CanReadFile(vtpPath.c_str()))
    throw std::runtime_error("cannot read the surface " + vtpPath.string());
  reader->SetFileName(vtpPath.c_str());
  reader->Update();
  auto out = vtkSmartPointer<vtkPolyData>::New();
  out->ShallowCopy(reader->GetOutput());
  return out;
}

namespace {

// Mouse and keys: slice scrolling over the slice view, structure toggles, 3D camera elsewhere.
class ViewerStyle : public vtkInteractorStyleTrackballCamera {
 public:
  static ViewerStyle* New();
  vtkTypeMacro(ViewerStyle, vtkInteractorStyleTrackballCamera);
  vtkRenderer* sliceView = nullptr;
  std::function<void(int)> moveSlice;
  std::function<void(char)> toggle;

  void OnKeyPress() override {
    const std::string key = this->Interactor->GetKeySym() ? this->Interactor->GetKeySym() : "";
    if (key == "Up" || key == "Prior") return moveSlice(key == "Up" ? 1 : 5);
    if (key == "Down" || key == "Next") return moveSlice(key == "Down" ? -1 : -5);
    vtkInteractorStyleTrackballCamera::OnKeyPress();
  }
  void OnChar() override {
    const char c = this->Interactor->GetKeyCode();
    if (c == 'q' || c == 'e') return vtkInteractorStyleTrackballCamera::OnChar();
    if (c == 'b' || c == 't' || c == 'x' || c == 'm' || c == 'r') toggle(c);
  }
  void OnMouseWheelForward() override {
    if (OverSlice()) return moveSlice(1);
    vtkInteractorStyleTrackballCamera::OnMouseWheelForward();
  }
  void OnMouseWheelBackward() override {
    if (OverSlice()) return moveSlice(-1);
    vtkInteractorStyleTrackballCamera::OnMouseWheelBackward();
  }
  void OnLeftButtonDown() override {
    if (!OverSlice()) vtkInteractorStyleTrackballCamera::OnLeftButtonDown();
  }
  void OnMiddleButtonDown() override {
    if (!OverSlice()) vtkInteractorStyleTrackballCamera::OnMiddleButtonDown();
  }
  void OnRightButtonDown() override {
    if (!OverSlice()) vtkInteractorStyleTrackballCamera::OnRightButtonDown();
  }

 private:
  bool OverSlice() {
    const int* pos = this->Interactor->GetEventPosition();
    this->FindPokedRenderer(pos[0], pos[1]);
    return this->CurrentRenderer == sliceView;
  }
};
vtkStandardNewMacro(ViewerStyle);

// The axial slice k as an RGB picture with the labels tinted, on a patient-axis-aligned plane
// (radiological: patient left to the right of the picture, posterior down).
struct SlicePicture {
  PlaneGrid grid;
  vtkSmartPointer<vtkImageData> picture;
};

SlicePicture MakeSlice(const FloatImage& image, const LabelImage* labels, int k,
                       IntensityWindow window) {
  const auto size = image.GetLargestPossibleRegion().GetSize();
  itk::ContinuousIndex<double, 3> ci;
  ci[0] = (size[0] - 1) / 2.0, ci[1] = (size[1] - 1) / 2.0, ci[2] = k;
  FloatImage::PointType c;
  image.TransformContinuousIndexToPhysicalPoint(ci, c);
  const auto& sp = image.GetSpacing();
  SlicePicture s;
  s.grid = PlaneGrid::Centred({c[0], c[1], c[2]}, {1, 0, 0}, {0, 1, 0}, size[0] * sp[0],
                              size[1] * sp[1], std::max(0.5, std::min(sp[0], sp[1])));
  s.picture = GreyPicture(SamplePlane(image, s.grid), s.grid, window);
  if (labels) {
    auto* px = static_cast<unsigned char*>(s.picture->GetScalarPointer());
    struct T {
      std::uint16_t label;
      Rgb colour;
    };
    for (const T& t : {T{kLabelBone, colours::kBoneLine}, T{kLabelTendon, colours::kTendonLine},
                       T{kLabelTear, colours::kTear}}) {
      const auto ind = SampleLabelIndicator(*labels, t.label, BodySide::Both, 0, s.grid);
      for (std::size_t i = 0; i < ind.size(); ++i) {
        if (ind[i] < 0.5) continue;
        for (int ch = 0; ch < 3; ++ch)
          px[3 * i + ch] =
              static_cast<unsigned char>(0.55 * px[3 * i + ch] + 0.45 * 255 * t.colour[ch]);
      }
    }
  }
  return s;
}

void Place(vtkImageActor* actor, const PlaneGrid& g) {
  vtkNew<vtkMatrix4x4> m;
  const Vec3 n{0, 0, 1};
  for (int r = 0; r < 3; ++r) {
    m->SetElement(r, 0, g.u[r]);
    m->SetElement(r, 1, g.v[r]);
    m->SetElement(r, 2, n[r]);
    m->SetElement(r, 3, g.origin[r]);
  }
  actor->SetUserMatrix(m);
}

}  // namespace

void RunViewer(const ViewerInput& in, const std::optional<fs::path>& screenshot, int width,
               int height) {
  if (!in.image) throw std::invalid_argument("viewer: no image");
  if (screenshot) {
    const DisplayStatus d = EnsureOpenGlDisplay(true);
    if (!d.usable) throw std::runtime_error("no X display for OpenGL: " + d.how);
  } else {
    const char* env = std::getenv("DISPLAY");
    std::string why;
    if (!env || !*env)
      throw std::runtime_error(
          "no display: DISPLAY is not set. Run it in a desktop session (or ssh -X), or save a "
          "picture with --screenshot FILE");
    if (!DisplayOffersGlx(env, &why)) throw std::runtime_error("no usable display: " + why);
  }
  const IntensityWindow window = WindowFromPercentiles(*in.image, nullptr, 0.5, 99.5);
  auto win = vtkSmartPointer<vtkRenderWindow>::New();
  win->SetSize(width, height);
  win->SetWindowName(("ischia view - " + in.title).c_str());
  win->SetMultiSamples(0);
  win->SetAlphaBitPlanes(1);
  if (screenshot) win->SetOffScreenRendering(1);

  vtkNew<vtkRenderer> scene;
  scene->SetViewport(0, 0, 0.55, 1);
  scene->GradientBackgroundOn();
  scene->SetBackground(0.05, 0.05, 0.08);
  scene->SetBackground2(0.20, 0.22, 0.28);
  scene->SetUseDepthPeeling(1);
  win->AddRenderer(scene);
  SceneContent content;
  content.surfaces = in.surfaces;
  content.planeImage = in.anatomy ? in.anatomy : in.image;
  content.window = WindowFromPercentiles(*content.planeImage, nullptr, 0.5, 99.5);
  content.tipLeft = in.tipLeft, content.tipRight = in.tipRight;
  content.thicknessMaxMm = in.thicknessMaxMm;
  content.compactLegend = true;
  const SceneActors actors = PopulateScene(scene, content);
  SetSceneCamera(scene, actors, 0, 20);
  AddOrientationCube(win, scene, {0.0, 0.0, 0.08, 0.16});

  vtkNew<vtkRenderer> slice;
  slice->SetViewport(0.55, 0, 1, 1);
  slice->SetBackground(0, 0, 0);
  win->AddRenderer(slice);
  vtkNew<vtkImageActor> slice2d, slice3d;
  slice2d->GetProperty()->SetInterpolationTypeToLinear();
  slice3d->GetProperty()->SetInterpolationTypeToLinear();
  slice3d->GetProperty()->SetOpacity(0.7);
  slice->AddActor(slice2d);
  scene->AddActor(slice3d);
  TextStyle info;
  info.size = 16;
  info.vAlign = 2;
  auto infoText = ViewportText("", 0.02, 0.98, info);
  slice->AddActor2D(infoText);
  TextStyle help = info;
  help.size = 14;
  help.vAlign = 0;
  help.colour = {0.85, 0.85, 0.85};
  slice->AddActor2D(ViewportText(
      "Up/Down, PageUp/PageDown, wheel: slice   b t x: bone tendon tear   m: MRI planes   "
      "r: reset 3D   q: quit",
      0.02, 0.015, help));
  TextStyle lr = info;
  lr.size = 20, lr.bold = true, lr.vAlign = 1;
  slice->AddActor2D(ViewportText("R", 0.01, 0.5, lr));
  lr.hAlign = 2;
  slice->AddActor2D(ViewportText("L", 0.99, 0.5, lr));
  TextStyle title = info;
  title.size = 18, title.bold = true;
  scene->AddActor2D(ViewportText(in.title, 0.02, 0.98, title));

  const int nz = static_cast<int>(in.image->GetLargestPossibleRegion().GetSize()[2]);
  int k = nz / 2;
  // Start at the tuberosity tips' level.
  for (const auto& tip : {in.tipRight, in.tipLeft}) {
    if (!tip) continue;
    FloatImage::PointType p;
    p[0] = (*tip)[0], p[1] = (*tip)[1], p[2] = (*tip)[2];
    itk::ContinuousIndex<double, 3> ci;
    in.image->TransformPhysicalPointToContinuousIndex(p, ci);
    k = std::clamp(static_cast<int>(std::lround(ci[2])), 0, nz - 1);
  }
  bool first = true;
  auto showSlice = [&](int newK) {
    k = std::clamp(newK, 0, nz - 1);
    const SlicePicture s = MakeSlice(*in.image, in.labels, k, window);
    slice2d->SetInputData(s.picture);
    slice3d->SetInputData(s.picture);
    Place(slice3d, s.grid);
    const Vec3 mid = s.grid.Point(0.5 * (s.grid.nu - 1), 0.5 * (s.grid.nv - 1));
    infoText->SetInput(("Axial slice " + std::to_string(k + 1) + " / " + std::to_string(nz) +
                        "   z " + Mm(mid[2]) +
                        " mm\nradiological: patient's right on "
                        "the left; bone yellow, tendon green, tear magenta")
                           .c_str());
    if (first) {
      vtkCamera* cam = slice->GetActiveCamera();
      const double cx = 0.5 * (s.grid.nu - 1) * s.grid.pixelMm,
                   cy = 0.5 * (s.grid.nv - 1) * s.grid.pixelMm;
      cam->ParallelProjectionOn();
      cam->SetFocalPoint(cx, cy, 0);
      cam->SetPosition(cx, cy, -1000);
      cam->SetViewUp(0, -1, 0);
      const double aspect = 0.45 * width / height;
      cam->SetParallelScale(
          0.52 * std::max(s.grid.nv * s.grid.pixelMm, s.grid.nu * s.grid.pixelMm / aspect));
      slice->ResetCameraClippingRange();
      first = false;
    }
    scene->ResetCameraClippingRange();
  };
  showSlice(k);

  if (screenshot) {
    SaveWindowPng(win, *screenshot);
    return;
  }
  vtkNew<vtkRenderWindowInteractor> interactor;
  vtkNew<ViewerStyle> style;
  style->sliceView = slice;
  style->SetDefaultRenderer(scene);
  style->moveSlice = [&](int d) {
    showSlice(k + d);
    win->Render();
  };
  style->toggle = [&](char c) {
    const char* structure = c == 'b' ? "bone" : c == 't' ? "tendon" : c == 'x' ? "tear" : nullptr;
    for (const auto& [name, actor] : actors.surfaces)
      if (structure && name.rfind(structure, 0) == 0) actor->SetVisibility(!actor->GetVisibility());
    if (c == 'm')
      for (const auto& plane : actors.planes) plane->SetVisibility(!plane->GetVisibility());
    if (c == 'r') SetSceneCamera(scene, actors, 0, 20);
    win->Render();
  };
  interactor->SetInteractorStyle(style);
  interactor->SetRenderWindow(win);
  interactor->Initialize();
  win->Render();
  interactor->Start();
}

}  // namespace ischia
