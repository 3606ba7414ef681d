#include <gtest/gtest.h>
#include "dicom_ingest.h"
TEST(IngestSmoke, RealPelvis) {
  auto scan = ischia::ScanDicomFolder(ISCHIA_SHARED_DATA "/real-pelvis/ProstateX-0000");
  EXPECT_GT(scan.frames.size(), 100u);
}
