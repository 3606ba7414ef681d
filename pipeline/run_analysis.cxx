#include "run_analysis.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <sstream>
#include <string>

#include "atomic_output.h"
#include "cli.h"
#include "dicom_ingest.h"
#include "hamstring_analysis.h"
#include "image_quality.h"
#include "nifti_io.h"
#include "ischia/version.h"
#include "preprocess.h"
#include "report.h"
#include "run_config.h"
#include "series_selection.h"
#include "study_visuals.h"
#include "threading.h"
#include "volume_reader.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Wall-clock seconds per stage, in the order the stages ran.
class StageTimes {
 public:
  template <typename F>
  auto Time(const std::string& stage, F&& f) {
    const auto start = std::chrono::steady_clock::now();
    struct Record {
      StageTimes* self;
      std::string stage;
      std::chrono::steady_clock::time_point start;
      ~Record() {
        self->json_[stage] =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      }
    } record{this, stage, start};
    return f();
  }
  const json& ToJson() const { return json_; }
  double Total() const {
    double t = 0;
    for (const auto& [stage, seconds] : json_.items()) t += seconds.get<double>();
    return t;
  }
  void Set(const std::string& stage, double seconds) { json_[stage] = seconds; }

 private:
  json json_ = json::object();
};

// One series after stage 2, in its own grid and in the axial fluid-sensitive grid.
struct PreparedSeries {
  std::string role;  // "axial_fluid_sensitive", "axial_t1", ...
  const ChosenSeries* chosen = nullptr;
  FloatImage::Pointer native;     // as read (LPS, rescaled)
  FloatImage::Pointer corrected;  // bias-field corrected, native grid
  IntensityReference reference;
  MaskImage::Pointer nativeBody;
  FloatImage::Pointer standardised;  // muscle = 1, noise floor = 0, axial grid
  MaskImage::Pointer body;           // axial grid
  MaskImage::Pointer fieldOfView;    // axial-grid voxels this series covers
  double airThreshold = 0;           // of the body mask (image quality's object threshold)
  StageTimes steps;                  // stage 2's steps on this series
  json qc = json::object();
};

// Everything stages 3-6 work from: every used series in the axial fluid-sensitive grid.
struct PreparedStudy {
  std::vector<PreparedSeries> series;  // [0] is the axial fluid-sensitive series
};

json SeriesJson(const ImageStack& s) {
  return {{"series_instance_uid", s.seriesInstanceUid},
          {"description", s.seriesDescription},
          {"role", ToString(s.role)},
          {"series_number", s.seriesNumber},
          {"split_label", s.splitLabel},
          {"role_reason", s.roleReason},
          {"orientation", s.OrientationName()},
          {"slices", s.NumberOfSlices()},
          {"missing_slices", s.missingSlices},
          {"problems", s.problems}};
}

json NotFoundSides(const std::string& reason) {
  return {{"left", {{"found", false}, {"reason", reason}}},
          {"right", {{"found", false}, {"reason", reason}}}};
}

