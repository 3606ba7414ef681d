// `ischia batch`: scheduling, child processes, resume bookkeeping and the results store.
#include "batch.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "atomic_output.h"
#include "cli.h"
#include "ischia/version.h"
#include "results_store.h"
#include "run_config.h"
#include "sha256.h"
#include "volume_reader.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

volatile sig_atomic_t gStopSignal = 0;
void OnStopSignal(int sig) { gStopSignal = sig; }

std::string ExecutablePath() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) throw std::runtime_error("cannot find the ischia executable (/proc/self/exe)");
  buf[n] = '\0';
  return buf;
}

std::uint64_t ReadFirstNumber(const char* path) {
  std::ifstream in(path);
  std::uint64_t v = 0;
  if (in >> v) return v;
  return 0;
}

// Cores this process may use: the Slurm allocation, the CPU affinity mask, a cgroup quota.
int AvailableCores() {
  if (const char* s = std::getenv("SLURM_CPUS_PER_TASK")) {
    const int n = std::atoi(s);
    if (n > 0) return n;
  }
  int n = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
  std::ifstream cpuMax("/sys/fs/cgroup/cpu.max");
  std::string quota;
  std::uint64_t period = 0;
  if (cpuMax >> quota >> period && quota != "max" && period > 0) {
    const double q = std::strtod(quota.c_str(), nullptr);
    n = std::min(n, std::max(1, static_cast<int>(std::ceil(q / static_cast<double>(period)))));
  }
  return std::max(1, n);
}

// Memory the batch may fill with studies: what is available now (MemAvailable, cgroup, Slurm
// allocation), less a margin for the system and the other users of the machine.
std::uint64_t MemoryBudget(std::uint64_t requested, int cores) {
  if (requested > 0) return requested;
  std::uint64_t avail = AvailableMemoryBytes();
  if (const char* s = std::getenv("SLURM_MEM_PER_NODE")) {
    if (const std::uint64_t mb = std::strtoull(s, nullptr, 10); mb > 0) avail = std::min(avail, mb << 20);
  } else if (const char* c = std::getenv("SLURM_MEM_PER_CPU")) {
    if (const std::uint64_t mb = std::strtoull(c, nullptr, 10); mb > 0)
      avail = std::min(avail, (mb << 20) * static_cast<std::uint64_t>(cores));
  }
  return static_cast<std::uint64_t>(static_cast<double>(avail) * 0.85);
}

std::string FormatDuration(double s) {
  if (!std::isfinite(s) || s < 0) return "--";
  const long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else if (t >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

std::string FormatMb(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (10ull << 30)) std::snprintf(buf, sizeof buf, "%.0f GB", bytes / 1073741824.0);
  else if (bytes >= (1ull << 30)) std::snprintf(buf, sizeof buf, "%.1f GB", bytes / 1073741824.0);
  else std::snprintf(buf, sizeof buf, "%.0f MB", bytes / 1048576.0);
  return buf;
}

json ReadJsonFile(const fs::path& p) {
  std::ifstream in(p);
  if (!in) return nullptr;
  try {
    return json::parse(in);
  } catch (const std::exception&) {
    return nullptr;
  }
}

// The last non-empty lines of a log (what a failed child said last).
std::string LogTail(const fs::path& log, std::size_t lines = 3) {
  std::ifstream in(log);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) all.push_back(line);
    if (all.size() > 50) all.erase(all.begin());
  }
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i)
    out += (out.empty() ? "" : " | ") + all[i];
  if (out.size() > 600) out = out.substr(out.size() - 600);
  return out;
}

std::string Hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

// Per-study bookkeeping (OUT/studies/<key>/batch.json): what the outputs were made from.
struct StudyState {
  json j;  // null if absent or unreadable
  bool Matches(const StudyInput& s, const std::string& version, const std::string& build,
               const std::string& config) const {
    return j.is_object() && j.value("input_fingerprint", "") == s.fingerprint &&
           j.value("software_version", "") == version && j.value("build_id", "") == build &&
           j.value("config_hash", "") == config;
  }
};

struct Running {
  std::size_t study = 0;
  pid_t pid = -1;
  int threads = 1;
  std::uint64_t memory = 0;
  Clock::time_point start;
  std::string startedAt;
  bool timedOut = false;
  fs::path staging;
};

