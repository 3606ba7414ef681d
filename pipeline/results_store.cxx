#include "results_store.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "atomic_output.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Schema version 1. Every table names its columns; merge copies with SELECT *, which is safe
// because it refuses inputs of another version.
const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT, state TEXT,
  software_version TEXT, build_id TEXT, config_hash TEXT, host TEXT, command TEXT,
  selection TEXT, jobs INTEGER, threads INTEGER, studies_planned INTEGER,
  studies_ran INTEGER, studies_reused INTEGER, studies_failed INTEGER);
CREATE TABLE IF NOT EXISTS parameters (config_hash TEXT PRIMARY KEY, config_json TEXT);
CREATE TABLE IF NOT EXISTS studies (
  study_key TEXT PRIMARY KEY, study_instance_uid TEXT, patient_id TEXT, patient_name TEXT,
  study_date TEXT, accession_number TEXT, study_description TEXT, study_dir TEXT,
  files INTEGER, input_fingerprint TEXT, status TEXT NOT NULL, exit_code INTEGER,
  error_code TEXT, error_message TEXT, software_version TEXT, build_id TEXT,
  config_hash TEXT, threads INTEGER, started_at TEXT, finished_at TEXT, seconds REAL,
  peak_memory_mb REAL, estimated_memory_mb REAL, output_dir TEXT, run_id TEXT,
  result_json TEXT);
CREATE TABLE IF NOT EXISTS sides (
  study_key TEXT NOT NULL, side TEXT NOT NULL, found INTEGER, reason TEXT,
  tendon_found INTEGER, tuberosity_x_mm REAL, tuberosity_y_mm REAL, tuberosity_z_mm REAL,
  thickness_mm REAL, width_mm REAL, csa_mm2 REAL, volume_mm3 REAL, signal_ratio REAL,
  peritendinous_oedema_mm3 REAL, marrow_oedema_mm3 REAL, tear_type TEXT,
  retraction_mm REAL, tear_gap_mm REAL, tear_extent_percent REAL, tear_length_mm REAL,
  grade TEXT, grade_rule TEXT,
  PRIMARY KEY (study_key, side));
CREATE TABLE IF NOT EXISTS measurements (
  study_key TEXT NOT NULL, side TEXT NOT NULL, name TEXT NOT NULL, value REAL,
  PRIMARY KEY (study_key, side, name));
CREATE TABLE IF NOT EXISTS failures (
  study_key TEXT, path TEXT, stage TEXT, code TEXT, message TEXT, scope TEXT, run_id TEXT);
CREATE INDEX IF NOT EXISTS failures_study ON failures (study_key);
CREATE TABLE IF NOT EXISTS skipped_files (
  path TEXT PRIMARY KEY, reason TEXT, scope TEXT, run_id TEXT);
)SQL";

