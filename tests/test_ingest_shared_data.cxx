// Every folder of ../shared/data (real scanner and toolkit output) through ingestion.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "dicom_ingest.h"
#include "volume_reader.h"

namespace fs = std::filesystem;

namespace {

const fs::path kShared = ISCHIA_SHARED_DATA;

std::vector<ischia::ImageStack> StacksOf(const fs::path& dir, ischia::ScanResult* scanOut = nullptr) {
  const auto scan = ischia::ScanDicomFolder(dir);
  if (scanOut) *scanOut = scan;
  std::vector<ischia::ImageStack> stacks;
  for (auto& study : ischia::BuildStudies(scan.frames))
    for (auto& s : study.stacks) stacks.push_back(s);
  return stacks;
}

const ischia::ImageStack* FindStack(const std::vector<ischia::ImageStack>& stacks, int series,
                                    const std::string& labelPart = "") {
  for (const auto& s : stacks)
    if (s.seriesNumber == series && s.splitLabel.find(labelPart) != std::string::npos) return &s;
  return nullptr;
}

bool Contains(const std::vector<ischia::SkippedFile>& files, const std::string& name,
              const std::string& reasonPart) {
  return std::any_of(files.begin(), files.end(), [&](const ischia::SkippedFile& f) {
    return fs::path(f.path).filename() == name && f.reason.find(reasonPart) != std::string::npos;
  });
}

}  // namespace

TEST(SharedData, ProstateX0000T2StacksAreObliqueVolumes) {
  const auto stacks = StacksOf(kShared / "real-pelvis/ProstateX-0000");
  const auto* tra = FindStack(stacks, 4);
  const auto* cor = FindStack(stacks, 5);
  const auto* sag = FindStack(stacks, 3);
  ASSERT_TRUE(tra && cor && sag);
  EXPECT_EQ(tra->NumberOfSlices(), 19u);
  EXPECT_EQ(tra->columns, 384u);
  EXPECT_NEAR(tra->spacing[0], 0.5, 1e-3);
  EXPECT_NEAR(tra->spacing[2], 3.0, 0.01);
  EXPECT_EQ(tra->OrientationName(), "axial oblique");
  EXPECT_EQ(cor->OrientationName(), "coronal oblique");
  EXPECT_EQ(sag->OrientationName(), "sagittal");
  // The axial T2 is tilted about 18.5 degrees (IOP column direction 0, 0.948, -0.317).
  EXPECT_NEAR(std::abs(tra->direction[2][1]), 0.317, 0.001);
  for (const auto* s : {tra, cor, sag}) {
    EXPECT_EQ(s->role, ischia::SeriesRole::OtherAnatomical) << s->roleReason;
    EXPECT_TRUE(s->problems.empty());
    EXPECT_EQ(s->missingSlices, 0);
  }
  const auto volume = ischia::ReadStackVolume(*tra);
  EXPECT_EQ(volume->GetLargestPossibleRegion().GetSize()[2], 19u);
  // The volume's geometry is the stack's geometry.
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(volume->GetOrigin()[i], tra->origin[i], 1e-9);
    EXPECT_NEAR(volume->GetDirection()[i][1], tra->direction[i][1], 1e-9);
  }
}

TEST(SharedData, ProstateX0000DiffusionIsSplitByBValue) {
  const auto stacks = StacksOf(kShared / "real-pelvis/ProstateX-0000");
  std::vector<double> bValues;
  for (const auto& s : stacks) {
    if (s.seriesNumber != 6) continue;
    EXPECT_EQ(s.NumberOfSlices(), 19u);
    EXPECT_EQ(s.role, ischia::SeriesRole::DiffusionDerivedOther);
    EXPECT_FALSE(s.irregularSpacing);
    bValues.push_back(s.slices.front().bValue);
  }
  EXPECT_EQ(bValues, (std::vector<double>{50, 400, 800}));
  const auto* adc = FindStack(stacks, 7);
  ASSERT_TRUE(adc);
  EXPECT_EQ(adc->role, ischia::SeriesRole::DiffusionDerivedOther);
  // The 3D PD-weighted gradient echo (TR 800, TE 1.5, flip 14) is not a T1.
  const auto* pd = FindStack(stacks, 9);
  ASSERT_TRUE(pd);
  EXPECT_EQ(pd->role, ischia::SeriesRole::OtherAnatomical) << pd->roleReason;
}

TEST(SharedData, ProstateX0001LocalizersAreSplitAndRecognised) {
  const auto stacks = StacksOf(kShared / "real-pelvis/ProstateX-0001");
  int localizerStacks = 0;
  for (const auto& s : stacks) {
    if (s.seriesNumber == 1 || s.seriesNumber == 2) {
      EXPECT_EQ(s.role, ischia::SeriesRole::Localizer) << s.roleReason;
      EXPECT_EQ(s.orientationsInSeries, 3);
      ++localizerStacks;
    }
  }
  EXPECT_EQ(localizerStacks, 6);
  const auto* loc = FindStack(stacks, 3);
  ASSERT_TRUE(loc);
  EXPECT_EQ(loc->role, ischia::SeriesRole::Localizer) << loc->roleReason;
  const auto* tra = FindStack(stacks, 6);
  ASSERT_TRUE(tra);
  EXPECT_EQ(tra->OrientationName(), "axial oblique");
}

