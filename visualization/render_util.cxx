#include "render_util.h"

#include <vtkAlgorithmOutput.h>
#include <vtkAnnotatedCubeActor.h>
#include <vtkCallbackCommand.h>
#include <vtkCamera.h>
#include <vtkCellArray.h>
#include <vtkContourFilter.h>
#include <vtkCoordinate.h>
#include <vtkFloatArray.h>
#include <vtkPNGWriter.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkPolyDataMapper.h>
#include <vtkPolyDataMapper2D.h>
#include <vtkProperty.h>
#include <vtkProperty2D.h>
#include <vtkStripper.h>
#include <vtkTextProperty.h>
#include <vtkUnsignedCharArray.h>
#include <vtkWindowToImageFilter.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace ischia {

vtkSmartPointer<vtkImageData> GreyPicture(const std::vector<float>& values, const PlaneGrid& plane,
                                          IntensityWindow window) {
  auto img = vtkSmartPointer<vtkImageData>::New();
  img->SetDimensions(plane.nu, plane.nv, 1);
  img->SetSpacing(plane.pixelMm, plane.pixelMm, 1);
  img->SetOrigin(0, 0, 0);
  img->AllocateScalars(VTK_UNSIGNED_CHAR, 3);
  auto* px = static_cast<unsigned char*>(img->GetScalarPointer());
  const double scale = 255.0 / (window.hi - window.lo);
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) {
      px[3 * i] = 20, px[3 * i + 1] = 24, px[3 * i + 2] = 40;
      continue;
    }
    const double g = std::clamp((v - window.lo) * scale, 0.0, 255.0);
    px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = static_cast<unsigned char>(std::lround(g));
  }
  return img;
}

namespace {

// Lines given in world coordinates, drawn as a 2-D overlay (no depth test: always on top of
// the picture, no dropouts).
vtkSmartPointer<vtkActor2D> Overlay2D(vtkAlgorithmOutput* port, vtkPolyData* data,
                                      const Rgb& colour, double lineWidth) {
  vtkNew<vtkCoordinate> world;
  world->SetCoordinateSystemToWorld();
  vtkNew<vtkPolyDataMapper2D> mapper;
  if (port) mapper->SetInputConnection(port);
  if (data) mapper->SetInputData(data);
  mapper->SetTransformCoordinate(world);
  mapper->ScalarVisibilityOff();
  auto actor = vtkSmartPointer<vtkActor2D>::New();
  actor->SetMapper(mapper);
  actor->GetProperty()->SetColor(colour[0], colour[1], colour[2]);
  actor->GetProperty()->SetLineWidth(static_cast<float>(lineWidth));
  return actor;
}

}  // namespace

vtkSmartPointer<vtkActor2D> ContourActor(const std::vector<float>& indicator,
                                         const PlaneGrid& plane, const Rgb& colour,
                                         double lineWidth, double zLift) {
  auto img = vtkSmartPointer<vtkImageData>::New();
  img->SetDimensions(plane.nu, plane.nv, 1);
  img->SetSpacing(plane.pixelMm, plane.pixelMm, 1);
  img->SetOrigin(0, 0, -zLift);
  vtkNew<vtkFloatArray> values;
  values->SetNumberOfValues(static_cast<vtkIdType>(indicator.size()));
  for (std::size_t i = 0; i < indicator.size(); ++i) values->SetValue(i, indicator[i]);
  img->GetPointData()->SetScalars(values);
  vtkNew<vtkContourFilter> contour;
  contour->SetInputData(img);
  contour->SetValue(0, 0.5);
  vtkNew<vtkStripper> strip;  // segments joined into polylines
  strip->SetInputConnection(contour->GetOutputPort());
  return Overlay2D(strip->GetOutputPort(), nullptr, colour, lineWidth);
}

vtkSmartPointer<vtkActor2D> LabelContourActor(const LabelImage& labels, std::uint16_t label,
                                              const PlaneGrid& picture, double contourPixelMm,
                                              const Rgb& colour, double lineWidth, double zLift) {
  // Same corner and extent as the picture, coarser pixels.
  const int step = std::max(1, static_cast<int>(std::lround(contourPixelMm / picture.pixelMm)));
  PlaneGrid coarse = picture;
  coarse.pixelMm = picture.pixelMm * step;
  coarse.nu = (picture.nu - 1) / step + 1;
  coarse.nv = (picture.nv - 1) / step + 1;
  const auto ind = SampleLabelIndicator(labels, label, BodySide::Both, 0, coarse);
  return ContourActor(ind, coarse, colour, lineWidth, zLift);
}

