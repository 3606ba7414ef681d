#pragma once
// The cohort database (SQLite, schema "ischia.cohort" version kCohortSchemaVersion): studies,
// sides, measurements, failures, runs (software version, settings) and parameters. Patient
// identifiers are stored here and nowhere else. Only one process writes a database file: the
// batch parent (or `ischia merge`); every write is one transaction.
#include <sqlite3.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace ischia {

inline constexpr int kCohortSchemaVersion = 1;

// What the batch knows about one study after its run (or after skipping it on resume).
struct StudyRecord {
  std::string key, studyInstanceUid, patientId, patientName, studyDate, accessionNumber,
      description;
  std::string studyDir;  // the folder analysed (or the manifest row's folder)
  int files = 0;
  std::string fingerprint;
  // ok, failed (analysis ran, study not analysable), input_error (exit 2), crashed, timeout,
  // launch_failed.
  std::string status;
  int exitCode = -1;
  std::string errorCode, errorMessage;
  std::string softwareVersion, buildId, configHash;
  int threads = 0;
  std::string startedAt, finishedAt;  // ISO 8601 UTC
  double seconds = 0;
  double peakMemoryMb = 0, estimatedMemoryMb = 0;
  std::string outputDir;  // relative to OUT: studies/<key>
  std::string runId;
  bool reused = false;    // skipped on resume: outputs of an earlier run
};

struct RunRecord {
  std::string runId, startedAt, finishedAt, softwareVersion, buildId, configHash, host,
      command, selection;
  int jobs = 0, threads = 0, planned = 0, ran = 0, reused = 0, failed = 0;
  std::string state = "running";  // running, complete, interrupted
};

class CohortDb {
 public:
  // Opens (creating the schema if new) a cohort database; throws std::runtime_error naming
  // the file if it cannot be opened, is not a database, or has another schema version.
  explicit CohortDb(const std::filesystem::path& path);
  ~CohortDb();
  CohortDb(const CohortDb&) = delete;
  CohortDb& operator=(const CohortDb&) = delete;

  sqlite3* handle() const { return db_; }
  const std::filesystem::path& path() const { return path_; }

  void SaveRun(const RunRecord& run);
  void SaveParameters(const std::string& configHash, const nlohmann::json& config);
  // Replaces the study's rows (studies, sides, measurements, failures) in one transaction.
  // `result` is its result.json (null if none was written).
  void SaveStudy(const StudyRecord& study, const nlohmann::json& result);
  // Replaces the input problems recorded under `scope` (the root or manifest analysed) with
  // these: failures without a study (unreadable files, missing folders) and skipped non-image
  // objects.
  void SaveInputProblems(const std::string& scope, const std::string& runId,
                         const std::vector<std::tuple<std::string, std::string, std::string>>&
                             failures /* path, code, reason */,
                         const std::vector<std::pair<std::string, std::string>>& skipped);

  void Exec(const std::string& sql);
  // Runs a query; each row's values as text (nullopt for NULL).
  using Row = std::vector<std::optional<std::string>>;
  std::vector<Row> Query(const std::string& sql);

 private:
  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
};

// Writes the CSV export (one row per study and side, no patient identifiers) atomically.
void ExportCohortCsv(const std::filesystem::path& db, const std::filesystem::path& csv);

// Combines shard databases into `out` (replaced atomically): for a study present in several,
// the row finished last wins. Returns the number of studies. Throws naming a bad input file.
int MergeCohortDatabases(const std::vector<std::filesystem::path>& inputs,
                         const std::filesystem::path& out);

// Current time as ISO 8601 UTC with milliseconds.
std::string NowIsoUtc();

}  // namespace ischia
