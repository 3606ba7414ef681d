// ischia batch / merge / cohort: discovery, resume after kill -9, crash and time-out isolation,
// SQLite contents against result.json, CSV, sharding + merge against one full run, cohort page.
// Studies are tiny generated phantoms (in-plane scale 2, no supersampling, T1 + PD fat-sat),
// analysed without N4 (config) to keep the suite short; they are made once for all tests.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "batch.h"
#include "cli.h"
#include "results_store.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace ischia;

namespace {

struct CliResult {
  int code = -1;
  std::string output;
};

pid_t Spawn(const std::vector<std::string>& args, const fs::path& log,
            const std::vector<std::pair<std::string, std::string>>& env = {}) {
  std::vector<std::string> a = args;
  a.insert(a.begin(), ISCHIA_CLI);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> argv;
    for (std::string& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

CliResult Cli(const std::vector<std::string>& args,
              const std::vector<std::pair<std::string, std::string>>& env = {}) {
  static int n = 0;
  const fs::path log = fs::temp_directory_path() /
                       ("ischia-test-batch-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".log");
  const pid_t pid = Spawn(args, log, env);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.output = ReadText(log);
  fs::remove(log);
  return r;
}

json ReadJson(const fs::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

// Rows of a query as strings ("" for NULL).
std::vector<std::vector<std::string>> Query(const fs::path& db, const std::string& sql) {
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK) << db;
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
      << sqlite3_errmsg(h) << " in " << sql;
  std::vector<std::vector<std::string>> rows;
  while (s && sqlite3_step(s) == SQLITE_ROW) {
    std::vector<std::string> row;
    for (int c = 0; c < sqlite3_column_count(s); ++c) {
      const auto* t = sqlite3_column_text(s, c);
      row.push_back(t ? reinterpret_cast<const char*>(t) : "");
    }
    rows.push_back(row);
  }
  sqlite3_finalize(s);
  sqlite3_close(h);
  return rows;
}

// RFC 4180 records of a CSV file (quoted fields may hold commas).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') cur += '"', ++i;
      else if (c == '"') quoted = false;
      else cur += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(cur), cur.clear();
    } else if (c == '\n') {
      row.push_back(cur), cur.clear();
      rows.push_back(row), row.clear();
    } else {
      cur += c;
    }
  }
  return rows;
}

bool ProcessRunningWith(const std::string& needle) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = ReadText(e.path() / "cmdline");
    for (char& c : cmd)
      if (c == '\0') c = ' ';
    const std::string stat = ReadText(e.path() / "stat");
    const bool zombie = stat.find(") Z ") != std::string::npos;
    if (!zombie && cmd.find(needle) != std::string::npos && cmd.find("ischia") != std::string::npos)
      return true;
  }
  return false;
}

class BatchTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/ischia-test-batch-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    data_ = dir_ / "data";
    // Three tiny studies, generated two at a time.
    std::vector<pid_t> pids;
    for (int seed : {31, 32, 33}) {
      pids.push_back(Spawn({"phantom", "--out", (data_ / ("study-" + std::to_string(seed))).string(),
                            "--seed", std::to_string(seed), "--in-plane-scale", "2",
                            "--supersampling", "1", "--series", "t1,pdfs"},
                           dir_ / ("phantom-" + std::to_string(seed) + ".log")));
      if (pids.size() == 2) {
        int st = 0;
        ::waitpid(pids.front(), &st, 0);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        pids.erase(pids.begin());
      }
    }
    for (pid_t p : pids) {
      int st = 0;
      ::waitpid(p, &st, 0);
      ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    // A real MR image that cannot be analysed (no fluid-sensitive axial series) and a file
    // that looks like DICOM but is garbage.
    fs::create_directories(data_ / "junk");
    fs::copy_file(fs::path(ISCHIA_SHARED_DATA) / "edge-cases/pydicom/MR_small.dcm",
                  data_ / "junk" / "MR_small.dcm");
    {
      std::ofstream g(data_ / "junk" / "garbage.dcm", std::ios::binary);
      g << std::string(128, '\0') << "DICM";
      for (int i = 0; i < 700; ++i) g.put(static_cast<char>(i * 37));
    }
    config_ = dir_ / "fast.json";
    std::ofstream(config_) << R"({"preprocessing": {"bias_field": {"enabled": false}}})";
    full_ = dir_ / "out-full";
    fullRun_ = Cli({"batch", data_.string(), "--out", full_.string(), "--config", config_.string(),
                    "--jobs", "2", "--no-progress"});
  }
  static void TearDownTestSuite() {
    if (!std::getenv("ISCHIA_KEEP_TEST_OUTPUT")) fs::remove_all(dir_);
  }
  static std::vector<std::string> Keys(const fs::path& db) {
    std::vector<std::string> k;
    for (const auto& r : Query(db, "SELECT study_key FROM studies ORDER BY study_key"))
      k.push_back(r[0]);
    return k;
  }

  static fs::path dir_, data_, config_, full_;
  static CliResult fullRun_;
};
fs::path BatchTest::dir_, BatchTest::data_, BatchTest::config_, BatchTest::full_;
CliResult BatchTest::fullRun_;

