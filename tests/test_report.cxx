// report.html and report.pdf: self-contained (no external URL), the same numbers as result.json,
// failed studies, missing and hostile inputs, embedded meshes, Chromium failures and time-outs, and
// the PDF's text (pdftotext). Inputs are written here: PNGs by hand (zlib), VTPs with VTK's writer
// (the renderer's format) and by hand (ASCII XML).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vtkFloatArray.h>
#include <vtkNew.h>
#include <vtkPointData.h>
#include <vtkPolyData.h>
#include <vtkSTLWriter.h>
#include <vtkSphereSource.h>
#include <vtkXMLPolyDataWriter.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>

#include "command_capture.h"
#include "report.h"
#include "run_config.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& tag) {
    path = fs::temp_directory_path() / (tag + "-" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// An 8-bit grey PNG with a gradient (zlib for IDAT, CRC-32 per chunk).
void WritePng(const fs::path& p, unsigned w, unsigned h) {
  auto be32 = [](std::string& s, std::uint32_t v) {
    for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 255);
  };
  auto chunk = [&](std::string& out, const char* type, const std::string& data) {
    be32(out, static_cast<std::uint32_t>(data.size()));
    const std::string body = std::string(type, 4) + data;
    out += body;
    be32(out, static_cast<std::uint32_t>(
                  crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
  };
  std::string raw;
  for (unsigned y = 0; y < h; ++y) {
    raw += '\0';
    for (unsigned x = 0; x < w; ++x) raw += static_cast<char>((x * 255 / w + y) & 255);
  }
  uLongf n = compressBound(raw.size());
  std::string z(n, '\0');
  compress2(reinterpret_cast<Bytef*>(z.data()), &n, reinterpret_cast<const Bytef*>(raw.data()),
            raw.size(), 6);
  z.resize(n);
  std::string ihdr;
  be32(ihdr, w), be32(ihdr, h);
  ihdr += std::string("\x08\x00\x00\x00\x00", 5);
  std::string png = "\x89PNG\r\n\x1a\n";
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << png;
}

// A sphere as the renderer writes it (binary, appended, zlib) with a point scalar "thickness_mm".
void WriteSphereVtp(const fs::path& p, double cx, int resolution) {
  vtkNew<vtkSphereSource> sphere;
  sphere->SetCenter(cx, 20, -40);
  sphere->SetRadius(12);
  sphere->SetThetaResolution(resolution);
  sphere->SetPhiResolution(resolution);
  sphere->Update();
  vtkPolyData* pd = sphere->GetOutput();
  vtkNew<vtkFloatArray> t;
  t->SetName("thickness_mm");
  for (vtkIdType i = 0; i < pd->GetNumberOfPoints(); ++i)
    t->InsertNextValue(4.0f + 6.0f * (pd->GetPoint(i)[2] + 52) / 24);
  pd->GetPointData()->AddArray(t);
  fs::create_directories(p.parent_path());
  vtkNew<vtkXMLPolyDataWriter> w;
  w->SetInputData(pd);
  w->SetFileName(p.c_str());
  w->Write();
  vtkNew<vtkSTLWriter> stl;
  stl->SetInputData(pd);
  stl->SetFileName(fs::path(p).replace_extension(".stl").c_str());
  stl->Write();
}

// A tetrahedron in ASCII VTK XML, written by hand.
void WriteTetraVtp(const fs::path& p) {
  WriteText(p, R"(<?xml version="1.0"?>
<VTKFile type="PolyData" version="0.1" byte_order="LittleEndian">
 <PolyData><Piece NumberOfPoints="4" NumberOfVerts="0" NumberOfLines="0" NumberOfStrips="0" NumberOfPolys="4">
  <Points><DataArray type="Float32" NumberOfComponents="3" format="ascii">40 10 -30 60 10 -30 50 30 -30 50 20 -10</DataArray></Points>
  <Polys><DataArray type="Int32" Name="connectivity" format="ascii">0 1 2 0 1 3 1 2 3 0 2 3</DataArray>
  <DataArray type="Int32" Name="offsets" format="ascii">3 6 9 12</DataArray></Polys>
 </Piece></PolyData></VTKFile>
)");
}

json SideJson(double thickness, double width, double csa, const std::string& tear,
              const std::string& grade) {
  json levels = json::array(), profile = json::array();
  for (int d = 0; d <= 30; d += 10) {
    levels.push_back({{"distance_mm", d},
                      {"thickness_mm", thickness - d * 0.05},
                      {"width_mm", width - d * 0.1},
                      {"csa_mm2", csa - d}});
  }
  for (int d = 0; d <= 50; d += 4)
    profile.push_back({{"distance_mm", d}, {"thickness_mm", thickness - std::abs(d - 12) * 0.1}});
  return {{"found", true},
          {"tuberosity_mm", {55.2, 31.4, -60.75}},
          {"tendon_found", true},
          {"tendon",
           {{"thickness_mm", thickness},
            {"width_mm", width},
            {"csa_mm2", csa},
            {"volume_mm3", 3456.78},
            {"volume_length_mm", 50},
            {"signal_ratio", 1.2345},
            {"at_levels", levels},
            {"profile", profile}}},
          {"oedema", {{"peritendinous_mm3", 123.4}, {"marrow_mm3", 56.7}}},
          {"tear",
           {{"type", tear},
            {"retraction_mm", tear == "complete" ? 23.46 : 0.0},
            {"gap_mm", 11.04},
            {"extent_percent", 40.2},
            {"length_mm", 17.3},
            {"volume_mm3", 210.0}}},
          {"grade", grade},
          {"grade_rule",
           "complete_tear if ...; tendinopathy if max thickness >= 8 mm ...; else normal"},
          {"qc", json::array({"tendon course followed over 44 mm only"})}};
}

json OkResult() {
  json r = {
      {"schema", "ischia.result/1"},
      {"status", "ok"},
      {"error", nullptr},
      {"ischia_version", "0.1.0"},
      {"threads", 2},
      {"study",
       {{"study_instance_uid", "1.2.3.4.5"},
        {"patient_name", "DOE^JANE"},
        {"patient_id", "PID-0042"},
        {"patient_birth_date", "19800131"},
        {"patient_sex", "F"},
        {"study_date", "20261124"},
        {"study_time", "101500"},
        {"accession_number", "ACC-77"},
        {"study_description", "MRI PELVIS <HAMSTRING>"},
        {"series", json::array({{{"series_number", 3},
                                 {"description", "PD FS AX"},
                                 {"orientation", "axial"},
                                 {"slices", 40},
                                 {"series_instance_uid", "1.2.3.4.5.3"},
                                 {"split_label", ""},
                                 {"missing_slices", 1},
                                 {"problems", {"1 slice missing at 42 mm"}},
                                 {"role", "axial_fluid_sensitive"},
                                 {"role_reason", "fat-sat PD"}}})},
        {"series_used",
         {{"axial_fluid_sensitive",
           {{"series_number", 3},
            {"description", "PD FS AX"},
            {"series_instance_uid", "1.2.3.4.5.3"},
            {"split_label", ""},
            {"reason", "only one"}}},
          {"axial_t1", {{"used", false}, {"reason", "no axial T1 series"}}}}}}},
      {"sides",
       {{"left", SideJson(6.14, 21.26, 98.4, "none", "normal")},
        {"right", SideJson(9.87, 25.51, 151.6, "partial", "partial_tear")}}},
      {"config",
       {{"analysis", {{"grade", {{"thick_tendon_mm", 8.0}, {"thickness_asymmetry_ratio", 1.4}}}}}}},
      {"timings_s", {{"scan", 0.1}, {"analyse_sides", 3.3}}},
      {"warnings", json::array({"the folder holds 2 studies; analysed 1.2.3.4.5"})}};
  r["left_right"] = {
      {"thickness_mm", {{"left_minus_right", 6.14 - 9.87}, {"left_over_right", 6.14 / 9.87}}},
      {"width_mm", {{"left_minus_right", 21.26 - 25.51}, {"left_over_right", 21.26 / 25.51}}},
      {"csa_mm2", {{"left_minus_right", 98.4 - 151.6}, {"left_over_right", 98.4 / 151.6}}}};
  return r;
}

// The parts of the page that are not the inlined vtk.js library.
std::string OutsideBundle(const std::string& html) {
  const auto start = html.find("<script id=\"vtkjs-bundle\"");
  if (start == std::string::npos) return html;
  const auto end = html.find("</script>", start);
  return html.substr(0, start) + (end == std::string::npos ? "" : html.substr(end));
}

// Every src=, href= and url( of the page outside the bundle must be inline (data:) or in-page (#).
void ExpectSelfContained(const std::string& html) {
  const std::string page = OutsideBundle(html);
  // A plain scan, not std::regex: libstdc++'s regex recurses per character and overflows the
  // stack on a multi-megabyte data: URI.
  std::string lower(page.size(), ' ');
  std::transform(page.begin(), page.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (const std::string key : {"src", "href", "url("}) {
    for (std::size_t at = lower.find(key); at != std::string::npos; at = lower.find(key, at + 1)) {
      std::size_t p = at + key.size();
      if (key != "url(") {
        if (at > 0 && (std::isalnum(static_cast<unsigned char>(lower[at - 1])) || lower[at - 1] == '-'))
          continue;  // part of a longer word (e.g. data-src, imgsrc)
        while (p < lower.size() && std::isspace(static_cast<unsigned char>(lower[p]))) ++p;
        if (p >= lower.size() || lower[p] != '=') continue;
        ++p;
      }
      while (p < lower.size() && std::isspace(static_cast<unsigned char>(lower[p]))) ++p;
      if (p < lower.size() && (lower[p] == '"' || lower[p] == '\'')) ++p;
      const std::string target = lower.substr(p, 5);
      EXPECT_TRUE(target.rfind("data:", 0) == 0 || target.rfind("#", 0) == 0 ||
                  target.empty() || target[0] == '"' || target[0] == '\'' || target[0] == ')')
          << "external reference at " << at << ": " << page.substr(at, 80);
    }
  }
  EXPECT_EQ(page.find("http://"), std::string::npos);
  EXPECT_EQ(page.find("https://"), std::string::npos);
  EXPECT_EQ(page.find("file:"), std::string::npos);
  EXPECT_NE(page.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(page.find("<link"), std::string::npos);
}

// data-field="path">text< of every table cell; each must be the JSON value, rounded as shown.
int ExpectSameNumbers(const std::string& html, const json& result) {
  const std::regex cell(R"re(data-field="([^"]+)">([^<]*)<)re");
  int numbers = 0;
  for (auto it = std::sregex_iterator(html.begin(), html.end(), cell); it != std::sregex_iterator();
       ++it) {
    const std::string path = (*it)[1], text = (*it)[2];
    const json::json_pointer ptr("/" + path);
    EXPECT_TRUE(result.contains(ptr)) << path;
    if (!result.contains(ptr)) continue;
    const json& v = result.at(ptr);
    if (v.is_number()) {
      const auto dot = text.find('.');
      const int decimals = dot == std::string::npos ? 0 : static_cast<int>(text.size() - dot - 1);
      EXPECT_NEAR(std::stod(text), v.get<double>(), 0.5 * std::pow(10.0, -decimals) + 1e-9)
          << path << " shows " << text;
      ++numbers;
    } else if (v.is_string() && path.find("/grade") == std::string::npos) {
      EXPECT_EQ(text, v.get<std::string>()) << path;
    }
  }
  return numbers;
}

bool CiRun() { return std::getenv("CI") && *std::getenv("CI"); }

std::string RunCapture(const std::string& cmd) { return ischia::test::RunCommand(cmd).output; }

// A result with every output the renderer lists, some of them missing on disk.
json ResultWithOutputs(const fs::path& out) {
  json r = OkResult();
  WritePng(out / "renders/posterior.png", 96, 64);
  WritePng(out / "key_images/axial_tip.png", 128, 64);
  WriteSphereVtp(out / "meshes/tendon_left.vtp", 50, 24);
  WriteSphereVtp(out / "meshes/tendon_right.vtp", -50, 24);
  WriteTetraVtp(out / "meshes/bone_left.vtp");
  WriteText(out / "meshes/tear_right.vtp", "<VTKFile garbage");
  r["outputs"] = {
      {"images",
       json::array(
           {{{"file", "renders/posterior.png"}, {"kind", "render"}, {"title", "Posterior view"}},
            {{"file", "key_images/axial_tip.png"},
             {"kind", "key_image"},
             {"title", "Axial at the tip"}},
            {{"file", "key_images/axial_10mm.png"}, {"kind", "key_image"}, {"title", "Axial +10"}},
            {{"file", "../../etc/passwd"}, {"kind", "key_image"}, {"title", "Escape"}},
            {{"file", "/etc/hostname"}, {"kind", "render"}, {"title", "Absolute"}}})},
      {"meshes",
       json::array(
           {{{"file", "meshes/tendon_left.vtp"}, {"structure", "tendon"}, {"side", "left"}},
            {{"file", "meshes/tendon_left.stl"}, {"structure", "tendon"}, {"side", "left"}},
            {{"file", "meshes/tendon_right.stl"}, {"structure", "tendon"}, {"side", "right"}},
            {{"file", "meshes/bone_left.vtp"}, {"structure", "bone"}, {"side", "left"}},
            {{"file", "meshes/tear_right.vtp"}, {"structure", "tear"}, {"side", "right"}},
            {{"file", "meshes/bone_right.vtp"}, {"structure", "bone"}, {"side", "right"}}})},
      {"warnings", json::array({"coronal_right.png not rendered: no coronal series"})}};
  return r;
}

}  // namespace

TEST(Report, HtmlIsSelfContainedAndCarriesTheResultNumbers) {
  TempDir dir("ischia-report-html");
  const json r = ResultWithOutputs(dir.path);
  ischia::ReportOptions options;
  options.writePdf = false;
  options.maxTrianglesPerMesh = 500;
  const ischia::ReportOutcome outcome = ischia::WriteReport(r, dir.path, options);
  ASSERT_TRUE(outcome.htmlWritten);
  EXPECT_FALSE(outcome.pdfWritten);
  EXPECT_FALSE(fs::exists(dir.path / "report.pdf"));
  const std::string html = ReadText(dir.path / "report.html");
  EXPECT_EQ(html.size(), outcome.htmlBytes);
  ExpectSelfContained(html);
  // Every per-side measurement and the differences: 2 x (7 tendon + 5 tear) + 3 x 2 + 4 levels x 6.
  EXPECT_GE(ExpectSameNumbers(html, r), 2 * 12 + 6 + 24);
  for (const char* text :
       {"PID-0042", "DOE, JANE", "1980-01-31", "2026-11-24", "ACC-77", "1.2.3.4.5",
        "MRI PELVIS &lt;HAMSTRING&gt;", "Partial tear", "Normal", "thick_tendon_mm",
        "no axial T1 series", "tendon course followed over 44 mm only",
        "the folder holds 2 studies", "Posterior view", "Axial at the tip",
        "Series 3 (PD FS AX): 1 missing slice(s)",
        "Series 3 (PD FS AX): 1 slice missing at 42 mm"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  EXPECT_EQ(html.find("<HAMSTRING>"), std::string::npos);  // DICOM text is escaped
  // Left column before right, differences left minus right.
  EXPECT_LT(html.find("<th class=\"num\">Left</th>"), html.find("<th class=\"num\">Right</th>"));
  EXPECT_NE(html.find(">-3.7<"), std::string::npos);
  // Listed but missing or outside OUT_DIR: a placeholder, never the file.
  EXPECT_NE(html.find("Not rendered: file key_images/axial_10mm.png is missing"),
            std::string::npos);
  EXPECT_NE(html.find("leaves the output folder"), std::string::npos);
  EXPECT_NE(html.find("must be relative to the output folder"), std::string::npos);
  EXPECT_NE(html.find("Not rendered: not produced by the rendering stage"),
            std::string::npos);  // coronal etc.
  EXPECT_EQ(html.find("root:"), std::string::npos);
  // Two images embedded as data URIs.
  std::size_t images = 0;
  for (std::size_t p = 0; (p = html.find("src=\"data:image/png;base64,", p)) != std::string::npos;
       ++p)
    ++images;
  EXPECT_EQ(images, 2u);
  EXPECT_NE(html.find("report.pdf not written: skipped"), std::string::npos);
}

TEST(Report, MeshesAreEmbeddedForTheViewerAndBadOnesReported) {
  TempDir dir("ischia-report-mesh");
  json r = ResultWithOutputs(dir.path);
  // A structure name that tries to close the script element.
  r["outputs"]["meshes"].push_back(
      {{"file", "meshes/bone_left.vtp"}, {"structure", "</script><b>x"}, {"side", "left"}});
  ischia::ReportOptions options;
  options.writePdf = false;
  options.maxTrianglesPerMesh = 500;
  const fs::path bundle = ischia::FindVtkJsBundle();
  if (bundle.empty()) {
    // Without the bundle (no scripts/setup.sh) the page must say so and keep the static renders.
    ASSERT_FALSE(CiRun()) << "CI runs scripts/setup.sh, which installs the vtk.js bundle";
    const ischia::ReportOutcome o = ischia::WriteReport(r, dir.path, options);
    EXPECT_FALSE(o.interactive3d);
    EXPECT_NE(ReadText(dir.path / "report.html").find("vtk.js bundle was not found"),
              std::string::npos);
    GTEST_SKIP() << "vtk.js bundle not installed: only the fallback was checked";
  }
  const ischia::ReportOutcome outcome = ischia::WriteReport(r, dir.path, options);
  ASSERT_TRUE(outcome.htmlWritten);
  EXPECT_TRUE(outcome.interactive3d) << outcome.viewerNote;
  const std::string html = ReadText(dir.path / "report.html");
  EXPECT_NE(html.find("<script id=\"vtkjs-bundle\" data-version=\"37."), std::string::npos);
  EXPECT_LT(html.size(), fs::file_size(bundle) + (2u << 20));
  // The mesh block: tendon left from the .vtp (not the .stl), tendon right from the .stl, bone left
  // from the hand-written ASCII file; the garbage and the missing file reported.
  const auto start = html.find("<script type=\"application/json\" id=\"ischia-meshes\">");
  ASSERT_NE(start, std::string::npos);
  const auto open = html.find('>', start) + 1;
  const json meshes = json::parse(html.substr(open, html.find("</script>", open) - open));
  ASSERT_EQ(meshes["meshes"].size(), 4u);
  EXPECT_EQ(html.find("</script><b>x"), std::string::npos);
  for (const json& m : meshes["meshes"]) {
    const std::string label = m["label"];
    const std::size_t trianglesBytes = m["triangles"].get<std::string>().size() * 3 / 4;
    EXPECT_LE(trianglesBytes, 500u * 12 + 3) << label;  // decimated to the budget
    if (label == "Tendon (left)") {
      EXPECT_EQ(m["scalar_name"], "thickness_mm");  // only the .vtp carries the scalars
      EXPECT_NEAR(m["bounds"][0].get<double>(), 38, 0.5);
      EXPECT_NEAR(m["bounds"][1].get<double>(), 62, 0.5);
    }
    if (label == "Tendon (right)") EXPECT_FALSE(m.contains("scalars"));
    if (label == "Bone (left)")
      EXPECT_EQ(m["triangles"].get<std::string>().size(), 64u);  // 4 x 12 bytes
  }
  EXPECT_NE(meshes["scalar_range"], nullptr);
  bool garbage = false, missing = false;
  for (const std::string& w : outcome.warnings) {
    garbage |= w.find("tear_right.vtp not embedded: unreadable") != std::string::npos;
    missing |= w.find("bone_right.vtp not embedded: missing") != std::string::npos;
  }
  EXPECT_TRUE(garbage);
  EXPECT_TRUE(missing);
  ExpectSelfContained(html);
}

TEST(Report, FailedStudyStillGetsAReportSayingWhy) {
  TempDir dir("ischia-report-failed");
  json r = {
      {"schema", "ischia.result/1"},
      {"status", "failed"},
      {"error",
       {{"code", "no_fluid_sensitive_axial"},
        {"message", "no axial PD/T2 fat-sat or STIR series"}}},
      {"study",
       {{"study_instance_uid", "9.8.7"}, {"patient_id", "P-FAIL"}, {"series", json::array()}}},
      {"sides",
       {{"left", {{"found", false}, {"reason", "study not analysed: no axial fluid"}}},
        {"right", {{"found", false}, {"reason", "study not analysed: no axial fluid"}}}}},
      {"ischia_version", "0.1.0"},
      {"warnings", json::array()}};
  ischia::ReportOptions options;
  options.writePdf = false;
  const ischia::ReportOutcome outcome = ischia::WriteReport(r, dir.path, options);
  ASSERT_TRUE(outcome.htmlWritten);
  const std::string html = ReadText(dir.path / "report.html");
  for (const char* text :
       {"Study not analysed", "no axial PD/T2 fat-sat or STIR series", "no_fluid_sensitive_axial",
        "P-FAIL", "Not assessed", "No side was measured", "the study was not analysed"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  EXPECT_EQ(html.find("data-field=\"sides/left/tendon"), std::string::npos);
  ExpectSelfContained(html);
}

// A tuberosity with no tendon below it: graded a complete tear with no stump found, its
// retraction null (unknown). The card says so in the tear's colour, and the retraction reads
// as no value, not as 0.
TEST(Report, BaredFootprintIsACompleteTearWithoutARetraction) {
  TempDir dir("ischia-report-bared");
  json r = OkResult();
  json& left = r["sides"]["left"];
  left["tendon_found"] = false;
  left["grade"] = "complete_tear";
  left["tear"] = {{"type", "complete"},       {"retraction_mm", nullptr}, {"gap_mm", nullptr},
                  {"extent_percent", 0.0},    {"length_mm", 0.0},         {"volume_mm3", 0.0},
                  {"stump_found", false},     {"stump_searched_mm", 74.6}};
  ischia::ReportOptions options;
  options.writePdf = false;
  const ischia::ReportOutcome outcome = ischia::WriteReport(r, dir.path, options);
  ASSERT_TRUE(outcome.htmlWritten);
  const std::string html = ReadText(dir.path / "report.html");
  const std::size_t card = html.find("<div class=\"grade g-complete_tear\"><div class=\"side\">Left");
  ASSERT_NE(card, std::string::npos);
  EXPECT_NE(html.find("No stump found within 75 mm below the footprint", card), std::string::npos);
  EXPECT_EQ(html.find("Retraction 0.0"), std::string::npos);
  ExpectSelfContained(html);
}

// preprocessing.<role>.image_quality as `ischia run` writes it.
json ImageQuality(double snr, bool low, double ghostRatio, double ghostPercent, bool motion) {
  return {{"snr", snr},
          {"noise_sigma", 31.25},
          {"background_noise_sigma", 30.0},
          {"low_snr", low},
          {"min_snr", 5.0},
          {"phase_encoding_direction", "ROW"},
          {"ghost_measured", true},
          {"ghost_ratio", ghostRatio},
          {"ghost_signal_percent", ghostPercent},
          {"motion_suspected", motion},
          {"motion_thresholds", {{"ghost_ratio", 1.5}, {"ghost_signal_percent", 2.5}}},
          {"notes", json::array()}};
}

TEST(Report, ImageQualityFiguresAlwaysAndLowSnrAndMotionWarningsWhenFlagged) {
  TempDir dir("ischia-report-quality");
  ischia::ReportOptions options;
  options.writePdf = false;
  json r = OkResult();
  r["image_quality"] = {{"low_snr", true},
                        {"motion_suspected", true},
                        {"min_snr", 5.0},
                        {"motion_thresholds", {{"ghost_ratio", 1.5}, {"ghost_signal_percent", 2.5}}}};
  r["preprocessing"] = {
      {"axial_fluid_sensitive",
       {{"fraction_of_axial_grid_covered", 1.0},
        {"image_quality", ImageQuality(3.2, true, 1.92, 4.13, true)}}},
      {"axial_t1",
       {{"fraction_of_axial_grid_covered", 1.0},
        {"image_quality", ImageQuality(24.04, false, 1.02, 0.11, false)}}}};
  ASSERT_TRUE(ischia::WriteReport(r, dir.path, options).htmlWritten);
  std::string html = ReadText(dir.path / "report.html");
  for (const char* text :
       {"Low SNR: the axial fluid-sensitive series has SNR 3.2", "below the threshold 5.0",
        "Motion suspected: the axial fluid-sensitive series shows ghosting along the "
        "phase-encoding direction (ROW)",
        "1.92 x the reference (threshold 1.50)", "4.1% of the muscle signal (threshold 2.5%)",
        "id=\"image-quality\"", "<td>axial T1</td><td class=\"num\">24.0</td>"}) {
    EXPECT_NE(html.find(text), std::string::npos) << text;
  }
  EXPECT_EQ(html.find("Low SNR: the axial T1"), std::string::npos);

  // Nothing flagged: the figures are still shown, no warning.
  r["preprocessing"]["axial_fluid_sensitive"]["image_quality"] =
      ImageQuality(18.5, false, 1.05, 0.2, false);
  r["image_quality"]["low_snr"] = r["image_quality"]["motion_suspected"] = false;
  ASSERT_TRUE(ischia::WriteReport(r, dir.path, options).htmlWritten);
  html = ReadText(dir.path / "report.html");
  EXPECT_EQ(html.find("Low SNR"), std::string::npos);
  EXPECT_EQ(html.find("Motion suspected"), std::string::npos);
  EXPECT_NE(html.find("<td>axial fluid-sensitive</td><td class=\"num\">18.5</td>"),
            std::string::npos);
}

TEST(Report, HostileOrEmptyResultNeverThrows) {
  TempDir dir("ischia-report-hostile");
  ischia::ReportOptions options;
  options.writePdf = false;
  for (const json& r :
       {json(nullptr), json::array({1, 2}), json("text"),
        json{{"status", 3},
             {"sides", "x"},
             {"study", {{"patient_name", 7}}},
             {"outputs", {{"images", {{{"file", 5}}, "x", nullptr}}, {"meshes", 3}}},
             {"left_right", {{"thickness_mm", {{"left_minus_right", "a"}}}}},
             {"config", json::array()},
             {"timings_s", {{"x", "y"}}}},
        json{{"sides",
              {{"left",
                {{"found", true},
                 {"tendon", {{"thickness_mm", nullptr}}},
                 {"tendon_found", "yes"},
                 {"tuberosity_mm", {1}}}}}}}}) {
    ischia::ReportOutcome outcome;
    EXPECT_NO_THROW(outcome = ischia::WriteReport(r, dir.path, options)) << r.dump();
    EXPECT_TRUE(outcome.htmlWritten) << r.dump();
    ExpectSelfContained(ReadText(dir.path / "report.html"));
  }
  // An output folder that cannot be written: no exception, the reason in the warnings.
  const ischia::ReportOutcome o = ischia::WriteReport(OkResult(), "/proc/no-such-dir", options);
  EXPECT_FALSE(o.htmlWritten);
  ASSERT_FALSE(o.warnings.empty());
}

TEST(ReportPdf, ChromiumFailuresAndHangsAreReportedNotFatal) {
  TempDir dir("ischia-report-fakechrome");
  WriteText(dir.path / "page.html", "<p>x</p>");
  auto fake = [&](const std::string& name, const std::string& body) {
    const fs::path p = dir.path / name;
    WriteText(p, "#!/bin/sh\n" + body + "\n");
    ::chmod(p.c_str(), 0755);
    return p;
  };
  std::string why;
  EXPECT_FALSE(ischia::PrintHtmlToPdf(dir.path / "page.html", dir.path / "a.pdf",
                                      fake("crash", "echo boom >&2; exit 3"), 30, &why));
  EXPECT_NE(why.find("status 3: boom"), std::string::npos) << why;
  EXPECT_FALSE(ischia::PrintHtmlToPdf(
      dir.path / "page.html", dir.path / "a.pdf",
      fake("junk", "for a; do case $a in --print-to-pdf=*) echo junk > \"${a#*=}\";; esac; done"),
      30, &why));
  EXPECT_NE(why.find("wrote no PDF"), std::string::npos) << why;
  // A hang (and a helper it started) is killed at the time-out, with nothing left behind.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ischia::PrintHtmlToPdf(dir.path / "page.html", dir.path / "a.pdf",
                                      fake("hang", "sleep 60 & sleep 60"), 1.0, &why));
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 10);
  EXPECT_NE(why.find("killed"), std::string::npos) << why;
  EXPECT_FALSE(ischia::PrintHtmlToPdf(dir.path / "page.html", dir.path / "a.pdf",
                                      dir.path / "no-such-browser", 5, &why));
  for (const auto& e : fs::directory_iterator(dir.path)) {
    EXPECT_EQ(e.path().filename().string().find("a.pdf"), std::string::npos) << e.path();
  }
  // Through WriteReport: the run goes on, report.html says why.
  ischia::ReportOptions options;
  options.chromium = dir.path / "crash";
  const ischia::ReportOutcome o = ischia::WriteReport(OkResult(), dir.path, options);
  EXPECT_TRUE(o.htmlWritten);
  EXPECT_FALSE(o.pdfWritten);
  EXPECT_NE(ReadText(dir.path / "report.html")
                .find("report.pdf not written: Chromium exited with status 3"),
            std::string::npos);
}

TEST(ReportPdf, PdfIsReadableAndCarriesThePerSideNumbers) {
  const fs::path chromium = ischia::FindChromium();
  const bool havePdftotext = !RunCapture("command -v pdftotext").empty();
  if (chromium.empty() || !havePdftotext) {
    ASSERT_FALSE(CiRun()) << "CI runs scripts/setup.sh, which installs chromium and poppler-utils";
    // No browser: the run still succeeds and the report says why (checked for real).
    TempDir dir("ischia-report-nopdf");
    const ischia::ReportOutcome o = ischia::WriteReport(OkResult(), dir.path, {});
    EXPECT_TRUE(o.htmlWritten);
    EXPECT_EQ(o.pdfWritten, !chromium.empty());
    GTEST_SKIP() << "chromium or pdftotext missing: PDF text not checked";
  }
  TempDir dir("ischia-report-pdf");
  const json r = ResultWithOutputs(dir.path);
  const auto start = std::chrono::steady_clock::now();
  const ischia::ReportOutcome o = ischia::WriteReport(r, dir.path, {});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(o.pdfWritten) << o.pdfNote;
  RecordProperty("pdf_seconds", std::to_string(seconds));
  EXPECT_GT(o.pdfBytes, 10000u);
  for (const auto& e : fs::directory_iterator(dir.path)) {
    EXPECT_EQ(e.path().filename().string().find(".partial"), std::string::npos) << e.path();
  }
  const std::string text =
      RunCapture("pdftotext -layout '" + (dir.path / "report.pdf").string() + "' - 2>/dev/null");
  for (const char* s :
       {"PID-0042", "DOE, JANE", "Maximum thickness", "Partial tear", "Normal", "Left", "Right",
        "6.1", "9.9", "21.3", "25.5", "98", "152", "-3.7", "0.62", "1.23", "Page 1 of"}) {
    EXPECT_NE(text.find(s), std::string::npos) << s;
  }
  // The thickness row: label, unit, left, right, difference, ratio on one line.
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(Maximum thickness\s+mm\s+6\.1\s+9\.9\s+-3\.7\s+0\.62)")))
      << text.substr(0, 3000);
  EXPECT_EQ(text.find("Interactive 3D view failed"), std::string::npos);
}

TEST(ReportRun, ConfigKeySkipsThePdf) {
  EXPECT_TRUE(ischia::RunConfig{}.report.pdf);
  const ischia::RunConfig c =
      ischia::RunConfigFromJson({{"report", {{"pdf", false}, {"pdf_timeout_s", 30}}}});
  EXPECT_FALSE(c.report.pdf);
  EXPECT_EQ(c.report.pdfTimeoutS, 30);
  EXPECT_THROW(ischia::RunConfigFromJson({{"report", {{"pdf", "no"}}}}), std::invalid_argument);
  EXPECT_THROW(ischia::RunConfigFromJson({{"report", {{"pdf_timeout_s", 0}}}}),
               std::invalid_argument);
  EXPECT_THROW(ischia::RunConfigFromJson({{"report", {{"html", false}}}}), std::invalid_argument);
}

TEST(ReportRun, IschiaRunWritesTheReportFromTheResultBeforeResultJson) {
  TempDir dir("ischia-report-run");
  const fs::path study = dir.path / "study", out = dir.path / "out";
  ASSERT_EQ(std::system(
                (std::string(ISCHIA_CLI) + " phantom --out " + study.string() +
                 " --seed 7 --left normal --right complete_tear --series t1,pdfs --in-plane-scale 2"
                 " --supersampling 1 >/dev/null 2>&1")
                    .c_str()),
            0);
  const bool pdf = !ischia::FindChromium().empty();
  ASSERT_TRUE(pdf || !CiRun()) << "CI runs scripts/setup.sh, which installs chromium";
  ASSERT_EQ(
      std::system((std::string(ISCHIA_CLI) + " run " + study.string() + " --out " + out.string() +
                   " --threads 2" + (pdf ? "" : " --no-pdf") + " >/dev/null 2>&1")
                      .c_str()),
      0);
  const json r = json::parse(ReadText(out / "result.json"));
  ASSERT_EQ(r["status"], "ok");
  EXPECT_EQ(r["report"]["html"], "report.html");
  EXPECT_EQ(r["report"]["pdf"], pdf ? json("report.pdf") : json(nullptr));
  EXPECT_GT(r["timings_s"]["report"].get<double>(), 0);
  EXPECT_GE(r["timings_s"]["total"].get<double>(), r["timings_s"]["report"].get<double>());
  // result.json stays the completion marker: written after the report.
  EXPECT_LE(fs::last_write_time(out / "report.html"), fs::last_write_time(out / "result.json"));
  for (const char* key :
       {"patient_id", "patient_name", "patient_birth_date", "study_date", "accession_number"}) {
    EXPECT_FALSE(r["study"][key].get<std::string>().empty()) << key;  // from the DICOM headers
  }
  const std::string html = ReadText(out / "report.html");
  ExpectSelfContained(html);
  EXPECT_NE(html.find(r["study"]["patient_id"].get<std::string>()), std::string::npos);
  EXPECT_NE(html.find(r["study"]["accession_number"].get<std::string>()), std::string::npos);
  EXPECT_GE(ExpectSameNumbers(html, r), 20);
  if (pdf) {
    const std::string text =
        RunCapture("pdftotext -layout '" + (out / "report.pdf").string() + "' - 2>/dev/null");
    EXPECT_NE(text.find(r["study"]["patient_id"].get<std::string>()), std::string::npos);
    char retraction[32];
    std::snprintf(retraction, sizeof retraction, "%.1f",
                  r["sides"]["right"]["tear"]["retraction_mm"].get<double>());
    EXPECT_NE(text.find(retraction), std::string::npos) << retraction;
  }
}
