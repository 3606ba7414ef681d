#pragma once
// DICOM ingestion: find DICOM files by content under a folder, read their headers, group them
// into studies and geometrically consistent image stacks, and classify each stack's role.
// Geometry is always in DICOM patient coordinates (LPS, mm) and comes from
// ImagePositionPatient / ImageOrientationPatient / PixelSpacing, never from SliceThickness.
#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ischia {

// One 2-D image: a classic single-frame object, or one frame of a multi-frame (Enhanced) object.
struct FrameInfo {
  std::string path;
  int frameIndex = 0;        // 0-based frame inside the file
  int numberOfFrames = 1;    // frames in the file
  std::string sopClassUid, sopInstanceUid, transferSyntaxUid;
  std::string studyInstanceUid, seriesInstanceUid, frameOfReferenceUid;
  std::string patientId, patientName, studyDate, studyDescription, accessionNumber;
  std::string patientBirthDate, patientSex, studyTime, institutionName;
  std::string modality, seriesDescription, bodyPartExamined, patientPosition, manufacturer;
  int seriesNumber = 0, instanceNumber = 0, acquisitionNumber = 0, temporalPosition = 0;
  unsigned rows = 0, columns = 0;
  unsigned samplesPerPixel = 1, bitsAllocated = 16;
  std::string photometricInterpretation;

  bool hasGeometry = false;                   // IPP, IOP and PixelSpacing all present
  std::array<double, 3> position{};           // ImagePositionPatient (LPS mm)
  std::array<double, 6> orientation{};        // ImageOrientationPatient: row dir, column dir
  std::array<double, 2> pixelSpacing{1, 1};   // PixelSpacing: [row spacing, column spacing]
  double sliceThickness = 0, spacingBetweenSlices = 0;

  // Acquisition parameters (NaN-free: 0 means absent).
  double repetitionTime = 0, echoTime = 0, inversionTime = 0, flipAngle = 0;
  int echoNumber = 0;
  bool hasBValue = false;
  double bValue = 0;
  std::array<double, 3> diffusionDirection{};
  std::string scanningSequence, sequenceVariant, scanOptions, sequenceName, imageType;
  // (0018,1312) "ROW" (phase encoded along a row: index axis 0) or "COL" (along a column);
  // empty when absent. (0018,1310) frequency rows, frequency columns, phase rows, phase
  // columns: samples along the row direction are values 0 or 2, along a column 1 or 3
  // (Siemens ROW: 0\freq\phase\0); all 0 when absent.
  std::string inPlanePhaseEncodingDirection;
  std::array<double, 4> acquisitionMatrix{};

  double rescaleSlope = 1, rescaleIntercept = 0;
};

// A file that was not used, and why.
struct SkippedFile {
  std::string path;
  std::string reason;
};

struct ScanResult {
  std::vector<FrameInfo> frames;        // every image frame found
  std::vector<SkippedFile> nonImage;    // DICOM objects that hold no image (SR, RT, PDF, ...)
  std::vector<SkippedFile> unreadable;  // DICOM-looking files that could not be read
  std::size_t filesExamined = 0;
  std::size_t notDicom = 0;             // files that are not DICOM by content
};

// Walks `root` recursively (a single file is accepted too). Never throws for a bad file: it is
// recorded in `unreadable`. Throws std::runtime_error if `root` does not exist.
ScanResult ScanDicomFolder(const std::filesystem::path& root);

enum class SeriesRole {
  AxialT1,
  AxialFluidSensitive,    // PD/T2 fat-sat, STIR
  CoronalFluidSensitive,
  OtherAnatomical,        // T1/T2 without fat suppression in other planes, T2 axial, ...
  Localizer,
  DiffusionDerivedOther,
};
const char* ToString(SeriesRole role);

// One geometrically consistent set of parallel slices: what can be one volume.
struct ImageStack {
  std::string studyInstanceUid, seriesInstanceUid, frameOfReferenceUid;
  int seriesNumber = 0;
  std::string seriesDescription;
  std::string splitLabel;            // why this stack is separate within its series ("TE=80", ...)
  int orientationsInSeries = 1;      // distinct slice orientations in the whole series
  std::vector<FrameInfo> slices;     // sorted by position along the slice normal
  unsigned rows = 0, columns = 0;

  // Geometry of the stack as a volume (valid when `slices` share IOP and PixelSpacing).
  std::array<double, 3> origin{};                 // IPP of the first slice
  std::array<std::array<double, 3>, 3> direction{}; // columns: row dir, column dir, slice normal
  std::array<double, 3> spacing{1, 1, 1};          // column spacing, row spacing, slice spacing
  int missingSlices = 0;             // slices absent from an otherwise regular grid
  bool irregularSpacing = false;     // gaps that are not a multiple of the regular spacing
  std::vector<std::string> problems; // readable descriptions of anything wrong

  SeriesRole role = SeriesRole::DiffusionDerivedOther;
  std::string roleReason;

  std::size_t NumberOfSlices() const { return slices.size(); }
  // Orientation name from the slice normal: "axial", "coronal", "sagittal" (+ " oblique").
  std::string OrientationName() const;
  // Grid index along the normal of each slice (0..n-1+missing).
  std::vector<int> SliceGridIndices() const;
};

struct Study {
  std::string studyInstanceUid, patientId, patientName, studyDate, studyDescription;
  std::string patientBirthDate, patientSex, studyTime, accessionNumber, institutionName;
  std::vector<ImageStack> stacks;  // ordered by series number, then split label
};

// Groups frames into studies and stacks; splits series that cannot be one volume (orientations,
// echoes, b-values/diffusion directions, duplicate positions), sorts slices, checks spacing,
// and classifies every stack's role.
std::vector<Study> BuildStudies(const std::vector<FrameInfo>& frames);

// Role of one stack from its DICOM tags, with the reason in `reason`.
SeriesRole ClassifyStack(const ImageStack& stack, std::string& reason);

}  // namespace ischia
