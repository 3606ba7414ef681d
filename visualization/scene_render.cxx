// The 3D scene: bone, tendon coloured by thickness, tears, MRI planes; and the three renders.
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkImageProperty.h>
#include <vtkMatrix4x4.h>
#include <vtkPoints.h>
#include <vtkPolyDataMapper.h>
#include <vtkPolyDataMapper2D.h>
#include <vtkProperty.h>
#include <vtkProperty2D.h>
#include <vtkRendererCollection.h>
#include <vtkTextProperty.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "visuals_internal.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

vtkSmartPointer<vtkLookupTable> ThicknessLookupTable(double maxMm) {
  // Viridis control points: perceptually ordered, readable by colour-blind readers, and far
  // from the tear colour (magenta-red) and the bone (ivory).
  static const double kStops[5][3] = {{0.267, 0.005, 0.329},
                                      {0.229, 0.322, 0.546},
                                      {0.128, 0.567, 0.551},
                                      {0.369, 0.789, 0.383},
                                      {0.993, 0.906, 0.144}};
  auto lut = vtkSmartPointer<vtkLookupTable>::New();
  const int n = 256;
  lut->SetNumberOfTableValues(n);
  for (int i = 0; i < n; ++i) {
    const double t = 4.0 * i / (n - 1);
    const int a = std::min(3, static_cast<int>(t));
    const double w = t - a;
    lut->SetTableValue(i, (1 - w) * kStops[a][0] + w * kStops[a + 1][0],
                       (1 - w) * kStops[a][1] + w * kStops[a + 1][1],
                       (1 - w) * kStops[a][2] + w * kStops[a + 1][2], 1.0);
  }
  lut->SetTableRange(0, maxMm);
  lut->SetNanColor(colours::kNotMeasured[0], colours::kNotMeasured[1], colours::kNotMeasured[2], 1);
  return lut;
}

namespace {

// An MRI plane in the scene: the picture of `grid` placed at its LPS position.
vtkSmartPointer<vtkImageActor> PlaneActor(const FloatImage& image, const PlaneGrid& grid,
                                          IntensityWindow window) {
  auto actor = vtkSmartPointer<vtkImageActor>::New();
  actor->SetInputData(GreyPicture(SamplePlane(image, grid), grid, window));
  const Vec3 n{grid.u[1] * grid.v[2] - grid.u[2] * grid.v[1],
               grid.u[2] * grid.v[0] - grid.u[0] * grid.v[2],
               grid.u[0] * grid.v[1] - grid.u[1] * grid.v[0]};
  vtkNew<vtkMatrix4x4> m;
  for (int r = 0; r < 3; ++r) {
    m->SetElement(r, 0, grid.u[r]);
    m->SetElement(r, 1, grid.v[r]);
    m->SetElement(r, 2, n[r]);
    m->SetElement(r, 3, grid.origin[r]);
  }
  actor->SetUserMatrix(m);
  actor->GetProperty()->SetInterpolationTypeToLinear();
  return actor;
}

void AddSwatch(vtkRenderer* r, double x, double y, const Rgb& colour, const std::string& text) {
  vtkNew<vtkPoints> pts;
  pts->InsertNextPoint(0, 0, 0), pts->InsertNextPoint(16, 0, 0);
  pts->InsertNextPoint(16, 16, 0), pts->InsertNextPoint(0, 16, 0);
  vtkNew<vtkCellArray> quad;
  const vtkIdType ids[4] = {0, 1, 2, 3};
  quad->InsertNextCell(4, ids);
  vtkNew<vtkPolyData> poly;
  poly->SetPoints(pts);
  poly->SetPolys(quad);
  vtkNew<vtkPolyDataMapper2D> mapper;
  mapper->SetInputData(poly);
  vtkNew<vtkActor2D> swatch;
  swatch->SetMapper(mapper);
  swatch->GetProperty()->SetColor(colour[0], colour[1], colour[2]);
  swatch->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
  swatch->GetPositionCoordinate()->SetValue(x, y);
  r->AddActor2D(swatch);
  TextStyle st;
  st.size = 16;
  st.background = 0.45;
  r->AddActor2D(ViewportText(text, x + 0.02, y, st));
}

}  // namespace