TEST_F(BatchTest, DiscoveryFindsStudiesByHeadersAndReportsUnreadableFiles) {
  const Discovery d = DiscoverStudies(data_);
  ASSERT_EQ(d.studies.size(), 4u);
  std::set<std::string> keys;
  for (std::size_t i = 0; i < d.studies.size(); ++i) {
    const StudyInput& s = d.studies[i];
    EXPECT_EQ(s.key.size(), 20u);
    EXPECT_EQ(s.key.find_first_not_of("0123456789abcdef"), std::string::npos);
    if (i > 0) EXPECT_LT(d.studies[i - 1].key, s.key) << "ordered by key";
    keys.insert(s.key);
    EXPECT_FALSE(s.folderShared) << s.folder;
    EXPECT_EQ(s.fingerprint.size(), 64u);
    EXPECT_GE(s.estimatedMemoryBytes, 100u << 20);
    const std::string rel = s.folder.lexically_relative(data_).string();
    if (s.files.size() == 1) {
      EXPECT_EQ(rel, "junk");
      EXPECT_EQ(s.voxels, 0u) << "no fluid-sensitive axial series: nothing to analyse";
    } else {
      EXPECT_EQ(rel.rfind("study-", 0), 0u) << rel;
      EXPECT_GT(s.voxels, 0u);
      for (const std::string& f : s.files) EXPECT_EQ(f.find("/truth/"), std::string::npos);
    }
  }
  EXPECT_EQ(keys.size(), 4u);
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_EQ(fs::path(d.problems[0].path).filename(), "garbage.dcm");
  EXPECT_EQ(d.problems[0].code, "unreadable_file");

  // Same inputs, same fingerprint; a touched file changes it.
  const fs::path one = dir_ / "fingerprint";
  fs::create_directories(one);
  fs::copy_file(data_ / "junk" / "MR_small.dcm", one / "a.dcm");
  const std::string before = DiscoverStudies(one).studies.at(0).fingerprint;
  EXPECT_EQ(DiscoverStudies(one).studies.at(0).fingerprint, before);
  fs::last_write_time(one / "a.dcm", fs::last_write_time(one / "a.dcm") - std::chrono::hours(1));
  EXPECT_NE(DiscoverStudies(one).studies.at(0).fingerprint, before);

  // Two studies in one folder: each flagged, so that its run gets only its own files.
  const fs::path mixed = dir_ / "mixed";
  fs::create_directories(mixed);
  fs::copy_file(data_ / "junk" / "MR_small.dcm", mixed / "mr.dcm");
  fs::copy_file(fs::path(ISCHIA_SHARED_DATA) / "edge-cases/pydicom/CT_small.dcm", mixed / "ct.dcm");
  const Discovery m = DiscoverStudies(mixed);
  ASSERT_EQ(m.studies.size(), 2u);
  EXPECT_TRUE(m.studies[0].folderShared);
  EXPECT_TRUE(m.studies[1].folderShared);
}

