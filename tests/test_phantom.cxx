// Tests of the synthetic study generator (ischia phantom): the DICOM it writes is read back by
// the ingestion with exactly the generated geometry and roles, the label map sits in the
// geometry of the axial fluid-sensitive series, the ground-truth figures agree with
// measurements on the label map, the contrasts are those of the clinical table, and the output
// is deterministic.
#include <gtest/gtest.h>
#include <itkMultiThreaderBase.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dicom_ingest.h"
#include "dicom_writer.h"
#include "image_types.h"
#include "nifti_io.h"
#include "phantom.h"
#include "volume_reader.h"

namespace fs = std::filesystem;
using namespace ischia;

namespace {

fs::path TestRoot() {
  const fs::path root =
      fs::temp_directory_path() / ("ischia-test-phantom-" + std::to_string(::getpid()));
  fs::create_directories(root);
  return root;
}

// Small studies for speed: in-plane grids coarsened 3x (about 2 mm pixels), no supersampling.
PhantomOptions SmallOptions(std::uint64_t seed, PhantomCase left, PhantomCase right) {
  PhantomOptions o;
  o.seed = seed;
  o.left.pathology = left;
  o.right.pathology = right;
  o.inPlaneScale = 3.0;
  o.supersampling = 1;
  return o;
}

SeriesRole ExpectedRole(PhantomSeries s) {
  switch (s) {
    case PhantomSeries::AxialT1:
      return SeriesRole::AxialT1;
    case PhantomSeries::AxialFluidSensitive:
      return SeriesRole::AxialFluidSensitive;
    case PhantomSeries::CoronalStir:
      return SeriesRole::CoronalFluidSensitive;
    case PhantomSeries::Localizer:
      return SeriesRole::Localizer;
  }
  return SeriesRole::DiffusionDerivedOther;
}

const PhantomSeriesTruth& SeriesOf(const PhantomStudyTruth& t, PhantomSeries kind) {
  for (const auto& s : t.series)
    if (s.kind == kind) return s;
  throw std::runtime_error("series missing from truth");
}

struct Generated {
  fs::path dir;
  PhantomStudyTruth truth;
  std::vector<Study> studies;
};

// Two studies shared by the tests: every pathology on some side; the second one holds only the
// axial series (unwritten series must not appear).
class PhantomStudyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = TestRoot();
    const std::pair<PhantomCase, PhantomCase> cases[] = {
        {PhantomCase::PartialTear, PhantomCase::CompleteTear},
        {PhantomCase::Tendinopathy, PhantomCase::Normal}};
    std::uint64_t seed = 101;
    for (const auto& c : cases) {
      Generated g;
      g.dir = root_ / ("study-" + std::to_string(seed));
      PhantomOptions o = SmallOptions(seed, c.first, c.second);
      if (seed != 101) o.series = {PhantomSeries::AxialT1, PhantomSeries::AxialFluidSensitive};
      g.truth = GeneratePhantomStudy(o, g.dir);
      g.studies = BuildStudies(ScanDicomFolder(g.dir).frames);
      studies_.push_back(std::move(g));
      ++seed;
    }
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  static fs::path root_;
  static std::vector<Generated> studies_;
};
fs::path PhantomStudyTest::root_;
std::vector<Generated> PhantomStudyTest::studies_;

const ImageStack* FindStack(const Study& study, const std::string& seriesUid) {
  for (const auto& s : study.stacks)
    if (s.seriesInstanceUid == seriesUid) return &s;
  return nullptr;
}

// Voxels of one side (patient x sign of the truth tip) with given labels, per slice.
struct SideSlice {
  int k = 0;
  std::vector<std::array<double, 3>> points;  // physical centres
};

