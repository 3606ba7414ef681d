#pragma once
// A finished `ischia run` output folder loaded back for display (`ischia render`, `ischia
// view`): result.json, labels.nii.gz, the meshes, and the axial series re-read from the study's
// DICOM folder (result.json's study.study_dir, or another folder holding the same series).
// The images are the scanner's intensities (not bias-corrected): the display window comes from
// their percentiles.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "image_types.h"
#include "study_visuals.h"

namespace ischia {

struct FinishedRun {
  std::filesystem::path outDir;
  nlohmann::json result;
  LabelImage::Pointer labels;
  FloatImage::Pointer fluid;  // axial fluid-sensitive, the label map's grid
  FloatImage::Pointer t1;     // axial T1 resampled into that grid; null when absent
  std::string fluidName, t1Name;
  SideOverlay left, right;
  double midlineXmm = 0;
  std::vector<std::string> warnings;
};

// Throws InputError (exit 2) for a folder that is not a finished run (no result.json, status
// not ok, no labels.nii.gz) or a study folder that no longer holds the analysed series.
FinishedRun LoadFinishedRun(const std::filesystem::path& outDir,
                            const std::optional<std::filesystem::path>& studyDir);

}  // namespace ischia
