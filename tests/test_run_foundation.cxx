// The foundation of `ischia run`: preprocessing (body mask, N4, standardisation, resampling) on
// synthetic images with known answers (anisotropic spacing, oblique directions), series
// selection, and the run command end to end (exit codes, result.json).
#include <gtest/gtest.h>
#include <itkImageRegionIteratorWithIndex.h>
#include <itkMultiThreaderBase.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "dicom_ingest.h"
#include "dicom_test_writer.h"
#include "preprocess.h"
#include "run_analysis.h"
#include "run_config.h"
#include "series_selection.h"
#include "threading.h"

namespace fs = std::filesystem;
using namespace ischia;

namespace {

// ---- Synthetic body ---------------------------------------------------------------------------

enum Tissue { kAir, kMuscle, kFat, kDark, kFluid };

// Intensities per tissue (air, muscle, fat, dark: cortex/tendon, fluid).
constexpr std::array<double, 5> kT1{0, 100, 260, 25, 60};
constexpr std::array<double, 5> kFatSat{0, 100, 35, 20, 420};

using Vec = std::array<double, 3>;

// An oblique grid (20 deg about z, 10 deg about x), anisotropic spacing 2.0 x 2.4 x 5.0 mm.
FloatImage::Pointer ObliqueGrid(FloatImage::SizeType size = {{96, 80, 18}}) {
  auto image = FloatImage::New();
  image->SetRegions(FloatImage::RegionType(size));
  FloatImage::SpacingType spacing;
  spacing[0] = 2.0;
  spacing[1] = 2.4;
  spacing[2] = 5.0;
  image->SetSpacing(spacing);
  const double a = 20 * M_PI / 180, b = 10 * M_PI / 180;
  FloatImage::DirectionType rz, rx;
  rz.SetIdentity();
  rx.SetIdentity();
  rz[0][0] = std::cos(a), rz[0][1] = -std::sin(a), rz[1][0] = std::sin(a), rz[1][1] = std::cos(a);
  rx[1][1] = std::cos(b), rx[1][2] = -std::sin(b), rx[2][1] = std::sin(b), rx[2][2] = std::cos(b);
  image->SetDirection(rx * rz);
  FloatImage::PointType origin;
  origin[0] = -95, origin[1] = -80, origin[2] = 20;
  image->SetOrigin(origin);
  image->Allocate(true);
  return image;
}

Vec Centre(const FloatImage& g) {
  itk::ContinuousIndex<double, 3> ci;
  for (unsigned d = 0; d < 3; ++d) ci[d] = (g.GetLargestPossibleRegion().GetSize()[d] - 1) / 2.0;
  FloatImage::PointType p;
  g.TransformContinuousIndexToPhysicalPoint(ci, p);
  return {p[0], p[1], p[2]};
}

// Ellipsoid body (semi-axes 75 x 60 x 32 mm in LPS) with a 10 mm fat shell, muscle inside, a
// dark sphere (cortex-like), an intermuscular fat sphere and a small fluid sphere.
constexpr Vec kSemiAxes{75, 60, 32};

Tissue TissueAt(const Vec& d) {
  auto rho = [&](double shrink) {
    double s = 0;
    for (int i = 0; i < 3; ++i) s += std::pow(d[i] / (kSemiAxes[i] - shrink), 2);
    return std::sqrt(s);
  };
  auto inSphere = [&](Vec c, double r) {
    return std::pow(d[0] - c[0], 2) + std::pow(d[1] - c[1], 2) + std::pow(d[2] - c[2], 2) <= r * r;
  };
  if (rho(0) > 1) return kAir;
  if (rho(10) > 1) return kFat;
  if (inSphere({30, 10, 0}, 12)) return kDark;
  if (inSphere({-30, 0, 0}, 15)) return kFat;
  if (inSphere({0, 25, 0}, 7)) return kFluid;
  return kMuscle;
}

// Smooth multiplicative coil-like field, about 0.7-1.3 over the body.
double Bias(const Vec& d) {
  const double u = d[0] / kSemiAxes[0], v = d[1] / kSemiAxes[1];
  return std::exp(0.25 * u + 0.15 * v - 0.1 * u * u);
}

struct Synthetic {
  FloatImage::Pointer image;  // with noise (and the bias, when asked)
  FloatImage::Pointer clean;  // noise-free, bias-free
  FloatImage::Pointer bias;
  itk::Image<std::uint8_t, 3>::Pointer tissue;
};

Synthetic MakeBody(const std::array<double, 5>& table, bool withBias, unsigned seed = 11,
                   FloatImage::Pointer grid = ObliqueGrid()) {
  Synthetic s;
  s.image = grid;
  s.clean = ObliqueGrid(grid->GetLargestPossibleRegion().GetSize());
  s.clean->CopyInformation(grid);
  s.bias = ObliqueGrid(grid->GetLargestPossibleRegion().GetSize());
  s.bias->CopyInformation(grid);
  s.tissue = MaskImage::New();
  s.tissue->SetRegions(grid->GetLargestPossibleRegion());
  s.tissue->CopyInformation(grid);
  s.tissue->Allocate(true);
  const Vec c = Centre(*grid);
  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0.0, 3.0);
  itk::ImageRegionIteratorWithIndex<FloatImage> it(grid, grid->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it) {
    FloatImage::PointType p;
    grid->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    const Vec d{p[0] - c[0], p[1] - c[1], p[2] - c[2]};
    const Tissue t = TissueAt(d);
    const double b = withBias ? Bias(d) : 1.0;
    const double clean = table[t];
    // Magnitude images: air is Rayleigh-like noise, tissue Gaussian noise around the signal.
    const double v = t == kAir ? std::hypot(noise(rng), noise(rng)) : clean * b + noise(rng);
    it.Set(static_cast<float>(v));
    s.clean->SetPixel(it.GetIndex(), static_cast<float>(clean));
    s.bias->SetPixel(it.GetIndex(), static_cast<float>(b));
    s.tissue->SetPixel(it.GetIndex(), static_cast<std::uint8_t>(t));
  }
  return s;
}