std::vector<SideSlice> LabelledBySlice(const LabelImage* labels, const std::set<int>& values,
                                       const PhantomSideTruth& side, double midlineX) {
  const auto size = labels->GetLargestPossibleRegion().GetSize();
  std::vector<SideSlice> out(size[2]);
  const bool left = side.tuberosityTipLps[0] > midlineX;
  for (unsigned k = 0; k < size[2]; ++k) {
    out[k].k = static_cast<int>(k);
    for (unsigned j = 0; j < size[1]; ++j) {
      for (unsigned i = 0; i < size[0]; ++i) {
        const LabelImage::IndexType idx{
            {static_cast<long>(i), static_cast<long>(j), static_cast<long>(k)}};
        if (!values.count(labels->GetPixel(idx))) continue;
        LabelImage::PointType p;
        labels->TransformIndexToPhysicalPoint(idx, p);
        if ((p[0] > midlineX) != left) continue;
        out[k].points.push_back({p[0], p[1], p[2]});
      }
    }
  }
  return out;
}

// Section figures of a set of voxel centres in the slice plane (principal axes).
TendonSection MeasurePoints(const std::vector<std::array<double, 3>>& pts,
                            const LabelImage* labels) {
  TendonSection s;
  if (pts.empty()) return s;
  const auto dir = labels->GetDirection();
  const auto sp = labels->GetSpacing();
  double mu = 0, mv = 0;
  std::vector<std::pair<double, double>> uv;
  for (const auto& p : pts) {
    const double u = p[0] * dir(0, 0) + p[1] * dir(1, 0) + p[2] * dir(2, 0);
    const double v = p[0] * dir(0, 1) + p[1] * dir(1, 1) + p[2] * dir(2, 1);
    uv.emplace_back(u, v);
    mu += u;
    mv += v;
  }
  mu /= uv.size();
  mv /= uv.size();
  double suu = 0, svv = 0, suv = 0;
  for (const auto& [u, v] : uv) {
    suu += (u - mu) * (u - mu);
    svv += (v - mv) * (v - mv);
    suv += (u - mu) * (v - mv);
  }
  const double a = 0.5 * std::atan2(2 * suv, suu - svv), c = std::cos(a), sn = std::sin(a);
  double amin = 1e9, amax = -1e9, bmin = 1e9, bmax = -1e9;
  for (const auto& [u, v] : uv) {
    const double x = (u - mu) * c + (v - mv) * sn, y = -(u - mu) * sn + (v - mv) * c;
    amin = std::min(amin, x);
    amax = std::max(amax, x);
    bmin = std::min(bmin, y);
    bmax = std::max(bmax, y);
  }
  s.csaMm2 = uv.size() * sp[0] * sp[1];
  s.widthMm = amax - amin + sp[0];
  s.thicknessMm = bmax - bmin + sp[0];
  return s;
}