vtkSmartPointer<vtkActor2D> LineActor(const std::vector<std::array<double, 2>>& pts,
                                      const Rgb& colour, double lineWidth, double zLift) {
  vtkNew<vtkPoints> points;
  vtkNew<vtkCellArray> lines;
  for (std::size_t i = 0; i < pts.size(); ++i)
    points->InsertNextPoint(pts[i][0], pts[i][1], -zLift);
  for (std::size_t i = 0; i + 1 < pts.size(); i += 2) {
    const vtkIdType ids[2] = {static_cast<vtkIdType>(i), static_cast<vtkIdType>(i + 1)};
    lines->InsertNextCell(2, ids);
  }
  vtkNew<vtkPolyData> poly;
  poly->SetPoints(points);
  poly->SetLines(lines);
  return Overlay2D(nullptr, poly, colour, lineWidth);
}

vtkSmartPointer<vtkActor2D> CaliperActor(const std::array<double, 2>& a,
                                         const std::array<double, 2>& b, const Rgb& colour,
                                         double lineWidth, double tickMm) {
  const double dx = b[0] - a[0], dy = b[1] - a[1];
  const double len = std::max(1e-6, std::hypot(dx, dy));
  const double nx = -dy / len * tickMm * 0.5, ny = dx / len * tickMm * 0.5;
  // Segments (pairs of points): the caliper and a tick at each end.
  return LineActor({a,
                    b,
                    {a[0] - nx, a[1] - ny},
                    {a[0] + nx, a[1] + ny},
                    {b[0] - nx, b[1] - ny},
                    {b[0] + nx, b[1] + ny}},
                   colour, lineWidth, 1.5);
}

namespace {

void Style(vtkTextProperty* p, const TextStyle& s) {
  p->SetFontSize(s.size);
  p->SetColor(s.colour[0], s.colour[1], s.colour[2]);
  p->SetBold(s.bold);
  p->SetShadow(s.shadow);
  p->SetFontFamilyToArial();
  if (s.hAlign == 0) p->SetJustificationToLeft();
  if (s.hAlign == 1) p->SetJustificationToCentered();
  if (s.hAlign == 2) p->SetJustificationToRight();
  if (s.vAlign == 0) p->SetVerticalJustificationToBottom();
  if (s.vAlign == 1) p->SetVerticalJustificationToCentered();
  if (s.vAlign == 2) p->SetVerticalJustificationToTop();
  if (s.background > 0) {
    p->SetBackgroundColor(0, 0, 0);
    p->SetBackgroundOpacity(s.background);
  }
}

}  // namespace

vtkSmartPointer<vtkTextActor> ViewportText(const std::string& text, double x, double y,
                                           const TextStyle& style) {
  auto t = vtkSmartPointer<vtkTextActor>::New();
  t->SetInput(text.c_str());
  t->SetTextScaleModeToNone();
  Style(t->GetTextProperty(), style);
  t->GetPositionCoordinate()->SetCoordinateSystemToNormalizedViewport();
  t->GetPositionCoordinate()->SetValue(x, y);
  return t;
}

vtkSmartPointer<vtkTextActor> WorldText(const std::string& text, const Vec3& p,
                                        const TextStyle& style) {
  auto t = vtkSmartPointer<vtkTextActor>::New();
  t->SetInput(text.c_str());
  t->SetTextScaleModeToNone();
  Style(t->GetTextProperty(), style);
  t->GetPositionCoordinate()->SetCoordinateSystemToWorld();
  t->GetPositionCoordinate()->SetValue(p[0], p[1], p[2]);
  return t;
}

void AddScaleBar(vtkRenderer* renderer, int viewportWidthPx, int viewportHeightPx, double lengthMm,
                 double fontSize) {
  const double scale = renderer->GetActiveCamera()->GetParallelScale();
  const double pxPerMm = viewportHeightPx / (2.0 * scale);
  const double len = lengthMm * pxPerMm;
  const double x1 = viewportWidthPx - 20, x0 = x1 - len, y = 24;
  vtkNew<vtkPoints> points;
  points->InsertNextPoint(x0, y, 0), points->InsertNextPoint(x1, y, 0);
  points->InsertNextPoint(x0, y - 6, 0), points->InsertNextPoint(x0, y + 6, 0);
  points->InsertNextPoint(x1, y - 6, 0), points->InsertNextPoint(x1, y + 6, 0);
  vtkNew<vtkCellArray> lines;
  for (vtkIdType i = 0; i < 6; i += 2) {
    const vtkIdType ids[2] = {i, i + 1};
    lines->InsertNextCell(2, ids);
  }
  vtkNew<vtkPolyData> poly;
  poly->SetPoints(points);
  poly->SetLines(lines);
  vtkNew<vtkPolyDataMapper2D> mapper;
  mapper->SetInputData(poly);
  vtkNew<vtkActor2D> bar;
  bar->SetMapper(mapper);
  bar->GetProperty()->SetColor(1, 1, 1);
  bar->GetProperty()->SetLineWidth(3);
  renderer->AddActor2D(bar);
  TextStyle st;
  st.size = static_cast<int>(fontSize);
  st.hAlign = 1;
  auto label = vtkSmartPointer<vtkTextActor>::New();
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g mm", lengthMm);
  label->SetInput(buf);
  label->SetTextScaleModeToNone();
  Style(label->GetTextProperty(), st);
  label->GetPositionCoordinate()->SetCoordinateSystemToViewport();
  label->GetPositionCoordinate()->SetValue(0.5 * (x0 + x1), y + 10);
  renderer->AddActor2D(label);
}

