#pragma once
// Stage 1 of `ischia run`: which series of a study the analysis uses, and why.
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "dicom_ingest.h"

namespace ischia {

// A study that cannot be analysed: `code` is the machine-readable error code of result.json.
struct AnalysisError : std::runtime_error {
  AnalysisError(std::string code, const std::string& message)
      : std::runtime_error(message), code(std::move(code)) {}
  std::string code;
};

struct ChosenSeries {
  ImageStack stack;
  std::string reason;  // why this stack was chosen among the candidates
};

struct SeriesSelection {
  ChosenSeries axialFluidSensitive;     // required
  std::optional<ChosenSeries> axialT1;  // used when present in the same frame
  std::optional<ChosenSeries> coronalFluidSensitive;
  // Why an optional role is not used ("no axial T1 series", "different frame of reference").
  std::string axialT1Absent, coronalFluidSensitiveAbsent;
};

// Chooses the axial fluid-sensitive stack (required: throws AnalysisError
// "no_fluid_sensitive_axial" otherwise) and the axial T1 and coronal fluid-sensitive stacks
// that share its FrameOfReferenceUID. Among several candidates of a role, stacks that can be
// read as a volume come first, then complete ones (no missing slice), then the longest
// coverage along the slice normal, then the finest in-plane spacing.
SeriesSelection SelectSeries(const Study& study);

// True if the stack can be read as one volume (patient geometry, one sample per pixel,
// regular spacing, at least 2 slices).
bool IsReadableAsVolume(const ImageStack& stack);

}  // namespace ischia