double Dice(const MaskImage& a, const std::function<bool(std::size_t)>& truth) {
  const std::size_t n = a.GetLargestPossibleRegion().GetNumberOfPixels();
  std::size_t both = 0, na = 0, nt = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool x = a.GetBufferPointer()[i] != 0, y = truth(i);
    both += x && y, na += x, nt += y;
  }
  return 2.0 * both / static_cast<double>(na + nt);
}

void ExpectSameGeometry(const itk::ImageBase<3>& a, const itk::ImageBase<3>& b) {
  EXPECT_EQ(a.GetLargestPossibleRegion(), b.GetLargestPossibleRegion());
  for (unsigned d = 0; d < 3; ++d) {
    EXPECT_NEAR(a.GetOrigin()[d], b.GetOrigin()[d], 1e-9);
    EXPECT_NEAR(a.GetSpacing()[d], b.GetSpacing()[d], 1e-9);
    for (unsigned e = 0; e < 3; ++e)
      EXPECT_NEAR(a.GetDirection()[d][e], b.GetDirection()[d][e], 1e-9);
  }
}

// Mean of `image` over voxels of tissue `t` (optionally only where `keep` holds).
double MeanIn(const FloatImage& image, const Synthetic& s, Tissue t) {
  double sum = 0;
  std::size_t n = 0;
  const std::size_t total = image.GetLargestPossibleRegion().GetNumberOfPixels();
  for (std::size_t i = 0; i < total; ++i) {
    if (s.tissue->GetBufferPointer()[i] == t) sum += image.GetBufferPointer()[i], ++n;
  }
  return sum / static_cast<double>(n);
}

}  // namespace

// ---- Body mask --------------------------------------------------------------------------------

TEST(BodyMask, CoversEllipsoidBodyOnObliqueAnisotropicGrid) {
  const Synthetic s = MakeBody(kT1, /*withBias=*/true);
  const BodyMaskResult body = ComputeBodyMask(*s.image);
  ExpectSameGeometry(*body.mask, *s.image);
  const double dice =
      Dice(*body.mask, [&](std::size_t i) { return s.tissue->GetBufferPointer()[i] != kAir; });
  EXPECT_GT(dice, 0.95);
  // The dark (cortex-like) sphere inside the body is body: hole filling.
  std::size_t dark = 0, darkIn = 0;
  for (std::size_t i = 0; i < s.tissue->GetLargestPossibleRegion().GetNumberOfPixels(); ++i) {
    if (s.tissue->GetBufferPointer()[i] == kDark)
      ++dark, darkIn += body.mask->GetBufferPointer()[i];
  }
  ASSERT_GT(dark, 50u);
  EXPECT_GE(darkIn, 0.99 * dark);
  // Volume of the ellipsoid, 4/3 pi abc = 603 mL, within 5%.
  EXPECT_NEAR(body.volumeMl, 4.0 / 3.0 * M_PI * 75 * 60 * 32 / 1000.0, 0.05 * 603);
}