SceneActors PopulateScene(vtkRenderer* renderer, const SceneContent& c) {
  SceneActors s;
  double b[6] = {1e30, -1e30, 1e30, -1e30, 1e30, -1e30};
  bool any = false;
  for (const auto& [name, poly] : c.surfaces) {
    if (!poly || poly->GetNumberOfPoints() == 0) continue;
    const double* pb = poly->GetBounds();
    for (int i = 0; i < 3; ++i)
      b[2 * i] = std::min(b[2 * i], pb[2 * i]),
            b[2 * i + 1] = std::max(b[2 * i + 1], pb[2 * i + 1]);
    any = true;
  }
  if (!any) {  // nothing segmented: centre the planes on the tips, or on the image
    Vec3 p{0, 0, 0};
    if (c.tipLeft) p = *c.tipLeft;
    if (c.tipRight) p = *c.tipRight;
    if (!c.tipLeft && !c.tipRight && c.planeImage) {
      const auto size = c.planeImage->GetLargestPossibleRegion().GetSize();
      itk::ContinuousIndex<double, 3> ci;
      for (int i = 0; i < 3; ++i) ci[i] = (size[i] - 1) / 2.0;
      FloatImage::PointType q;
      c.planeImage->TransformContinuousIndexToPhysicalPoint(ci, q);
      p = {q[0], q[1], q[2]};
    }
    for (int i = 0; i < 3; ++i) b[2 * i] = p[i] - 40, b[2 * i + 1] = p[i] + 40;
  }
  for (int i = 0; i < 6; ++i) s.bounds[i] = b[i];
  for (int i = 0; i < 3; ++i) s.centre[i] = 0.5 * (b[2 * i] + b[2 * i + 1]);

  const auto lut = ThicknessLookupTable(c.thicknessMaxMm);
  for (const auto& [name, poly] : c.surfaces) {
    if (!poly || poly->GetNumberOfPoints() == 0) continue;
    vtkNew<vtkPolyDataMapper> mapper;
    mapper->SetInputData(poly);
    auto actor = vtkSmartPointer<vtkActor>::New();
    actor->SetMapper(mapper);
    vtkProperty* p = actor->GetProperty();
    p->SetSpecular(0.15);
    p->SetSpecularPower(20);
    const std::string structure = name.substr(0, name.find('_'));
    const std::string side = name.substr(name.find('_') + 1);
    if (structure == "tendon") {
      mapper->SetLookupTable(lut);
      mapper->SetScalarModeToUsePointFieldData();
      mapper->SelectColorArray("thickness_mm");
      mapper->SetUseLookupTableScalarRange(true);
      mapper->ScalarVisibilityOn();
      // A partial tear lies inside the tendon: see-through tendon on that side.
      const auto tear = c.surfaces.find("tear_" + side);
      if (tear != c.surfaces.end() && tear->second && tear->second->GetNumberOfPoints() > 0)
        p->SetOpacity(0.45);
    } else {
      mapper->ScalarVisibilityOff();
      const Rgb& colour = structure == "tear" ? colours::kTear : colours::kBone;
      p->SetColor(colour[0], colour[1], colour[2]);
    }
    renderer->AddActor(actor);
    s.surfaces[name] = actor;
  }

  // MRI planes: a coronal plane through the tuberosity tips behind the structures (seen from
  // posterior) and an axial plane just below the lowest structure as a floor.
  double tipY = s.centre[1], tipZ = s.centre[2];
  int tips = 0;
  for (const auto& t : {c.tipLeft, c.tipRight})
    if (t) tipY = (tips ? tipY : 0) + (*t)[1], tipZ = (tips ? tipZ : 0) + (*t)[2], ++tips;
  if (tips) tipY /= tips, tipZ /= tips;
  s.coronalY = tipY;
  s.axialZ = b[4] - 3;
  if (c.planeImage) {
    const double width = (b[1] - b[0]) + 90, below = 15, above = 25;
    const double zTop = b[5] + above, zBottom = s.axialZ;
    const PlaneGrid coronal = PlaneGrid::Centred({s.centre[0], tipY, 0.5 * (zTop + zBottom)},
                                                 {1, 0, 0}, {0, 0, -1}, width, zTop - zBottom, 0.5);
    const double yFront = b[3] + 30;
    const PlaneGrid axial = PlaneGrid::Centred({s.centre[0], 0.5 * (tipY + yFront), s.axialZ},
                                               {1, 0, 0}, {0, 1, 0}, width, yFront - tipY, 0.5);
    (void)below;
    for (const PlaneGrid& g : {coronal, axial}) {
      auto a = PlaneActor(*c.planeImage, g, c.window);
      renderer->AddActor(a);
      s.planes.push_back(a);
    }
    s.planeText = c.planeImageName + " planes: coronal through the tuberosity tips, axial " +
                  Mm(tipZ - s.axialZ) + " mm below them";
  }

  // Patient left / right above each side's structures (readable from every view).
  TextStyle big;
  big.size = 30;
  big.bold = true;
  big.hAlign = 1;
  big.vAlign = 1;
  for (const std::string side : {"left", "right"}) {
    double x0 = 1e30, x1 = -1e30;
    for (const auto& [name, poly] : c.surfaces) {
      if (!poly || poly->GetNumberOfPoints() == 0 || name.substr(name.find('_') + 1) != side)
        continue;
      x0 = std::min(x0, poly->GetBounds()[0]), x1 = std::max(x1, poly->GetBounds()[1]);
    }
    const auto& tip = side == "left" ? c.tipLeft : c.tipRight;
    double x = x0 <= x1 ? 0.5 * (x0 + x1)
               : tip    ? (*tip)[0]
                        : std::numeric_limits<double>::quiet_NaN();
    if (std::isnan(x)) x = side == "left" ? b[1] + 15 : b[0] - 15;
    renderer->AddActor2D(WorldText(side == "left" ? "L" : "R", {x, tipY, b[5] + 14}, big));
  }

  auto bar = vtkSmartPointer<vtkScalarBarActor>::New();
  bar->SetLookupTable(lut);
  bar->SetTitle(c.compactLegend ? "Thickness\n(mm)" : "Tendon thickness (mm)");
  bar->SetNumberOfLabels(4);
  bar->SetLabelFormat("%.0f");
  bar->SetPosition(0.86, 0.30);
  bar->SetWidth(0.10);
  bar->SetHeight(0.50);
  bar->SetBarRatio(0.3);
  bar->UnconstrainedFontSizeOn();
  bar->DrawBackgroundOn();
  bar->GetBackgroundProperty()->SetColor(0, 0, 0);
  bar->GetBackgroundProperty()->SetOpacity(0.45);
  bar->GetTitleTextProperty()->SetFontSize(16);
  bar->GetTitleTextProperty()->SetItalic(false);
  bar->GetTitleTextProperty()->SetShadow(true);
  bar->GetLabelTextProperty()->SetFontSize(15);
  bar->GetLabelTextProperty()->SetItalic(false);
  bar->GetLabelTextProperty()->SetShadow(true);
  renderer->AddActor2D(bar);
  s.colourBar = bar;
  const double x = c.compactLegend ? 0.74 : 0.80;
  AddSwatch(renderer, x, 0.24, colours::kTear, "tear (fluid)");
  AddSwatch(renderer, x, 0.20, colours::kNotMeasured,
            c.compactLegend ? "not measured" : "tendon, not measured");
  AddSwatch(renderer, x, 0.16, colours::kBone, "ischium");
  return s;
}

