#include "inspect.h"

#include <cstdio>
#include <iomanip>
#include <sstream>

#include "volume_reader.h"

namespace ischia {
namespace fs = std::filesystem;

namespace {

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Truncate(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 1) + "~";
}

}  // namespace

InspectReport InspectFolder(const fs::path& root, bool readPixels) {
  InspectReport report;
  report.root = root;
  report.scan = ScanDicomFolder(root);
  report.studies = BuildStudies(report.scan.frames);
  report.pixelsChecked = readPixels;
  for (const Study& study : report.studies) {
    std::vector<std::string> errors(study.stacks.size());
    if (readPixels) {
      for (std::size_t i = 0; i < study.stacks.size(); ++i) {
        const ImageStack& s = study.stacks[i];
        if (!s.slices.front().hasGeometry || s.slices.front().samplesPerPixel != 1) continue;
        try {
          ReadStackVolume(s);
        } catch (const std::exception& e) {
          errors[i] = e.what();
        }
      }
    }
    report.pixelErrors.push_back(std::move(errors));
  }
  return report;
}

std::size_t CountStacks(const InspectReport& report) {
  std::size_t n = 0;
  for (const Study& s : report.studies) n += s.stacks.size();
  return n;
}

nlohmann::json InspectReportToJson(const InspectReport& report) {
  using nlohmann::json;
  json j;
  j["schema"] = "ischia.inspect/1";
  j["root"] = report.root.string();
  j["files_examined"] = report.scan.filesExamined;
  j["not_dicom"] = report.scan.notDicom;
  j["image_frames"] = report.scan.frames.size();
  j["pixels_checked"] = report.pixelsChecked;
  auto skipped = [](const std::vector<SkippedFile>& files) {
    json a = json::array();
    for (const auto& f : files) a.push_back({{"path", f.path}, {"reason", f.reason}});
    return a;
  };
  j["non_image"] = skipped(report.scan.nonImage);
  j["unreadable"] = skipped(report.scan.unreadable);
  j["studies"] = json::array();
  for (std::size_t si = 0; si < report.studies.size(); ++si) {
    const Study& study = report.studies[si];
    json js{{"study_instance_uid", study.studyInstanceUid},
            {"patient_id", study.patientId},
            {"patient_name", study.patientName},
            {"study_date", study.studyDate},
            {"description", study.studyDescription},
            {"stacks", json::array()}};
    for (std::size_t k = 0; k < study.stacks.size(); ++k) {
      const ImageStack& s = study.stacks[k];
      const FrameInfo& f = s.slices.front();
      json direction = json::array();
      for (int i = 0; i < 3; ++i)
        for (int c = 0; c < 3; ++c) direction.push_back(s.direction[i][c]);
      json problems = s.problems;
      if (!report.pixelErrors[si][k].empty())
        problems.push_back("pixel data: " + report.pixelErrors[si][k]);
      js["stacks"].push_back({
          {"series_instance_uid", s.seriesInstanceUid},
          {"series_number", s.seriesNumber},
          {"description", s.seriesDescription},
          {"split", s.splitLabel},
          {"role", ToString(s.role)},
          {"role_reason", s.roleReason},
          {"orientation", s.OrientationName()},
          {"frame_of_reference_uid", s.frameOfReferenceUid},
          {"modality", f.modality},
          {"slices", s.NumberOfSlices()},
          {"rows", s.rows},
          {"columns", s.columns},
          {"has_geometry", f.hasGeometry},
          {"spacing_mm", s.spacing},
          {"origin_mm", s.origin},
          {"direction", direction},
          {"missing_slices", s.missingSlices},
          {"irregular_spacing", s.irregularSpacing},
          {"repetition_time_ms", f.repetitionTime},
          {"echo_time_ms", f.echoTime},
          {"inversion_time_ms", f.inversionTime},
          {"b_value", f.hasBValue ? json(f.bValue) : json(nullptr)},
          {"transfer_syntax_uid", f.transferSyntaxUid},
          {"problems", problems},
      });
    }
    j["studies"].push_back(std::move(js));
  }
  return j;
}

void PrintInspectTable(const InspectReport& report, std::ostream& os) {
  const auto& scan = report.scan;
  os << report.root.string() << ": " << scan.filesExamined << " files, " << scan.frames.size()
     << " image frames, " << scan.nonImage.size() << " non-image DICOM objects, "
     << scan.unreadable.size() << " unreadable, " << scan.notDicom << " not DICOM\n";
  for (std::size_t si = 0; si < report.studies.size(); ++si) {
    const Study& study = report.studies[si];
    os << "\nStudy " << study.studyInstanceUid << "  patient '" << study.patientId << "'  date "
       << study.studyDate << (study.studyDescription.empty() ? "" : "  '" + study.studyDescription + "'")
       << "\n";
    os << "  " << std::left << std::setw(5) << "ser" << std::setw(26) << "description"
       << std::setw(24) << "role" << std::setw(15) << "size" << std::setw(20) << "spacing mm"
       << std::setw(18) << "orientation" << "problems\n";
    for (std::size_t k = 0; k < study.stacks.size(); ++k) {
      const ImageStack& s = study.stacks[k];
      std::string desc = s.seriesDescription;
      if (!s.splitLabel.empty()) desc += " [" + s.splitLabel + "]";
      const std::string size = std::to_string(s.columns) + "x" + std::to_string(s.rows) + "x" +
                               std::to_string(s.NumberOfSlices());
      const std::string spacing = Fixed(s.spacing[0], 2) + "x" + Fixed(s.spacing[1], 2) + "x" +
                                  Fixed(s.spacing[2], 2);
      std::string problems;
      for (const auto& p : s.problems) problems += (problems.empty() ? "" : "; ") + p;
      if (!report.pixelErrors[si][k].empty())
        problems += (problems.empty() ? "" : "; ") + std::string("pixel data: ") + report.pixelErrors[si][k];
      os << "  " << std::left << std::setw(5) << s.seriesNumber << std::setw(26)
         << Truncate(desc, 25) << std::setw(24) << ToString(s.role) << std::setw(15) << size
         << std::setw(20) << spacing << std::setw(18) << s.OrientationName()
         << (problems.empty() ? "-" : problems) << "\n";
      os << "       role: " << s.roleReason << "\n";
    }
  }
  auto listSkipped = [&](const char* title, const std::vector<SkippedFile>& files) {
    if (files.empty()) return;
    os << "\n" << title << " (" << files.size() << "):\n";
    for (const auto& f : files) os << "  " << f.path << ": " << f.reason << "\n";
  };
  listSkipped("Skipped, not an image", scan.nonImage);
  listSkipped("Unreadable", scan.unreadable);
}

}  // namespace ischia