json NumberOrNull(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// SNR and phase-direction ghosting of one series in its native grid (after the body mask and
// standardisation: muscle-like voxels give the signal level), with the flags of the run config.
json SeriesImageQuality(const PreparedSeries& p, const RunConfig::QualityControl& config) {
  const FrameInfo& first = p.chosen->stack.slices.front();
  const std::string pe = first.inPlanePhaseEncodingDirection;
  const PhaseEncodingAxis axis = pe == "ROW"   ? PhaseEncodingAxis::Row
                                 : pe == "COL" ? PhaseEncodingAxis::Column
                                               : PhaseEncodingAxis::Unknown;
  ImageQualityParameters params = config.measure;
  params.objectThreshold = p.airThreshold;
  // Acquired samples along a row (values 0 or 2 of AcquisitionMatrix) and a column (1 or 3).
  const auto& m = first.acquisitionMatrix;
  const auto size = p.native->GetLargestPossibleRegion().GetSize();
  const double alongRow = std::max(m[0], m[2]), alongColumn = std::max(m[1], m[3]);
  params.acquiredFraction = {alongRow > 0 ? std::min(1.0, alongRow / size[0]) : 1.0,
                             alongColumn > 0 ? std::min(1.0, alongColumn / size[1]) : 1.0};
  // Muscle-like voxels: standardised intensity (muscle = 1) within 25%.
  auto muscle = MaskImage::New();
  muscle->CopyInformation(p.native);
  muscle->SetRegions(p.native->GetLargestPossibleRegion());
  muscle->Allocate();
  const float* st = p.standardised->GetBufferPointer();
  const std::uint8_t* body = p.nativeBody->GetBufferPointer();
  std::uint8_t* mu = muscle->GetBufferPointer();
  for (std::size_t i = 0, n = size[0] * size[1] * size[2]; i < n; ++i)
    mu[i] = body[i] && std::fabs(st[i] - 1.0f) <= 0.25f;
  const ImageQuality q = MeasureImageQuality(*p.native, *p.nativeBody, muscle.GetPointer(), axis, params);

  const bool lowSnr = std::isfinite(q.snr) && q.snr < config.minSnr;
  const bool motion = q.ghostMeasured && q.ghostRatio >= config.ghostRatio &&
                      q.ghostToSignalPercent >= config.ghostSignalPercent;
  json notes = json::array();
  if (!q.noiseNote.empty()) notes.push_back(q.noiseNote);
  if (!q.ghostNote.empty()) notes.push_back(q.ghostNote);
  const double bgRatio = q.backgroundSigma / q.noiseSigma;
  if (std::isfinite(bgRatio) && (bgRatio > 1.5 || bgRatio < 1 / 1.5)) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.2f", bgRatio);
    notes.push_back(std::string("background noise differs from the in-body estimate (x") + ratio +
                    "): multi-coil or parallel-imaging reconstruction or filtering; the SNR uses "
                    "the in-body estimate");
  }
  return {{"snr", NumberOrNull(q.snr)},
          {"signal", NumberOrNull(q.signal)},
          {"signal_source", q.signalSource},
          {"noise_sigma", NumberOrNull(q.noiseSigma)},
          {"noise_method", q.noiseMethod},
          {"noise_voxels", q.noiseVoxels},
          {"noise_correlation_correction", q.correlationCorrection},
          {"acquired_fraction", params.acquiredFraction},
          {"background_noise_sigma", NumberOrNull(q.backgroundSigma)},
          {"background_to_body_noise", NumberOrNull(bgRatio)},
          {"background_note", q.backgroundNote},
          {"background_zero_fraction", NumberOrNull(q.backgroundZeroFraction)},
          {"low_snr", lowSnr},
          {"min_snr", config.minSnr},
          {"phase_encoding_direction", pe.empty() ? json(nullptr) : json(pe)},
          {"ghost_measured", q.ghostMeasured},
          {"ghost_method",
           "mean background (beyond " + std::to_string(static_cast<int>(params.backgroundMarginMm)) +
               " mm of any object) on lines along the phase-encoding direction that cross the "
               "body, over that on lines that do not"},
          {"ghost_ratio", NumberOrNull(q.ghostRatio)},
          {"ghost_signal_percent", NumberOrNull(q.ghostToSignalPercent)},
          {"ghost_band_mean", NumberOrNull(q.ghostBandMean)},
          {"ghost_reference_mean", NumberOrNull(q.referenceMean)},
          {"ghost_voxels", q.ghostVoxels},
          {"ghost_reference_voxels", q.referenceVoxels},
          {"motion_suspected", motion},
          {"motion_thresholds",
           {{"ghost_ratio", config.ghostRatio}, {"ghost_signal_percent", config.ghostSignalPercent}}},
          {"notes", notes}};
}

// Stage 2 on one series in its native grid, in steps: body mask, N4, standardisation, image
// quality. The body mask first on the series alone (ComputeBody), then with the body found on
// the T1 series added (AddT1Body, same grid), when there is one: on fat-suppressed images
// subcutaneous fat is as dark as air.
void ComputeBody(PreparedSeries& p, const RunConfig& config) {
  const BodyMaskResult body =
      p.steps.Time("body_mask", [&] { return ComputeBodyMask(*p.native, config.bodyMask); });
  p.nativeBody = body.mask;
  p.airThreshold = body.airThreshold;
  p.qc["body_volume_ml"] = body.volumeMl;
  p.qc["air_threshold"] = body.airThreshold;
}

void AddT1Body(PreparedSeries& p, const MaskImage& t1Body) {
  std::uint8_t* b = p.nativeBody->GetBufferPointer();
  const std::uint8_t* t = t1Body.GetBufferPointer();
  const std::size_t n = p.nativeBody->GetLargestPossibleRegion().GetNumberOfPixels();
  std::size_t added = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (t[i] && !b[i]) b[i] = 1, ++added;
  }
  const auto& sp = p.native->GetSpacing();
  const double addedMl = static_cast<double>(added) * sp[0] * sp[1] * sp[2] / 1000.0;
  p.qc["body_volume_ml"] = p.qc["body_volume_ml"].get<double>() + addedMl;
  p.qc["body_added_from_t1_ml"] = addedMl;
}