TendonSection TruthAt(const PhantomSideTruth& side, double d) {
  const auto& p = side.profile;
  if (d <= 0) return p.front();
  if (d >= p.back().distanceMm) return p.back();
  const std::size_t i = static_cast<std::size_t>(d);
  const double t = d - i;
  TendonSection s;
  s.csaMm2 = (1 - t) * p[i].csaMm2 + t * p[i + 1].csaMm2;
  s.thicknessMm = (1 - t) * p[i].thicknessMm + t * p[i + 1].thicknessMm;
  s.widthMm = (1 - t) * p[i].widthMm + t * p[i + 1].widthMm;
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST(PhantomOptionsTest, ParsesCasesAndSeriesAndRejectsOthers) {
  EXPECT_EQ(ParsePhantomCase("complete_tear"), PhantomCase::CompleteTear);
  EXPECT_EQ(ParsePhantomCase("normal"), PhantomCase::Normal);
  EXPECT_THROW(ParsePhantomCase("torn"), std::invalid_argument);
  EXPECT_EQ(ParsePhantomSeries("stir"), PhantomSeries::CoronalStir);
  EXPECT_THROW(ParsePhantomSeries("dwi"), std::invalid_argument);
  PhantomOptions o;
  o.inPlaneScale = 0.5;
  EXPECT_THROW(GeneratePhantomStudy(o, TestRoot() / "never"), std::invalid_argument);
  EXPECT_THROW(GeneratePhantomSuite(3, PhantomOptions{}, TestRoot() / "never"),
               std::invalid_argument);
}

TEST(DicomWriterTest, DecimalStringsFitAndRoundTrip) {
  for (double v :
       {0.0, 1.0, -203.87644824558123, 0.000123456789, 1e-9, 123456789.123, -0.0261769483078731}) {
    const std::string s = FormatDecimalString(v);
    EXPECT_LE(s.size(), 16u) << s;
    EXPECT_NEAR(ParseDecimalString(s), v, std::max(1e-12, std::fabs(v) * 1e-9)) << s;
  }
  const std::string uid = MakeUid(~0ull, ~0ull);
  EXPECT_LE(uid.size(), 64u);
  EXPECT_EQ(uid.rfind("2.25.", 0), 0u);
  EXPECT_EQ(uid.find_first_not_of("0123456789.", 0), std::string::npos);
  EXPECT_NE(MakeUid(1, 2), MakeUid(2, 1));
}

TEST(NiftiIoTest, RoundTripKeepsObliqueAnisotropicGeometryAndValues) {
  auto image = LabelImage::New();
  LabelImage::RegionType region;
  region.SetSize({{7, 5, 4}});
  image->SetRegions(region);
  image->SetSpacing(LabelImage::SpacingType(std::array<double, 3>{0.7, 0.7, 4.4}.data()));
  image->SetOrigin(LabelImage::PointType(std::array<double, 3>{-120.25, 33.5, -301.125}.data()));
  LabelImage::DirectionType d;
  const double a = 0.07, b = -0.05;  // rotations about x and y (radians)
  const double rx[3][3] = {
      {1, 0, 0}, {0, std::cos(a), -std::sin(a)}, {0, std::sin(a), std::cos(a)}};
  const double ry[3][3] = {
      {std::cos(b), 0, std::sin(b)}, {0, 1, 0}, {-std::sin(b), 0, std::cos(b)}};
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) {
      d(r, c) = 0;
      for (int k = 0; k < 3; ++k) d(r, c) += ry[r][k] * rx[k][c];
    }
  image->SetDirection(d);
  image->Allocate();
  std::uint16_t v = 0;
  for (std::uint16_t* p = image->GetBufferPointer(); p != image->GetBufferPointer() + 140; ++p)
    *p = v++ % 4;
  const fs::path path = TestRoot() / "roundtrip.nii.gz";
  WriteNifti(image.GetPointer(), path);
  const auto back = ReadLabelNifti(path);
  EXPECT_EQ(back->GetLargestPossibleRegion().GetSize(),
            image->GetLargestPossibleRegion().GetSize());
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(back->GetOrigin()[i], image->GetOrigin()[i], 1e-3);
    EXPECT_NEAR(back->GetSpacing()[i], image->GetSpacing()[i], 1e-5);
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(back->GetDirection()(i, j), d(i, j), 1e-5);
  }
  EXPECT_TRUE(std::equal(image->GetBufferPointer(), image->GetBufferPointer() + 140,
                         back->GetBufferPointer()));
  EXPECT_THROW(ReadLabelNifti(TestRoot() / "missing.nii.gz"), std::runtime_error);
}