class Progress {
 public:
  Progress(bool bar, int total) : bar_(bar), total_(total), start_(Clock::now()) {}
  void Event(const std::string& line) {
    Clear();
    std::cout << line << "\n" << std::flush;
    Draw(true);
  }
  void Update(int done, int failed, int running, int queued) {
    done_ = done, failed_ = failed, running_ = running;
    if (queued >= 0) queued_ = queued;
    Draw(false);
  }
  void Finish() { Clear(); }
  std::string Eta() const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const int finished = done_ - reused_;
    if (finished <= 0 || done_ >= total_) return "--";
    return FormatDuration(elapsed / finished * (total_ - done_));
  }
  void SetReused(int n) { reused_ = n; }

 private:
  void Clear() {
    if (bar_ && drawn_) std::cerr << "\r\033[K" << std::flush;
    drawn_ = false;
  }
  void Draw(bool force) {
    if (!bar_) return;
    const auto now = Clock::now();
    if (!force && drawn_ && now - lastDraw_ < std::chrono::milliseconds(250)) return;
    lastDraw_ = now;
    const int width = 30;
    const int fill = total_ > 0 ? done_ * width / total_ : width;
    std::string b(static_cast<std::size_t>(fill), '#');
    b += std::string(static_cast<std::size_t>(width - fill), '.');
    std::cerr << "\r\033[K[" << b << "] " << done_ << "/" << total_ << " done, " << failed_
              << " failed, " << running_ << " running, " << queued_ << " queued, ETA " << Eta()
              << std::flush;
    drawn_ = true;
  }
  bool bar_;
  int total_, done_ = 0, failed_ = 0, running_ = 0, queued_ = 0, reused_ = 0;
  Clock::time_point start_, lastDraw_;
  bool drawn_ = false;
};

// Exclusive lock on OUT for one selection: two batches must not write the same database.
class OutputLock {
 public:
  explicit OutputLock(const fs::path& file) {
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw InputError("cannot create " + file.string() + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw InputError("another ischia batch is writing " + file.parent_path().string() +
                       " (lock " + file.string() + " is held)");
    }
  }
  ~OutputLock() { ::close(fd_); }

 private:
  int fd_ = -1;
};

class BatchRunner {
 public:
  explicit BatchRunner(const BatchOptions& o) : o_(o) {}
  int Run();

 private:
  void Prepare();
  void Select();
  void OpenDatabase();
  bool ResumeOrQueue(std::size_t i);
  void Launch(std::size_t i, int threads);
  void Reap(pid_t pid, int status, const rusage& ru);
  void Record(std::size_t i, StudyRecord rec, const json& result);
  void KillAll(int sig);
  void PrintSummary(double seconds);
  StudyRecord BaseRecord(std::size_t i) const;
  fs::path StudyDir(std::size_t i) const { return out_ / "studies" / studies_[i].key; }

  const BatchOptions& o_;
  fs::path out_;
  std::string exe_, version_, buildId_, configHash_, runId_;
  json configJson_;
  Discovery discovery_;
  std::vector<StudyInput> studies_;         // selected, in order
  std::vector<InputProblem> problems_;      // selected inputs that failed before analysis
  std::unique_ptr<CohortDb> db_;
  std::unique_ptr<OutputLock> lock_;
  RunRecord run_;
  std::vector<std::size_t> queue_;
  std::map<pid_t, Running> running_;
  std::map<std::size_t, StudyRecord> records_;
  std::unique_ptr<Progress> progress_;
  int cores_ = 1, jobs_ = 1, done_ = 0, failed_ = 0;
  std::uint64_t budget_ = 0;
  Clock::time_point lastCsv_ = Clock::now();
};

void BatchRunner::Prepare() {
  out_ = fs::absolute(o_.out).lexically_normal();
  exe_ = ExecutablePath();
  version_ = kVersion;
  buildId_ = Sha256File(exe_).substr(0, 16);
  RunConfig config;
  if (o_.configPath) {
    try {
      config = LoadRunConfig(*o_.configPath);
    } catch (const std::exception& e) {
      throw InputError(e.what());
    }
  }
  configJson_ = RunConfigToJson(config);
  std::string settings = configJson_.dump();
  for (const std::string& a : o_.runArgs) settings += "\n" + a;
  configHash_ = Sha256Hex(settings).substr(0, 16);
  runId_ = NowIsoUtc() + "-" + Hostname() + "-" + std::to_string(::getpid());
}