// ---- Bias field -------------------------------------------------------------------------------

TEST(BiasField, SmoothMultiplicativeFieldIsRemovedToWithinThreePercent) {
  const Synthetic s = MakeBody(kT1, /*withBias=*/true);
  const BodyMaskResult body = ComputeBodyMask(*s.image);
  const BiasCorrectionResult bias = CorrectBiasField(*s.image, *body.mask);
  ExpectSameGeometry(*bias.corrected, *s.image);
  ExpectSameGeometry(*bias.field, *s.image);
  // Estimated field / true field over the body, up to N4's arbitrary global scale: the
  // 95th percentile of |ratio / median - 1| must be under 3% (the true field spans +-30%).
  std::vector<double> ratio, truth;
  const std::size_t n = s.image->GetLargestPossibleRegion().GetNumberOfPixels();
  for (std::size_t i = 0; i < n; ++i) {
    if (s.tissue->GetBufferPointer()[i] == kAir) continue;
    ratio.push_back(bias.field->GetBufferPointer()[i] / s.bias->GetBufferPointer()[i]);
    truth.push_back(s.bias->GetBufferPointer()[i]);
  }
  auto spread = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const double median = v[v.size() / 2];
    for (double& x : v) x = std::abs(x / median - 1);
    std::sort(v.begin(), v.end());
    return v[v.size() * 95 / 100];
  };
  EXPECT_GT(spread(truth), 0.2) << "the test field must be strong";
  EXPECT_LT(spread(ratio), 0.03);
  EXPECT_GT(bias.fieldMaxInMask / bias.fieldMinInMask, 1.5);
}

TEST(BiasField, SameFieldAtOneAndTwoThreads) {
  // Regression: ITK 5.2's N4 fit depends on the number of work units (5% apart at 1 vs 2).
  const Synthetic s = MakeBody(kT1, /*withBias=*/true);
  const BodyMaskResult body = ComputeBodyMask(*s.image);
  ConfigureThreads(1);
  const BiasCorrectionResult one = CorrectBiasField(*s.image, *body.mask);
  ConfigureThreads(2);
  const BiasCorrectionResult two = CorrectBiasField(*s.image, *body.mask);
  EXPECT_EQ(itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads(), 2u) << "restored";
  double worst = 0;
  const std::size_t n = s.image->GetLargestPossibleRegion().GetNumberOfPixels();
  for (std::size_t i = 0; i < n; ++i) {
    worst = std::max<double>(worst, std::abs(one.corrected->GetBufferPointer()[i] -
                                             two.corrected->GetBufferPointer()[i]));
  }
  EXPECT_LT(worst, 1e-3);  // intensities of order 100
}

// ---- Standardisation --------------------------------------------------------------------------

TEST(Standardisation, T1MuscleIsOneFatFromPeaksAndScaleDoesNotMatter) {
  const Synthetic s = MakeBody(kT1, /*withBias=*/false);
  const BodyMaskResult body = ComputeBodyMask(*s.image);
  const StandardisedImage st = StandardiseIntensities(*s.image, *body.mask, TissueContrast::T1);
  EXPECT_EQ(st.reference.method, "t1_peaks");
  ExpectSameGeometry(*st.image, *s.image);
  EXPECT_NEAR(MeanIn(*st.image, s, kMuscle), 1.0, 0.05);
  EXPECT_NEAR(MeanIn(*st.image, s, kFat), 2.6, 0.15);
  EXPECT_NEAR(st.reference.fatLevel / st.reference.muscleLevel, 2.6, 0.15);

  // Scanners scale intensities arbitrarily: x 7.3 must give the same standardised image.
  auto scaled = ObliqueGrid();
  for (std::size_t i = 0; i < scaled->GetLargestPossibleRegion().GetNumberOfPixels(); ++i) {
    scaled->GetBufferPointer()[i] = 7.3f * s.image->GetBufferPointer()[i];
  }
  const StandardisedImage st2 =
      StandardiseIntensities(*scaled, *ComputeBodyMask(*scaled).mask, TissueContrast::T1);
  EXPECT_NEAR(st2.reference.muscleLevel / st.reference.muscleLevel, 7.3, 7.3 * 1e-3);
  EXPECT_NEAR(MeanIn(*st2.image, s, kMuscle), MeanIn(*st.image, s, kMuscle), 1e-3);
}