TEST_F(BatchTest, ManifestRowsRelativePathsAndProblems) {
  const fs::path csv = dir_ / "manifest-test.csv";
  std::ofstream(csv) << "# cohort A\nstudy_dir,note\ndata/study-31,\"a, b\"\n\n\"" +
                            (data_ / "study-32").string() + "\",x\n" +
                            (dir_ / "nowhere").string() + ",\n";
  const std::vector<ManifestRow> rows = ReadManifest(csv);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].folder, data_ / "study-31");
  EXPECT_EQ(rows[0].line, 3);
  EXPECT_EQ(rows[1].folder, data_ / "study-32");
  const Discovery d = DiscoverManifestRows(rows, {0, 1, 2});
  EXPECT_EQ(d.studies.size(), 2u);
  ASSERT_EQ(d.problems.size(), 1u);
  EXPECT_EQ(d.problems[0].code, "missing_folder");
  EXPECT_NE(d.problems[0].reason.find("line 6"), std::string::npos) << d.problems[0].reason;

  const fs::path bad = dir_ / "manifest-bad.csv";
  std::ofstream(bad) << "study_dir\n\"unclosed\n";
  try {
    ReadManifest(bad);
    FAIL() << "unclosed quote accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
}

TEST_F(BatchTest, FullRunRecordsEveryStudyInSqliteLikeResultJson) {
  ASSERT_EQ(fullRun_.code, 1) << "one study is not analysable: exit 1\n" << fullRun_.output;
  EXPECT_NE(fullRun_.output.find("no_fluid_sensitive_axial"), std::string::npos) << fullRun_.output;
  EXPECT_NE(fullRun_.output.find("garbage.dcm"), std::string::npos) << fullRun_.output;
  const fs::path db = full_ / "cohort.sqlite";
  const auto studies = Query(db, "SELECT study_key, status, error_code, exit_code, output_dir, "
                                 "patient_id, patient_name, input_fingerprint FROM studies");
  ASSERT_EQ(studies.size(), 4u);
  int ok = 0;
  std::set<std::string> identifiers;
  for (const auto& s : studies) {
    const fs::path dir = full_ / s[4];
    ASSERT_TRUE(fs::exists(dir / "result.json")) << dir;
    EXPECT_TRUE(fs::exists(dir / "run.log"));
    const json result = ReadJson(dir / "result.json");
    const json state = ReadJson(dir / "batch.json");
    EXPECT_EQ(state["state"], "done");
    EXPECT_EQ(state["input_fingerprint"], s[7]);
    EXPECT_EQ(result["status"] == "ok" ? "ok" : "failed", s[1]);
    if (!s[5].empty()) identifiers.insert(s[5]);
    if (!s[6].empty()) identifiers.insert(s[6]);
    if (s[1] == "ok") {
      ++ok;
      EXPECT_EQ(s[3], "0");
      for (const char* side : {"left", "right"}) {
        const json& js = result["sides"][side];
        const auto row = Query(db, "SELECT found, thickness_mm, csa_mm2, signal_ratio, grade, "
                                   "tear_type, tuberosity_z_mm FROM sides WHERE study_key = '" +
                                       s[0] + "' AND side = '" + side + "'");
        ASSERT_EQ(row.size(), 1u);
        EXPECT_EQ(row[0][0], js["found"].get<bool>() ? "1" : "0");
        if (!js["found"].get<bool>()) continue;
        EXPECT_NEAR(std::stod(row[0][1]), js["tendon"]["thickness_mm"].get<double>(), 1e-9);
        EXPECT_NEAR(std::stod(row[0][2]), js["tendon"]["csa_mm2"].get<double>(), 1e-9);
        EXPECT_NEAR(std::stod(row[0][3]), js["tendon"]["signal_ratio"].get<double>(), 1e-9);
        EXPECT_EQ(row[0][4], js["grade"].get<std::string>());
        EXPECT_EQ(row[0][5], js["tear"]["type"].get<std::string>());
        EXPECT_NEAR(std::stod(row[0][6]), js["tuberosity_mm"][2].get<double>(), 1e-9);
        const auto m = Query(db, "SELECT value FROM measurements WHERE study_key = '" + s[0] +
                                     "' AND side = '" + side + "' AND name = 'thickness_mm_at_10mm'");
        ASSERT_EQ(m.size(), 1u);
      }
    } else {
      EXPECT_EQ(s[1], "failed");
      EXPECT_EQ(s[2], "no_fluid_sensitive_axial");
      EXPECT_EQ(s[3], "1");
      EXPECT_EQ(Query(db, "SELECT code FROM failures WHERE study_key = '" + s[0] + "'").size(), 1u);
    }
  }
  EXPECT_EQ(ok, 3);
  const auto inputs = Query(db, "SELECT path, code FROM failures WHERE study_key IS NULL");
  ASSERT_EQ(inputs.size(), 1u);
  EXPECT_EQ(fs::path(inputs[0][0]).filename(), "garbage.dcm");
  EXPECT_EQ(Query(db, "SELECT value FROM meta WHERE key = 'schema_version'").at(0).at(0), "1");
  EXPECT_EQ(Query(db, "SELECT COUNT(*) FROM parameters").at(0).at(0), "1");
  EXPECT_EQ(Query(db, "SELECT state FROM runs").at(0).at(0), "complete");

  // CSV: one row per study and side, every row as wide as the header.
  const auto csv = ParseCsv(ReadText(full_ / "cohort.csv"));
  ASSERT_EQ(csv.size(), 9u);
  for (const auto& row : csv) EXPECT_EQ(row.size(), csv[0].size());
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < csv[0].size(); ++i) col[csv[0][i]] = i;
  for (const char* c : {"study_key", "side", "status", "error_code", "tuberosity_x_mm", "thickness_mm",
                        "width_mm", "csa_mm2", "volume_mm3", "signal_ratio",
                        "peritendinous_oedema_mm3", "marrow_oedema_mm3", "tear_type",
                        "retraction_mm", "grade"})
    EXPECT_TRUE(col.count(c)) << c;
  EXPECT_FALSE(col.count("patient_id"));
  EXPECT_FALSE(col.count("patient_name"));

  // No patient identifier in any file or folder name of the output.
  for (const auto& e : fs::recursive_directory_iterator(full_)) {
    for (const std::string& id : identifiers)
      EXPECT_EQ(e.path().filename().string().find(id), std::string::npos) << e.path();
  }
}