void BatchRunner::Select() {
  const WorkSelection& sel = o_.selection;
  auto take = [&](std::size_t position) {
    if (sel.index) return position == static_cast<std::size_t>(*sel.index);
    return static_cast<int>(position % static_cast<std::size_t>(sel.shardCount)) == sel.shardIndex;
  };
  if (o_.manifest) {
    const std::vector<ManifestRow> rows = ReadManifest(*o_.manifest);
    if (rows.empty()) throw InputError(o_.manifest->string() + ": no study folders listed");
    if (sel.index && *sel.index >= static_cast<int>(rows.size()))
      throw InputError("--index " + std::to_string(*sel.index) + " is past the last manifest row (" +
                       std::to_string(rows.size()) + " rows)");
    std::vector<int> chosen;
    for (std::size_t r = 0; r < rows.size(); ++r)
      if (take(r)) chosen.push_back(static_cast<int>(r));
    discovery_ = DiscoverManifestRows(rows, chosen);
    studies_ = discovery_.studies;  // manifest order
    problems_ = discovery_.problems;
  } else {
    discovery_ = DiscoverStudies(o_.root);
    if (sel.index && *sel.index >= static_cast<int>(discovery_.studies.size()))
      throw InputError("--index " + std::to_string(*sel.index) + " is past the last study (" +
                       std::to_string(discovery_.studies.size()) + " found under " +
                       o_.root.string() + ")");
    for (std::size_t i = 0; i < discovery_.studies.size(); ++i)
      if (take(i)) studies_.push_back(discovery_.studies[i]);
    // Problems of the whole folder go with the whole list or its first part only.
    if (sel.Label().empty() || (!sel.index && sel.shardIndex == 0) || (sel.index && *sel.index == 0))
      problems_ = discovery_.problems;
  }
  // Discovery estimates for any thread count; one thread per study needs less.
  if (o_.threads == 1)
    for (StudyInput& s : studies_) s.estimatedMemoryBytes = EstimateRunMemoryBytes(s.voxels, 1);
}

void BatchRunner::OpenDatabase() {
  const fs::path path = BatchDatabasePath(out_, o_.selection);
  fs::create_directories(path.parent_path());
  try {
    db_ = std::make_unique<CohortDb>(path);
  } catch (const std::exception& e) {
    // The database is rebuilt from the study folders (every run records every selected
    // study), so an unusable file is kept aside, not lost.
    const fs::path aside = path.string() + ".unusable-" + std::to_string(::time(nullptr));
    std::cerr << "ischia batch: warning: " << e.what() << "; moved to " << aside.string()
              << " and starting a new database\n";
    fs::rename(path, aside);
    fs::remove(path.string() + "-journal");
    db_ = std::make_unique<CohortDb>(path);
  }
}

StudyRecord BatchRunner::BaseRecord(std::size_t i) const {
  const StudyInput& s = studies_[i];
  StudyRecord r;
  r.key = s.key;
  r.studyInstanceUid = s.studyInstanceUid;
  r.patientId = s.patientId;
  r.patientName = s.patientName;
  r.studyDate = s.studyDate;
  r.accessionNumber = s.accessionNumber;
  r.description = s.description;
  r.studyDir = s.folder.string();
  r.files = static_cast<int>(s.files.size());
  r.fingerprint = s.fingerprint;
  r.softwareVersion = version_;
  r.buildId = buildId_;
  r.configHash = configHash_;
  r.estimatedMemoryMb = static_cast<double>(s.estimatedMemoryBytes) / 1048576.0;
  r.outputDir = "studies/" + s.key;
  r.runId = runId_;
  return r;
}

