#include "run_config.h"

#include <fstream>
#include <set>
#include <stdexcept>

namespace ischia {
using nlohmann::json;

nlohmann::json RunConfigToJson(const RunConfig& c) {
  return json{{"preprocessing",
               {{"body_mask",
                 {{"otsu_classes", c.bodyMask.otsuClasses},
                  {"histogram_bins", c.bodyMask.histogramBins},
                  {"upper_percentile", c.bodyMask.upperPercentile},
                  {"closing_radius_mm", c.bodyMask.closingRadiusMm},
                  {"fill_holes_per_slice", c.bodyMask.fillHolesPerSlice}}},
                {"bias_field",
                 {{"enabled", c.biasCorrection},
                  {"shrunk_spacing_mm", c.biasField.shrunkSpacingMm},
                  {"initial_mesh_spacing_mm", c.biasField.initialMeshSpacingMm},
                  {"iterations_per_level", c.biasField.iterationsPerLevel},
                  {"convergence_threshold", c.biasField.convergenceThreshold},
                  {"spline_order", c.biasField.splineOrder},
                  {"fwhm", c.biasField.biasFieldFullWidthAtHalfMaximum},
                  {"wiener_noise", c.biasField.wienerFilterNoise},
                  {"histogram_bins", c.biasField.histogramBins}}},
                {"standardisation",
                 {{"histogram_bins", c.standardisation.histogramBins},
                  {"lower_percentile", c.standardisation.lowerPercentile},
                  {"upper_percentile", c.standardisation.upperPercentile},
                  {"smoothing_bins", c.standardisation.smoothingBins},
                  {"min_peak_fraction", c.standardisation.minPeakFraction},
                  {"t1_muscle_to_fat_min", c.standardisation.t1MuscleToFatMin},
                  {"t1_muscle_to_fat_max", c.standardisation.t1MuscleToFatMax},
                  {"min_outside_fraction", c.standardisation.minOutsideFraction}}}}},
              {"analysis",
               {{"footprint_above_tip_mm", c.analysis.footprintAboveTipMm},
                {"tendon_length_mm", c.analysis.tendonLengthMm},
                {"volume_length_mm", c.analysis.volumeLengthMm},
                {"oedema_shell_mm", c.analysis.oedemaShellMm},
                {"marrow_oedema_radius_mm", c.analysis.marrowOedemaRadiusMm},
                {"min_tear_volume_mm3", c.analysis.minTearVolumeMm3},
                {"min_partial_tear_section_percent", c.analysis.minPartialTearSectionPercent},
                {"grade",
                 {{"thick_tendon_mm", c.analysis.grade.thickTendonMm},
                  {"thickness_asymmetry_ratio", c.analysis.grade.thicknessAsymmetryRatio},
                  {"signal_ratio_tendinopathy", c.analysis.grade.signalRatioTendinopathy},
                  {"oedema_volume_mm3", c.analysis.grade.oedemaVolumeMm3}}}}},
              {"quality_control",
               {{"min_snr", c.quality.minSnr},
                {"ghost_ratio", c.quality.ghostRatio},
                {"ghost_signal_percent", c.quality.ghostSignalPercent},
                {"tip_rotation_warning_deg", c.quality.tipRotationWarningDeg},
                {"noise_window_radius_px", c.quality.measure.windowRadiusPx},
                {"homogeneous_fraction", c.quality.measure.homogeneousFraction},
                {"min_tissue_fraction", c.quality.measure.minTissueFraction},
                {"background_margin_mm", c.quality.measure.backgroundMarginMm}}},
              {"report", {{"pdf", c.report.pdf}, {"pdf_timeout_s", c.report.pdfTimeoutS}}}};
}

namespace {

// Overlays `patch` on `base`, refusing keys `base` does not have and type changes.
void Overlay(json& base, const json& patch, const std::string& where) {
  if (!patch.is_object()) throw std::invalid_argument(where + ": expected an object");
  for (const auto& [key, value] : patch.items()) {
    const std::string path = where.empty() ? key : where + "." + key;
    if (!base.contains(key)) throw std::invalid_argument("unknown config key '" + path + "'");
    json& target = base[key];
    if (target.is_object()) {
      Overlay(target, value, path);
    } else if ((target.is_number() && value.is_number()) ||
               (target.is_boolean() && value.is_boolean()) ||
               (target.is_array() && value.is_array())) {
      target = value;
    } else {
      throw std::invalid_argument("config key '" + path + "' has the wrong type");
    }
  }
}

}  // namespace

RunConfig RunConfigFromJson(const json& j) {
  json merged = RunConfigToJson(RunConfig{});
  Overlay(merged, j, "");
  const json& p = merged["preprocessing"];
  RunConfig c;
  const json& bm = p["body_mask"];
  c.bodyMask.otsuClasses = bm["otsu_classes"].get<unsigned>();
  c.bodyMask.histogramBins = bm["histogram_bins"].get<unsigned>();
  c.bodyMask.upperPercentile = bm["upper_percentile"].get<double>();
  c.bodyMask.closingRadiusMm = bm["closing_radius_mm"].get<double>();
  c.bodyMask.fillHolesPerSlice = bm["fill_holes_per_slice"].get<bool>();
  const json& bf = p["bias_field"];
  c.biasCorrection = bf["enabled"].get<bool>();
  c.biasField.shrunkSpacingMm = bf["shrunk_spacing_mm"].get<double>();
  c.biasField.initialMeshSpacingMm = bf["initial_mesh_spacing_mm"].get<double>();
  c.biasField.iterationsPerLevel = bf["iterations_per_level"].get<std::vector<unsigned>>();
  c.biasField.convergenceThreshold = bf["convergence_threshold"].get<double>();
  c.biasField.splineOrder = bf["spline_order"].get<unsigned>();
  c.biasField.biasFieldFullWidthAtHalfMaximum = bf["fwhm"].get<double>();
  c.biasField.wienerFilterNoise = bf["wiener_noise"].get<double>();
  c.biasField.histogramBins = bf["histogram_bins"].get<unsigned>();
  const json& st = p["standardisation"];
  c.standardisation.histogramBins = st["histogram_bins"].get<unsigned>();
  c.standardisation.lowerPercentile = st["lower_percentile"].get<double>();
  c.standardisation.upperPercentile = st["upper_percentile"].get<double>();
  c.standardisation.smoothingBins = st["smoothing_bins"].get<double>();
  c.standardisation.minPeakFraction = st["min_peak_fraction"].get<double>();
  c.standardisation.t1MuscleToFatMin = st["t1_muscle_to_fat_min"].get<double>();
  c.standardisation.t1MuscleToFatMax = st["t1_muscle_to_fat_max"].get<double>();
  c.standardisation.minOutsideFraction = st["min_outside_fraction"].get<double>();
  const json& an = merged["analysis"];
  c.analysis.footprintAboveTipMm = an["footprint_above_tip_mm"].get<double>();
  c.analysis.tendonLengthMm = an["tendon_length_mm"].get<double>();
  c.analysis.volumeLengthMm = an["volume_length_mm"].get<double>();
  c.analysis.oedemaShellMm = an["oedema_shell_mm"].get<double>();
  c.analysis.marrowOedemaRadiusMm = an["marrow_oedema_radius_mm"].get<double>();
  c.analysis.minTearVolumeMm3 = an["min_tear_volume_mm3"].get<double>();
  c.analysis.minPartialTearSectionPercent =
      an["min_partial_tear_section_percent"].get<double>();
  const json& gr = an["grade"];
  c.analysis.grade.thickTendonMm = gr["thick_tendon_mm"].get<double>();
  c.analysis.grade.thicknessAsymmetryRatio = gr["thickness_asymmetry_ratio"].get<double>();
  c.analysis.grade.signalRatioTendinopathy = gr["signal_ratio_tendinopathy"].get<double>();
  c.analysis.grade.oedemaVolumeMm3 = gr["oedema_volume_mm3"].get<double>();
  const json& qc = merged["quality_control"];
  c.quality.minSnr = qc["min_snr"].get<double>();
  c.quality.ghostRatio = qc["ghost_ratio"].get<double>();
  c.quality.ghostSignalPercent = qc["ghost_signal_percent"].get<double>();
  c.quality.tipRotationWarningDeg = qc["tip_rotation_warning_deg"].get<double>();
  c.quality.measure.windowRadiusPx = qc["noise_window_radius_px"].get<int>();
  c.quality.measure.homogeneousFraction = qc["homogeneous_fraction"].get<double>();
  c.quality.measure.minTissueFraction = qc["min_tissue_fraction"].get<double>();
  c.quality.measure.backgroundMarginMm = qc["background_margin_mm"].get<double>();
  if (c.quality.measure.windowRadiusPx < 1 || c.quality.measure.windowRadiusPx > 10 ||
      !(c.quality.measure.homogeneousFraction > 0 && c.quality.measure.homogeneousFraction <= 1) ||
      !(c.quality.measure.backgroundMarginMm >= 0)) {
    throw std::invalid_argument(
        "config: quality_control.noise_window_radius_px must be 1-10, homogeneous_fraction in "
        "(0, 1] and background_margin_mm >= 0");
  }
  if (!(c.quality.tipRotationWarningDeg >= 0 && c.quality.tipRotationWarningDeg <= 90)) {
    throw std::invalid_argument(
        "config: quality_control.tip_rotation_warning_deg must be 0-90 (is " +
        json(c.quality.tipRotationWarningDeg).dump() + ")");
  }
  c.report.pdf = merged["report"]["pdf"].get<bool>();
  c.report.pdfTimeoutS = merged["report"]["pdf_timeout_s"].get<double>();
  if (c.bodyMask.otsuClasses < 2 || c.biasField.iterationsPerLevel.empty() ||
      c.standardisation.histogramBins < 16 || c.bodyMask.histogramBins < 16) {
    throw std::invalid_argument(
        "config: otsu_classes >= 2, histogram_bins >= 16 and at least "
        "one bias-field level are required");
  }
  if (!(c.report.pdfTimeoutS > 0)) throw std::invalid_argument("config: report.pdf_timeout_s must be > 0");
  return c;
}

RunConfig LoadRunConfig(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read config file " + path.string());
  try {
    return RunConfigFromJson(json::parse(in));
  } catch (const std::exception& e) {
    throw std::runtime_error("config file " + path.string() + ": " + e.what());
  }
}

}  // namespace ischia
