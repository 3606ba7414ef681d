// Geometry of stacks built from synthetic series the test writes itself: anisotropic spacing,
// oblique directions, shuffled file order, a missing slice, irregular spacing, two echoes in one
// series, a three-plane localizer, and the roles of typical sequences.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "dicom_ingest.h"
#include "dicom_test_writer.h"
#include "isolation.h"
#include "volume_reader.h"

namespace fs = std::filesystem;
using ischia::test::SliceSpec;
using ischia::test::WriteSlice;

namespace {

using Vec3 = std::array<double, 3>;

Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}

// Orientation rotated by `ax` degrees about x, then `ay` about y (an oblique axial).
std::array<double, 6> ObliqueAxial(double axDeg, double ayDeg) {
  const double a = axDeg * M_PI / 180, b = ayDeg * M_PI / 180;
  // Rotation R = Ry(b) * Rx(a) applied to the unit axes x and y.
  const Vec3 row{std::cos(b), 0, -std::sin(b)};
  const Vec3 col{std::sin(b) * std::sin(a), std::cos(a), std::cos(b) * std::sin(a)};
  return {row[0], row[1], row[2], col[0], col[1], col[2]};
}

class TempDir {
 public:
  TempDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("ischia-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A series of `n` slices along the normal of `orientation`, written in shuffled order under
// shuffled names; pixel value encodes (i, j, k) so placement can be checked.
struct SeriesLayout {
  std::array<double, 6> orientation = ObliqueAxial(7, -5);
  Vec3 origin{-123.4, -87.6, 45.2};
  double rowSpacing = 0.45, columnSpacing = 0.7, sliceSpacing = 4.4;
  unsigned rows = 12, columns = 9;
  int slices = 10;
};

std::uint16_t Encode(unsigned i, unsigned j, int k) { return static_cast<std::uint16_t>(100 * k + 10 * j + i); }

Vec3 SlicePosition(const SeriesLayout& L, double k) {
  const Vec3 row{L.orientation[0], L.orientation[1], L.orientation[2]};
  const Vec3 col{L.orientation[3], L.orientation[4], L.orientation[5]};
  const Vec3 n = Cross(row, col);
  return {L.origin[0] + k * L.sliceSpacing * n[0], L.origin[1] + k * L.sliceSpacing * n[1],
          L.origin[2] + k * L.sliceSpacing * n[2]};
}

void WriteSeries(const fs::path& dir, const SeriesLayout& L, SliceSpec base,
                 const std::vector<int>& skip = {}, std::uint32_t seed = 7) {
  std::vector<int> order(static_cast<std::size_t>(L.slices));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  for (int k : order) {
    if (std::find(skip.begin(), skip.end(), k) != skip.end()) continue;
    SliceSpec s = base;
    s.orientation = L.orientation;
    s.position = SlicePosition(L, k);
    s.rowSpacing = L.rowSpacing;
    s.columnSpacing = L.columnSpacing;
    s.rows = L.rows;
    s.columns = L.columns;
    s.instanceNumber = 1 + static_cast<int>(rng() % 1000);  // instance numbers are not order
    s.pixels.resize(std::size_t(L.rows) * L.columns);
    for (unsigned j = 0; j < L.rows; ++j)
      for (unsigned i = 0; i < L.columns; ++i) s.pixels[j * L.columns + i] = Encode(i, j, k);
    s.path = (dir / ("IM" + std::to_string(rng() % 100000) + "_" + std::to_string(k))).string();
    WriteSlice(s);
  }
}

std::vector<ischia::ImageStack> AllStacks(const fs::path& dir) {
  const auto scan = ischia::ScanDicomFolder(dir);
  std::vector<ischia::ImageStack> stacks;
  for (auto& study : ischia::BuildStudies(scan.frames))
    for (auto& s : study.stacks) stacks.push_back(s);
  return stacks;
}

}  // namespace

TEST(IngestGeometry, ObliqueAnisotropicShuffledSeriesFormsOneExactVolume) {
  TempDir tmp;
  SeriesLayout L;
  SliceSpec base;
  base.rescaleSlope = 0.5;
  base.rescaleIntercept = -10;
  WriteSeries(tmp.path(), L, base);
  const auto stacks = AllStacks(tmp.path());
  ASSERT_EQ(stacks.size(), 1u);
  const auto& s = stacks.front();
  EXPECT_EQ(s.NumberOfSlices(), 10u);
  EXPECT_EQ(s.missingSlices, 0);
  EXPECT_FALSE(s.irregularSpacing);
  EXPECT_TRUE(s.problems.empty());
  // Spacing: column spacing, row spacing, then slice spacing from positions (not thickness 4).
  EXPECT_NEAR(s.spacing[0], 0.7, 1e-9);
  EXPECT_NEAR(s.spacing[1], 0.45, 1e-9);
  EXPECT_NEAR(s.spacing[2], 4.4, 1e-6);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(s.origin[i], L.origin[i], 1e-6);

  const auto image = ischia::ReadStackVolume(s);
  const auto size = image->GetLargestPossibleRegion().GetSize();
  EXPECT_EQ(size[0], 9u);
  EXPECT_EQ(size[1], 12u);
  EXPECT_EQ(size[2], 10u);
  // Every voxel lands where its DICOM position says, with its rescaled value.
  const Vec3 row{L.orientation[0], L.orientation[1], L.orientation[2]};
  const Vec3 col{L.orientation[3], L.orientation[4], L.orientation[5]};
  for (int k : {0, 3, 9}) {
    for (unsigned j : {0u, 5u, 11u}) {
      for (unsigned i : {0u, 4u, 8u}) {
        ischia::FloatImage::IndexType idx{{static_cast<long>(i), static_cast<long>(j), k}};
        EXPECT_FLOAT_EQ(image->GetPixel(idx), 0.5f * Encode(i, j, k) - 10.f);
        ischia::FloatImage::PointType p;
        image->TransformIndexToPhysicalPoint(idx, p);
        const Vec3 slice = SlicePosition(L, k);
        for (int c = 0; c < 3; ++c) {
          const double expected = slice[c] + i * L.columnSpacing * row[c] + j * L.rowSpacing * col[c];
          EXPECT_NEAR(p[c], expected, 1e-6);
        }
      }
    }
  }
  // Direction columns are the row direction, column direction and slice normal.
  const auto& d = image->GetDirection();
  const Vec3 n = Cross(row, col);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(d[c][0], row[c], 1e-6);
    EXPECT_NEAR(d[c][1], col[c], 1e-6);
    EXPECT_NEAR(d[c][2], n[c], 1e-6);
  }
  EXPECT_EQ(s.OrientationName(), "axial oblique");
}