void PreprocessBias(PreparedSeries& p, const RunConfig& config) {
  p.corrected = p.native;
  if (config.biasCorrection) {
    BiasCorrectionResult bias = p.steps.Time(
        "bias_field", [&] { return CorrectBiasField(*p.native, *p.nativeBody, config.biasField); });
    p.corrected = bias.corrected;
    p.qc["bias_field_range_in_body"] = {bias.fieldMinInMask, bias.fieldMaxInMask};
    p.qc["bias_shrink_factors"] = bias.shrinkFactors;
  }
}

// Intensity standardisation. `muscle` (same grid) is the muscle found on the T1 series, when
// there is one: the reference tissue of a fluid-sensitive series, where suppressed fat can look
// like muscle.
void PreprocessStandardise(PreparedSeries& p, const RunConfig& config, const MaskImage* muscle) {
  const TissueContrast contrast =
      p.role == "axial_t1" ? TissueContrast::T1 : TissueContrast::FluidSensitive;
  StandardisedImage st = p.steps.Time("standardisation", [&] {
    return StandardiseIntensities(*p.corrected, *p.nativeBody, contrast, config.standardisation,
                                  muscle);
  });
  p.standardised = st.image;
  p.reference = st.reference;
  const IntensityReference& r = st.reference;
  json peaks = json::array();
  for (const HistogramPeak& k : r.peaks) peaks.push_back({k.position, k.fraction});
  p.qc["standardisation"] = {{"method", r.method},
                             {"zero_level", r.zeroLevel},
                             {"muscle_level", r.muscleLevel},
                             {"fat_level", r.fatLevel},
                             {"tissue_peaks", peaks}};
}

// Image quality (after standardisation), and the series' step times.
void PreprocessQuality(PreparedSeries& p, const RunConfig& config) {
  p.qc["image_quality"] = p.steps.Time(
      "image_quality", [&] { return SeriesImageQuality(p, config.quality); });
  p.qc["timings_s"] = p.steps.ToJson();
}

// Run-level flags over the series used (details per series under preprocessing).
json ImageQualitySummary(const json& preprocessing, const RunConfig::QualityControl& config) {
  json summary = {{"low_snr", false},
                  {"motion_suspected", false},
                  {"min_snr", config.minSnr},
                  {"motion_thresholds",
                   {{"ghost_ratio", config.ghostRatio},
                    {"ghost_signal_percent", config.ghostSignalPercent}}},
                  {"series_low_snr", json::array()},
                  {"series_motion_suspected", json::array()}};
  for (const auto& [role, qc] : preprocessing.items()) {
    const json& q = qc.value("image_quality", json::object());
    if (q.value("low_snr", false)) {
      summary["low_snr"] = true;
      summary["series_low_snr"].push_back(role);
    }
    if (q.value("motion_suspected", false)) {
      summary["motion_suspected"] = true;
      summary["series_motion_suspected"].push_back(role);
    }
  }
  return summary;
}

json SectionJson(const TendonSectionMeasure& m) {
  return {{"distance_mm", m.distanceMm},   {"z_mm", m.zMm},
          {"thickness_mm", m.thicknessMm}, {"width_mm", m.widthMm},
          {"csa_mm2", m.csaMm2},           {"tear_area_mm2", m.tearAreaMm2},
          {"thickness_caliper_mm", m.thicknessCaliperLps},
          {"width_caliper_mm", m.widthCaliperLps}};
}

json TearJson(const TearFinding& t) {
  json tear = {{"type", t.type},
               {"retraction_mm", t.retractionMm},
               {"gap_mm", t.gapMm},
               {"extent_percent", t.extentPercent},
               {"length_mm", t.lengthMm},
               {"volume_mm3", t.volumeMm3}};
  if (t.type == "complete") {
    tear["stump_found"] = t.stumpFound;
    if (!t.stumpFound) {
      // Unknown, not zero: the stump lies further down than it was looked for.
      tear["retraction_mm"] = nullptr;
      tear["gap_mm"] = nullptr;
      tear["stump_searched_mm"] = t.stumpSearchedMm;
    }
  }
  return tear;
}

json SideJson(const SideAnalysis& s) {
  if (!s.found) return {{"found", false}, {"reason", s.reason}, {"qc", s.qc}};
  json profile = json::array(), levels = json::array();
  for (const auto& m : s.profile) profile.push_back(SectionJson(m));
  for (const auto& m : s.atLevels) levels.push_back(SectionJson(m));
  json side = {{"found", true},
               {"tuberosity_mm", s.tuberosityTipLps},
               {"footprint_mm", s.footprintLps},
               {"tendon_found", s.tendonFound},
               {"tendon",
                {{"thickness_mm", s.maximum.thicknessMm},
                 {"width_mm", s.maximum.widthMm},
                 {"csa_mm2", s.maximum.csaMm2},
                 {"volume_mm3", s.volumeMm3},
                 {"volume_length_mm", s.volumeLengthMm},
                 {"signal_ratio", s.signalRatio},
                 {"thickness_caliper_mm", s.maximum.thicknessCaliperLps},
                 {"width_caliper_mm", s.maximum.widthCaliperLps},
                 {"at_levels", levels},
                 {"profile", profile}}},
               {"oedema",
                {{"peritendinous_mm3", s.peritendinousOedemaMm3},
                 {"marrow_mm3", s.marrowOedemaMm3}}},
               {"tear", TearJson(s.tear)},
               {"grade", s.grade},
               {"grade_rule", s.gradeRule},
               {"qc", s.qc}};
  return side;
}