class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK) {
      throw std::runtime_error(std::string("SQL error: ") + sqlite3_errmsg(db) + " in: " + sql);
    }
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string(v)); }
  Stmt& Bind(int i, int v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    if (std::isfinite(v)) sqlite3_bind_double(s_, i, v);
    else sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& Bind(int i, const std::optional<double>& v) {
    if (v) return Bind(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& Bind(int i, const std::optional<std::string>& v) {
    if (v) return Bind(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  Stmt& BindNull(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // Returns true while a row is available.
  bool Step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("SQL error: ") + sqlite3_errmsg(db_));
  }
  void Run() {
    Step();
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  std::string Text(int col) const {
    const auto* t = sqlite3_column_text(s_, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  }
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  double Double(int col) const { return sqlite3_column_double(s_, col); }
  int Int(int col) const { return sqlite3_column_int(s_, col); }
  int Columns() const { return sqlite3_column_count(s_); }
  std::string Name(int col) const { return sqlite3_column_name(s_, col); }
  int Type(int col) const { return sqlite3_column_type(s_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

// One transaction, or part of the caller's if one is open (CohortDb::Begin).
class Transaction {
 public:
  explicit Transaction(CohortDb& db) : db_(db), outer_(sqlite3_get_autocommit(db.handle()) == 0) {
    if (!outer_) db_.Exec("BEGIN IMMEDIATE");
  }
  void Commit() {
    if (!outer_) db_.Exec("COMMIT");
    done_ = true;
  }
  ~Transaction() {
    if (!done_ && !outer_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  CohortDb& db_;
  bool outer_ = false;
  bool done_ = false;
};

std::optional<double> Num(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::optional<std::string> Str(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

const json& Obj(const json& j, const char* key) {
  static const json kEmpty = json::object();
  if (!j.is_object()) return kEmpty;
  const auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : kEmpty;
}

std::string LevelName(const std::string& what, double distance) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s_at_%gmm", what.c_str(), distance);
  return buf;
}

// Every numeric measurement of one side of result.json, as (name, value).
std::vector<std::pair<std::string, double>> SideMeasurements(const json& side) {
  std::vector<std::pair<std::string, double>> out;
  auto add = [&](const std::string& name, const std::optional<double>& v) {
    if (v && std::isfinite(*v)) out.emplace_back(name, *v);
  };
  const json& tendon = Obj(side, "tendon");
  for (const char* k : {"thickness_mm", "width_mm", "csa_mm2", "volume_mm3", "volume_length_mm",
                        "signal_ratio"})
    add(k, Num(tendon, k));
  if (tendon.contains("at_levels") && tendon["at_levels"].is_array()) {
    for (const json& level : tendon["at_levels"]) {
      const auto d = Num(level, "distance_mm");
      if (!d) continue;
      for (const char* k : {"thickness_mm", "width_mm", "csa_mm2", "tear_area_mm2"})
        add(LevelName(k, *d), Num(level, k));
    }
  }
  const json& oedema = Obj(side, "oedema");
  add("peritendinous_oedema_mm3", Num(oedema, "peritendinous_mm3"));
  add("marrow_oedema_mm3", Num(oedema, "marrow_mm3"));
  const json& tear = Obj(side, "tear");
  for (const char* k : {"retraction_mm", "gap_mm", "extent_percent", "length_mm", "volume_mm3"})
    add(std::string("tear_") + k, Num(tear, k));
  if (side.contains("tuberosity_mm") && side["tuberosity_mm"].is_array() &&
      side["tuberosity_mm"].size() == 3) {
    const char* axis[] = {"x", "y", "z"};
    for (int i = 0; i < 3; ++i)
      if (side["tuberosity_mm"][i].is_number())
        add(std::string("tuberosity_") + axis[i] + "_mm", side["tuberosity_mm"][i].get<double>());
  }
  return out;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += "\"\"";
    else q += c;
  }
  return q + "\"";
}

}  // namespace

std::string NowIsoUtc() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
  return out;
}

CohortDb::CohortDb(const fs::path& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    const std::string why = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open database " + path.string() + ": " + why);
  }
  sqlite3_busy_timeout(db_, 30000);
  try {
    // Rollback journal (not WAL): shard databases may live on network file systems.
    Exec("PRAGMA synchronous=FULL");
    // An empty file (a database whose creation was interrupted) counts as new; anything that
    // is not SQLite fails here with "file is not a database".
    bool existed = false;
    {
      Stmt tables(db_, "SELECT COUNT(*) FROM sqlite_master");
      tables.Step();
      existed = tables.Int(0) > 0;
    }
    if (existed) {
      // Fails with "file is not a database" for anything else.
      Stmt check(db_, "SELECT value FROM meta WHERE key='schema_version'");
      if (!check.Step()) throw std::runtime_error("no schema version (not an ischia cohort database)");
      const std::string v = check.Text(0);
      if (v != std::to_string(kCohortSchemaVersion)) {
        throw std::runtime_error("schema version " + v + ", this ischia reads version " +
                                 std::to_string(kCohortSchemaVersion));
      }
    } else {
      Exec("BEGIN IMMEDIATE");
      Exec(kSchema);
      Stmt meta(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)");
      meta.Bind(1, "schema").Bind(2, "ischia.cohort").Run();
      meta.Bind(1, "schema_version").Bind(2, std::to_string(kCohortSchemaVersion)).Run();
      meta.Bind(1, "created_at").Bind(2, NowIsoUtc()).Run();
      Exec("COMMIT");
    }
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("database " + path.string() + ": " + e.what());
  }
}

CohortDb::~CohortDb() {
  if (db_) sqlite3_close(db_);
}

void CohortDb::Exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string why = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(why);
  }
}

std::vector<CohortDb::Row> CohortDb::Query(const std::string& sql) {
  Stmt q(db_, sql);
  std::vector<Row> rows;
  while (q.Step()) {
    Row r;
    for (int c = 0; c < q.Columns(); ++c) {
      if (q.IsNull(c)) r.emplace_back(std::nullopt);
      else r.emplace_back(q.Text(c));
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

void CohortDb::SaveRun(const RunRecord& r) {
  Stmt s(db_,
         "INSERT OR REPLACE INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  s.Bind(1, r.runId).Bind(2, r.startedAt).Bind(3, r.finishedAt).Bind(4, r.state);
  s.Bind(5, r.softwareVersion).Bind(6, r.buildId).Bind(7, r.configHash).Bind(8, r.host);
  s.Bind(9, r.command).Bind(10, r.selection).Bind(11, r.jobs).Bind(12, r.threads);
  s.Bind(13, r.planned).Bind(14, r.ran).Bind(15, r.reused).Bind(16, r.failed);
  s.Run();
}

void CohortDb::SaveParameters(const std::string& configHash, const json& config) {
  Stmt s(db_, "INSERT OR REPLACE INTO parameters VALUES (?, ?)");
  s.Bind(1, configHash).Bind(2, config.dump()).Run();
}

void CohortDb::SaveStudy(const StudyRecord& r, const json& result) {
  Transaction tx(*this);
  for (const char* table : {"studies", "sides", "measurements", "failures"}) {
    Stmt del(db_, std::string("DELETE FROM ") + table + " WHERE study_key = ?");
    del.Bind(1, r.key).Run();
  }
  Stmt s(db_,
         "INSERT INTO studies VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  int i = 1;
  s.Bind(i++, r.key).Bind(i++, r.studyInstanceUid).Bind(i++, r.patientId).Bind(i++, r.patientName);
  s.Bind(i++, r.studyDate).Bind(i++, r.accessionNumber).Bind(i++, r.description);
  s.Bind(i++, r.studyDir).Bind(i++, r.files).Bind(i++, r.fingerprint).Bind(i++, r.status);
  s.Bind(i++, r.exitCode);
  if (r.errorCode.empty()) s.BindNull(i++), s.BindNull(i++);
  else s.Bind(i++, r.errorCode).Bind(i++, r.errorMessage);
  s.Bind(i++, r.softwareVersion).Bind(i++, r.buildId).Bind(i++, r.configHash);
  s.Bind(i++, r.threads).Bind(i++, r.startedAt).Bind(i++, r.finishedAt).Bind(i++, r.seconds);
  if (r.peakMemoryMb > 0) s.Bind(i++, r.peakMemoryMb);
  else s.BindNull(i++);
  s.Bind(i++, r.estimatedMemoryMb).Bind(i++, r.outputDir).Bind(i++, r.runId);
  if (result.is_object()) s.Bind(i++, r.outputDir + "/result.json");
  else s.BindNull(i++);
  s.Run();

  const json& sides = Obj(result, "sides");
  Stmt side(db_, "INSERT INTO sides VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  Stmt meas(db_, "INSERT OR REPLACE INTO measurements VALUES (?,?,?,?)");
  for (const char* name : {"left", "right"}) {
    const json& j = Obj(sides, name);
    const json& tendon = Obj(j, "tendon");
    const json& oedema = Obj(j, "oedema");
    const json& tear = Obj(j, "tear");
    std::optional<double> tip[3];
    if (j.contains("tuberosity_mm") && j["tuberosity_mm"].is_array() &&
        j["tuberosity_mm"].size() == 3) {
      for (int k = 0; k < 3; ++k)
        if (j["tuberosity_mm"][k].is_number()) tip[k] = j["tuberosity_mm"][k].get<double>();
    }
    const bool found = j.value("found", false);
    const bool tendonFound = j.value("tendon_found", false);
    int c = 1;
    side.Bind(c++, r.key).Bind(c++, name);
    if (j.empty()) side.BindNull(c++);
    else side.Bind(c++, found ? 1 : 0);
    side.Bind(c++, Str(j, "reason"));
    if (j.contains("tendon_found")) side.Bind(c++, tendonFound ? 1 : 0);
    else side.BindNull(c++);
    for (auto& t : tip) side.Bind(c++, t);
    side.Bind(c++, Num(tendon, "thickness_mm")).Bind(c++, Num(tendon, "width_mm"));
    side.Bind(c++, Num(tendon, "csa_mm2")).Bind(c++, Num(tendon, "volume_mm3"));
    side.Bind(c++, Num(tendon, "signal_ratio"));
    side.Bind(c++, Num(oedema, "peritendinous_mm3")).Bind(c++, Num(oedema, "marrow_mm3"));
    side.Bind(c++, Str(tear, "type")).Bind(c++, Num(tear, "retraction_mm"));
    side.Bind(c++, Num(tear, "gap_mm")).Bind(c++, Num(tear, "extent_percent"));
    side.Bind(c++, Num(tear, "length_mm"));
    side.Bind(c++, Str(j, "grade")).Bind(c++, Str(j, "grade_rule"));
    side.Run();
    for (const auto& [m, v] : SideMeasurements(j)) {
      meas.Bind(1, r.key).Bind(2, name).Bind(3, m).Bind(4, v).Run();
    }
  }
  const json& lr = Obj(result, "left_right");
  for (const auto& [m, pair] : lr.items()) {
    for (const char* k : {"left_minus_right", "left_over_right"}) {
      if (const auto v = Num(pair, k)) {
        meas.Bind(1, r.key).Bind(2, "left_right").Bind(3, m + "_" + k).Bind(4, *v).Run();
      }
    }
  }
  if (r.status != "ok") {
    Stmt f(db_, "INSERT INTO failures VALUES (?,?,?,?,?,NULL,?)");
    const std::string stage =
        r.status == "failed" || r.status == "input_error" ? "analysis" : "process";
    f.Bind(1, r.key).Bind(2, r.studyDir).Bind(3, stage).Bind(4, r.errorCode);
    f.Bind(5, r.errorMessage).Bind(6, r.runId).Run();
  }
  tx.Commit();
}

void CohortDb::SaveInputProblems(
    const std::string& scope, const std::string& runId,
    const std::vector<std::tuple<std::string, std::string, std::string>>& failures,
    const std::vector<std::pair<std::string, std::string>>& skipped) {
  Transaction tx(*this);
  Stmt delF(db_, "DELETE FROM failures WHERE study_key IS NULL AND scope = ?");
  delF.Bind(1, scope).Run();
  Stmt delS(db_, "DELETE FROM skipped_files WHERE scope = ?");
  delS.Bind(1, scope).Run();
  Stmt f(db_, "INSERT INTO failures VALUES (NULL,?,'input',?,?,?,?)");
  for (const auto& [path, code, reason] : failures) {
    f.Bind(1, path).Bind(2, code).Bind(3, reason).Bind(4, scope).Bind(5, runId).Run();
  }
  Stmt s(db_, "INSERT OR REPLACE INTO skipped_files VALUES (?,?,?,?)");
  for (const auto& [path, reason] : skipped) {
    s.Bind(1, path).Bind(2, reason).Bind(3, scope).Bind(4, runId).Run();
  }
  tx.Commit();
}

void ExportCohortCsv(const fs::path& dbPath, const fs::path& csv) {
  CohortDb db(dbPath);
  // One row per study and side; a study without side rows (crashed, no result.json) still
  // gets its two rows, with the status and error.
  const std::string sql = R"SQL(
    WITH s(side) AS (VALUES ('left'), ('right'))
    SELECT st.study_key, s.side, st.status, st.error_code, st.error_message,
      sd.found, sd.reason, sd.tendon_found,
      sd.tuberosity_x_mm, sd.tuberosity_y_mm, sd.tuberosity_z_mm,
      sd.thickness_mm, sd.width_mm, sd.csa_mm2, sd.volume_mm3, sd.signal_ratio,
      sd.peritendinous_oedema_mm3, sd.marrow_oedema_mm3,
      sd.tear_type, sd.retraction_mm, sd.tear_gap_mm, sd.tear_extent_percent, sd.grade,
      (SELECT value FROM measurements m WHERE m.study_key = st.study_key AND m.side = s.side
         AND m.name = 'thickness_mm_at_0mm') AS thickness_mm_at_0mm,
      (SELECT value FROM measurements m WHERE m.study_key = st.study_key AND m.side = s.side
         AND m.name = 'thickness_mm_at_10mm') AS thickness_mm_at_10mm,
      (SELECT value FROM measurements m WHERE m.study_key = st.study_key AND m.side = s.side
         AND m.name = 'thickness_mm_at_20mm') AS thickness_mm_at_20mm,
      (SELECT value FROM measurements m WHERE m.study_key = st.study_key AND m.side = s.side
         AND m.name = 'thickness_mm_at_30mm') AS thickness_mm_at_30mm,
      st.seconds, st.peak_memory_mb, st.software_version, st.config_hash, st.finished_at,
      st.output_dir
    FROM studies st CROSS JOIN s
    LEFT JOIN sides sd ON sd.study_key = st.study_key AND sd.side = s.side
    ORDER BY st.study_key, s.side)SQL";
  Stmt q(db.handle(), sql);
  std::ostringstream out;
  for (int c = 0; c < q.Columns(); ++c) out << (c ? "," : "") << q.Name(c);
  out << "\n";
  while (q.Step()) {
    for (int c = 0; c < q.Columns(); ++c) {
      if (c) out << ",";
      switch (q.Type(c)) {
        case SQLITE_NULL:
          break;
        case SQLITE_INTEGER:
          out << q.Int(c);
          break;
        case SQLITE_FLOAT: {
          char buf[40];
          std::snprintf(buf, sizeof buf, "%.6g", q.Double(c));
          out << buf;
          break;
        }
        default:
          out << CsvField(q.Text(c));
      }
    }
    out << "\n";
  }
  WriteFileAtomically(csv, out.str());
}

int MergeCohortDatabases(const std::vector<fs::path>& inputs, const fs::path& out) {
  for (const fs::path& in : inputs) {
    if (!fs::is_regular_file(in)) throw std::runtime_error(in.string() + ": no such database");
    // Opening checks that it is a cohort database of this schema version.
    CohortDb check(in);
  }
  const fs::path tmp = out.string() + ".partial-" + std::to_string(::getpid());
  fs::remove(tmp);
  fs::remove(tmp.string() + "-journal");
  int studies = 0;
  try {
    {
      CohortDb db(tmp);
      db.Exec("PRAGMA synchronous=OFF");  // the file is renamed into place only when complete
      db.Exec("CREATE TEMP TABLE chosen (study_key TEXT PRIMARY KEY, src INTEGER, finished_at TEXT)");
      auto attach = [&](const fs::path& p) {
        Stmt a(db.handle(), "ATTACH DATABASE ? AS src");
        a.Bind(1, p.string()).Run();
      };
      // Pass 1: which input holds the latest row of each study.
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        attach(inputs[i]);
        db.Exec("INSERT INTO chosen SELECT study_key, " + std::to_string(i) +
                ", finished_at FROM src.studies WHERE true ON CONFLICT(study_key) DO UPDATE SET "
                "src = excluded.src, finished_at = excluded.finished_at "
                "WHERE excluded.finished_at > chosen.finished_at");
        db.Exec("DETACH DATABASE src");
      }
      // Pass 2: copy.
      for (std::size_t i = 0; i < inputs.size(); ++i) {
        attach(inputs[i]);
        db.Exec("BEGIN");
        const std::string mine =
            " WHERE study_key IN (SELECT study_key FROM chosen WHERE src = " + std::to_string(i) +
            ")";
        for (const char* t : {"studies", "sides", "measurements", "failures"}) {
          db.Exec(std::string("INSERT INTO main.") + t + " SELECT * FROM src." + t + mine);
        }
        db.Exec(
            "INSERT INTO main.failures SELECT * FROM src.failures x WHERE x.study_key IS NULL "
            "AND NOT EXISTS (SELECT 1 FROM main.failures f WHERE f.study_key IS NULL AND "
            "f.path = x.path AND f.code = x.code)");
        db.Exec("INSERT OR IGNORE INTO main.skipped_files SELECT * FROM src.skipped_files");
        db.Exec("INSERT OR IGNORE INTO main.runs SELECT * FROM src.runs");
        db.Exec("INSERT OR IGNORE INTO main.parameters SELECT * FROM src.parameters");
        db.Exec("COMMIT");
        db.Exec("DETACH DATABASE src");
      }
      Stmt merged(db.handle(), "INSERT OR REPLACE INTO meta VALUES ('merged_from', ?)");
      std::string from;
      for (const fs::path& p : inputs) from += (from.empty() ? "" : "\n") + p.string();
      merged.Bind(1, from).Run();
      Stmt count(db.handle(), "SELECT COUNT(*) FROM studies");
      count.Step();
      studies = count.Int(0);
    }
    // Flush the finished file before it replaces the old database.
    if (FILE* f = std::fopen(tmp.c_str(), "rb+")) {
      ::fsync(fileno(f));
      std::fclose(f);
    }
    fs::rename(tmp, out);
  } catch (...) {
    fs::remove(tmp);
    fs::remove(tmp.string() + "-journal");
    throw;
  }
  return studies;
}

}  // namespace ischia
