#pragma once
// `ischia batch`: many studies, each analysed by `ischia run` in a child process of its own.
//
// Discovery reads DICOM headers only (data/dicom_ingest.h): a study is the set of image files
// of one StudyInstanceUID, its folder the deepest folder holding all of them. Studies are
// ordered by their key (a hash of the StudyInstanceUID), so the order, and with it every shard,
// is the same on every machine. Outputs go to OUT/studies/<key>/ (result.json, labels.nii.gz,
// run.log, batch.json): no patient identifier ever appears in a file or folder name.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dicom_ingest.h"

namespace ischia {

// One study to analyse, from discovery.
struct StudyInput {
  std::string key;  // first 20 hex digits of SHA-256 of the StudyInstanceUID
  std::string studyInstanceUid, patientId, patientName, studyDate, accessionNumber, description;
  std::filesystem::path folder;  // deepest folder holding every image file of the study
  // Images of other studies under `folder` too: the run gets a folder of links to this
  // study's files only.
  bool folderShared = false;
  std::vector<std::string> files;  // image files, absolute, sorted, unique
  std::uint64_t bytes = 0;
  std::string fingerprint;  // SHA-256 over (path relative to folder, size, mtime) of every file
  std::uint64_t voxels = 0;  // voxels of the series the analysis would read
  std::uint64_t estimatedMemoryBytes = 0;
  int manifestRow = -1;  // 0-based data row of the manifest it came from, if any
};

// An input that cannot become a study: an unreadable file, a manifest row naming a missing
// folder, a folder without DICOM images, ... Recorded as a failure with its reason.
struct InputProblem {
  std::string path;
  std::string code;    // unreadable_file, missing_folder, no_dicom_images, study_not_found, ...
  std::string reason;
};

struct Discovery {
  std::vector<StudyInput> studies;       // ordered by key
  std::vector<InputProblem> problems;    // inputs that failed before any analysis
  std::vector<SkippedFile> nonImage;     // DICOM objects without an image (SR, DICOMDIR, ...)
  std::size_t filesExamined = 0, notDicom = 0;
};

// Memory one `ischia run` of these series needs at its peak with `threads` threads (0: not
// known yet, the larger figure); calibrated on generated studies, see docs/batch.md.
std::uint64_t EstimateRunMemoryBytes(std::uint64_t voxels, int threads = 0);

// Headers-only discovery of every study under `root`. Throws InputError if root is missing.
Discovery DiscoverStudies(const std::filesystem::path& root);

// One data row of a manifest: a study folder and, optionally, the StudyInstanceUID to take
// from it (otherwise every study in the folder).
struct ManifestRow {
  std::filesystem::path folder;
  std::string studyInstanceUid;
  int line = 0;  // 1-based line in the file
};
// Reads a manifest CSV: a header naming a `study_dir` (or `path`/`folder`) column and
// optionally `study_instance_uid`, or no header and the folder in the first column. Relative
// folders are relative to the manifest's folder; blank lines and lines starting with # are
// skipped. Throws InputError naming the file and line for malformed content.
std::vector<ManifestRow> ReadManifest(const std::filesystem::path& csv);
// Discovery of the given manifest rows (each scanned on its own). A row whose folder is
// missing or holds no study becomes an InputProblem.
Discovery DiscoverManifestRows(const std::vector<ManifestRow>& rows, const std::vector<int>& rowIndices);

// Writes the plan as a manifest (index, study_key, study_dir, study_instance_uid, files,
// estimated_memory_mb), readable by ReadManifest; atomically.
void WriteManifest(const Discovery& discovery, const std::filesystem::path& csv);

// Which part of the ordered work list this process takes.
struct WorkSelection {
  int shardIndex = 0, shardCount = 1;  // --shard I/N: items with position % N == I
  std::optional<int> index;            // --index K: item K only
  std::string Label() const;           // "", "shard-1-of-4", "index-17"
};

struct BatchOptions {
  std::filesystem::path root;                   // or:
  std::optional<std::filesystem::path> manifest;
  std::filesystem::path out;
  int jobs = 0;     // studies at once; 0: from the cores (and --threads)
  int threads = 0;  // threads per study; 0: cores / jobs
  std::optional<std::filesystem::path> configPath;
  double timeoutSeconds = 3600;  // per study; 0: none
  WorkSelection selection;
  bool planOnly = false;      // discover, write OUT/manifest.csv, run nothing
  bool force = false;         // redo every study
  bool retryFailed = false;   // redo studies whose analysis failed too
  std::uint64_t memoryLimitBytes = 0;  // 0: from MemAvailable / cgroup / Slurm
  int progress = -1;          // 1 bar, 0 plain lines, -1 bar if stderr is a terminal
  std::vector<std::string> runArgs;  // extra arguments for every `ischia run`
};

// Runs the batch; returns 0 if every selected study was analysed, 1 if any failed (recorded
// with its reason), 130/143 if interrupted. Throws InputError for usage/unreadable inputs.
int RunBatch(const BatchOptions& options);

// Path of the database a batch with this selection writes (OUT/cohort.sqlite for the whole
// list, OUT/shards/<label>.sqlite for a shard or index).
std::filesystem::path BatchDatabasePath(const std::filesystem::path& out,
                                        const WorkSelection& selection);

}  // namespace ischia