// Left minus right and left / right, when both sides have a measured tendon.
json LeftRightJson(const SideAnalysis& l, const SideAnalysis& r) {
  if (!l.tendonFound || !r.tendonFound) return nullptr;
  auto pair = [](double a, double b) {
    return json{{"left_minus_right", a - b}, {"left_over_right", b != 0 ? json(a / b) : json(nullptr)}};
  };
  return {{"thickness_mm", pair(l.maximum.thicknessMm, r.maximum.thicknessMm)},
          {"width_mm", pair(l.maximum.widthMm, r.maximum.widthMm)},
          {"csa_mm2", pair(l.maximum.csaMm2, r.maximum.csaMm2)},
          {"volume_mm3", pair(l.volumeMm3, r.volumeMm3)},
          {"signal_ratio", pair(l.signalRatio, r.signalRatio)},
          {"peritendinous_oedema_mm3", pair(l.peritendinousOedemaMm3, r.peritendinousOedemaMm3)},
          {"marrow_oedema_mm3", pair(l.marrowOedemaMm3, r.marrowOedemaMm3)}};
}

}  // namespace

double TipRotationDeg(const std::array<double, 3>& leftTip, const std::array<double, 3>& rightTip) {
  return std::atan2(std::fabs(leftTip[1] - rightTip[1]), std::fabs(leftTip[0] - rightTip[0])) *
         180.0 / M_PI;
}

std::string TipRotationWarning(const std::array<double, 3>& leftTip,
                               const std::array<double, 3>& rightTip, double maxDeg) {
  const double dy = std::fabs(leftTip[1] - rightTip[1]), deg = TipRotationDeg(leftTip, rightTip);
  if (!(deg > maxDeg)) return "";
  std::ostringstream s;
  s << "the two tuberosity tips lie " << std::lround(dy) << " mm apart front to back, their line "
    << std::lround(deg) << " degrees from left-right (more than " << maxDeg
    << "): a pelvis that turned in the scanner, or a misplaced tip; check both tips on the key "
       "images before using the measurements";
  return s.str();
}

