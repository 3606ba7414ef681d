#pragma once
// Parameters of `ischia run`, read from an optional JSON file (--config) over built-in
// defaults, and printed with every result.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "hamstring_analysis.h"
#include "image_quality.h"
#include "preprocess.h"

namespace ischia {

struct RunConfig {
  BodyMaskParameters bodyMask;
  bool biasCorrection = true;
  BiasCorrectionParameters biasField;
  StandardisationParameters standardisation;
  HamstringAnalysisParameters analysis;  // stages 3-6, grade thresholds included
  // Image-quality QC of each series used (result.json preprocessing.<role>.image_quality).
  struct QualityControl {
    // Low SNR: muscle signal / in-body noise sigma below this. Clinical PD/T2 fat-sat and T1
    // pelvis series give about 10-40; below ~5 noise hides thin tendon detail.
    double minSnr = 5.0;
    // Motion suspected: background on the body's phase-encoding lines at least this many times
    // the background elsewhere AND the excess at least this % of the muscle signal (both: a
    // ratio alone flags faint ghosts at high SNR, a % alone is unreliable at low SNR).
    double ghostRatio = 1.5;
    double ghostSignalPercent = 2.5;
    // The two tuberosity tips turned by more than this (degrees, in the axial plane) from the
    // left-right axis: one tip may be misplaced (a warning). A patient lies within a few degrees
    // of straight; generated pelves, tilted and asymmetric, reach 6.
    double tipRotationWarningDeg = 8.0;
    ImageQualityParameters measure;
  } quality;
  struct Report {
    bool pdf = true;            // report.pdf through headless Chromium (batch runs may skip it)
    double pdfTimeoutS = 120;   // Chromium is killed after this
  } report;
};

// Defaults overridden by the keys of `j`; throws std::invalid_argument naming an unknown key or a
// value of the wrong type (a typo must not silently fall back to a default).
RunConfig RunConfigFromJson(const nlohmann::json& j);
// Reads a JSON config file; throws std::runtime_error naming the file on any problem.
RunConfig LoadRunConfig(const std::filesystem::path& path);
nlohmann::json RunConfigToJson(const RunConfig& config);

}  // namespace ischia