// Status of a finished `ischia run` from its exit and its result.json.
void Classify(StudyRecord& r, const json& result, int exitCode, int signal, bool timedOut,
              double timeout, const fs::path& log) {
  r.exitCode = exitCode;
  const json err = result.is_object() ? result.value("error", json()) : json();
  auto fromResult = [&] {
    if (err.is_object()) {
      r.errorCode = err.value("code", "");
      r.errorMessage = err.value("message", "");
    }
  };
  if (timedOut) {
    r.status = "timeout";
    r.errorCode = "timeout";
    char buf[96];
    std::snprintf(buf, sizeof buf, "stopped after the time limit of %g s", timeout);
    r.errorMessage = buf;
  } else if (signal != 0) {
    r.status = "crashed";
    r.errorCode = "crashed";
    r.errorMessage = "ischia run was killed by signal " + std::to_string(signal) + " (" +
                     strsignal(signal) + ")" +
                     (signal == SIGKILL ? ", possibly by the out-of-memory killer" : "");
    const std::string tail = LogTail(log);
    if (!tail.empty()) r.errorMessage += "; log: " + tail;
  } else if (exitCode == 0 && result.is_object() && result.value("status", "") == "ok") {
    r.status = "ok";
  } else if (exitCode == 0 || exitCode == 1) {
    r.status = "failed";
    fromResult();
    if (r.errorCode.empty()) {
      r.errorCode = "no_result";
      r.errorMessage = "ischia run exited with " + std::to_string(exitCode) +
                       " without a valid result.json; log: " + LogTail(log);
    }
  } else if (exitCode == 2) {
    r.status = "input_error";
    fromResult();
    if (r.errorCode.empty()) {
      r.errorCode = "unreadable_input";
      r.errorMessage = LogTail(log);
    }
  } else if (exitCode == 127) {
    r.status = "launch_failed";
    r.errorCode = "launch_failed";
    r.errorMessage = LogTail(log);
  } else {
    r.status = "crashed";
    r.errorCode = "exit_" + std::to_string(exitCode);
    r.errorMessage = "ischia run exited with " + std::to_string(exitCode) + "; log: " + LogTail(log);
  }
}

json StateJson(const StudyRecord& r, const std::string& state, const std::vector<std::string>& args) {
  // No patient identifier and no input path: only what resume needs and the outcome.
  return {{"schema", "ischia.batch-study/1"},
          {"state", state},
          {"study_key", r.key},
          {"input_fingerprint", r.fingerprint},
          {"files", r.files},
          {"software_version", r.softwareVersion},
          {"build_id", r.buildId},
          {"config_hash", r.configHash},
          {"run_args", args},
          {"threads", r.threads},
          {"run_id", r.runId},
          {"started_at", r.startedAt},
          {"finished_at", r.finishedAt},
          {"seconds", r.seconds},
          {"exit_code", r.exitCode},
          {"status", r.status},
          {"error_code", r.errorCode},
          {"error_message", r.errorMessage},
          {"peak_memory_mb", r.peakMemoryMb},
          {"estimated_memory_mb", r.estimatedMemoryMb}};
}

// Decides for study i: reuse finished outputs (recorded now), or queue it.
bool BatchRunner::ResumeOrQueue(std::size_t i) {
  const fs::path dir = StudyDir(i);
  StudyState state{ReadJsonFile(dir / "batch.json")};
  const json result = ReadJsonFile(dir / "result.json");
  const StudyInput& s = studies_[i];
  if (!o_.force && state.Matches(s, version_, buildId_, configHash_)) {
    const std::string st = state.j.value("state", "");
    const std::string status = state.j.value("status", "");
    const bool reusable = status == "ok" || status == "failed" || status == "input_error";
    const bool haveResult = result.is_object() && result.contains("status");
    if (st == "done" && reusable && (haveResult || status == "input_error") &&
        (status == "ok" || !o_.retryFailed)) {
      StudyRecord r = BaseRecord(i);
      r.status = status;
      r.exitCode = state.j.value("exit_code", -1);
      r.errorCode = state.j.value("error_code", "");
      r.errorMessage = state.j.value("error_message", "");
      r.threads = state.j.value("threads", 0);
      r.startedAt = state.j.value("started_at", "");
      r.finishedAt = state.j.value("finished_at", "");
      r.seconds = state.j.value("seconds", 0.0);
      r.peakMemoryMb = state.j.value("peak_memory_mb", 0.0);
      r.runId = state.j.value("run_id", runId_);
      r.reused = true;
      Record(i, r, result);
      return false;
    }
    if (st == "running" && haveResult && !o_.retryFailed) {
      // The batch was killed after the run finished but before it was recorded: result.json is
      // written last and atomically by `ischia run`, so it is complete; adopt it.
      StudyRecord r = BaseRecord(i);
      r.threads = state.j.value("threads", 0);
      r.startedAt = state.j.value("started_at", "");
      r.finishedAt = NowIsoUtc();
      const bool ok = result.value("status", "") == "ok";
      Classify(r, result, ok ? 0 : 1, 0, false, 0, dir / "run.log");
      r.reused = true;
      WriteFileAtomically(dir / "batch.json", StateJson(r, "done", o_.runArgs).dump(2) + "\n");
      Record(i, r, result);
      return false;
    }
  }
  queue_.push_back(i);
  return true;
}

