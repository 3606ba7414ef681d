#pragma once
// Writes small MR DICOM slices for tests, with exactly the tags the ingestion reads.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ischia::test {

struct SliceSpec {
  std::string path;
  std::string studyUid = "1.2.826.0.1.3680043.2.1125.1";
  std::string seriesUid = "1.2.826.0.1.3680043.2.1125.1.1";
  std::string sopUid;
  std::string frameOfReferenceUid = "1.2.826.0.1.3680043.2.1125.1.9";
  int seriesNumber = 1, instanceNumber = 1;
  std::string description = "test";
  std::array<double, 3> position{};
  std::array<double, 6> orientation{1, 0, 0, 0, 1, 0};
  double rowSpacing = 1, columnSpacing = 1;  // PixelSpacing = rowSpacing\columnSpacing
  unsigned rows = 8, columns = 8;
  double repetitionTime = 600, echoTime = 12, inversionTime = 0;
  int echoNumber = 1;
  std::string scanningSequence = "SE", sequenceVariant = "SK", scanOptions, imageType = "ORIGINAL\\PRIMARY\\M";
  double sliceThickness = 4;
  double rescaleSlope = 1, rescaleIntercept = 0;
  std::vector<std::uint16_t> pixels;  // rows*columns, row-major (column index fastest)
};

void WriteSlice(const SliceSpec& spec);

}  // namespace ischia::test
