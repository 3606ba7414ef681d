// Key images: axial slices at the tuberosity tip and 10, 20, 30 mm distal (both sides side by
// side, same scale, radiological orientation) and an oblique-coronal reformat along each
// tendon; contours of bone / tendon / tear and the calipers where they were measured.
#include <vtkCamera.h>
#include <vtkImageProperty.h>
#include <vtkProp.h>

#include <cmath>
#include <sstream>

#include "visuals_internal.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr double kAxialFieldMm = 80;  // square crop around each tuberosity
constexpr int kAxialPanelPx = 540;
constexpr double kCoronalWidthMm = 90, kCoronalHeightMm = 130;
constexpr int kHeaderPx = 64, kFooterPx = 40;

struct LegendItem {
  std::string text;
  Rgb colour;
};
const std::vector<LegendItem> kAxialLegend = {{"bone", colours::kBoneLine},
                                              {"tendon", colours::kTendonLine},
                                              {"tear (fluid)", colours::kTear},
                                              {"T thickness caliper", colours::kThicknessCaliper},
                                              {"W width caliper", colours::kWidthCaliper},
                                              {"+ tuberosity tip", {1, 1, 1}}};
const std::vector<LegendItem> kCoronalLegend = {{"bone", colours::kBoneLine},
                                                {"tendon", colours::kTendonLine},
                                                {"tear (fluid)", colours::kTear},
                                                {"+ tip", {1, 1, 1}}};

struct PanelContent {
  PlaneGrid grid;
  vtkSmartPointer<vtkImageData> picture;
  std::vector<vtkSmartPointer<vtkProp>> props;  // world props (picture-plane mm)
  std::vector<vtkSmartPointer<vtkProp>> texts;  // 2-D props
  std::array<std::string, 4> edges;             // orientation letters: top, bottom, left, right
  double edgeY = 0.5;                           // height of the left / right letters
};

TextStyle Text(int size, Rgb colour = colours::kText, int h = 0, int v = 0, bool bold = false) {
  TextStyle s;
  s.size = size, s.colour = colour, s.hAlign = h, s.vAlign = v, s.bold = bold;
  return s;
}

// Picture-plane position (mm) of an LPS point.
std::array<double, 2> OnPicture(const PlaneGrid& g, const Vec3& p) {
  const auto px = g.ToPixel(p);
  return {px[0] * g.pixelMm, px[1] * g.pixelMm};
}

void AddContours(PanelContent& panel, const LabelImage& labels) {
  struct L {
    std::uint16_t value;
    Rgb colour;
  };
  for (const L& l : {L{kLabelBone, colours::kBoneLine}, L{kLabelTendon, colours::kTendonLine},
                     L{kLabelTear, colours::kTear}}) {
    panel.props.push_back(
        LabelContourActor(labels, l.value, panel.grid, 0.4, l.colour, 2.0, 0.5 + 0.1 * l.value));
  }
}

