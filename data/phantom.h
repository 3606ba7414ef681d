#pragma once
// Synthetic pelvis MRI studies with ground truth ("ischia phantom").
//
// The anatomy is built from analytic shapes in DICOM patient coordinates (LPS, mm) with the
// seed choosing sizes, positions and the protocol; each series is simulated from tissue
// T1/T2/PD and the sequence timing, with partial volume, a coil bias field, k-space
// truncation and Rician noise, and written as MR Image Storage DICOM. The ground truth
// (truth/truth.json and truth/labels.nii.gz) never enters the DICOM files.
//
// Tendon measurements use the definitions the analysis uses: on axial planes (constant
// patient z), the tendon cross-section includes any intratendinous cleft (the "envelope");
// thickness is its extent along the minor principal axis, width along the major principal
// axis, CSA its area. Levels are distances in mm caudal to the footprint.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ischia {

enum class PhantomCase { Normal, Tendinopathy, PartialTear, CompleteTear };
const char* ToString(PhantomCase c);  // "normal", "tendinopathy", "partial_tear", "complete_tear"
// Parses the names above; throws std::invalid_argument naming the accepted values.
PhantomCase ParsePhantomCase(const std::string& name);

enum class PhantomSeries { AxialT1, AxialFluidSensitive, CoronalStir, Localizer };
const char* ToString(PhantomSeries s);  // "t1", "pdfs", "stir", "localizer"
// Parses the names above; throws std::invalid_argument naming the accepted values.
PhantomSeries ParsePhantomSeries(const std::string& name);

struct PhantomSideOptions {
  std::optional<PhantomCase> pathology;  // empty: drawn from the seed
  std::optional<double> retractionMm;    // complete tear only; empty: drawn (10-60 mm)
};

struct PhantomOptions {
  std::uint64_t seed = 1;
  PhantomSideOptions left, right;
  // Series written; all four when empty. The label map always uses the axial
  // fluid-sensitive geometry, written or not.
  std::vector<PhantomSeries> series;
  // > 1 coarsens every in-plane grid (spacing x scale, matrix / scale) for fast tests; the
  // written spacing is then outside the clinical 0.4-0.9 mm range.
  double inPlaneScale = 1.0;
  // Partial volume: sub-samples per pixel edge on the central sub-plane of each slice (the
  // two outer sub-planes across the slice thickness use half as many; 5 sub-planes for
  // slices thicker than 5.5 mm). 1 is faster and still smooth after the k-space blur.
  int supersampling = 2;
};

// One tendon cross-section on an axial plane.
struct TendonSection {
  double distanceMm = 0;  // caudal to the footprint
  double zMm = 0;         // patient z of the plane
  double csaMm2 = 0, thicknessMm = 0, widthMm = 0;
};

struct PhantomSideTruth {
  std::string side;  // "left" / "right"
  PhantomCase pathology = PhantomCase::Normal;
  std::array<double, 3> tuberosityTipLps{};  // lowest point of the ischial tuberosity
  std::array<double, 3> footprintLps{};      // centre of the tendon origin on the tuberosity
  std::array<double, 3> sciaticNerveLps{};   // nerve centre at the level of the tip
  double tendonLengthMm = 0;                 // footprint to musculotendinous blend
  // Sections every 1 mm from the footprint to 50 mm distal, the maxima over them and the
  // values at 0, 10, 20, 30 mm.
  std::vector<TendonSection> profile;
  TendonSection maximum;  // each figure is its own maximum (not one level)
  std::vector<TendonSection> atLevels;
  double volumeMm3 = 0;  // integral of the CSA from the footprint to volumeLengthMm
  double volumeLengthMm = 50;
  // Pathology.
  std::string tearType = "none";    // none / partial / complete
  double retractionMm = 0;          // complete: along the course, footprint to stump end
  double gapLengthMm = 0;           // complete: fluid gap length along the course
  double partialExtentPercent = 0;  // partial: share of the thickness replaced by fluid
  double partialLengthMm = 0;       // partial: cleft length along the course
  bool intrasubstanceSignal = false, peritendinousOedema = false, marrowOedema = false;
};

struct PhantomSeriesTruth {
  PhantomSeries kind = PhantomSeries::AxialT1;
  std::string seriesInstanceUid, seriesDescription, folder;  // folder relative to the study
  int seriesNumber = 0;
  bool written = true;
  // Volume geometry (absent for the localizer): k increases along row x column.
  std::array<double, 3> origin{}, spacing{};
  std::array<std::array<double, 3>, 3> direction{};  // columns: row, column, normal
  std::array<unsigned, 3> size{};
  double sliceThicknessMm = 0;
};

struct PhantomStudyTruth {
  std::uint64_t seed = 0;
  std::string studyInstanceUid, frameOfReferenceUid, patientId;
  std::vector<PhantomSeriesTruth> series;
  PhantomSideTruth left, right;
  std::filesystem::path truthJson, labelMap;  // absolute paths of the written truth files
  std::string json;                           // content of truth.json
  double seconds = 0;                         // wall time of the generation
};

// Writes one study under outDir (created if missing; existing files of the same names are
// replaced): DICOM files in nested folders, outDir/truth/truth.json and labels.nii.gz.
// Deterministic for options.seed (same bytes). Throws std::invalid_argument for bad options
// and std::runtime_error (with the path) when writing fails.
PhantomStudyTruth GeneratePhantomStudy(const PhantomOptions& options,
                                       const std::filesystem::path& outDir);

// Writes `count` studies as outDir/study-NNN (seeds base.seed, base.seed+1, ...). The first
// four cover every case on each side; later ones draw the cases from their seed. The
// per-side pathology of `base` is ignored. Also writes outDir/suite.json listing them.
// Throws std::invalid_argument if count < 4.
std::vector<PhantomStudyTruth> GeneratePhantomSuite(int count, const PhantomOptions& base,
                                                    const std::filesystem::path& outDir);

}  // namespace ischia