// ---------------------------------------------------------------------------------------------
TEST_F(PhantomStudyTest, IngestionReadsEverySeriesWithTheGeneratedGeometryAndRole) {
  for (const Generated& g : studies_) {
    ASSERT_EQ(g.studies.size(), 1u);
    const Study& study = g.studies[0];
    EXPECT_EQ(study.studyInstanceUid, g.truth.studyInstanceUid);
    EXPECT_EQ(study.patientId, g.truth.patientId);
    for (const PhantomSeriesTruth& s : g.truth.series) {
      if (!s.written) {
        EXPECT_EQ(FindStack(study, s.seriesInstanceUid), nullptr);
        continue;
      }
      if (s.kind == PhantomSeries::Localizer) {
        int stacks = 0;
        for (const auto& st : study.stacks) {
          if (st.seriesInstanceUid != s.seriesInstanceUid) continue;
          ++stacks;
          EXPECT_EQ(st.role, SeriesRole::Localizer) << st.roleReason;
        }
        EXPECT_EQ(stacks, 3) << "the localizer holds three orientations";
        continue;
      }
      const ImageStack* st = FindStack(study, s.seriesInstanceUid);
      ASSERT_NE(st, nullptr) << s.seriesDescription;
      EXPECT_EQ(st->role, ExpectedRole(s.kind)) << s.seriesDescription << ": " << st->roleReason;
      EXPECT_EQ(st->columns, s.size[0]);
      EXPECT_EQ(st->rows, s.size[1]);
      EXPECT_EQ(st->NumberOfSlices(), s.size[2]);
      EXPECT_EQ(st->missingSlices, 0);
      EXPECT_FALSE(st->irregularSpacing);
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(st->origin[i], s.origin[i], 1e-4) << s.seriesDescription;
        EXPECT_NEAR(st->spacing[i], s.spacing[i], 1e-4) << s.seriesDescription;
        for (int j = 0; j < 3; ++j) EXPECT_NEAR(st->direction[i][j], s.direction[i][j], 1e-6);
      }
      // Pixel data decodes into a volume with the same geometry, with real, varying values.
      const FloatImage::Pointer volume = ReadStackVolume(*st);
      const auto size = volume->GetLargestPossibleRegion().GetSize();
      EXPECT_EQ(size[0], s.size[0]);
      EXPECT_EQ(size[1], s.size[1]);
      EXPECT_EQ(size[2], s.size[2]);
      for (int i = 0; i < 3; ++i) {
        EXPECT_NEAR(volume->GetOrigin()[i], s.origin[i], 1e-4);
        EXPECT_NEAR(volume->GetSpacing()[i], s.spacing[i], 1e-4);
        for (int j = 0; j < 3; ++j)
          EXPECT_NEAR(volume->GetDirection()(i, j), s.direction[i][j], 1e-6);
      }
      const std::size_t n = size[0] * size[1] * size[2];
      double sum = 0, sum2 = 0;
      for (const float* p = volume->GetBufferPointer(); p != volume->GetBufferPointer() + n; ++p) {
        ASSERT_TRUE(std::isfinite(*p));
        sum += *p;
        sum2 += double(*p) * *p;
      }
      const double mean = sum / n, sd = std::sqrt(std::max(0.0, sum2 / n - mean * mean));
      EXPECT_GT(sd, 0.2 * mean) << s.seriesDescription;
    }
  }
}

TEST_F(PhantomStudyTest, LabelMapHasTheGeometryOfTheAxialFluidSensitiveSeries) {
  for (const Generated& g : studies_) {
    const auto labels = ReadLabelNifti(g.truth.labelMap);
    const PhantomSeriesTruth& fs = SeriesOf(g.truth, PhantomSeries::AxialFluidSensitive);
    const ImageStack* st = FindStack(g.studies[0], fs.seriesInstanceUid);
    ASSERT_NE(st, nullptr);
    const auto size = labels->GetLargestPossibleRegion().GetSize();
    EXPECT_EQ(size[0], st->columns);
    EXPECT_EQ(size[1], st->rows);
    EXPECT_EQ(size[2], st->NumberOfSlices());
    for (int i = 0; i < 3; ++i) {
      // NIfTI stores the geometry in float32: 1e-3 mm and 1e-5 in the cosines.
      EXPECT_NEAR(labels->GetOrigin()[i], st->origin[i], 1e-3);
      EXPECT_NEAR(labels->GetSpacing()[i], st->spacing[i], 1e-4);
      for (int j = 0; j < 3; ++j)
        EXPECT_NEAR(labels->GetDirection()(i, j), st->direction[i][j], 1e-5);
    }
    std::set<int> present;
    const std::size_t n = size[0] * size[1] * size[2];
    for (const std::uint16_t* p = labels->GetBufferPointer(); p != labels->GetBufferPointer() + n;
         ++p)
      present.insert(*p);
    EXPECT_TRUE(present.count(1) && present.count(2)) << "bone and tendon labelled";
    const bool tear = g.truth.left.tearType != "none" || g.truth.right.tearType != "none";
    EXPECT_EQ(present.count(3) > 0, tear);
    EXPECT_LE(*present.rbegin(), 3);
  }
}

