#pragma once
// `ischia run`: analyse one study folder and write OUT_DIR/result.json (schema ischia.result/1).
// Stages today: 1 series selection and common space, 2 preprocessing (body mask, N4,
// standardisation), 7 atomic output. Stages 3-6 (tuberosities, tendon, tears, measurements)
// plug in at AnalyseSides() in run_analysis.cxx.
#include <array>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace ischia {

struct RunOptions {
  std::filesystem::path studyDir;
  std::filesystem::path outDir;
  int threads = 0;  // <= 0: hardware concurrency
  std::optional<std::filesystem::path> configPath;
  bool noPdf = false;  // --no-pdf: no report.pdf whatever the config says
  bool render = true;  // 3D renders and key images (meshes are always written)
};

// Runs the analysis and writes result.json atomically; returns the exit code (0 analysed,
// 1 the study could not be analysed: result.json says why). Throws InputError (exit 2) for a
// missing study folder, a bad config, an unwritable output folder or a folder without readable
// DICOM images. `result`, when given, receives the JSON written.
int RunStudyAnalysis(const RunOptions& options, nlohmann::json* result = nullptr);

// The angle (degrees, 0-90) between the left-right axis and the line through the two tuberosity
// tips (LPS mm) in the axial plane: about 0 for a pelvis lying straight.
double TipRotationDeg(const std::array<double, 3>& leftTip, const std::array<double, 3>& rightTip);

// A warning when that angle is more than `maxDeg` (one tip may be misplaced), else "".
std::string TipRotationWarning(const std::array<double, 3>& leftTip,
                               const std::array<double, 3>& rightTip, double maxDeg);

// Developer aid: stages 3-6 again on the images a run wrote with ISCHIA_DEBUG_IMAGES=1
// (OUT_DIR/debug/), without reading or preprocessing the study. Writes OUT_DIR2/labels.nii.gz
// and OUT_DIR2/result.json (schema ischia.replay/1: sides, left_right, analysis_qc, config).
// Throws std::exception on unreadable input.
int ReplayAnalysis(const std::filesystem::path& debugDir, const std::filesystem::path& outDir,
                   const std::optional<std::filesystem::path>& configPath);

}  // namespace ischia