namespace {

// Developer aid (docs/accuracy.md): with ISCHIA_DEBUG_IMAGES=1 the images stages 3-6 start
// from are written to OUT_DIR/debug/, with their exact geometry (NIfTI keeps it in single
// precision), so that `ischia-replay` can run those stages again without reading and
// preprocessing the study.
void WriteAnalysisInput(const HamstringAnalysisInput& input, const fs::path& dir) {
  // Uncompressed: noisy floating-point images hardly compress, and zlib would take seconds.
  fs::create_directories(dir);
  WriteNifti(input.fluid, dir / "fluid.nii");
  WriteNifti(input.body, dir / "body.nii");
  if (input.t1) WriteNifti(input.t1, dir / "t1.nii");
  if (input.t1FieldOfView) WriteNifti(input.t1FieldOfView, dir / "t1_fov.nii");
  const FloatImage& f = *input.fluid;
  json geometry = {{"origin", json::array()}, {"spacing", json::array()}, {"direction", json::array()}};
  for (int a = 0; a < 3; ++a) {
    geometry["origin"].push_back(f.GetOrigin()[a]);
    geometry["spacing"].push_back(f.GetSpacing()[a]);
    for (int b = 0; b < 3; ++b) geometry["direction"].push_back(f.GetDirection()[a][b]);
  }
  WriteFileAtomically(dir / "geometry.json", geometry.dump(1) + "\n");
}

// Stages 3-6 on the images in the axial fluid-sensitive grid; writes OUT_DIR/labels.nii.gz
// (atomically) and fills the sides, the left-right comparison and the analysis QC of `result`.
HamstringAnalysisResult AnalyseInput(const HamstringAnalysisInput& input, const RunConfig& config,
                                     const fs::path& outDir, json& result) {
  const HamstringAnalysisResult r = AnalyseHamstrings(input, config.analysis);
  // The label map first, result.json last: a run killed in between leaves no result.json.
  const fs::path tmp = outDir / ("labels.partial-" + std::to_string(::getpid()) + ".nii.gz");
  WriteNifti(r.labels.GetPointer(), tmp);
  fs::rename(tmp, outDir / "labels.nii.gz");
  result["sides"] = {{"left", SideJson(r.left)}, {"right", SideJson(r.right)}};
  result["left_right"] = LeftRightJson(r.left, r.right);
  result["analysis_qc"] = {{"midline_x_mm", r.midlineXmm},
                           {"body_scale", r.bodyScale},
                           {"fluid_level", r.fluidLevel},
                           {"muscle_fluid_level", r.muscleFluidLevel}};
  if (!r.left.found && !r.right.found) {
    result["warnings"].push_back("neither ischial tuberosity was found: " + r.left.reason);
  }
  if (r.left.found && r.right.found) {
    result["analysis_qc"]["tip_rotation_deg"] =
        TipRotationDeg(r.left.tuberosityTipLps, r.right.tuberosityTipLps);
    const std::string w = TipRotationWarning(r.left.tuberosityTipLps, r.right.tuberosityTipLps,
                                             config.quality.tipRotationWarningDeg);
    if (!w.empty()) result["warnings"].push_back(w);
  }
  return r;
}

// Stages 3-6 on the prepared series (see AnalyseInput).
HamstringAnalysisResult AnalyseSides(const PreparedStudy& study, const RunConfig& config, const fs::path& outDir,
                  json& result) {
  const PreparedSeries& fluid = study.series.front();
  const PreparedSeries* t1 = nullptr;
  for (const PreparedSeries& p : study.series)
    if (p.role == "axial_t1") t1 = &p;
  HamstringAnalysisInput input;
  input.fluid = fluid.standardised.GetPointer();
  input.body = fluid.body.GetPointer();
  if (t1) {
    input.t1 = t1->standardised.GetPointer();
    input.t1FieldOfView = t1->fieldOfView.GetPointer();
  }
  if (const char* debug = std::getenv("ISCHIA_DEBUG_IMAGES"); debug && *debug == '1') {
    WriteAnalysisInput(input, outDir / "debug");
  }
  return AnalyseInput(input, config, outDir, result);
}

SideOverlay ToOverlay(const SideAnalysis& s) {
  SideOverlay o;
  o.side = s.side;
  o.found = s.found;
  o.reason = s.reason;
  o.tipLps = s.tuberosityTipLps;
  o.footprintLps = s.footprintLps;
  o.tendonFound = s.tendonFound;
  for (const TendonSectionMeasure& m : s.profile) {
    o.profile.push_back({m.distanceMm, m.zMm, m.thicknessMm, m.widthMm, m.csaMm2,
                         m.thicknessCaliperLps, m.widthCaliperLps});
  }
  o.tearType = s.tear.type;
  o.retractionMm = s.tear.retractionMm;
  o.grade = s.grade;
  return o;
}

// The render stage: meshes, 3D renders and key images, listed in result["outputs"]. Never
// fails the run: problems become warnings (the numbers are already in `result`).
void WriteVisuals(const PreparedStudy& study, const HamstringAnalysisResult& r,
                  const RunOptions& options, json& result) {
  json& out = result["outputs"];
  out["labels"] = "labels.nii.gz";
  out["render"] = options.render;
  try {
    const PreparedSeries& fluid = study.series.front();
    StudyVisualsInput in;
    in.fluid = fluid.standardised.GetPointer();
    in.body = fluid.body.GetPointer();
    in.labels = r.labels.GetPointer();
    in.midlineXmm = r.midlineXmm;
    in.fluidName = fluid.chosen->stack.seriesDescription.empty()
                       ? std::string("fluid-sensitive")
                       : fluid.chosen->stack.seriesDescription;
    for (const PreparedSeries& p : study.series) {
      if (p.role != "axial_t1") continue;
      in.anatomy = p.standardised.GetPointer();
      in.anatomyName = p.chosen->stack.seriesDescription.empty() ? std::string("T1")
                                                                  : p.chosen->stack.seriesDescription;
    }
    in.left = ToOverlay(r.left);
    in.right = ToOverlay(r.right);
    StudyVisualsOptions vo;
    vo.render = options.render;
    StudyVisualsOutput v = WriteStudyVisuals(in, options.outDir, vo);
    out["images"] = v.images;
    out["meshes"] = v.meshes;
    out["skipped_structures"] = v.skipped;
    out["warnings"] = v.warnings;
    out["display"] = v.display;
    out["timings_s"] = v.timingsS;
  } catch (const std::exception& e) {
    out["warnings"].push_back(std::string("visual outputs failed: ") + e.what());
  }
  for (const auto& w : out["warnings"]) result["warnings"].push_back(w);
}

}  // namespace