void BatchRunner::Launch(std::size_t i, int threads) {
  const StudyInput& s = studies_[i];
  const fs::path dir = StudyDir(i);
  fs::create_directories(dir);
  // Old outputs go before the "running" record is written: a record that matches these inputs
  // never sits beside a result.json of other inputs.
  for (const char* f : {"batch.json", "result.json", "labels.nii.gz"}) fs::remove(dir / f);
  Running r;
  r.study = i;
  r.threads = threads;
  r.memory = s.estimatedMemoryBytes;
  r.start = Clock::now();
  r.startedAt = NowIsoUtc();
  fs::path input = s.folder;
  if (s.folderShared) {
    // The folder holds other studies' images too: give the run links to this study's files
    // (named by number: file names may carry patient names).
    r.staging = out_ / "staging" / s.key;
    fs::remove_all(r.staging);
    fs::create_directories(r.staging);
    for (std::size_t k = 0; k < s.files.size(); ++k) {
      char name[32];
      std::snprintf(name, sizeof name, "%06zu.dcm", k);
      fs::create_symlink(s.files[k], r.staging / name);
    }
    input = r.staging;
  }
  StudyRecord rec = BaseRecord(i);
  rec.threads = threads;
  rec.startedAt = r.startedAt;
  rec.status = "running";
  WriteFileAtomically(dir / "batch.json", StateJson(rec, "running", o_.runArgs).dump(2) + "\n");

  std::vector<std::string> args = {exe_, "run", input.string(), "--out", dir.string(),
                                   "--threads", std::to_string(threads)};
  if (o_.configPath) args.insert(args.end(), {"--config", fs::absolute(*o_.configPath).string()});
  args.insert(args.end(), o_.runArgs.begin(), o_.runArgs.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string log = (dir / "run.log").string();
  const std::string threadText = std::to_string(threads);
  const char* crashHook = std::getenv("ISCHIA_BATCH_TEST_CRASH");
  const bool crash = crashHook && s.key.rfind(crashHook, 0) == 0 && *crashHook;
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Own process group (a time-out kills the run and its helpers together); dies with the
    // batch (kill -9 of the batch leaves no orphan writing into OUT).
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      if (fd > 2) ::close(fd);
    }
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::setenv("OMP_NUM_THREADS", threadText.c_str(), 1);
    ::setenv("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", threadText.c_str(), 1);
    ::unsetenv("ISCHIA_BATCH_TEST_CRASH");
    if (crash) {
      // Test hook: the study's process dies as a crashing analysis would.
      const char msg[] = "ISCHIA_BATCH_TEST_CRASH: aborting\n";
      (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
      ::abort();
    }
    ::execv(argv[0], argv.data());
    const std::string why = std::string("cannot start ") + argv[0] + ": " + std::strerror(errno) + "\n";
    (void)!::write(STDERR_FILENO, why.data(), why.size());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  r.pid = pid;
  running_[pid] = r;
}

void BatchRunner::Record(std::size_t i, StudyRecord rec, const json& result) {
  if (rec.status != "ok") ++failed_;
  ++done_;
  if (rec.reused) ++run_.reused;
  else ++run_.ran;
  if (rec.status != "ok") ++run_.failed;
  db_->SaveStudy(rec, result);
  records_[i] = rec;
  if (progress_ && !rec.reused) {
    char line[512];
    std::snprintf(line, sizeof line, "[%d/%zu] %-11s %s  %5.1f s  %4.0f MB%s%s", done_,
                  studies_.size(), rec.status.c_str(), rec.key.c_str(), rec.seconds,
                  rec.peakMemoryMb, rec.errorCode.empty() ? "" : "  ", rec.errorCode.c_str());
    progress_->Update(done_, failed_, static_cast<int>(running_.size()), -1);
    progress_->Event(std::string(line) + "  (" + std::to_string(running_.size()) +
                     " running, ETA " + progress_->Eta() + ")");
  }
}

void BatchRunner::Reap(pid_t pid, int status, const rusage& ru) {
  const auto it = running_.find(pid);
  if (it == running_.end()) return;
  Running r = it->second;
  running_.erase(it);
  const fs::path dir = StudyDir(r.study);
  StudyRecord rec = BaseRecord(r.study);
  rec.threads = r.threads;
  rec.startedAt = r.startedAt;
  rec.finishedAt = NowIsoUtc();
  rec.seconds = std::chrono::duration<double>(Clock::now() - r.start).count();
  rec.peakMemoryMb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  const json result = ReadJsonFile(dir / "result.json");
  const int exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  Classify(rec, result, exitCode, sig, r.timedOut, o_.timeoutSeconds, dir / "run.log");
  if (!r.staging.empty()) fs::remove_all(r.staging);
  // batch.json (atomic) first, then the database: a kill in between is repaired by the next
  // run, which records every reusable study again.
  WriteFileAtomically(dir / "batch.json", StateJson(rec, "done", o_.runArgs).dump(2) + "\n");
  Record(r.study, rec, result);
}

void BatchRunner::KillAll(int sig) {
  for (const auto& [pid, r] : running_) ::kill(-pid, sig);
}

void BatchRunner::PrintSummary(double seconds) {
  int ok = 0;
  for (const auto& [i, r] : records_) ok += r.status == "ok";
  std::cout << "\nischia batch: " << records_.size() << " of " << studies_.size()
            << " studies finished in " << FormatDuration(seconds) << ": " << ok << " analysed, "
            << failed_ << " failed (" << run_.ran << " run now, " << run_.reused
            << " reused from an earlier run)\n";
  if (failed_ > 0) {
    std::cout << "Failed studies:\n";
    for (const auto& [i, r] : records_) {
      if (r.status == "ok") continue;
      std::string msg = r.errorMessage;
      if (msg.size() > 300) msg = msg.substr(0, 297) + "...";
      std::cout << "  " << r.key << "  " << r.status << "  " << r.errorCode << ": " << msg
                << "\n    log: " << (out_ / r.outputDir / "run.log").string() << "\n";
    }
  }
  if (!problems_.empty()) {
    std::cout << "Inputs that did not become a study (" << problems_.size() << "):\n";
    std::size_t shown = 0;
    for (const InputProblem& p : problems_) {
      if (++shown > 20) {
        std::cout << "  ... and " << problems_.size() - 20
                  << " more (table failures of the database)\n";
        break;
      }
      std::cout << "  " << p.path << ": " << p.code << ": " << p.reason << "\n";
    }
  }
  if (!discovery_.nonImage.empty())
    std::cout << discovery_.nonImage.size()
              << " DICOM objects without an image were skipped (table skipped_files).\n";
  std::cout << "Database: " << db_->path().string() << "\n";
}

int BatchRunner::Run() {
  Prepare();
  if (o_.planOnly) {
    if (o_.manifest) throw InputError("--plan lists the studies under ROOT: give ROOT, not --manifest");
    discovery_ = DiscoverStudies(o_.root);
    fs::create_directories(out_);
    const fs::path manifest = out_ / "manifest.csv";
    WriteManifest(discovery_, manifest);
    std::cout << "ischia batch: " << discovery_.studies.size() << " studies under "
              << o_.root.string() << " (" << discovery_.filesExamined << " files, "
              << discovery_.problems.size() << " unreadable, " << discovery_.nonImage.size()
              << " without image); manifest: " << manifest.string() << "\n";
    return discovery_.studies.empty() ? kExitUsageOrInput : kExitOk;
  }
  fs::create_directories(out_);
  const std::string label = o_.selection.Label();
  lock_ = std::make_unique<OutputLock>(out_ / (".batch" + (label.empty() ? "" : "-" + label) + ".lock"));
  const auto t0 = Clock::now();
  Select();
  const std::string scope =
      o_.manifest ? fs::absolute(*o_.manifest).string() : fs::absolute(o_.root).string();
  if (studies_.empty() && problems_.empty() && label.empty())
    throw InputError("no DICOM images under " + scope + " (" +
                     std::to_string(discovery_.filesExamined) + " files examined)");
  OpenDatabase();

  cores_ = AvailableCores();
  budget_ = MemoryBudget(o_.memoryLimitBytes, cores_);
  if (o_.jobs > 0) jobs_ = o_.jobs;
  else if (o_.threads > 0) jobs_ = std::max(1, cores_ / o_.threads);
  else jobs_ = cores_;
  if (o_.jobs > 0 && o_.threads > 0 && o_.jobs * o_.threads > cores_) {
    std::cerr << "ischia batch: warning: " << o_.jobs << " studies x " << o_.threads
              << " threads exceeds the " << cores_ << " cores available\n";
  }

  run_.runId = runId_;
  run_.startedAt = NowIsoUtc();
  run_.softwareVersion = version_;
  run_.buildId = buildId_;
  run_.configHash = configHash_;
  run_.host = Hostname();
  run_.selection = label.empty() ? "all" : label;
  run_.jobs = jobs_;
  run_.threads = o_.threads;
  run_.planned = static_cast<int>(studies_.size());
  {
    std::string cmd = "ischia batch";
    if (o_.manifest) cmd += " --manifest " + o_.manifest->string();
    else cmd += " " + o_.root.string();
    cmd += " --out " + o_.out.string();
    run_.command = cmd;
  }
  db_->SaveRun(run_);
  db_->SaveParameters(configHash_, configJson_);
  {
    std::vector<std::tuple<std::string, std::string, std::string>> f;
    for (const InputProblem& p : problems_) f.emplace_back(p.path, p.code, p.reason);
    std::vector<std::pair<std::string, std::string>> skipped;
    for (const SkippedFile& s : discovery_.nonImage) skipped.emplace_back(s.path, s.reason);
    db_->SaveInputProblems(scope, runId_, f, skipped);
  }
  int inputFailures = 0;
  for (const InputProblem& p : problems_) inputFailures += p.code != "unreadable_file";

  const bool bar = o_.progress == 1 || (o_.progress < 0 && ::isatty(STDERR_FILENO));
  // Reused studies are recorded in one transaction (thousands of fsyncs otherwise).
  db_->Exec("BEGIN IMMEDIATE");
  for (std::size_t i = 0; i < studies_.size(); ++i) ResumeOrQueue(i);
  db_->Exec("COMMIT");
  const int reused = done_;
  std::uint64_t largest = 0;
  for (std::size_t i : queue_) largest = std::max(largest, studies_[i].estimatedMemoryBytes);
  std::cout << "ischia batch: " << studies_.size() << " studies"
            << (label.empty() ? "" : " in " + label) << " (" << discovery_.filesExamined
            << " files examined in " << FormatDuration(std::chrono::duration<double>(Clock::now() - t0).count())
            << "; " << problems_.size() << " inputs unusable, " << discovery_.nonImage.size()
            << " objects without image); " << queue_.size() << " to run, " << reused
            << " reused; up to " << jobs_ << " at once"
            << (o_.threads > 0 ? " x " + std::to_string(o_.threads) + " threads" : "") << " on "
            << cores_ << " cores, memory budget " << FormatMb(budget_)
            << (queue_.empty() ? "" : ", largest study needs ~" + FormatMb(largest)) << "\n"
            << std::flush;
  if (largest > budget_) {
    std::cerr << "ischia batch: warning: a study's estimated memory (" << FormatMb(largest)
              << ") exceeds the budget; such studies run alone\n";
  }
  // Largest first: the long studies do not end up alone at the tail.
  std::stable_sort(queue_.begin(), queue_.end(), [&](std::size_t a, std::size_t b) {
    return studies_[a].estimatedMemoryBytes > studies_[b].estimatedMemoryBytes;
  });

  progress_ = std::make_unique<Progress>(bar, static_cast<int>(studies_.size()));
  progress_->SetReused(reused);

  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  struct sigaction oldInt {}, oldTerm {}, oldHup {};
  sigaction(SIGINT, &sa, &oldInt);
  sigaction(SIGTERM, &sa, &oldTerm);
  sigaction(SIGHUP, &sa, &oldHup);
  gStopSignal = 0;

  const fs::path csv = out_ / "cohort.csv";
  const bool writeCsv = label.empty();
  std::size_t next = 0;
  while ((next < queue_.size() || !running_.empty()) && !gStopSignal) {
    // Launch while cores, job slots and memory allow.
    while (next < queue_.size() && static_cast<int>(running_.size()) < jobs_) {
      int usedCores = 0;
      std::uint64_t usedMemory = 0;
      for (const auto& [pid, r] : running_) usedCores += r.threads, usedMemory += r.memory;
      const int freeCores = cores_ - usedCores;
      if (freeCores <= 0 && o_.threads == 0) break;
      const std::uint64_t need = studies_[queue_[next]].estimatedMemoryBytes;
      if (!running_.empty() && usedMemory + need > budget_) break;
      int threads = o_.threads;
      if (threads <= 0) {
        // Share the free cores among the studies that can start now.
        int slots = std::min<int>(jobs_ - static_cast<int>(running_.size()),
                                  static_cast<int>(queue_.size() - next));
        std::uint64_t room = budget_ > usedMemory ? budget_ - usedMemory : 0;
        const int memorySlots = static_cast<int>(room / std::max<std::uint64_t>(need, 1));
        slots = std::max(1, std::min(slots, memorySlots));
        threads = std::max(1, freeCores / slots);
      }
      Launch(queue_[next++], threads);
    }
    progress_->Update(done_, failed_, static_cast<int>(running_.size()),
                      static_cast<int>(queue_.size() - next));
    // Reap finished children; stop those past their time limit.
    bool reaped = false;
    for (;;) {
      int status = 0;
      rusage ru{};
      const pid_t pid = ::wait4(-1, &status, WNOHANG, &ru);
      if (pid <= 0) break;
      Reap(pid, status, ru);
      reaped = true;
    }
    if (o_.timeoutSeconds > 0) {
      for (auto& [pid, r] : running_) {
        if (!r.timedOut && std::chrono::duration<double>(Clock::now() - r.start).count() >
                               o_.timeoutSeconds) {
          r.timedOut = true;
          ::kill(-pid, SIGKILL);
        }
      }
    }
    if (writeCsv && reaped && Clock::now() - lastCsv_ > std::chrono::seconds(30)) {
      ExportCohortCsv(db_->path(), csv);
      lastCsv_ = Clock::now();
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const int stop = gStopSignal;
  if (stop) {
    progress_->Finish();
    std::cerr << "ischia batch: " << strsignal(stop) << ": stopping " << running_.size()
              << " running studies (they will be redone by the next run)\n";
    KillAll(SIGTERM);
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    while (!running_.empty() && Clock::now() < deadline) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid > 0) running_.erase(pid);
      else std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    KillAll(SIGKILL);
    for (const auto& [pid, r] : running_) {
      ::waitpid(pid, nullptr, 0);
      if (!r.staging.empty()) fs::remove_all(r.staging);
    }
    running_.clear();
  }
  {
    std::error_code ec;
    fs::remove(out_ / "staging", ec);  // only if empty
  }
  sigaction(SIGINT, &oldInt, nullptr);
  sigaction(SIGTERM, &oldTerm, nullptr);
  sigaction(SIGHUP, &oldHup, nullptr);
  progress_->Finish();

  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  run_.finishedAt = NowIsoUtc();
  run_.state = stop ? "interrupted" : "complete";
  db_->SaveRun(run_);
  if (writeCsv) ExportCohortCsv(db_->path(), csv);
  failed_ += inputFailures;
  PrintSummary(seconds);
  if (writeCsv) std::cout << "CSV: " << csv.string() << "\n";
  if (stop) return 128 + stop;
  return failed_ > 0 ? kExitProcessingFailure : kExitOk;
}

}  // namespace

fs::path BatchDatabasePath(const fs::path& out, const WorkSelection& selection) {
  const std::string label = selection.Label();
  if (label.empty()) return out / "cohort.sqlite";
  return out / "shards" / (label + ".sqlite");
}

int RunBatch(const BatchOptions& options) {
  if (options.manifest && !options.root.empty())
    throw InputError("give either ROOT or --manifest, not both");
  if (!options.manifest && options.root.empty())
    throw InputError("give the folder to search (ROOT) or --manifest CSV");
  if (options.out.empty()) throw InputError("--out is required");
  const WorkSelection& s = options.selection;
  if (s.shardCount < 1 || s.shardIndex < 0 || s.shardIndex >= s.shardCount)
    throw InputError("--shard I/N needs 0 <= I < N");
  if (s.index && *s.index < 0) throw InputError("--index must be >= 0");
  BatchRunner runner(options);
  return runner.Run();
}

}  // namespace ischia