namespace {

void FollowCamera(vtkObject* caller, unsigned long, void* clientData, void*) {
  auto* main = static_cast<vtkRenderer*>(caller);
  auto* cube = static_cast<vtkRenderer*>(clientData);
  vtkCamera* from = main->GetActiveCamera();
  vtkCamera* to = cube->GetActiveCamera();
  double dop[3];
  from->GetDirectionOfProjection(dop);
  to->SetFocalPoint(0, 0, 0);
  to->SetPosition(-dop[0] * 5, -dop[1] * 5, -dop[2] * 5);
  to->SetViewUp(from->GetViewUp());
  to->ParallelProjectionOn();
  to->SetParallelScale(1.05);
  cube->ResetCameraClippingRange();
}

}  // namespace

vtkSmartPointer<vtkRenderer> AddOrientationCube(vtkRenderWindow* window, vtkRenderer* main,
                                                const std::array<double, 4>& viewport) {
  vtkNew<vtkAnnotatedCubeActor> cube;
  // LPS: +x patient left, +y posterior, +z superior.
  cube->SetXPlusFaceText("L");
  cube->SetXMinusFaceText("R");
  cube->SetYPlusFaceText("P");
  cube->SetYMinusFaceText("A");
  cube->SetZPlusFaceText("S");
  cube->SetZMinusFaceText("I");
  cube->SetFaceTextScale(0.55);
  cube->GetCubeProperty()->SetColor(0.25, 0.3, 0.45);
  cube->GetTextEdgesProperty()->SetColor(0.9, 0.9, 0.9);
  cube->GetTextEdgesProperty()->SetLineWidth(1.5);
  for (auto* p : {cube->GetXPlusFaceProperty(), cube->GetXMinusFaceProperty()})
    p->SetColor(1, 0.45, 0.45);
  for (auto* p : {cube->GetYPlusFaceProperty(), cube->GetYMinusFaceProperty()})
    p->SetColor(0.5, 1, 0.5);
  for (auto* p : {cube->GetZPlusFaceProperty(), cube->GetZMinusFaceProperty()})
    p->SetColor(0.55, 0.7, 1);
  auto r = vtkSmartPointer<vtkRenderer>::New();
  r->SetViewport(viewport.data());
  r->SetLayer(1);
  r->InteractiveOff();
  r->AddActor(cube);
  if (window->GetNumberOfLayers() < 2) window->SetNumberOfLayers(2);
  window->AddRenderer(r);
  vtkNew<vtkCallbackCommand> follow;
  follow->SetCallback(FollowCamera);
  follow->SetClientData(r.GetPointer());
  main->AddObserver(vtkCommand::StartEvent, follow);
  return r;
}

vtkSmartPointer<vtkRenderWindow> OffscreenWindow(int width, int height) {
  auto w = vtkSmartPointer<vtkRenderWindow>::New();
  w->SetOffScreenRendering(1);
  w->SetMultiSamples(0);
  w->SetSize(width, height);
  return w;
}

void SaveWindowPng(vtkRenderWindow* window, const std::filesystem::path& path) {
  window->Render();
  vtkNew<vtkWindowToImageFilter> grab;
  grab->SetInput(window);
  grab->SetInputBufferTypeToRGB();
  grab->ReadFrontBufferOff();
  grab->Update();
  vtkNew<vtkPNGWriter> png;
  png->SetInputConnection(grab->GetOutputPort());
  png->SetFileName(path.c_str());
  png->Write();
  std::error_code ec;
  if (png->GetErrorCode() != 0 || !std::filesystem::exists(path, ec) ||
      std::filesystem::file_size(path, ec) == 0) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string Mm(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", value);
  return buf;
}

}  // namespace ischia