void SetSceneCamera(vtkRenderer* renderer, const SceneActors& s, double azimuthDeg,
                    double elevationDeg) {
  const double az = azimuthDeg * M_PI / 180, el = elevationDeg * M_PI / 180;
  const Vec3 d{std::cos(el) * std::sin(az), std::cos(el) * std::cos(az), std::sin(el)};
  vtkCamera* cam = renderer->GetActiveCamera();
  cam->ParallelProjectionOn();
  cam->SetFocalPoint(s.centre.data());
  cam->SetPosition(s.centre[0] + 600 * d[0], s.centre[1] + 600 * d[1], s.centre[2] + 600 * d[2]);
  cam->SetViewUp(0, 0, 1);
  cam->OrthogonalizeViewUp();
  // Fit the surfaces' box (with a margin for the L/R labels) in the viewport.
  double up[3], dop[3], right[3];
  cam->GetViewUp(up);
  cam->GetDirectionOfProjection(dop);
  right[0] = dop[1] * up[2] - dop[2] * up[1];
  right[1] = dop[2] * up[0] - dop[0] * up[2];
  right[2] = dop[0] * up[1] - dop[1] * up[0];
  double hx = 0, hy = 0;
  for (int m = 0; m < 8; ++m) {
    const double p[3] = {s.bounds[(m & 1) ? 1 : 0] - s.centre[0],
                         s.bounds[(m & 2) ? 3 : 2] - s.centre[1],
                         s.bounds[(m & 4) ? 5 : 4] - s.centre[2]};
    hx = std::max(hx, std::fabs(p[0] * right[0] + p[1] * right[1] + p[2] * right[2]));
    hy = std::max(hy, std::fabs(p[0] * up[0] + p[1] * up[1] + p[2] * up[2]));
  }
  int* size = renderer->GetRenderWindow()->GetSize();
  const double* vp = renderer->GetViewport();
  const double aspect = (vp[2] - vp[0]) * size[0] / ((vp[3] - vp[1]) * size[1]);
  // The colour bar and legend take the right ~18% of the picture: fit the scene in the rest
  // and shift it left by moving the camera to the right.
  const double scale = std::max(hy + 12, (hx + 35) / (0.80 * aspect)) * 1.08;
  cam->SetParallelScale(scale);
  const double shift = 0.09 * 2 * scale * aspect;
  cam->SetFocalPoint(s.centre[0] + shift * right[0], s.centre[1] + shift * right[1],
                     s.centre[2] + shift * right[2]);
  cam->SetPosition(s.centre[0] + 600 * d[0] + shift * right[0],
                   s.centre[1] + 600 * d[1] + shift * right[1],
                   s.centre[2] + 600 * d[2] + shift * right[2]);
  renderer->ResetCameraClippingRange();
}