TEST(IngestGeometry, MissingSliceIsReportedAndLeftEmptyNotStretched) {
  TempDir tmp;
  SeriesLayout L;
  WriteSeries(tmp.path(), L, SliceSpec{}, {4});
  const auto stacks = AllStacks(tmp.path());
  ASSERT_EQ(stacks.size(), 1u);
  const auto& s = stacks.front();
  EXPECT_EQ(s.NumberOfSlices(), 9u);
  EXPECT_EQ(s.missingSlices, 1);
  EXPECT_NEAR(s.spacing[2], 4.4, 1e-6);
  ASSERT_FALSE(s.problems.empty());
  EXPECT_NE(s.problems.front().find("missing"), std::string::npos);
  const auto image = ischia::ReadStackVolume(s);
  EXPECT_EQ(image->GetLargestPossibleRegion().GetSize()[2], 10u);
  EXPECT_FLOAT_EQ(image->GetPixel({{3, 2, 5}}), Encode(3, 2, 5));
  EXPECT_FLOAT_EQ(image->GetPixel({{3, 2, 4}}), 0.f);  // the missing plane stays empty
  ischia::VolumeReadOptions strict;
  strict.allowMissingSlices = false;
  EXPECT_THROW(ischia::ReadStackVolume(s, strict), std::runtime_error);
}

TEST(IngestGeometry, FilesDecodedSideBySideGiveTheSameVolumeAndABrokenFileIsNamed) {
  TempDir tmp;
  SeriesLayout L;
  L.slices = 7;
  WriteSeries(tmp.path(), L, SliceSpec{});
  const auto stacks = AllStacks(tmp.path());
  ASSERT_EQ(stacks.size(), 1u);
  // 1 process, 2 (3 and 4 files), 3, and more processes than files: every pixel in its place.
  for (int processes : {1, 2, 3, 16}) {
    ischia::VolumeReadOptions options;
    options.decodeProcesses = processes;
    const auto image = ischia::ReadStackVolume(stacks.front(), options);
    std::size_t wrong = 0;
    for (int k = 0; k < L.slices; ++k)
      for (unsigned j = 0; j < L.rows; ++j)
        for (unsigned i = 0; i < L.columns; ++i)
          wrong += image->GetPixel({{i, j, static_cast<unsigned>(k)}}) != Encode(i, j, k);
    EXPECT_EQ(wrong, 0u) << processes << " processes";
  }
  // One file overwritten after the scan: the error names it, whichever share it fell in.
  const std::string broken = stacks.front().slices[5].path;
  std::ofstream(broken, std::ios::trunc) << "no longer DICOM";
  ischia::VolumeReadOptions options;
  options.decodeProcesses = 2;
  try {
    ischia::ReadStackVolume(stacks.front(), options);
    ADD_FAILURE() << "a file that is no longer DICOM was read";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(broken), std::string::npos) << e.what();
  }
}