// Renders panels side by side (each panel's height follows its grid), a header and a footer.
void RenderPanels(vtkRenderWindow* window, const std::vector<PanelContent>& panels,
                  int panelWidthPx, const std::string& header, const std::string& subheader,
                  const std::vector<LegendItem>& legend, const fs::path& path) {
  const PlaneGrid& g0 = panels.front().grid;
  const int panelH = static_cast<int>(std::lround(panelWidthPx * double(g0.nv) / g0.nu));
  const int w = panelWidthPx * static_cast<int>(panels.size());
  const int h = kHeaderPx + panelH + kFooterPx;
  ClearWindow(window);
  window->SetSize(w, h);
  const double yPanel0 = double(kFooterPx) / h, yPanel1 = double(kFooterPx + panelH) / h;
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const PanelContent& p = panels[i];
    vtkNew<vtkRenderer> r;
    r->SetViewport(double(i) / panels.size(), yPanel0, double(i + 1) / panels.size(), yPanel1);
    r->SetBackground(0, 0, 0);
    vtkNew<vtkImageActor> picture;
    picture->SetInputData(p.picture);
    picture->GetProperty()->SetInterpolationTypeToLinear();
    r->AddActor(picture);
    for (const auto& prop : p.props) r->AddViewProp(prop);
    for (const auto& prop : p.texts) r->AddViewProp(prop);
    r->AddActor2D(ViewportText(p.edges[2], 0.015, p.edgeY, Text(18, {1, 1, 0.6}, 0, 1, true)));
    r->AddActor2D(ViewportText(p.edges[3], 0.985, p.edgeY, Text(18, {1, 1, 0.6}, 2, 1, true)));
    vtkCamera* cam = r->GetActiveCamera();
    const double cx = 0.5 * (p.grid.nu - 1) * p.grid.pixelMm,
                 cy = 0.5 * (p.grid.nv - 1) * p.grid.pixelMm;
    cam->ParallelProjectionOn();
    cam->SetFocalPoint(cx, cy, 0);
    cam->SetPosition(cx, cy, -1000);
    cam->SetViewUp(0, -1, 0);  // picture rows go down the screen
    cam->SetParallelScale(0.5 * p.grid.nv * p.grid.pixelMm);
    cam->SetClippingRange(900, 1100);
    AddScaleBar(r, panelWidthPx, panelH, 10, 15);
    window->AddRenderer(r);
  }
  vtkNew<vtkRenderer> head;
  head->SetViewport(0, yPanel1, 1, 1);
  head->SetBackground(0.12, 0.13, 0.17);
  head->AddActor2D(ViewportText(header, 0.01, 0.93, Text(20, colours::kText, 0, 2, true)));
  head->AddActor2D(ViewportText(subheader, 0.01, 0.10, Text(15, {0.85, 0.85, 0.85}, 0, 0)));
  window->AddRenderer(head);
  vtkNew<vtkRenderer> foot;
  foot->SetViewport(0, 0, 1, yPanel0);
  foot->SetBackground(0.12, 0.13, 0.17);
  double x = 10;  // pixels
  for (const LegendItem& it : legend) {
    const bool line = it.text[0] != '+';
    foot->AddActor2D(ViewportText((line ? "\xE2\x80\x94 " : "") + it.text, x / w, 0.5,
                                  Text(15, it.colour, 0, 1, true)));
    x += 9.0 * (it.text.size() + (line ? 2 : 0)) + 22;
  }
  window->AddRenderer(foot);
  SaveWindowPng(window, path);
}

// Nearest native slice to `p`: the LPS point on that slice's plane below/above p.
Vec3 OnNearestSlice(const FloatImage& image, const Vec3& p, int* sliceIndex) {
  FloatImage::PointType q;
  q[0] = p[0], q[1] = p[1], q[2] = p[2];
  itk::ContinuousIndex<double, 3> ci;
  image.TransformPhysicalPointToContinuousIndex(q, ci);
  const int nz = static_cast<int>(image.GetLargestPossibleRegion().GetSize()[2]);
  ci[2] = std::clamp(std::round(ci[2]), 0.0, nz - 1.0);
  *sliceIndex = static_cast<int>(ci[2]);
  image.TransformContinuousIndexToPhysicalPoint(ci, q);
  return {q[0], q[1], q[2]};
}

const SectionOverlay* SectionAt(const SideOverlay& s, double z, double halfSliceMm) {
  const SectionOverlay* best = nullptr;
  for (const auto& sec : s.profile)
    if (std::fabs(sec.zMm - z) <= halfSliceMm &&
        (!best || std::fabs(sec.zMm - z) < std::fabs(best->zMm - z)))
      best = &sec;
  return best;
}

// Where each side's panel is centred: its tuberosity tip, or the other side's mirrored about
// the midline when not found.
std::optional<Vec3> PanelCentre(const SideOverlay& s, const SideOverlay& other, double midline) {
  if (s.found) return s.tipLps;
  if (other.found) return Vec3{2 * midline - other.tipLps[0], other.tipLps[1], other.tipLps[2]};
  return std::nullopt;
}