TEST_F(BatchTest, RerunReusesCompleteOutputs) {
  ASSERT_EQ(fullRun_.code, 1);
  std::map<std::string, fs::file_time_type> before;
  for (const auto& k : Keys(full_ / "cohort.sqlite"))
    before[k] = fs::last_write_time(full_ / "studies" / k / "result.json");
  const CliResult again = Cli({"batch", data_.string(), "--out", full_.string(), "--config",
                               config_.string(), "--no-progress"});
  EXPECT_EQ(again.code, 1) << again.output;
  EXPECT_NE(again.output.find("0 to run, 4 reused"), std::string::npos) << again.output;
  for (const auto& [k, t] : before)
    EXPECT_EQ(fs::last_write_time(full_ / "studies" / k / "result.json"), t) << k;
  EXPECT_EQ(Keys(full_ / "cohort.sqlite").size(), 4u);
  const CliResult plan = Cli({"batch", data_.string(), "--out", full_.string(), "--plan"});
  EXPECT_EQ(plan.code, 0) << plan.output;
  EXPECT_TRUE(fs::exists(full_ / "manifest.csv"));
}

TEST_F(BatchTest, KillNineMidBatchThenCrashThenRetry) {
  const fs::path out = dir_ / "out-kill";
  const pid_t batch = Spawn({"batch", data_.string(), "--out", out.string(), "--config",
                             config_.string(), "--jobs", "1", "--no-progress"},
                            dir_ / "kill.log");
  // Wait until one study is finished, then kill -9 the batch while the next one runs.
  std::string finished;
  for (int i = 0; i < 1200 && finished.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!fs::exists(out / "studies")) continue;
    for (const auto& e : fs::directory_iterator(out / "studies")) {
      try {
        if (ReadJson(e.path() / "batch.json").value("state", "") == "done")
          finished = e.path().filename();
      } catch (...) {
      }
    }
  }
  ASSERT_FALSE(finished.empty()) << ReadText(dir_ / "kill.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::kill(batch, SIGKILL), 0);
  int status = 0;
  ::waitpid(batch, &status, 0);
  // Its running `ischia run` dies with it.
  bool orphan = true;
  for (int i = 0; i < 50 && orphan; ++i) {
    orphan = ProcessRunningWith(out.string());
    if (orphan) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(orphan) << "an ischia run of the killed batch is still running";
  // Nothing that looks complete is partial: "done" always has its result.json.
  std::set<std::string> done;
  for (const auto& e : fs::directory_iterator(out / "studies")) {
    const json state = ReadJson(e.path() / "batch.json");
    if (state["state"] == "done") {
      done.insert(e.path().filename());
      EXPECT_TRUE(fs::exists(e.path() / "result.json")) << e.path();
      EXPECT_EQ(ReadJson(e.path() / "result.json")["status"], "ok");
    } else {
      EXPECT_EQ(state["state"], "running");
    }
  }
  ASSERT_TRUE(done.count(finished));
  const auto finishedTime = fs::last_write_time(out / "studies" / finished / "result.json");

  // Rerun with one unfinished phantom study crashing: it is recorded, the others complete.
  std::string crashKey;
  for (const StudyInput& s : DiscoverStudies(data_).studies)
    if (!done.count(s.key) && s.files.size() > 1 &&
        !fs::exists(out / "studies" / s.key / "result.json"))
      crashKey = s.key;
  ASSERT_FALSE(crashKey.empty());
  const CliResult crash = Cli({"batch", data_.string(), "--out", out.string(), "--config",
                               config_.string(), "--no-progress"},
                              {{"ISCHIA_BATCH_TEST_CRASH", crashKey}});
  EXPECT_EQ(crash.code, 1) << crash.output;
  const auto at = crash.output.find(" to run, ");
  ASSERT_NE(at, std::string::npos) << crash.output;
  EXPECT_GE(std::stoul(crash.output.substr(at + 9)), done.size()) << crash.output;
  EXPECT_EQ(fs::last_write_time(out / "studies" / finished / "result.json"), finishedTime)
      << "a finished result was redone";
  const fs::path db = out / "cohort.sqlite";
  const auto crashed = Query(db, "SELECT status, error_code, error_message FROM studies WHERE "
                                 "study_key = '" + crashKey + "'");
  ASSERT_EQ(crashed.size(), 1u);
  EXPECT_EQ(crashed[0][0], "crashed");
  EXPECT_NE(crashed[0][2].find("signal 6"), std::string::npos) << crashed[0][2];
  EXPECT_EQ(Query(db, "SELECT COUNT(*) FROM studies WHERE status = 'ok'").at(0).at(0), "2");
  EXPECT_EQ(Query(db, "SELECT COUNT(*) FROM studies").at(0).at(0), "4");

  // Without the hook, the crashed study (only) is run again.
  const CliResult retry = Cli({"batch", data_.string(), "--out", out.string(), "--config",
                               config_.string(), "--no-progress"});
  EXPECT_EQ(retry.code, 1) << retry.output;
  EXPECT_NE(retry.output.find("1 to run, 3 reused"), std::string::npos) << retry.output;
  EXPECT_EQ(Query(db, "SELECT COUNT(*) FROM studies WHERE status = 'ok'").at(0).at(0), "3");
}

TEST_F(BatchTest, TimeoutIsRecordedAsFailure) {
  const fs::path out = dir_ / "out-timeout";
  const Discovery d = DiscoverStudies(data_);
  int index = 0;
  while (d.studies[index].files.size() == 1) ++index;
  const CliResult r = Cli({"batch", data_.string(), "--out", out.string(), "--index",
                           std::to_string(index), "--timeout", "0.3", "--no-progress"});
  EXPECT_EQ(r.code, 1) << r.output;
  const auto rows = Query(out / "shards" / ("index-" + std::to_string(index) + ".sqlite"),
                          "SELECT study_key, status, error_code FROM studies");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0], d.studies[index].key);
  EXPECT_EQ(rows[0][1], "timeout");
  EXPECT_FALSE(fs::exists(out / "studies" / rows[0][0] / "result.json"));
}