TEST_F(PhantomStudyTest, TruthFiguresAgreeWithMeasurementsOnTheLabelMap) {
  for (const Generated& g : studies_) {
    const auto labels = ReadLabelNifti(g.truth.labelMap);
    const double spacingZ = labels->GetSpacing()[2];
    const double midline =
        0.5 * (g.truth.left.tuberosityTipLps[0] + g.truth.right.tuberosityTipLps[0]);
    for (const PhantomSideTruth* side : {&g.truth.left, &g.truth.right}) {
      SCOPED_TRACE(side->side + " " + ToString(side->pathology));
      // Tuberosity tip: the lowest bone voxel centre lies at most one slice (plus the tilt of
      // the slices over the bone, < 3 mm) above the true tip, never below it.
      const auto bone = LabelledBySlice(labels.GetPointer(), {1}, *side, midline);
      std::vector<std::array<double, 3>> near;
      for (const auto& s : bone)
        for (const auto& p : s.points)
          if (std::hypot(p[0] - side->tuberosityTipLps[0], p[1] - side->tuberosityTipLps[1]) < 30)
            near.push_back(p);
      ASSERT_FALSE(near.empty());
      double lowest = 1e9;
      for (const auto& p : near) lowest = std::min(lowest, p[2]);
      EXPECT_GE(lowest, side->tuberosityTipLps[2] - 0.5);
      EXPECT_LE(lowest, side->tuberosityTipLps[2] + spacingZ + 3.0);
      // The lowest cut of the (tilted) slices lies somewhere on the flat base of the
      // tuberosity: its centroid is within 15 mm of the tip.
      double cx = 0, cy = 0, count = 0;
      for (const auto& p : near)
        if (p[2] < lowest + 1.0) cx += p[0], cy += p[1], count += 1;
      EXPECT_LT(std::hypot(cx / count - side->tuberosityTipLps[0],
                           cy / count - side->tuberosityTipLps[1]),
                15.0);

      // Tendon sections: each slice whose tendon section lies 3-45 mm below the footprint is
      // compared with the truth profile at the level of its centroid. Tolerances cover ~2 mm
      // pixels and the few-degree tilt of the slices: CSA 20% + 2 pixels, thickness and width
      // 2 pixels + 1 mm.
      const std::set<int> envelope =
          side->tearType == "complete" ? std::set<int>{2} : std::set<int>{2, 3};
      const auto tendon = LabelledBySlice(labels.GetPointer(), envelope, *side, midline);
      const double pixel = labels->GetSpacing()[0], pixelArea = pixel * labels->GetSpacing()[1];
      int compared = 0;
      double volume = 0;
      for (const auto& s : tendon) {
        if (s.points.empty()) continue;
        double zc = 0;
        for (const auto& p : s.points) zc += p[2];
        zc /= s.points.size();
        const double d = side->footprintLps[2] - zc;
        const TendonSection m = MeasurePoints(s.points, labels.GetPointer());
        if (d >= 0 && d <= 50) volume += m.csaMm2 * spacingZ;
        if (d < 3 || d > 45) continue;
        const TendonSection t = TruthAt(*side, d);
        if (t.csaMm2 == 0) continue;
        ++compared;
        EXPECT_NEAR(m.csaMm2, t.csaMm2, 0.2 * t.csaMm2 + 2 * pixelArea) << "d=" << d;
        EXPECT_NEAR(m.thicknessMm, t.thicknessMm, 2 * pixel + 1.0) << "d=" << d;
        EXPECT_NEAR(m.widthMm, t.widthMm, 2 * pixel + 1.0) << "d=" << d;
      }
      if (side->tearType != "complete" || side->retractionMm < 30) EXPECT_GE(compared, 4);
      // Volume over 0-50 mm: slab sums with 3-5 mm slices, within 25%.
      EXPECT_NEAR(volume, side->volumeMm3, 0.25 * side->volumeMm3 + 100);

      // Tears.
      const auto tear = LabelledBySlice(labels.GetPointer(), {3}, *side, midline);
      std::size_t tearVoxels = 0;
      for (const auto& s : tear) tearVoxels += s.points.size();
      if (side->tearType == "none") {
        EXPECT_EQ(tearVoxels, 0u);
      } else {
        EXPECT_GT(tearVoxels, 0u);
      }
      if (side->tearType == "complete") {
        // No tendon between the footprint and the stump (minus a slice and the tilt).
        for (const auto& s : tendon)
          for (const auto& p : s.points)
            EXPECT_GT(side->footprintLps[2] - p[2], side->retractionMm / 1.02 - spacingZ - 3.0);
      }
      if (side->tearType == "partial") {
        for (const auto& s : tear)
          for (const auto& p : s.points) {
            const double d = side->footprintLps[2] - p[2];
            EXPECT_GT(d, -8.0 - spacingZ);
            EXPECT_LT(d, side->partialLengthMm + spacingZ + 3.0);
          }
      }
    }
  }
}