struct TendonLine {  // tendon centre line: x = mean, y = a + b z
  bool valid = false;
  double x = 0, a = 0, b = 0;
};

std::map<std::string, TendonLine> FitTendonLines(const LabelImage& labels, double midline) {
  const auto size = labels.GetLargestPossibleRegion().GetSize();
  std::map<std::string, std::map<long, std::array<double, 4>>> slices;  // side -> k -> x,y,z,n
  const std::uint16_t* buf = labels.GetBufferPointer();
  const std::size_t n = labels.GetLargestPossibleRegion().GetNumberOfPixels();
  for (std::size_t i = 0; i < n; ++i) {
    if (buf[i] != kLabelTendon && buf[i] != kLabelTear) continue;
    LabelImage::PointType p;
    labels.TransformIndexToPhysicalPoint(labels.ComputeIndex(i), p);
    auto& acc =
        slices[p[0] > midline ? "left" : "right"][static_cast<long>(i / (size[0] * size[1]))];
    acc[0] += p[0], acc[1] += p[1], acc[2] += p[2], acc[3] += 1;
  }
  std::map<std::string, TendonLine> out;
  for (auto& [side, ks] : slices) {
    double sw = 0, sx = 0, sz = 0, sy = 0, szz = 0, szy = 0;
    for (auto& [k, a] : ks) {
      const double w = a[3], x = a[0] / w, y = a[1] / w, z = a[2] / w;
      sw += w, sx += w * x, sy += w * y, sz += w * z, szz += w * z * z, szy += w * z * y;
    }
    TendonLine t;
    t.valid = sw > 0;
    t.x = sx / sw;
    const double det = sw * szz - sz * sz;
    t.b = ks.size() >= 2 && std::fabs(det) > 1e-9 ? (sw * szy - sz * sy) / det : 0.0;
    t.b = std::clamp(t.b, -1.0, 1.0);  // at most 45 degrees from coronal
    t.a = (sy - t.b * sz) / sw;
    out[side] = t;
  }
  return out;
}

std::string Title(const std::string& sideName) {
  std::string s = sideName;
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(s[0]));
  return s;
}

}  // namespace

// A small "+" at an LPS point projected on the picture.
vtkSmartPointer<vtkActor2D> TipMarker(const PlaneGrid& g, const Vec3& tip) {
  const auto c = OnPicture(g, tip);
  const double r = 2.5;
  return LineActor({{c[0] - r, c[1]}, {c[0] + r, c[1]}, {c[0], c[1] - r}, {c[0], c[1] + r}},
                   {1, 1, 1}, 2.0, 2.0);
}

std::string WholeMm(double v) { return std::to_string(static_cast<int>(std::lround(v))); }