TEST_F(BatchTest, ShardsMergedEqualOneFullRunAndMergeIsIdempotent) {
  ASSERT_EQ(fullRun_.code, 1);
  const fs::path out = dir_ / "out-shards";
  ASSERT_EQ(Cli({"batch", data_.string(), "--out", out.string(), "--plan"}).code, 0);
  for (int i = 0; i < 2; ++i) {
    const CliResult r = Cli({"batch", "--manifest", (out / "manifest.csv").string(), "--out",
                             out.string(), "--config", config_.string(), "--shard",
                             std::to_string(i) + "/2", "--no-progress"});
    EXPECT_TRUE(r.code == 0 || r.code == 1) << r.output;
    EXPECT_TRUE(fs::exists(out / "shards" / ("shard-" + std::to_string(i) + "-of-2.sqlite")));
  }
  EXPECT_EQ(Keys(out / "shards/shard-0-of-2.sqlite").size(), 2u);
  EXPECT_EQ(Keys(out / "shards/shard-1-of-2.sqlite").size(), 2u);
  const CliResult merge = Cli({"merge", out.string()});
  ASSERT_EQ(merge.code, 0) << merge.output;
  const std::string q =
      "SELECT st.study_key, st.status, st.error_code, s.side, s.found, s.thickness_mm, "
      "s.csa_mm2, s.signal_ratio, s.grade, s.tear_type FROM studies st LEFT JOIN sides s ON "
      "s.study_key = st.study_key ORDER BY st.study_key, s.side";
  EXPECT_EQ(Query(out / "cohort.sqlite", q), Query(full_ / "cohort.sqlite", q));
  EXPECT_EQ(Query(out / "cohort.sqlite", "SELECT COUNT(*) FROM measurements"),
            Query(full_ / "cohort.sqlite", "SELECT COUNT(*) FROM measurements"));
  EXPECT_EQ(Query(out / "cohort.sqlite", "SELECT COUNT(*) FROM failures WHERE study_key IS NULL")
                .at(0).at(0), "1");
  const std::string csv = ReadText(out / "cohort.csv");
  ASSERT_EQ(Cli({"merge", out.string()}).code, 0);
  EXPECT_EQ(ReadText(out / "cohort.csv"), csv);
  EXPECT_EQ(Keys(out / "cohort.sqlite"), Keys(full_ / "cohort.sqlite"));
}