TEST_F(PhantomStudyTest, TissueContrastsFollowTheClinicalTable) {
  for (const Generated& g : studies_) {
    const auto labels = ReadLabelNifti(g.truth.labelMap);
    std::map<PhantomSeries, FloatImage::Pointer> volumes;
    for (PhantomSeries k : {PhantomSeries::AxialT1, PhantomSeries::AxialFluidSensitive}) {
      const ImageStack* st = FindStack(g.studies[0], SeriesOf(g.truth, k).seriesInstanceUid);
      ASSERT_NE(st, nullptr);
      volumes[k] = ReadStackVolume(*st);
    }
    // Mean intensity per label, sampling each series at the label voxel centres.
    auto means = [&](PhantomSeries k) {
      std::map<int, std::pair<double, int>> acc;
      const auto size = labels->GetLargestPossibleRegion().GetSize();
      const FloatImage* v = volumes[k].GetPointer();
      for (unsigned z = 0; z < size[2]; ++z)
        for (unsigned y = 0; y < size[1]; ++y)
          for (unsigned x = 0; x < size[0]; ++x) {
            const LabelImage::IndexType idx{{x, y, z}};
            const int l = labels->GetPixel(idx);
            if (l == 0 && (x + y + z) % 97) continue;  // background: a sparse sample
            LabelImage::PointType p;
            labels->TransformIndexToPhysicalPoint(idx, p);
            FloatImage::IndexType vi;
            if (!v->TransformPhysicalPointToIndex(p, vi)) continue;
            acc[l].first += v->GetPixel(vi);
            acc[l].second += 1;
          }
      std::map<int, double> m;
      for (const auto& [l, a] : acc) m[l] = a.first / std::max(1, a.second);
      return m;
    };
    const auto t1 = means(PhantomSeries::AxialT1), fs = means(PhantomSeries::AxialFluidSensitive);
    // Tendon is dark on both; the tuberosity (fatty marrow within a cortex) is brighter than the
    // tendon on T1; fluid in a tear is the brightest on the fluid-sensitive series.
    EXPECT_GT(t1.at(1), 1.5 * t1.at(2));
    if (fs.count(3)) {
      EXPECT_GT(fs.at(3), 2.0 * fs.at(2));
      EXPECT_GT(fs.at(3), 1.2 * fs.at(0));
      EXPECT_GT(fs.at(3), fs.at(1));
    }
  }
}