json WriteKeyImages(vtkRenderWindow* renderWindow, const StudyVisualsInput& in, const fs::path& dir,
                    const std::string& relDir, std::vector<std::string>& warnings) {
  json images = json::array();
  const FloatImage& img = *in.fluid;
  const IntensityWindow window = WindowFromPercentiles(img, in.body, 0.5, 99.5);
  const double halfSlice = 0.5 * img.GetSpacing()[2] + 1e-3;
  const auto tipRight = PanelCentre(in.right, in.left, in.midlineXmm);
  const auto tipLeft = PanelCentre(in.left, in.right, in.midlineXmm);
  if (!tipRight || !tipLeft) {
    warnings.push_back("key images skipped: neither ischial tuberosity was found");
    return images;
  }
  const auto lines = FitTendonLines(*in.labels, in.midlineXmm);
  auto lineOf = [&](const SideOverlay& s) {
    const auto it = lines.find(s.side);
    return it != lines.end() && s.found ? it->second : TendonLine{};
  };
  const double pixel = kAxialFieldMm / kAxialPanelPx;
  const std::string fieldText = WholeMm(kAxialFieldMm) + " mm";

  // Axial levels below each side's own tuberosity tip.
  struct Level {
    const char* name;
    double belowTipMm;
  };
  for (const Level& level :
       {Level{"tip", 0}, Level{"10mm", 10}, Level{"20mm", 20}, Level{"30mm", 30}}) {
    std::vector<PanelContent> panels;
    json perSide = json::object();
    // Patient right first: image left.
    for (const SideOverlay* s : {&in.right, &in.left}) {
      const Vec3 tip = *(s == &in.right ? tipRight : tipLeft);
      const double z = tip[2] - level.belowTipMm;
      // Centre between the tip and the tendon's centre line at this level, so both show.
      Vec3 c{tip[0], tip[1], z};
      const TendonLine line = lineOf(*s);
      if (line.valid) c[0] = 0.5 * (tip[0] + line.x), c[1] = 0.5 * (tip[1] + line.a + line.b * z);
      int k = 0;
      const Vec3 onSlice = OnNearestSlice(img, c, &k);
      PanelContent p;
      p.grid =
          PlaneGrid::Centred(onSlice, {1, 0, 0}, {0, 1, 0}, kAxialFieldMm, kAxialFieldMm, pixel);
      p.picture = GreyPicture(SamplePlane(img, p.grid), p.grid, window);
      AddContours(p, *in.labels);
      if (s->found && std::fabs(s->tipLps[2] - onSlice[2]) <= halfSlice)
        p.props.push_back(TipMarker(p.grid, s->tipLps));
      p.edges = {"A", "P", "R", "L"};
      const std::string letter = s->side == "left" ? "L" : "R";
      p.texts.push_back(ViewportText(letter, 0.025, 0.975, Text(34, {1, 1, 1}, 0, 2, true)));
      std::ostringstream where;
      json js = {{"slice_index", k}, {"z_mm", onSlice[2]}};
      if (s->found) {
        const double below = s->tipLps[2] - onSlice[2];
        where << Title(s->side) << " side   image " << k + 1 << " of "
              << img.GetLargestPossibleRegion().GetSize()[2] << "   z " << Mm(onSlice[2]) << " mm\n"
              << Mm(std::fabs(below)) << (below >= 0 ? " mm below" : " mm above") << " the tip";
        js["below_tip_mm"] = s->tipLps[2] - onSlice[2];
        if (s->tendonFound) {
          where << ", " << Mm(s->footprintLps[2] - onSlice[2]) << " below the footprint";
          js["below_footprint_mm"] = s->footprintLps[2] - onSlice[2];
        }
      } else {
        where << Title(s->side) << " tuberosity not found; mirrored\nposition of the other side";
        js["found"] = false;
        js["reason"] = s->reason;
      }
      p.texts.push_back(ViewportText(where.str(), 0.12, 0.975, Text(15, {1, 1, 1}, 0, 2)));
      const SectionOverlay* sec = s->found ? SectionAt(*s, onSlice[2], halfSlice) : nullptr;
      TextStyle vs = Text(16, {1, 1, 1}, 0, 0, true);
      vs.background = 0.6;
      if (sec && sec->thicknessMm > 0) {
        const auto t0 = OnPicture(p.grid, sec->thicknessCaliperLps[0]),
                   t1 = OnPicture(p.grid, sec->thicknessCaliperLps[1]);
        const auto w0 = OnPicture(p.grid, sec->widthCaliperLps[0]),
                   w1 = OnPicture(p.grid, sec->widthCaliperLps[1]);
        p.props.push_back(CaliperActor(w0, w1, colours::kWidthCaliper, 2.5, 2.5));
        p.props.push_back(CaliperActor(t0, t1, colours::kThicknessCaliper, 2.5, 2.5));
        // Labels just beyond one end of each caliper (the lower / the right end).
        auto beyond = [&](const std::array<double, 2>& a, const std::array<double, 2>& b) {
          const double dx = b[0] - a[0], dy = b[1] - a[1], l = std::max(1e-6, std::hypot(dx, dy));
          return Vec3{b[0] + 3.5 * dx / l, b[1] + 3.5 * dy / l, -3};
        };
        p.texts.push_back(WorldText("T", t1[1] >= t0[1] ? beyond(t0, t1) : beyond(t1, t0),
                                    Text(17, colours::kThicknessCaliper, 1, 1, true)));
        p.texts.push_back(WorldText("W", w1[0] >= w0[0] ? beyond(w0, w1) : beyond(w1, w0),
                                    Text(17, colours::kWidthCaliper, 1, 1, true)));
        p.texts.push_back(ViewportText("T " + Mm(sec->thicknessMm) + " mm", 0.025, 0.085, [&] {
          auto t = vs;
          t.colour = colours::kThicknessCaliper;
          return t;
        }()));
        p.texts.push_back(ViewportText("W " + Mm(sec->widthMm) + " mm", 0.245, 0.085, [&] {
          auto t = vs;
          t.colour = colours::kWidthCaliper;
          return t;
        }()));
        p.texts.push_back(ViewportText("CSA " + Mm(sec->csaMm2) + " mm\xC2\xB2", 0.465, 0.085, vs));
        js.update({{"thickness_mm", sec->thicknessMm},
                   {"width_mm", sec->widthMm},
                   {"csa_mm2", sec->csaMm2},
                   {"thickness_caliper_mm", sec->thicknessCaliperLps},
                   {"width_caliper_mm", sec->widthCaliperLps}});
      } else if (s->found) {
        auto t = vs;
        t.bold = false;
        p.texts.push_back(
            ViewportText(s->tendonFound ? "tendon not measured on this slice" : "tendon not found",
                         0.025, 0.085, t));
      }
      perSide[s->side] = js;
      panels.push_back(std::move(p));
    }
    const std::string title = level.belowTipMm == 0
                                  ? "Axial " + in.fluidName + " at the ischial tuberosity tip"
                                  : "Axial " + in.fluidName + ", " + WholeMm(level.belowTipMm) +
                                        " mm distal to the ischial tuberosity tip";
    const std::string file = std::string("axial_") + level.name + ".png";
    RenderPanels(renderWindow, panels, kAxialPanelPx, title,
                 "Radiological view: patient's right on image left, anterior up. Both sides at "
                 "the same scale (" +
                     fieldText + " field); values measured on the slice shown.",
                 kAxialLegend, dir / file);
    images.push_back({{"file", relDir + "/" + file},
                      {"kind", "key_image"},
                      {"plane", "axial"},
                      {"title", title},
                      {"level", level.name},
                      {"below_tip_mm", level.belowTipMm},
                      {"sides", perSide}});
  }

  // Oblique-coronal reformat along each tendon (plane holding the patient's left-right axis and
  // the tendon's course in the sagittal plane).
  const double cPixel = kCoronalWidthMm / kAxialPanelPx;
  for (const SideOverlay* s : {&in.right, &in.left}) {
    const Vec3 tip = *(s == &in.right ? tipRight : tipLeft);
    const TendonLine line = lineOf(*s);
    Vec3 centre = tip;
    centre[2] = tip[2] - 20;  // more room below the tip: the tendon runs down
    if (line.valid) centre[0] = 0.5 * (tip[0] + line.x), centre[1] = line.a + line.b * centre[2];
    const double norm = std::hypot(1.0, line.b);
    const Vec3 down{0, -line.b / norm, -1 / norm};  // along the tendon, towards the feet
    PanelContent p;
    p.grid = PlaneGrid::Centred(centre, {1, 0, 0}, down, kCoronalWidthMm, kCoronalHeightMm, cPixel);
    p.picture = GreyPicture(SamplePlane(img, p.grid), p.grid, window);
    AddContours(p, *in.labels);
    p.edges = {"S", "I", "R", "L"};
    p.edgeY = 0.3;  // below the level marks
    const std::string letter = s->side == "left" ? "L" : "R";
    p.texts.push_back(ViewportText(letter, 0.025, 0.98, Text(34, {1, 1, 1}, 0, 2, true)));
    const double tiltDeg = std::atan(line.b) * 180 / M_PI;
    json js = {{"tilt_from_coronal_deg", tiltDeg}, {"centre_mm", centre}};
    // Level marks at the left edge: the tip, the axial key-image levels and the footprint.
    if (s->found) {
      if (std::fabs(p.grid.Distance(s->tipLps)) < 5)
        p.props.push_back(TipMarker(p.grid, s->tipLps));
      auto mark = [&](double z, const std::string& text, const Rgb& colour) {
        const Vec3 q{centre[0], line.valid ? line.a + line.b * z : centre[1], z};
        const auto pp = OnPicture(p.grid, q);
        const double x1 = 0.08 * p.grid.nu * p.grid.pixelMm;
        p.props.push_back(LineActor({{0, pp[1]}, {x1, pp[1]}}, colour, 2.0));
        p.texts.push_back(WorldText(text, {x1 + 1.5, pp[1], -3}, Text(14, colour, 0, 1, true)));
      };
      mark(s->tipLps[2], "tip", {1, 1, 1});
      for (double d : {10.0, 20.0, 30.0})
        mark(s->tipLps[2] - d, "tip - " + WholeMm(d), {0.8, 0.8, 0.8});
      if (s->tendonFound) mark(s->footprintLps[2], "footprint", colours::kTendonLine);
      if (s->tearType == "complete" && s->retractionMm > 0) {
        const double x = line.valid ? line.x : s->tipLps[0];
        const double zEnd = s->footprintLps[2] - s->retractionMm;
        const auto a = OnPicture(
            p.grid,
            {x, line.valid ? line.a + line.b * s->footprintLps[2] : centre[1], s->footprintLps[2]});
        const auto b =
            OnPicture(p.grid, {x, line.valid ? line.a + line.b * zEnd : centre[1], zEnd});
        p.props.push_back(CaliperActor(a, b, colours::kTear, 2.5, 4));
        p.texts.push_back(WorldText("retraction " + Mm(s->retractionMm) + " mm",
                                    {b[0] + 3, 0.5 * (a[1] + b[1]), -3},
                                    Text(16, colours::kTear, 0, 1, true)));
        js["retraction_mm"] = s->retractionMm;
      }
    }
    std::ostringstream where;
    where << Title(s->side) << " side, tilted " << WholeMm(std::fabs(tiltDeg))
          << " deg from coronal to follow the tendon";
    if (!s->found) where << "\ntuberosity not found: mirrored position of the other side";
    p.texts.push_back(ViewportText(where.str(), 0.12, 0.975, Text(15, {1, 1, 1}, 0, 2)));
    std::ostringstream grade;
    if (s->found && s->tendonFound)
      grade << "tear: " << s->tearType << "   grade: " << s->grade;
    else if (s->found)
      grade << "tendon not found";
    TextStyle gs = Text(16, {1, 1, 1}, 0, 0, true);
    gs.background = 0.6;
    if (!grade.str().empty()) p.texts.push_back(ViewportText(grade.str(), 0.025, 0.06, gs));
    const std::string title = "Oblique coronal, " + s->side + " tendon (" + in.fluidName + ")";
    const std::string file = "coronal_" + s->side + ".png";
    RenderPanels(renderWindow, {p}, kAxialPanelPx, title,
                 "Patient's right on image left. Reformatted from the axial slices.",
                 kCoronalLegend, dir / file);
    images.push_back({{"file", relDir + "/" + file},
                      {"kind", "key_image"},
                      {"plane", "oblique_coronal"},
                      {"title", title},
                      {"side", s->side},
                      {"details", js}});
  }
  return images;
}

}  // namespace ischia