int RunStudyAnalysis(const RunOptions& options, json* resultOut) {
  if (!fs::exists(options.studyDir)) {
    throw InputError("study folder " + options.studyDir.string() + " does not exist");
  }
  RunConfig config;
  if (options.configPath) {
    try {
      config = LoadRunConfig(*options.configPath);
    } catch (const std::exception& e) {
      throw InputError(e.what());
    }
  }
  std::error_code ec;
  fs::create_directories(options.outDir, ec);
  if (ec || !fs::is_directory(options.outDir)) {
    throw InputError("cannot create output folder " + options.outDir.string() +
                     (ec ? ": " + ec.message() : std::string()));
  }
  // Stale outputs of an earlier run must not pass for this run's: result.json is written last.
  fs::remove(options.outDir / "result.json", ec);
  fs::remove(options.outDir / "labels.nii.gz", ec);
  fs::remove(options.outDir / "report.html", ec);
  fs::remove(options.outDir / "report.pdf", ec);
  for (const char* dir : {"meshes", "renders", "key_images"}) fs::remove_all(options.outDir / dir, ec);
  const int threads = ConfigureThreads(options.threads);

  StageTimes times;
  json result = {{"schema", "ischia.result/1"},
                 {"status", "failed"},
                 {"error", nullptr},
                 {"study", json::object()},
                 {"sides", NotFoundSides("not analysed")},
                 {"ischia_version", kVersion},
                 {"threads", threads},
                 {"config", RunConfigToJson(config)},
                 {"warnings", json::array()},
                 {"outputs",
                  {{"images", json::array()}, {"meshes", json::array()}, {"warnings", json::array()}}}};
  int exitCode = kExitProcessingFailure;
  std::optional<InputError> inputError;
  const auto totalStart = std::chrono::steady_clock::now();

  try {
    std::vector<Study> studies =
        times.Time("scan", [&] { return BuildStudies(ScanDicomFolder(options.studyDir).frames); });
    if (studies.empty()) {
      throw InputError("no readable DICOM images under " + options.studyDir.string());
    }
    // One study per run: the first that holds a usable axial fluid-sensitive series.
    const Study* study = &studies.front();
    for (const Study& s : studies) {
      bool hasFluid = false;
      for (const ImageStack& st : s.stacks) {
        hasFluid |= st.role == SeriesRole::AxialFluidSensitive && IsReadableAsVolume(st);
      }
      if (hasFluid) {
        study = &s;
        break;
      }
    }
    if (studies.size() > 1) {
      result["warnings"].push_back("the folder holds " + std::to_string(studies.size()) +
                                   " studies; analysed " + study->studyInstanceUid);
    }
    json& js = result["study"];
    js["study_instance_uid"] = study->studyInstanceUid;
    js["patient_name"] = study->patientName;
    js["patient_id"] = study->patientId;
    js["patient_birth_date"] = study->patientBirthDate;
    js["patient_sex"] = study->patientSex;
    js["study_date"] = study->studyDate;
    js["study_time"] = study->studyTime;
    js["accession_number"] = study->accessionNumber;
    js["study_description"] = study->studyDescription;
    js["institution_name"] = study->institutionName;
    js["study_dir"] = fs::absolute(options.studyDir).lexically_normal().string();
    // Also relative to the output folder: still right when both move together (ischia demo).
    js["study_dir_from_output"] = fs::absolute(options.studyDir)
                                      .lexically_normal()
                                      .lexically_relative(fs::absolute(options.outDir).lexically_normal())
                                      .string();
    js["series"] = json::array();
    for (const ImageStack& s : study->stacks) js["series"].push_back(SeriesJson(s));

    // Stage 1: series and common space.
    const SeriesSelection sel = times.Time("select_series", [&] { return SelectSeries(*study); });
    json used = json::object();
    auto useJson = [](const ChosenSeries& c) {
      return json{{"series_instance_uid", c.stack.seriesInstanceUid},
                  {"series_number", c.stack.seriesNumber},
                  {"description", c.stack.seriesDescription},
                  {"split_label", c.stack.splitLabel},
                  {"reason", c.reason}};
    };
    used["axial_fluid_sensitive"] = useJson(sel.axialFluidSensitive);
    used["axial_t1"] =
        sel.axialT1 ? useJson(*sel.axialT1) : json{{"used", false}, {"reason", sel.axialT1Absent}};
    used["coronal_fluid_sensitive"] =
        sel.coronalFluidSensitive
            ? useJson(*sel.coronalFluidSensitive)
            : json{{"used", false}, {"reason", sel.coronalFluidSensitiveAbsent}};
    js["series_used"] = used;

    PreparedStudy prepared;
    prepared.series.push_back({"axial_fluid_sensitive", &sel.axialFluidSensitive});
    if (sel.axialT1) prepared.series.push_back({"axial_t1", &*sel.axialT1});
    if (sel.coronalFluidSensitive) {
      prepared.series.push_back({"coronal_fluid_sensitive", &*sel.coronalFluidSensitive});
    }
    times.Time("read", [&] {
      VolumeReadOptions readOptions;
      readOptions.decodeProcesses = threads;  // files decoded side by side, one process per thread
      for (std::size_t i = 0; i < prepared.series.size(); ++i) {
        PreparedSeries& p = prepared.series[i];
        try {
          p.native = ReadStackVolume(p.chosen->stack, readOptions);
        } catch (const std::exception& e) {
          if (i == 0) {
            result["error"] = {
                {"code", "unreadable_series"},
                {"message", std::string("axial fluid-sensitive series: ") + e.what()}};
            throw InputError(std::string("reading the axial fluid-sensitive series: ") + e.what());
          }
          used[p.role] = {{"used", false}, {"reason", std::string("unreadable: ") + e.what()}};
          result["warnings"].push_back(p.role + " series dropped: " + e.what());
        }
      }
      js["series_used"] = used;
      prepared.series.erase(std::remove_if(prepared.series.begin(), prepared.series.end(),
                                           [](const PreparedSeries& p) { return !p.native; }),
                            prepared.series.end());
    });

    // Stage 2: each series in its own grid (N4 fits best on native voxels), then into the
    // axial fluid-sensitive grid with an identity transform (same frame of reference).
    // The T1 series' body and muscle come first: its muscle (easy to tell from fat on T1) is
    // the reference tissue of the fluid-sensitive series, where suppressed fat can look like
    // muscle.
    // With two or more threads the T1 series' steps run beside the other series' (each N4 fit
    // is single-threaded), in three rounds: the body masks; the T1 series' N4, standardisation
    // and muscle beside the others' T1 body and N4; the T1 series' image quality beside the
    // others' standardisation (which needs the T1 muscle) and image quality. The same results,
    // sooner. "preprocess" is the stage's wall time, "preprocess_<role>" one series' steps.
    json qc = json::object();
    PreparedSeries* t1 = nullptr;
    std::vector<PreparedSeries*> others;
    for (PreparedSeries& p : prepared.series) {
      if (p.role == "axial_t1") {
        t1 = &p;
      } else {
        others.push_back(&p);
      }
    }
    times.Time("preprocess", [&] {
      const bool sideBySide = threads >= 2 && t1 && !others.empty();
      auto inRound = [&](const std::function<void()>& forT1, const std::function<void()>& forOthers) {
        if (!sideBySide) {
          forT1();
          forOthers();
          return;
        }
        std::future<void> beside = std::async(std::launch::async, forOthers);
        try {
          forT1();
        } catch (...) {
          beside.wait();
          throw;
        }
        beside.get();
      };
      inRound([&] { if (t1) ComputeBody(*t1, config); },
              [&] { for (PreparedSeries* p : others) ComputeBody(*p, config); });
      MaskImage::Pointer t1Muscle;
      inRound(
          [&] {
            if (!t1) return;
            PreprocessBias(*t1, config);
            PreprocessStandardise(*t1, config, nullptr);
            t1Muscle = MuscleMaskFromT1(*t1->corrected, *t1->nativeBody, t1->reference);
          },
          [&] {
            for (PreparedSeries* p : others) {
              if (t1) AddT1Body(*p, *ResampleMaskIntoGrid(*t1->nativeBody, *p->native));
              PreprocessBias(*p, config);
            }
          });
      inRound([&] { if (t1) PreprocessQuality(*t1, config); },
              [&] {
                for (PreparedSeries* p : others) {
                  MaskImage::Pointer muscle;
                  if (t1 && t1->reference.method == "t1_peaks") {
                    muscle = ResampleMaskIntoGrid(*t1Muscle, *p->native);
                  }
                  PreprocessStandardise(*p, config, muscle.GetPointer());
                  PreprocessQuality(*p, config);
                }
              });
    });
    for (const PreparedSeries& p : prepared.series) {
      times.Set("preprocess_" + p.role, p.steps.Total());
    }
    times.Time("resample", [&] {
      const FloatImage& axial = *prepared.series.front().native;
      for (PreparedSeries& p : prepared.series) {
        if (&p == &prepared.series.front()) {
          p.body = p.nativeBody;
          p.fieldOfView = nullptr;
          p.qc["fraction_of_axial_grid_covered"] = 1.0;
        } else {
          p.standardised = ResampleIntoGrid(*p.standardised, axial);
          p.body = ResampleMaskIntoGrid(*p.nativeBody, axial);
          p.fieldOfView = FieldOfViewInGrid(*p.native, axial);
          std::size_t covered = 0;
          const std::size_t n = p.fieldOfView->GetLargestPossibleRegion().GetNumberOfPixels();
          const std::uint8_t* f = p.fieldOfView->GetBufferPointer();
          for (std::size_t i = 0; i < n; ++i) covered += f[i] != 0;
          p.qc["fraction_of_axial_grid_covered"] = static_cast<double>(covered) / n;
        }
        qc[p.role] = p.qc;
      }
    });
    result["preprocessing"] = qc;
    result["image_quality"] = ImageQualitySummary(qc, config.quality);

    // Stages 3-6.
    const HamstringAnalysisResult analysis = times.Time(
        "analyse_sides", [&] { return AnalyseSides(prepared, config, options.outDir, result); });
    times.Time("render", [&] { WriteVisuals(prepared, analysis, options, result); });
    result["status"] = "ok";
    exitCode = kExitOk;
  } catch (const AnalysisError& e) {
    result["error"] = {{"code", e.code}, {"message", e.what()}};
    result["sides"] = NotFoundSides(std::string("study not analysed: ") + e.what());
  } catch (const InputError& e) {
    if (result["error"].is_null()) throw;  // nothing worth a result.json: exit 2
    inputError = e;
    result["sides"] = NotFoundSides(std::string("study not analysed: ") + e.what());
  } catch (const std::exception& e) {
    result["error"] = {{"code", "internal_error"}, {"message", e.what()}};
    result["sides"] = NotFoundSides(std::string("study not analysed: ") + e.what());
  }
  // The report (report.pdf, report.html) from the in-memory result, before result.json.
  result["timings_s"] = times.ToJson();
  times.Time("report", [&] {
    ReportOptions report;
    report.writePdf = config.report.pdf && !options.noPdf;
    report.pdfTimeoutS = config.report.pdfTimeoutS;
    const ReportOutcome outcome = WriteReport(result, options.outDir, report);
    result["report"] = outcome.ToJson();
    for (const std::string& w : outcome.warnings) result["warnings"].push_back("report: " + w);
  });
  json timings = times.ToJson();
  timings["total"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - totalStart).count();
  result["timings_s"] = timings;
  WriteFileAtomically(options.outDir / "result.json",
                      result.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  if (resultOut) *resultOut = result;
  if (inputError) throw *inputError;
  return exitCode;
}

int ReplayAnalysis(const fs::path& debugDir, const fs::path& outDir,
                   const std::optional<fs::path>& configPath) {
  const RunConfig config = configPath ? LoadRunConfig(*configPath) : RunConfig{};
  std::ifstream geometryFile(debugDir / "geometry.json");
  if (!geometryFile) throw std::runtime_error("cannot read " + (debugDir / "geometry.json").string());
  const json geometry = json::parse(geometryFile);
  auto file = [&](const std::string& name) {  // NAME.nii, or NAME.nii.gz
    const fs::path plain = debugDir / (name + ".nii");
    return fs::exists(plain) ? plain : debugDir / (name + ".nii.gz");
  };
  FloatImage::Pointer fluid = ReadFloatNifti(file("fluid"));
  MaskImage::Pointer body = ReadMaskNifti(file("body"));
  FloatImage::Pointer t1;
  MaskImage::Pointer t1Fov;
  if (fs::exists(file("t1"))) t1 = ReadFloatNifti(file("t1"));
  if (fs::exists(file("t1_fov"))) t1Fov = ReadMaskNifti(file("t1_fov"));
  // The grid exactly as the run had it.
  FloatImage::PointType origin;
  FloatImage::SpacingType spacing;
  FloatImage::DirectionType direction;
  for (unsigned a = 0; a < 3; ++a) {
    origin[a] = geometry.at("origin").at(a).get<double>();
    spacing[a] = geometry.at("spacing").at(a).get<double>();
    for (unsigned b = 0; b < 3; ++b) direction[a][b] = geometry.at("direction").at(3 * a + b).get<double>();
  }
  auto place = [&](itk::ImageBase<3>* image) {
    if (!image) return;
    image->SetOrigin(origin), image->SetSpacing(spacing), image->SetDirection(direction);
  };
  place(fluid), place(body), place(t1), place(t1Fov);
  HamstringAnalysisInput input;
  input.fluid = fluid.GetPointer();
  input.body = body.GetPointer();
  input.t1 = t1.GetPointer();
  input.t1FieldOfView = t1Fov.GetPointer();
  fs::create_directories(outDir);
  json result = {{"schema", "ischia.replay/1"}, {"debug_dir", debugDir.string()},
                 {"config", RunConfigToJson(config)}};
  AnalyseInput(input, config, outDir, result);
  WriteFileAtomically(outDir / "result.json",
                      result.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  return 0;
}

}  // namespace ischia