TEST_F(BatchTest, CohortPageIsSelfContainedAndLinksStudies) {
  ASSERT_EQ(fullRun_.code, 1);
  const CliResult r = Cli({"cohort", full_.string()});
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string html = ReadText(full_ / "cohort.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  const auto failed = Query(full_ / "cohort.sqlite",
                            "SELECT study_key, error_code FROM studies WHERE status != 'ok'");
  ASSERT_EQ(failed.size(), 1u);
  // A failed study links its report (ischia run writes one for failed studies too), else
  // its result.json.
  EXPECT_TRUE(html.find("studies/" + failed[0][0] + "/report.html") != std::string::npos ||
              html.find("studies/" + failed[0][0] + "/result.json") != std::string::npos);
  EXPECT_NE(html.find("no_fluid_sensitive_axial"), std::string::npos);
  for (const auto& row : Query(full_ / "cohort.sqlite",
                               "SELECT patient_name FROM studies WHERE patient_name != ''"))
    EXPECT_EQ(html.find(row[0]), std::string::npos) << "patient name in the page";
}

TEST_F(BatchTest, MergeKeepsTheLatestRowOfAStudyInTwoShards) {
  const fs::path a = dir_ / "merge-a.sqlite", b = dir_ / "merge-b.sqlite", out = dir_ / "merged.sqlite";
  StudyRecord r;
  r.key = "k1";
  r.status = "failed";
  r.errorCode = "crashed";
  r.errorMessage = "a message, with a comma and \"quotes\"";
  r.finishedAt = "2026-01-01T00:00:00.000Z";
  r.outputDir = "studies/k1";
  {
    CohortDb db(a);
    db.SaveStudy(r, nullptr);
  }
  r.status = "ok";
  r.errorCode.clear();
  r.finishedAt = "2026-01-02T00:00:00.000Z";
  const json result = {{"status", "ok"},
                       {"sides", {{"left", {{"found", true}, {"tendon_found", true},
                                            {"tendon", {{"thickness_mm", 7.5}}}}},
                                  {"right", {{"found", false}, {"reason", "outside"}}}}}};
  {
    CohortDb db(b);
    db.SaveStudy(r, result);
  }
  EXPECT_EQ(MergeCohortDatabases({b, a}, out), 1);
  EXPECT_EQ(Query(out, "SELECT status FROM studies").at(0).at(0), "ok");
  EXPECT_EQ(Query(out, "SELECT COUNT(*) FROM failures").at(0).at(0), "0");
  EXPECT_EQ(Query(out, "SELECT thickness_mm FROM sides WHERE side='left'").at(0).at(0), "7.5");
  EXPECT_EQ(MergeCohortDatabases({a, b}, out), 1);
  EXPECT_EQ(Query(out, "SELECT status FROM studies").at(0).at(0), "ok");
  // The CSV quotes what needs quoting.
  ExportCohortCsv(a, dir_ / "a.csv");
  const auto rows = ParseCsv(ReadText(dir_ / "a.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1][4], r.errorMessage);
  EXPECT_EQ(rows[1].size(), rows[0].size());
}

TEST_F(BatchTest, BadInputGivesClearErrors) {
  CliResult r = Cli({"batch", (dir_ / "does-not-exist").string(), "--out", (dir_ / "o").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("does-not-exist"), std::string::npos) << r.output;
  const fs::path empty = dir_ / "empty";
  fs::create_directories(empty);
  std::ofstream(empty / "notes.txt") << "not dicom";
  r = Cli({"batch", empty.string(), "--out", (dir_ / "o").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("no DICOM images"), std::string::npos) << r.output;
  r = Cli({"batch", data_.string(), "--out", (dir_ / "o").string(), "--shard", "2/2"});
  EXPECT_EQ(r.code, 2) << r.output;
  r = Cli({"batch", data_.string(), "--out", (dir_ / "o").string(), "--shard", "x"});
  EXPECT_EQ(r.code, 2) << r.output;
  const fs::path bin = dir_ / "binary.csv";
  std::ofstream(bin, std::ios::binary) << std::string("study_dir\n\0\1\2", 13);
  r = Cli({"batch", "--manifest", bin.string(), "--out", (dir_ / "o").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(bin.string()), std::string::npos) << r.output;
  const fs::path notDb = dir_ / "o2" / "shards" / "shard-0-of-1.sqlite";
  fs::create_directories(notDb.parent_path());
  std::ofstream(notDb) << "this is not a database";
  r = Cli({"merge", (dir_ / "o2").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find(notDb.string()), std::string::npos) << r.output;
  r = Cli({"cohort", (dir_ / "nothing-here").string()});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.output.find("cohort.sqlite"), std::string::npos) << r.output;
}

}  // namespace
