// End to end through the CLI on one generated study: `ischia run` writes the meshes, 3D
// renders and key images before result.json and lists them in result.json's "outputs";
// `ischia view --screenshot` works headless; without a display or Xvfb the numbers are still
// written and the reason is given. One run is shared by the tests (it costs ~10-20 s).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vtkImageData.h>
#include <vtkPNGReader.h>
#include <vtkPointData.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "nifti_io.h"
#include "phantom.h"
#include "viewer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ischia;

namespace {

struct Ran {
  int exitCode = -1;
  std::string output;  // stdout and stderr
};

Ran Shell(const std::string& args, const fs::path& log) {
  const std::string cmd = args + " > '" + log.string() + "' 2>&1";
  const int status = std::system(cmd.c_str());
  Ran r;
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  r.output = ss.str();
  return r;
}

json ReadJson(const fs::path& p) {
  std::ifstream f(p);
  return json::parse(f);
}

class RenderOutputs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("ischia_render_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    PhantomOptions o;
    o.seed = 11;
    o.left.pathology = PhantomCase::PartialTear;
    o.right.pathology = PhantomCase::Normal;
    o.series = {PhantomSeries::AxialT1, PhantomSeries::AxialFluidSensitive};
    o.inPlaneScale = 1.5;  // coarser grid for speed
    o.supersampling = 1;
    GeneratePhantomStudy(o, *dir_ / "study");
    // As CI runs it: no DISPLAY (the CLI starts its own Xvfb).
    run_ = new Ran(Shell("env -u DISPLAY " ISCHIA_CLI " run '" + (*dir_ / "study").string() +
                             "' --out '" + (*dir_ / "out").string() + "'",
                         *dir_ / "run.log"));
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(*dir_, ec);
    delete run_;
    delete dir_;
  }
  static fs::path Out() { return *dir_ / "out"; }
  static fs::path* dir_;
  static Ran* run_;
};
fs::path* RenderOutputs::dir_ = nullptr;
Ran* RenderOutputs::run_ = nullptr;

TEST_F(RenderOutputs, RunWritesEveryListedFileBeforeResultJson) {
  ASSERT_EQ(run_->exitCode, 0) << run_->output;
  const json r = ReadJson(Out() / "result.json");
  ASSERT_EQ(r["status"], "ok");
  const json& o = r["outputs"];
  EXPECT_TRUE(o["warnings"].empty()) << o["warnings"].dump();
  EXPECT_TRUE(r["timings_s"].contains("render"));
  const auto resultTime = fs::last_write_time(Out() / "result.json");
  std::set<std::string> files;
  for (const json& img : o["images"]) {
    const std::string f = img["file"];
    files.insert(f);
    EXPECT_FALSE(img["title"].get<std::string>().empty()) << f;
    EXPECT_TRUE(img["kind"] == "render" || img["kind"] == "key_image") << f;
    ASSERT_TRUE(fs::exists(Out() / f)) << f;
    EXPECT_LE(fs::last_write_time(Out() / f), resultTime) << f;
    vtkNew<vtkPNGReader> png;
    ASSERT_TRUE(png->CanReadFile((Out() / f).c_str())) << f;
    png->SetFileName((Out() / f).c_str());
    png->Update();
    int d[3];
    png->GetOutput()->GetDimensions(d);
    EXPECT_GE(d[0], 500) << f;
    EXPECT_GE(d[1], 500) << f;
  }
  for (const char* f :
       {"renders/posterior.png", "renders/left_oblique.png", "renders/right_oblique.png",
        "key_images/axial_tip.png", "key_images/axial_10mm.png", "key_images/axial_20mm.png",
        "key_images/axial_30mm.png", "key_images/coronal_left.png", "key_images/coronal_right.png"})
    EXPECT_EQ(files.count(f), 1u) << f;
  std::set<std::string> meshes;
  for (const json& m : o["meshes"]) {
    const std::string f = m["file"];
    meshes.insert(f);
    ASSERT_TRUE(fs::exists(Out() / f)) << f;
    EXPECT_LE(fs::last_write_time(Out() / f), resultTime) << f;
    EXPECT_TRUE(m["side"] == "left" || m["side"] == "right");
  }
  for (const char* s : {"left", "right"})
    for (const char* st : {"bone", "tendon"})
      for (const char* ext : {"vtp", "stl"})
        EXPECT_EQ(meshes.count(std::string("meshes/") + st + "_" + s + "." + ext), 1u)
            << st << s << ext;
  // Every structure is either meshed or listed as skipped.
  EXPECT_EQ(o["meshes"].size() / 2 + o["skipped_structures"].size(), 6u);
}

// The generated study is clean: ordinary SNR, no ghosting, nothing flagged.
TEST_F(RenderOutputs, CleanStudyImageQualityIsMeasuredAndNotFlagged) {
  ASSERT_EQ(run_->exitCode, 0) << run_->output;
  const json r = ReadJson(Out() / "result.json");
  for (const char* role : {"axial_fluid_sensitive", "axial_t1"}) {
    const json& q = r["preprocessing"][role]["image_quality"];
    EXPECT_GT(q["snr"].get<double>(), 8) << role;
    EXPECT_LT(q["snr"].get<double>(), 60) << role;
    EXPECT_FALSE(q["low_snr"].get<bool>()) << role;
    EXPECT_EQ(q["phase_encoding_direction"], "ROW") << role;
    EXPECT_FALSE(q["motion_suspected"].get<bool>()) << role << ": " << q.dump();
  }
  EXPECT_FALSE(r["image_quality"]["low_snr"].get<bool>());
  EXPECT_FALSE(r["image_quality"]["motion_suspected"].get<bool>());
}