TEST(Isolation, ChildrenRunSideBySideAndEachFailsAlone) {
  using ischia::ChildSend;
  const std::vector<std::function<int(const ChildSend&)>> works = {
      [](const ChildSend& send) {
        send("a");
        send("b");
        return 0;
      },
      [](const ChildSend&) -> int { std::abort(); },
      [](const ChildSend& send) {
        send("started");
        std::this_thread::sleep_for(std::chrono::seconds(60));  // hangs: stopped after 2 s
        return 0;
      },
      [](const ChildSend&) -> int { throw std::runtime_error("bad header"); },
  };
  const auto outcomes = ischia::RunInChildren(works, 2.0, 64u << 20);
  ASSERT_EQ(outcomes.size(), 4u);
  EXPECT_TRUE(outcomes[0].ok);
  EXPECT_EQ(outcomes[0].outputs, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(outcomes[1].crashed);
  EXPECT_NE(outcomes[1].message.find("crashed"), std::string::npos) << outcomes[1].message;
  EXPECT_TRUE(outcomes[2].crashed);
  EXPECT_NE(outcomes[2].message.find("hung"), std::string::npos) << outcomes[2].message;
  EXPECT_EQ(outcomes[2].outputs, (std::vector<std::string>{"started"}));
  EXPECT_FALSE(outcomes[3].ok);
  EXPECT_FALSE(outcomes[3].crashed);
  EXPECT_EQ(outcomes[3].message, "bad header");
}

TEST(IngestGeometry, IrregularSpacingIsRefusedAsAVolume) {
  TempDir tmp;
  SeriesLayout L;
  L.slices = 6;
  WriteSeries(tmp.path(), L, SliceSpec{}, {5});
  // One slice 1.3 mm off the grid.
  SliceSpec odd;
  odd.orientation = L.orientation;
  const Vec3 p = SlicePosition(L, 5.0 + 1.3 / L.sliceSpacing);
  odd.position = p;
  odd.rowSpacing = L.rowSpacing;
  odd.columnSpacing = L.columnSpacing;
  odd.rows = L.rows;
  odd.columns = L.columns;
  odd.instanceNumber = 99;
  odd.path = (tmp.path() / "odd").string();
  WriteSlice(odd);
  const auto stacks = AllStacks(tmp.path());
  ASSERT_EQ(stacks.size(), 1u);
  EXPECT_TRUE(stacks.front().irregularSpacing);
  EXPECT_THROW(ischia::ReadStackVolume(stacks.front()), std::runtime_error);
}

TEST(IngestGeometry, TwoEchoesInOneSeriesBecomeTwoStacks) {
  TempDir tmp;
  SeriesLayout L;
  L.orientation = {1, 0, 0, 0, 1, 0};
  L.slices = 5;
  SliceSpec pd;
  pd.repetitionTime = 3200;
  pd.echoTime = 30;
  pd.echoNumber = 1;
  pd.scanOptions = "FS";
  SliceSpec t2 = pd;
  t2.echoTime = 90;
  t2.echoNumber = 2;
  WriteSeries(tmp.path(), L, pd, {}, 1);
  WriteSeries(tmp.path(), L, t2, {}, 2);
  const auto stacks = AllStacks(tmp.path());
  ASSERT_EQ(stacks.size(), 2u);
  EXPECT_EQ(stacks[0].NumberOfSlices(), 5u);
  EXPECT_EQ(stacks[1].NumberOfSlices(), 5u);
  EXPECT_NE(stacks[0].splitLabel, stacks[1].splitLabel);
  EXPECT_NE(stacks[0].splitLabel.find("TE=30"), std::string::npos);
  EXPECT_NE(stacks[1].splitLabel.find("TE=90"), std::string::npos);
  for (const auto& s : stacks) {
    EXPECT_FALSE(s.irregularSpacing);
    EXPECT_EQ(s.role, ischia::SeriesRole::AxialFluidSensitive) << s.roleReason;
  }
}

TEST(IngestGeometry, ThreePlaneLocalizerIsSplitAndRecognised) {
  TempDir tmp;
  const std::array<std::array<double, 6>, 3> planes{{{1, 0, 0, 0, 1, 0},     // axial
                                                      {1, 0, 0, 0, 0, -1},    // coronal
                                                      {0, 1, 0, 0, 0, -1}}};  // sagittal
  int instance = 1;
  for (const auto& o : planes) {
    for (int k = 0; k < 3; ++k) {
      SliceSpec s;
      s.orientation = o;
      const Vec3 n = Cross({o[0], o[1], o[2]}, {o[3], o[4], o[5]});
      s.position = {-200 + 10.0 * k * n[0], -200 + 10.0 * k * n[1], 100 + 10.0 * k * n[2]};
      s.rowSpacing = s.columnSpacing = 1.56;
      s.instanceNumber = instance++;
      s.repetitionTime = 1000;
      s.echoTime = 80;
      s.description = "survey";
      s.path = (tmp.path() / ("loc" + std::to_string(s.instanceNumber))).string();
      WriteSlice(s);
    }
  }
  const auto stacks = AllStacks(tmp.path());
  ASSERT_EQ(stacks.size(), 3u);
  std::set<std::string> names;
  for (const auto& s : stacks) {
    EXPECT_EQ(s.role, ischia::SeriesRole::Localizer) << s.roleReason;
    EXPECT_EQ(s.NumberOfSlices(), 3u);
    names.insert(s.OrientationName());
  }
  EXPECT_EQ(names, (std::set<std::string>{"axial", "coronal", "sagittal"}));
}

TEST(IngestRoles, TypicalHamstringProtocolSeries) {
  struct Case {
    std::array<double, 6> orientation;
    double tr, te, ti;
    std::string sequence, options;
    ischia::SeriesRole expected;
  };
  const std::vector<Case> cases{
      {ObliqueAxial(4, 0), 650, 12, 0, "SE", "", ischia::SeriesRole::AxialT1},
      {ObliqueAxial(4, 0), 3500, 35, 0, "SE", "FS", ischia::SeriesRole::AxialFluidSensitive},
      {ObliqueAxial(-3, 2), 4000, 70, 0, "SE", "SFS", ischia::SeriesRole::AxialFluidSensitive},
      {{1, 0, 0, 0, 0, -1}, 4500, 40, 160, "SE\\IR", "IR", ischia::SeriesRole::CoronalFluidSensitive},
      {{1, 0, 0, 0, 0, -1}, 600, 12, 0, "SE", "", ischia::SeriesRole::OtherAnatomical},
      {{0, 1, 0, 0, 0, -1}, 4000, 80, 0, "SE", "FS", ischia::SeriesRole::OtherAnatomical},
      {ObliqueAxial(0, 0), 3500, 90, 0, "SE", "", ischia::SeriesRole::OtherAnatomical},
      {ObliqueAxial(0, 0), 9000, 120, 2500, "SE\\IR", "IR", ischia::SeriesRole::OtherAnatomical},
  };
  int series = 1;
  for (const Case& c : cases) {
    TempDir tmp;
    SeriesLayout L;
    L.orientation = c.orientation;
    L.slices = 4;
    SliceSpec base;
    base.seriesUid += "." + std::to_string(series);
    base.seriesNumber = series++;
    base.repetitionTime = c.tr;
    base.echoTime = c.te;
    base.inversionTime = c.ti;
    base.scanningSequence = c.sequence;
    base.scanOptions = c.options;
    WriteSeries(tmp.path(), L, base);
    const auto stacks = AllStacks(tmp.path());
    ASSERT_EQ(stacks.size(), 1u);
    EXPECT_EQ(stacks[0].role, c.expected)
        << "TR " << c.tr << " TE " << c.te << " TI " << c.ti << " options '" << c.options
        << "': " << stacks[0].roleReason;
    EXPECT_FALSE(stacks[0].roleReason.empty());
  }
}

TEST(IngestLimits, AbsurdHeaderSizesAreRefusedBeforeAllocating) {
  ischia::ImageStack stack;
  ischia::FrameInfo f;
  f.path = "/nowhere/huge.dcm";
  f.hasGeometry = true;
  f.rows = 60000;
  f.columns = 60000;
  stack.slices.push_back(f);
  stack.rows = f.rows;
  stack.columns = f.columns;
  try {
    ischia::CheckStackSize(stack);
    FAIL() << "a 60000x60000 slice must be refused";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("huge.dcm"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("refused"), std::string::npos) << e.what();
  }
  // Within the per-slice limit but beyond memory: 8192 x 8192 x 20000 floats (5 TB).
  stack.slices.clear();
  f.rows = f.columns = 8192;
  f.orientation = {1, 0, 0, 0, 1, 0};
  for (int k = 0; k < 2; ++k) {
    f.position = {0, 0, 19999.0 * k};
    stack.slices.push_back(f);
  }
  stack.spacing = {1, 1, 1};
  stack.direction = {{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}};
  stack.rows = stack.columns = 8192;
  ischia::VolumeReadOptions options;
  options.maxSlices = 1000000;
  EXPECT_THROW(ischia::CheckStackSize(stack, options), std::runtime_error);
}