void ClearWindow(vtkRenderWindow* window) {
  std::vector<vtkRenderer*> all;
  vtkRendererCollection* rc = window->GetRenderers();
  rc->InitTraversal();
  while (vtkRenderer* r = rc->GetNextItem()) all.push_back(r);
  for (vtkRenderer* r : all) window->RemoveRenderer(r);
}

json WriteSceneRenders(vtkRenderWindow* window, const SceneContent& content, const fs::path& dir,
                       const std::string& relDir) {
  json images = json::array();
  struct View {
    const char* name;
    const char* title;
    double azimuth, elevation;
  };
  const View views[] = {
      {"posterior", "3D, posterior view (patient's right on the right)", 0, 20},
      {"left_oblique", "3D, left posterior oblique view", 50, 20},
      {"right_oblique", "3D, right posterior oblique view", -50, 20},
  };
  const int w = 1200, h = 900;
  ClearWindow(window);
  window->SetSize(w, h);
  vtkNew<vtkRenderer> renderer;
  renderer->GradientBackgroundOn();
  renderer->SetBackground(0.05, 0.05, 0.08);
  renderer->SetBackground2(0.20, 0.22, 0.28);
  renderer->SetUseDepthPeeling(1);
  renderer->SetMaximumNumberOfPeels(8);
  window->SetAlphaBitPlanes(1);
  window->AddRenderer(renderer);
  const SceneActors scene = PopulateScene(renderer, content);
  AddOrientationCube(window, renderer, {0.0, 0.0, 0.14, 0.19});
  TextStyle title;
  title.size = 22;
  title.bold = true;
  title.vAlign = 2;
  TextStyle note;
  note.size = 16;
  note.vAlign = 2;
  vtkSmartPointer<vtkTextActor> titleActor = ViewportText("", 0.015, 0.985, title);
  renderer->AddActor2D(titleActor);
  renderer->AddActor2D(ViewportText(
      "Bone ivory; tendon coloured by the thickness measured on each axial slice (interpolated "
      "along z); tear magenta.\n" +
          scene.planeText + ". Parallel projection.",
      0.015, 0.945, note));
  for (const View& v : views) {
    titleActor->SetInput(v.title);
    SetSceneCamera(renderer, scene, v.azimuth, v.elevation);
    // The scale bar depends on the camera: one per view.
    vtkNew<vtkRenderer> overlay;
    overlay->SetLayer(1);
    overlay->InteractiveOff();
    overlay->SetActiveCamera(renderer->GetActiveCamera());
    window->AddRenderer(overlay);
    const double viewMm = 2 * renderer->GetActiveCamera()->GetParallelScale() * w / h;
    double bar = 10;
    for (double candidate : {10.0, 20.0, 50.0, 100.0})
      if (candidate <= viewMm / 6) bar = candidate;
    AddScaleBar(overlay, w, h, bar, 16);
    const std::string file = std::string(v.name) + ".png";
    SaveWindowPng(window, dir / file);
    window->RemoveRenderer(overlay);
    images.push_back({{"file", relDir + "/" + file},
                      {"kind", "render"},
                      {"title", v.title},
                      {"view", v.name},
                      {"width", w},
                      {"height", h}});
  }
  return images;
}

}  // namespace ischia