TEST_F(RenderOutputs, TendonMeshesLieOnTheirLabelsInPatientCoordinates) {
  ASSERT_EQ(run_->exitCode, 0) << run_->output;
  const json r = ReadJson(Out() / "result.json");
  const LabelImage::Pointer labels = ReadLabelNifti(Out() / "labels.nii.gz");
  const double midline = r["analysis_qc"]["midline_x_mm"];
  const auto size = labels->GetLargestPossibleRegion().GetSize();
  const auto& sp = labels->GetSpacing();
  for (const char* side : {"left", "right"}) {
    SCOPED_TRACE(side);
    std::array<double, 6> b{1e9, -1e9, 1e9, -1e9, 1e9, -1e9};
    for (unsigned k = 0; k < size[2]; ++k)
      for (unsigned j = 0; j < size[1]; ++j)
        for (unsigned i = 0; i < size[0]; ++i) {
          const auto v = labels->GetPixel({{i, j, k}});
          if (v != kLabelTendon) continue;
          LabelImage::PointType p;
          labels->TransformIndexToPhysicalPoint({{i, j, k}}, p);
          if ((p[0] > midline) != (std::string(side) == "left")) continue;
          for (int a = 0; a < 3; ++a)
            b[2 * a] = std::min(b[2 * a], p[a]), b[2 * a + 1] = std::max(b[2 * a + 1], p[a]);
        }
    ASSERT_LT(b[0], b[1]) << "no tendon voxel";
    const auto mesh = ReadSurface(Out() / "meshes" / (std::string("tendon_") + side + ".vtp"));
    const double* mb = mesh->GetBounds();
    // Voxel centres vs surface: within about one voxel (pixels ~1 mm, slices ~3.6 mm).
    for (int a = 0; a < 3; ++a) {
      const double tol = (a < 2 ? sp[0] : sp[2]) + 1.0;
      EXPECT_NEAR(mb[2 * a], b[2 * a], tol) << "axis " << a;
      EXPECT_NEAR(mb[2 * a + 1], b[2 * a + 1], tol) << "axis " << a;
    }
    EXPECT_NE(mesh->GetPointData()->GetArray("thickness_mm"), nullptr);
  }
}

TEST_F(RenderOutputs, ViewScreenshotHeadlessAndClearErrorWithoutDisplay) {
  ASSERT_EQ(run_->exitCode, 0) << run_->output;
  const fs::path shot = *dir_ / "view.png";
  const Ran v = Shell("env -u DISPLAY " ISCHIA_CLI " view '" + Out().string() + "' --screenshot '" +
                          shot.string() + "'",
                      *dir_ / "view.log");
  EXPECT_EQ(v.exitCode, 0) << v.output;
  EXPECT_TRUE(fs::exists(shot));
  const Ran i =
      Shell("env -u DISPLAY " ISCHIA_CLI " view '" + Out().string() + "'", *dir_ / "view2.log");
  EXPECT_EQ(i.exitCode, 2) << i.output;
  EXPECT_NE(i.output.find("DISPLAY is not set"), std::string::npos) << i.output;
  const Ran bad =
      Shell(ISCHIA_CLI " view '" + (*dir_ / "nothing").string() + "'", *dir_ / "view3.log");
  EXPECT_EQ(bad.exitCode, 2) << bad.output;
  EXPECT_NE(bad.output.find("result.json"), std::string::npos) << bad.output;
}

TEST_F(RenderOutputs, NoRenderAndNoXvfbStillWriteTheNumbersAndSayWhy) {
  ASSERT_EQ(run_->exitCode, 0) << run_->output;
  // A run with --no-render needs no display at all: no Xvfb on the PATH, no DISPLAY.
  const fs::path out2 = *dir_ / "out_no_render";
  const Ran nr =
      Shell("env -u DISPLAY PATH=/nonexistent " ISCHIA_CLI " run '" + (*dir_ / "study").string() +
                "' --out '" + out2.string() + "' --no-render",
            *dir_ / "no_render.log");
  ASSERT_EQ(nr.exitCode, 0) << nr.output;
  json r = ReadJson(out2 / "result.json");
  EXPECT_EQ(r["outputs"]["render"], false);
  EXPECT_TRUE(r["outputs"]["images"].empty());
  EXPECT_FALSE(r["outputs"]["meshes"].empty());
  EXPECT_TRUE(r["sides"]["left"]["found"].get<bool>());
  EXPECT_FALSE(fs::exists(out2 / "renders"));
  // Rendering it later without any way to get a display: a warning, not a failure.
  const Ran rr =
      Shell("env -u DISPLAY PATH=/nonexistent " ISCHIA_CLI " render '" + out2.string() + "'",
            *dir_ / "render.log");
  ASSERT_EQ(rr.exitCode, 0) << rr.output;
  r = ReadJson(out2 / "result.json");
  ASSERT_FALSE(r["outputs"]["warnings"].empty());
  EXPECT_NE(r["outputs"]["warnings"][0].get<std::string>().find("Xvfb"), std::string::npos)
      << r["outputs"]["warnings"].dump();
  EXPECT_TRUE(r["outputs"]["images"].empty());
  EXPECT_FALSE(r["outputs"]["meshes"].empty());
  EXPECT_NE(rr.output.find("warning"), std::string::npos);
}

}  // namespace