TEST_F(PhantomStudyTest, TruthJsonHoldsTheDocumentedFields) {
  const nlohmann::json j = nlohmann::json::parse(ReadAll(studies_[0].truth.truthJson));
  for (const char* side : {"left", "right"}) {
    const auto& s = j.at("sides").at(side);
    EXPECT_EQ(s.at("tuberosityTipLps").size(), 3u);
    EXPECT_EQ(s.at("tendon").at("atLevels").size(), 4u);
    EXPECT_EQ(s.at("tendon").at("profile").size(), 51u);
    if (s.at("tear").at("type") != "complete")
      EXPECT_GT(s.at("tendon").at("volumeMm3").get<double>(), 0.0);
    EXPECT_TRUE(s.at("tear").contains("retractionMm"));
  }
  EXPECT_EQ(j.at("sides").at("left").at("grade"), "partial_tear");
  EXPECT_EQ(j.at("sides").at("right").at("tear").at("type"), "complete");
  EXPECT_GT(j.at("sides").at("right").at("tear").at("retractionMm").get<double>(), 0.0);
  EXPECT_EQ(j.at("labels").at("file"), "labels.nii.gz");
  // No ground truth in the DICOM: no file outside truth/ mentions the truth.
  for (const auto& e : fs::recursive_directory_iterator(studies_[0].dir)) {
    if (!e.is_regular_file() || e.path().parent_path().filename() == "truth") continue;
    EXPECT_EQ(ReadAll(e.path()).find("tendon"), std::string::npos) << e.path();
  }
}

// ---------------------------------------------------------------------------------------------
TEST(PhantomDeterminismTest, SameSeedSameBytesDifferentSeedDifferentStudy) {
  const fs::path root = TestRoot() / "determinism";
  PhantomOptions o;
  o.seed = 77;
  o.inPlaneScale = 6.0;
  o.supersampling = 1;
  o.series = {PhantomSeries::AxialFluidSensitive, PhantomSeries::Localizer};
  GeneratePhantomStudy(o, root / "a");
  GeneratePhantomStudy(o, root / "b");
  std::map<fs::path, std::string> a, b;
  for (const auto& e : fs::recursive_directory_iterator(root / "a"))
    if (e.is_regular_file()) a[fs::relative(e.path(), root / "a")] = ReadAll(e.path());
  for (const auto& e : fs::recursive_directory_iterator(root / "b"))
    if (e.is_regular_file()) b[fs::relative(e.path(), root / "b")] = ReadAll(e.path());
  EXPECT_GT(a.size(), 10u);
  EXPECT_TRUE(a.count("truth/labels.nii.gz") && a.count("truth/truth.json"));
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [path, bytes] : a) {
    ASSERT_TRUE(b.count(path)) << path;
    EXPECT_TRUE(bytes == b.at(path)) << path << " differs between two runs of the same seed";
  }
  // The same bytes with one and three threads (the slices are rendered in any order).
  const int threads = itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads();
  for (int n : {1, 3}) {
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(n);
    const fs::path dir = root / ("threads-" + std::to_string(n));
    GeneratePhantomStudy(o, dir);
    for (const auto& [path, bytes] : a)
      EXPECT_TRUE(bytes == ReadAll(dir / path)) << path << " differs with " << n << " threads";
  }
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(threads);
  o.seed = 78;
  const PhantomStudyTruth other = GeneratePhantomStudy(o, root / "c");
  EXPECT_NE(ReadAll(other.truthJson), a.at("truth/truth.json"));
  fs::remove_all(root);
}