TEST(Standardisation, FluidSensitiveMuscleFromTheT1MuscleMask) {
  const Synthetic t1 = MakeBody(kT1, /*withBias=*/false, 21);
  const Synthetic fs = MakeBody(kFatSat, /*withBias=*/true, 22);
  const BodyMaskResult t1Body = ComputeBodyMask(*t1.image);
  const StandardisedImage t1St =
      StandardiseIntensities(*t1.image, *t1Body.mask, TissueContrast::T1);
  const MaskImage::Pointer muscle = MuscleMaskFromT1(*t1.image, *t1Body.mask, t1St.reference);

  const BodyMaskResult fsBody = ComputeBodyMask(*fs.image);
  const BiasCorrectionResult corrected = CorrectBiasField(*fs.image, *fsBody.mask);
  const StandardisedImage st = StandardiseIntensities(
      *corrected.corrected, *fsBody.mask, TissueContrast::FluidSensitive, {}, muscle.GetPointer());
  EXPECT_EQ(st.reference.method, "muscle_mask");
  EXPECT_NEAR(MeanIn(*st.image, fs, kMuscle), 1.0, 0.06);
  EXPECT_NEAR(MeanIn(*st.image, fs, kFluid), 4.2, 0.5);
  // Without the T1 mask: the tallest peak above the suppressed-fat peak (fat is half of this
  // body, so the body's mode would be fat).
  const StandardisedImage alone =
      StandardiseIntensities(*corrected.corrected, *fsBody.mask, TissueContrast::FluidSensitive);
  EXPECT_EQ(alone.reference.method, "fluid_peaks");
  EXPECT_NEAR(MeanIn(*alone.image, fs, kMuscle), 1.0, 0.06);
}

// ---- Resampling -------------------------------------------------------------------------------

TEST(Resample, LinearFunctionOfPositionIsExactAcrossObliqueGrids) {
  // f(p) = a . p is reproduced exactly by linear interpolation, whatever the two grids.
  const Vec a{0.5, -0.25, 1.5};
  auto moving = ObliqueGrid({{60, 50, 30}});
  itk::ImageRegionIteratorWithIndex<FloatImage> it(moving, moving->GetLargestPossibleRegion());
  for (; !it.IsAtEnd(); ++it) {
    FloatImage::PointType p;
    moving->TransformIndexToPhysicalPoint(it.GetIndex(), p);
    it.Set(static_cast<float>(a[0] * p[0] + a[1] * p[1] + a[2] * p[2]));
  }
  auto reference = FloatImage::New();  // axis-aligned, finer, different origin
  FloatImage::SizeType refSize{{50, 40, 20}};
  reference->SetRegions(FloatImage::RegionType(refSize));
  FloatImage::SpacingType sp;
  sp[0] = 1.3, sp[1] = 1.7, sp[2] = 3.1;
  reference->SetSpacing(sp);
  FloatImage::PointType o;
  o[0] = -60, o[1] = -60, o[2] = 0;
  reference->SetOrigin(o);
  reference->Allocate(true);

  const FloatImage::Pointer out = ResampleIntoGrid(*moving, *reference, -999.0f);
  const MaskImage::Pointer fov = FieldOfViewInGrid(*moving, *reference);
  ExpectSameGeometry(*out, *reference);
  std::size_t inside = 0;
  itk::ImageRegionIteratorWithIndex<FloatImage> ot(out, out->GetLargestPossibleRegion());
  for (; !ot.IsAtEnd(); ++ot) {
    FloatImage::PointType p;
    reference->TransformIndexToPhysicalPoint(ot.GetIndex(), p);
    const auto ci = moving->TransformPhysicalPointToContinuousIndex<double>(p);
    bool strictlyInside = true;
    for (unsigned d = 0; d < 3; ++d) {
      strictlyInside = strictlyInside && ci[d] >= 0 &&
                       ci[d] <= moving->GetLargestPossibleRegion().GetSize()[d] - 1;
    }
    if (!strictlyInside) continue;
    ++inside;
    EXPECT_EQ(fov->GetPixel(ot.GetIndex()), 1);
    ASSERT_NEAR(ot.Get(), a[0] * p[0] + a[1] * p[1] + a[2] * p[2], 1e-3);
  }
  EXPECT_GT(inside, 1000u);
}

