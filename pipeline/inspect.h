#pragma once
// `ischia inspect`: what a folder holds, as a table for people and JSON for machines.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <ostream>

#include "dicom_ingest.h"

namespace ischia {

struct InspectReport {
  std::filesystem::path root;
  ScanResult scan;
  std::vector<Study> studies;
  // Per stack (same order as studies/stacks): pixel-read error, if pixels were checked.
  std::vector<std::vector<std::string>> pixelErrors;
  bool pixelsChecked = false;
};

// Scans, groups and classifies; with `readPixels` also decodes every stack that forms a volume.
InspectReport InspectFolder(const std::filesystem::path& root, bool readPixels);

nlohmann::json InspectReportToJson(const InspectReport& report);
void PrintInspectTable(const InspectReport& report, std::ostream& os);

// Number of image stacks found.
std::size_t CountStacks(const InspectReport& report);

}  // namespace ischia