TEST(SharedData, MissingSliceIsReported) {
  const auto stacks = StacksOf(kShared / "real-pelvis/ProstateX-missing-slice");
  ASSERT_EQ(stacks.size(), 1u);
  EXPECT_EQ(stacks[0].NumberOfSlices(), 18u);
  EXPECT_EQ(stacks[0].missingSlices, 1);
  EXPECT_NEAR(stacks[0].spacing[2], 3.0, 0.01);
  ASSERT_EQ(stacks[0].problems.size(), 1u);
  EXPECT_NE(stacks[0].problems[0].find("missing"), std::string::npos);
  const auto volume = ischia::ReadStackVolume(stacks[0]);
  EXPECT_EQ(volume->GetLargestPossibleRegion().GetSize()[2], 19u);
}

TEST(SharedData, Wg04LosslessVariantsEqualReferencePixelForPixel) {
  const fs::path wg04 = kShared / "transfer-syntaxes/wg04";
  for (const std::string mr : {"MR1", "MR2", "MR3", "MR4"}) {
    const auto refStacks = StacksOf(wg04 / "REF");
    const ischia::ImageStack* ref = nullptr;
    for (const auto& s : refStacks)
      if (fs::path(s.slices.front().path).filename().string().rfind(mr, 0) == 0) ref = &s;
    ASSERT_TRUE(ref) << mr;
    const auto refImage = ischia::ReadStackVolume(*ref);
    const std::size_t n = refImage->GetLargestPossibleRegion().GetNumberOfPixels();
    for (const std::string ts : {"RLE", "JPLL", "JLSL", "J2KR", "JPLY", "JLSN", "J2KI"}) {
      const auto stacks = StacksOf(wg04 / ts);
      const ischia::ImageStack* s = nullptr;
      for (const auto& st : stacks)
        if (fs::path(st.slices.front().path).filename().string().rfind(mr, 0) == 0) s = &st;
      ASSERT_TRUE(s) << mr << " " << ts;
      const auto image = ischia::ReadStackVolume(*s);
      ASSERT_EQ(image->GetLargestPossibleRegion().GetNumberOfPixels(), n) << mr << " " << ts;
      const float* a = refImage->GetBufferPointer();
      const float* b = image->GetBufferPointer();
      double sumAbs = 0, range = 0;
      std::size_t differing = 0;
      for (std::size_t i = 0; i < n; ++i) {
        sumAbs += std::abs(a[i] - b[i]);
        differing += a[i] != b[i];
        range = std::max(range, static_cast<double>(std::abs(a[i])));
      }
      const bool lossless = ts == "RLE" || ts == "JPLL" || ts == "JLSL" || ts == "J2KR";
      if (lossless) {
        EXPECT_EQ(differing, 0u) << mr << " " << ts << " must decode to exactly REF";
      } else {
        // Lossy: same image, mean absolute error under 2% of the intensity range.
        EXPECT_LT(sumAbs / n, 0.02 * range) << mr << " " << ts;
      }
    }
  }
}

TEST(SharedData, EnhancedMultiFrameMrIsReadAsVolumes) {
  const auto siemens = StacksOf(kShared / "enhanced-mr/Siemens");
  ASSERT_EQ(siemens.size(), 4u);  // four repeats of a 6-slice volume
  for (const auto& s : siemens) {
    EXPECT_EQ(s.NumberOfSlices(), 6u);
    EXPECT_FALSE(s.irregularSpacing);
    EXPECT_NEAR(s.spacing[2], 2.4, 0.01);
  }
  const auto volume = ischia::ReadStackVolume(siemens[0]);
  EXPECT_EQ(volume->GetLargestPossibleRegion().GetSize()[2], 6u);
  const auto philips = StacksOf(kShared / "enhanced-mr/Philips");
  ASSERT_EQ(philips.size(), 2u);  // field map and magnitude, split by echo time
  for (const auto& s : philips) {
    EXPECT_EQ(s.NumberOfSlices(), 32u);
    EXPECT_EQ(ischia::ReadStackVolume(s)->GetLargestPossibleRegion().GetSize()[2], 32u);
  }
}

TEST(SharedData, BrokenAndNonImageFilesAreReportedByNameAndScanGoesOn) {
  ischia::ScanResult scan;
  const auto stacks = StacksOf(kShared / "edge-cases/pydicom", &scan);
  EXPECT_TRUE(Contains(scan.unreadable, "MR_truncated.dcm", "truncated"));
  EXPECT_TRUE(Contains(scan.unreadable, "DICOMDIR-nooffset", "parser failed"));
  EXPECT_TRUE(Contains(scan.nonImage, "rtstruct.dcm", "RT"));
  EXPECT_TRUE(Contains(scan.nonImage, "test-SR.dcm", "structured report"));
  EXPECT_TRUE(Contains(scan.nonImage, "DICOMDIR", "DICOMDIR"));
  EXPECT_GE(scan.notDicom, 3u);  // README.txt, JSON and gzip files
  // The readable MR files are still found.
  EXPECT_TRUE(std::any_of(stacks.begin(), stacks.end(), [](const ischia::ImageStack& s) {
    return fs::path(s.slices.front().path).filename() == "MR_small.dcm";
  }));
  // Decoding every stack either works or fails with an error naming the file; never a crash.
  for (const std::string folder : {"edge-cases/pydicom", "edge-cases/fo-dicom"}) {
    for (const auto& s : StacksOf(kShared / folder)) {
      if (!s.slices.front().hasGeometry || s.slices.front().samplesPerPixel != 1) continue;
      try {
        ischia::ReadStackVolume(s);
      } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(folder.substr(11)), std::string::npos) << e.what();
      }
    }
  }
}