// ---- Series selection -------------------------------------------------------------------------

namespace {

ImageStack FakeStack(SeriesRole role, int number, std::size_t slices, int missing,
                     const std::string& frame = "1.2.3.9") {
  ImageStack s;
  s.seriesInstanceUid = "1.2.3." + std::to_string(number);
  s.seriesNumber = number;
  s.frameOfReferenceUid = frame;
  s.role = role;
  s.roleReason = "test";
  s.spacing = {0.7, 0.7, 4.0};
  s.missingSlices = missing;
  FrameInfo f;
  f.hasGeometry = true;
  s.slices.assign(slices, f);
  return s;
}

}  // namespace

TEST(SeriesSelection, PrefersCompleteStacksAndTheSameFrameOfReference) {
  Study study;
  study.stacks.push_back(FakeStack(SeriesRole::AxialFluidSensitive, 3, 40, 1));
  study.stacks.push_back(FakeStack(SeriesRole::AxialFluidSensitive, 4, 36, 0));
  study.stacks.push_back(FakeStack(SeriesRole::AxialT1, 5, 40, 0, "9.9.9"));
  study.stacks.push_back(FakeStack(SeriesRole::CoronalFluidSensitive, 6, 30, 0));
  const SeriesSelection sel = SelectSeries(study);
  EXPECT_EQ(sel.axialFluidSensitive.stack.seriesNumber, 4);
  EXPECT_NE(sel.axialFluidSensitive.reason.find("best of 2"), std::string::npos);
  EXPECT_FALSE(sel.axialT1.has_value());
  EXPECT_NE(sel.axialT1Absent.find("frame of reference"), std::string::npos);
  ASSERT_TRUE(sel.coronalFluidSensitive.has_value());
  EXPECT_EQ(sel.coronalFluidSensitive->stack.seriesNumber, 6);
}

TEST(SeriesSelection, RealProstateStudyHasNoFluidSensitiveAxial) {
  const auto studies =
      BuildStudies(ScanDicomFolder(ISCHIA_SHARED_DATA "/real-pelvis/ProstateX-0000").frames);
  ASSERT_EQ(studies.size(), 1u);
  try {
    SelectSeries(studies.front());
    FAIL() << "expected AnalysisError";
  } catch (const AnalysisError& e) {
    EXPECT_EQ(e.code, "no_fluid_sensitive_axial");
  }
}

// ---- The run command end to end ---------------------------------------------------------------