// The label map comes from the rendering of the fluid-sensitive slices when that series is
// written, and is sampled on its own otherwise: both give the same labels, but for a few
// voxels where the two block structures meet a shape's inexact distance.
TEST(PhantomLabelMapTest, SameLabelsWithAndWithoutTheFluidSensitiveSeries) {
  const fs::path root = TestRoot() / "labels";
  PhantomOptions o = SmallOptions(91, PhantomCase::PartialTear, PhantomCase::CompleteTear);
  o.series = {PhantomSeries::AxialFluidSensitive};
  const PhantomStudyTruth rendered = GeneratePhantomStudy(o, root / "rendered");
  o.series = {PhantomSeries::Localizer};
  const PhantomStudyTruth own = GeneratePhantomStudy(o, root / "own");
  const auto a = ReadLabelNifti(rendered.labelMap), b = ReadLabelNifti(own.labelMap);
  const auto size = a->GetLargestPossibleRegion().GetSize();
  ASSERT_EQ(size, b->GetLargestPossibleRegion().GetSize());
  std::size_t labelled = 0, differ = 0;
  for (std::size_t i = 0; i < size[0] * size[1] * size[2]; ++i) {
    const std::uint16_t x = a->GetBufferPointer()[i], y = b->GetBufferPointer()[i];
    labelled += x > 0;
    differ += x != y;
  }
  EXPECT_GT(labelled, 1000u);
  EXPECT_LE(differ, labelled / 200) << differ << " of " << labelled << " labelled voxels differ";
  fs::remove_all(root);
}

TEST(PhantomSuiteTest, CoversEveryCaseOnEachSide) {
  const fs::path root = TestRoot() / "suite";
  PhantomOptions o;
  o.seed = 500;
  o.inPlaneScale = 8.0;
  o.supersampling = 1;
  o.series = {PhantomSeries::AxialFluidSensitive};
  const auto studies = GeneratePhantomSuite(4, o, root);
  ASSERT_EQ(studies.size(), 4u);
  std::set<PhantomCase> left, right;
  std::set<std::string> uids;
  for (const auto& s : studies) {
    left.insert(s.left.pathology);
    right.insert(s.right.pathology);
    uids.insert(s.studyInstanceUid);
  }
  EXPECT_EQ(left.size(), 4u);
  EXPECT_EQ(right.size(), 4u);
  EXPECT_EQ(uids.size(), 4u);
  EXPECT_TRUE(fs::exists(root / "suite.json"));
  // Anatomy differs between studies: tuberosity separation and tendon size vary.
  std::set<long> separations;
  for (const auto& s : studies)
    separations.insert(
        std::lround(10 * std::fabs(s.left.tuberosityTipLps[0] - s.right.tuberosityTipLps[0])));
  EXPECT_EQ(separations.size(), 4u);
  for (const auto& s : studies) {
    const double sep = std::fabs(s.left.tuberosityTipLps[0] - s.right.tuberosityTipLps[0]);
    EXPECT_GT(sep, 90.0);
    EXPECT_LT(sep, 140.0);
  }
  fs::remove_all(root);
}

TEST(PhantomCliTest, WritesAStudyAndRejectsUsageErrors) {
  const fs::path root = TestRoot() / "cli";
  const std::string cli = ISCHIA_CLI;
  auto run = [&](const std::string& args) {
    const int status = std::system((cli + " phantom " + args + " > /dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run("--out " + (root / "bad").string() + " --left torn"), 2);
  EXPECT_EQ(run("--out " + (root / "bad").string() + " --suite 2"), 2);
  EXPECT_EQ(run("--out " + (root / "ok").string() +
                " --seed 9 --left complete_tear --left-retraction 35 --right normal --series "
                "pdfs,localizer"
                " --in-plane-scale 6 --supersampling 1"),
            0);
  const nlohmann::json j = nlohmann::json::parse(ReadAll(root / "ok" / "truth" / "truth.json"));
  EXPECT_NEAR(j.at("sides").at("left").at("tear").at("retractionMm").get<double>(), 35.0, 1e-9);
  EXPECT_EQ(j.at("sides").at("right").at("grade"), "normal");
  // The output folder exists and is not empty now.
  EXPECT_EQ(run("--out " + (root / "ok").string() + " --seed 9"), 2);
  fs::remove_all(root);
}