namespace {

int RunIschia(const std::string& args) {
  const std::string cmd = std::string(ISCHIA_CLI) + " " + args + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

nlohmann::json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

void ExpectNoSideAnalysed(const nlohmann::json& r) {
  for (const char* side : {"left", "right"}) {
    EXPECT_EQ(r["sides"][side]["found"], false);
    EXPECT_FALSE(r["sides"][side]["reason"].get<std::string>().empty());
    EXPECT_FALSE(r["sides"][side].contains("tendon")) << "no placeholder measurements";
  }
}

}  // namespace

TEST(RunCli, ProstateStudyFailsCleanlyWithAResult) {
  TempDir out("ischia-run-prostate");
  EXPECT_EQ(RunIschia("run " ISCHIA_SHARED_DATA "/real-pelvis/ProstateX-0000 --out " +
                      out.path.string() + " --threads 1"),
            1);
  const nlohmann::json r = ReadJson(out.path / "result.json");
  EXPECT_EQ(r["schema"], "ischia.result/1");
  EXPECT_EQ(r["status"], "failed");
  EXPECT_EQ(r["error"]["code"], "no_fluid_sensitive_axial");
  EXPECT_FALSE(r["study"]["study_instance_uid"].get<std::string>().empty());
  ASSERT_FALSE(r["study"]["series"].empty());
  for (const auto& s : r["study"]["series"]) {
    EXPECT_TRUE(s.contains("series_instance_uid") && s.contains("description") &&
                s.contains("role"));
  }
  EXPECT_TRUE(r["timings_s"].contains("scan"));
  ExpectNoSideAnalysed(r);
  // The result and the report that says why (a failed study gets one too); no temporary file.
  for (const auto& e : fs::directory_iterator(out.path)) {
    const std::string name = e.path().filename().string();
    EXPECT_TRUE(name == "result.json" || name == "report.html" || name == "report.pdf")
        << "leftover " << e.path();
  }
  EXPECT_EQ(r["report"]["html"], "report.html");
}

TEST(RunCli, MissingStudyOrUsageExitsTwo) {
  TempDir out("ischia-run-missing");
  EXPECT_EQ(RunIschia("run /no/such/study-xyz --out " + out.path.string()), 2);
  EXPECT_FALSE(fs::exists(out.path / "result.json"));
  EXPECT_EQ(RunIschia("run " ISCHIA_SHARED_DATA "/real-pelvis/ProstateX-0000"), 2);  // no --out
  const fs::path config = out.path / "bad.json";
  std::ofstream(config) << R"({"preprocessing": {"body_mask": {"closing_radius": 3}}})";
  EXPECT_EQ(RunIschia("run " ISCHIA_SHARED_DATA "/real-pelvis/ProstateX-0000 --out " +
                      (out.path / "o").string() + " --config " + config.string()),
            2);
}

// With two threads the series are preprocessed side by side (the T1 series' N4 beside the
// fluid-sensitive and coronal series' body masks and N4): the same results as one thread.
TEST(RunCli, GeneratedStudySameResultAtOneAndTwoThreads) {
  TempDir dir("ischia-run-threads");
  const fs::path study = dir.path / "study";
  ASSERT_EQ(RunIschia("phantom --out " + study.string() +
                      " --seed 12 --left partial_tear --right complete_tear --series t1 pdfs stir"
                      " --in-plane-scale 2 --supersampling 1"),
            0);
  std::map<int, nlohmann::json> results;
  std::map<int, std::string> labels;
  for (int threads : {1, 2}) {
    const fs::path out = dir.path / ("out" + std::to_string(threads));
    ASSERT_EQ(RunIschia("run " + study.string() + " --out " + out.string() + " --threads " +
                        std::to_string(threads) + " --no-render --no-pdf"),
              0);
    nlohmann::json r = ReadJson(out / "result.json");
    ASSERT_EQ(r["status"], "ok");
    ASSERT_TRUE(r["preprocessing"].contains("coronal_fluid_sensitive"));
    for (auto& [role, qc] : r["preprocessing"].items()) qc.erase("timings_s");
    results[threads] = r;
    std::ifstream in(out / "labels.nii.gz", std::ios::binary);
    labels[threads] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  EXPECT_EQ(results[1]["sides"], results[2]["sides"]);
  // Both tips found, on a pelvis lying straight: their angle is recorded, with no warning.
  {
    const nlohmann::json& s = results[2]["sides"];
    ASSERT_TRUE(s["left"]["found"] && s["right"]["found"]);
    const auto tip = [&](const char* side) {
      return s[side]["tuberosity_mm"].get<std::array<double, 3>>();
    };
    EXPECT_NEAR(results[2]["analysis_qc"]["tip_rotation_deg"].get<double>(),
                TipRotationDeg(tip("left"), tip("right")), 1e-9);
    EXPECT_LT(results[2]["analysis_qc"]["tip_rotation_deg"].get<double>(),
              RunConfig{}.quality.tipRotationWarningDeg);
    for (const auto& w : results[2]["warnings"])
      EXPECT_EQ(w.get<std::string>().find("tuberosity tips"), std::string::npos) << w;
  }
  EXPECT_EQ(results[1]["preprocessing"], results[2]["preprocessing"]);
  EXPECT_EQ(results[1]["image_quality"], results[2]["image_quality"]);
  EXPECT_FALSE(labels[1].empty());
  EXPECT_TRUE(labels[1] == labels[2]) << "labels.nii.gz differs between 1 and 2 threads";

  // The developer's replay (docs/accuracy.md): the analysis alone, run again on the images a
  // run saved with ISCHIA_DEBUG_IMAGES=1, gives that run's sides and label map.
  const fs::path debugRun = dir.path / "debug-run", replay = dir.path / "replay";
  const std::string cmd = "ISCHIA_DEBUG_IMAGES=1 " + std::string(ISCHIA_CLI) + " run " +
                          study.string() + " --out " + debugRun.string() +
                          " --no-render --no-pdf >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  ASSERT_TRUE(fs::exists(debugRun / "debug" / "geometry.json"));
  EXPECT_EQ(ReadJson(debugRun / "result.json")["sides"], results[1]["sides"]);
  const std::string replayCmd = std::string(ISCHIA_REPLAY) + " " + (debugRun / "debug").string() +
                                " --out " + replay.string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(replayCmd.c_str()), 0);
  const nlohmann::json rr = ReadJson(replay / "result.json");
  EXPECT_EQ(rr["schema"], "ischia.replay/1");
  EXPECT_EQ(rr["sides"], results[1]["sides"]);
  std::ifstream in(replay / "labels.nii.gz", std::ios::binary);
  EXPECT_TRUE(std::string(std::istreambuf_iterator<char>(in), {}) == labels[1])
      << "the replay's labels.nii.gz differs from the run's";
}

TEST(RunCli, SyntheticStudyWithoutPelvicBonesIsAnalysedWithBothSidesNotFound) {
  // An axial PD fat-sat and an axial T1 series of a synthetic body with no pelvic bones, same
  // frame of reference: every stage runs, and no side may be reported as found.
  TempDir dir("ischia-run-synthetic");
  const fs::path study = dir.path / "study";
  fs::create_directories(study);
  const FloatImage::Pointer grid = ObliqueGrid({{64, 56, 12}});
  FloatImage::SpacingType sp;
  sp[0] = 3.0, sp[1] = 3.0, sp[2] = 6.0;
  grid->SetSpacing(sp);
  grid->SetDirection(FloatImage::DirectionType{}.GetIdentity());
  FloatImage::PointType o;
  o[0] = -94.5, o[1] = -82.5, o[2] = -33;
  grid->SetOrigin(o);
  struct Series {
    const std::array<double, 5>* table;
    int number;
    double tr, te;
    const char* options;
  };
  for (const Series& ser :
       {Series{&kFatSat, 401, 3500, 40, "FS"}, Series{&kT1, 201, 550, 12, ""}}) {
    auto g = FloatImage::New();
    g->SetRegions(grid->GetLargestPossibleRegion());
    g->CopyInformation(grid);
    g->Allocate(true);
    const Synthetic s = MakeBody(*ser.table, true, static_cast<unsigned>(ser.number), g);
    for (unsigned k = 0; k < 12; ++k) {
      test::SliceSpec spec;
      spec.path = (study / ("s" + std::to_string(ser.number) + "_" + std::to_string(k))).string();
      spec.seriesUid += "." + std::to_string(ser.number);
      spec.sopUid = spec.seriesUid + "." + std::to_string(k + 1);
      spec.seriesNumber = ser.number;
      spec.instanceNumber = static_cast<int>(k + 1);
      spec.description = ser.number == 401 ? "PD_FS_TRA" : "T1_TRA";
      spec.position = {o[0], o[1], o[2] + 6.0 * k};
      spec.rowSpacing = spec.columnSpacing = 3.0;
      spec.rows = 56;
      spec.columns = 64;
      spec.repetitionTime = ser.tr;
      spec.echoTime = ser.te;
      spec.scanOptions = ser.options;
      spec.sliceThickness = 6;
      spec.pixels.resize(56 * 64);
      for (unsigned j = 0; j < 56; ++j) {
        for (unsigned i = 0; i < 64; ++i) {
          const float v = s.image->GetPixel({{i, j, k}});
          spec.pixels[j * 64 + i] =
              static_cast<std::uint16_t>(std::clamp(v * 10.0f, 0.0f, 65535.0f));
        }
      }
      test::WriteSlice(spec);
    }
  }
  const fs::path out = dir.path / "out";
  EXPECT_EQ(RunIschia("run " + study.string() + " --out " + out.string() + " --threads 2"), 0);
  const nlohmann::json r = ReadJson(out / "result.json");
  EXPECT_EQ(r["status"], "ok");
  EXPECT_TRUE(r["error"].is_null());
  ExpectNoSideAnalysed(r);
  EXPECT_TRUE(fs::exists(out / "labels.nii.gz"));
  const auto& used = r["study"]["series_used"];
  EXPECT_EQ(used["axial_fluid_sensitive"]["series_instance_uid"],
            "1.2.826.0.1.3680043.2.1125.1.1.401");
  EXPECT_EQ(used["axial_t1"]["series_instance_uid"], "1.2.826.0.1.3680043.2.1125.1.1.201");
  EXPECT_FALSE(used["axial_fluid_sensitive"]["reason"].get<std::string>().empty());
  EXPECT_EQ(used["coronal_fluid_sensitive"]["used"], false);
  EXPECT_EQ(r["preprocessing"]["axial_t1"]["standardisation"]["method"], "t1_peaks");
  EXPECT_EQ(r["preprocessing"]["axial_fluid_sensitive"]["standardisation"]["method"],
            "muscle_mask");
  EXPECT_NEAR(r["preprocessing"]["axial_fluid_sensitive"]["body_volume_ml"].get<double>(), 603, 60);
  EXPECT_TRUE(r["preprocessing"]["axial_fluid_sensitive"].contains("body_added_from_t1_ml"));
  // Image quality per series; this writer sets no (0018,1312): said, not guessed.
  for (const char* role : {"axial_fluid_sensitive", "axial_t1"}) {
    const auto& q = r["preprocessing"][role]["image_quality"];
    EXPECT_GT(q["snr"].get<double>(), 0) << role;
    EXPECT_TRUE(q["phase_encoding_direction"].is_null()) << role;
    EXPECT_FALSE(q["ghost_measured"].get<bool>()) << role;
    EXPECT_FALSE(q["motion_suspected"].get<bool>()) << role;
    EXPECT_NE(q["notes"].dump().find("(0018,1312)"), std::string::npos) << role;
  }
  EXPECT_EQ(r["config"]["quality_control"]["min_snr"], 5.0);
  EXPECT_TRUE(r["image_quality"].contains("low_snr"));
  EXPECT_FALSE(r["image_quality"]["motion_suspected"].get<bool>());
  EXPECT_EQ(r["threads"], 2);
  for (const char* stage : {"scan", "select_series", "read", "preprocess_axial_t1",
                            "preprocess_axial_fluid_sensitive", "resample", "analyse_sides"}) {
    EXPECT_TRUE(r["timings_s"].contains(stage)) << stage;
  }
}

TEST(RunQc, TipsTurnedFromLeftRightAreFlagged) {
  const double maxDeg = RunConfig{}.quality.tipRotationWarningDeg;
  EXPECT_NEAR(TipRotationDeg({55, 30, -60}, {-55, 20, -60}), 5.194, 1e-3);
  EXPECT_NEAR(TipRotationDeg({-55, 20, -60}, {55, 30, -60}), 5.194, 1e-3);
  // Tips 110 mm apart, level, or 5 mm apart front to back (2.6 degrees): no warning.
  EXPECT_EQ(TipRotationWarning({55, 20, -60}, {-55, 20, -62}, maxDeg), "");
  EXPECT_EQ(TipRotationWarning({55, 25, -60}, {-55, 20, -60}, maxDeg), "");
  // 20 mm apart front to back (10.3 degrees, as when one tip is taken 10-20 mm off): flagged,
  // with the figures, whichever side lies in front.
  for (const double dy : {20.0, -20.0}) {
    const std::string w = TipRotationWarning({55, 20 + dy, -60}, {-55, 20, -60}, maxDeg);
    EXPECT_NE(w.find("20 mm apart front to back"), std::string::npos) << w;
    EXPECT_NE(w.find("10 degrees"), std::string::npos) << w;
  }
  // The threshold is a setting, checked when the config is read.
  EXPECT_NE(TipRotationWarning({55, 25, -60}, {-55, 20, -60}, 2.0), "");
  EXPECT_EQ(RunConfigFromJson({{"quality_control", {{"tip_rotation_warning_deg", 12}}}})
                .quality.tipRotationWarningDeg,
            12.0);
  EXPECT_THROW(RunConfigFromJson({{"quality_control", {{"tip_rotation_warning_deg", -1}}}}),
               std::invalid_argument);
}
