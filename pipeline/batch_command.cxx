// ischia batch / merge / cohort: the command-line side of batch processing.
#include <algorithm>
#include <iostream>

#include "batch.h"
#include "cli.h"
#include "cohort_page.h"
#include "results_store.h"

namespace ischia {
namespace fs = std::filesystem;

namespace {

WorkSelection ParseShard(const std::string& text) {
  WorkSelection s;
  const auto slash = text.find('/');
  try {
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    std::size_t a = 0, b = 0;
    s.shardIndex = std::stoi(text.substr(0, slash), &a);
    s.shardCount = std::stoi(text.substr(slash + 1), &b);
    if (a != slash || b != text.size() - slash - 1) throw std::invalid_argument("junk");
  } catch (const std::exception&) {
    throw InputError("--shard " + text + ": expected I/N, e.g. 0/4 (shards are numbered from 0)");
  }
  if (s.shardCount < 1 || s.shardIndex < 0 || s.shardIndex >= s.shardCount)
    throw InputError("--shard " + text + ": needs 0 <= I < N");
  return s;
}

}  // namespace

void AddBatchCommands(CLI::App& app, int* exitCode) {
  // ---- batch
  auto* batch = app.add_subcommand(
      "batch",
      "Analyse every study under ROOT (or listed in --manifest), each in its own `ischia run` "
      "process, in parallel; resumable; results in OUT/cohort.sqlite and OUT/cohort.csv");
  struct BatchArgs {
    std::string root, manifest, out, config, shard, memoryMb;
    int jobs = 0, threads = 0, index = -1;
    double timeout = 3600;
    bool plan = false, force = false, retryFailed = false, progress = false, noProgress = false;
    std::vector<std::string> runArgs;
  };
  auto a = std::make_shared<BatchArgs>();
  batch->add_option("ROOT", a->root, "Folder searched for studies (any layout, headers only)");
  batch->add_option("--manifest", a->manifest,
                    "CSV of study folders (column study_dir, optional study_instance_uid) "
                    "instead of ROOT");
  batch->add_option("--out", a->out, "Output folder")->required();
  batch->add_option("--jobs", a->jobs,
                    "Studies analysed at once (default: one per core, fewer if memory is short)")
      ->check(CLI::PositiveNumber);
  batch->add_option("--threads", a->threads,
                    "Threads per study (default: the cores shared among the running studies)")
      ->check(CLI::PositiveNumber);
  batch->add_option("--config", a->config, "Parameters for every run (as ischia run --config)");
  batch->add_option("--timeout", a->timeout, "Time limit per study in seconds (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  batch->add_option("--shard", a->shard,
                    "Only the studies at positions p with p % N == I of the ordered list "
                    "(I/N, from 0); database OUT/shards/shard-I-of-N.sqlite");
  batch->add_option("--index", a->index,
                    "Only the study (or manifest row) at position K; database "
                    "OUT/shards/index-K.sqlite")
      ->check(CLI::NonNegativeNumber);
  batch->add_flag("--plan", a->plan,
                  "Only find the studies under ROOT and write OUT/manifest.csv (for --manifest "
                  "with --shard/--index on a cluster)");
  batch->add_flag("--force", a->force, "Redo every study, even those with current outputs");
  batch->add_flag("--retry-failed", a->retryFailed,
                  "Also redo studies whose analysis failed (crashes and time-outs always are)");
  batch->add_option("--memory-limit", a->memoryMb,
                    "Memory the running studies may use together, MB (default: 85% of what is "
                    "available)");
  batch->add_flag("--progress", a->progress, "Progress bar even if stderr is not a terminal");
  batch->add_flag("--no-progress", a->noProgress, "Plain log lines, no progress bar");
  batch->add_option("--run-arg", a->runArgs,
                    "Extra argument passed to every `ischia run` (repeat for several; write "
                    "--run-arg=--flag)")
      ->allow_extra_args(false);
  batch->callback([a, exitCode] {
    BatchOptions o;
    o.root = a->root;
    if (!a->manifest.empty()) o.manifest = fs::path(a->manifest);
    o.out = a->out;
    o.jobs = a->jobs;
    o.threads = a->threads;
    if (!a->config.empty()) o.configPath = fs::path(a->config);
    o.timeoutSeconds = a->timeout;
    if (!a->shard.empty() && a->index >= 0) throw InputError("give --shard or --index, not both");
    if (!a->shard.empty()) o.selection = ParseShard(a->shard);
    if (a->index >= 0) o.selection.index = a->index;
    o.planOnly = a->plan;
    o.force = a->force;
    o.retryFailed = a->retryFailed;
    if (!a->memoryMb.empty()) {
      char* end = nullptr;
      const double mb = std::strtod(a->memoryMb.c_str(), &end);
      if (end == a->memoryMb.c_str() || *end || mb <= 0)
        throw InputError("--memory-limit " + a->memoryMb + ": expected a number of MB");
      o.memoryLimitBytes = static_cast<std::uint64_t>(mb * 1048576.0);
    }
    o.progress = a->noProgress ? 0 : a->progress ? 1 : -1;
    o.runArgs = a->runArgs;
    *exitCode = RunBatch(o);
  });

  // ---- merge
  auto* merge = app.add_subcommand(
      "merge",
      "Combine shard databases (default OUT/shards/*.sqlite) into OUT/cohort.sqlite and "
      "OUT/cohort.csv; rerunning gives the same result");
  auto mergeOut = std::make_shared<std::string>();
  auto mergeInputs = std::make_shared<std::vector<std::string>>();
  merge->add_option("OUT", *mergeOut, "Batch output folder")->required();
  merge->add_option("DB", *mergeInputs, "Shard databases (default: OUT/shards/*.sqlite)");
  merge->callback([mergeOut, mergeInputs, exitCode] {
    const fs::path out = *mergeOut;
    std::vector<fs::path> inputs(mergeInputs->begin(), mergeInputs->end());
    if (inputs.empty()) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(out / "shards", ec)) {
        if (e.path().extension() == ".sqlite") inputs.push_back(e.path());
      }
      if (ec && !fs::exists(out))
        throw InputError(out.string() + ": no such folder");
      std::sort(inputs.begin(), inputs.end());
    }
    if (inputs.empty())
      throw InputError("no shard databases in " + (out / "shards").string() +
                       " (run ischia batch --shard I/N or --index K first)");
    const fs::path db = out / "cohort.sqlite";
    int studies = 0;
    try {
      studies = MergeCohortDatabases(inputs, db);
    } catch (const std::exception& e) {
      throw InputError(std::string("merge: ") + e.what());
    }
    ExportCohortCsv(db, out / "cohort.csv");
    std::cout << "ischia merge: " << inputs.size() << " databases, " << studies
              << " studies -> " << db.string() << ", " << (out / "cohort.csv").string() << "\n";
    *exitCode = kExitOk;
  });

  // ---- cohort
  auto* cohort = app.add_subcommand(
      "cohort",
      "Write OUT/cohort.html from OUT/cohort.sqlite: distributions, left-right scatter, grades, "
      "outliers linked to their studies, failures");
  auto cohortOut = std::make_shared<std::string>();
  cohort->add_option("OUT", *cohortOut, "Batch output folder")->required();
  cohort->callback([cohortOut, exitCode] {
    const fs::path out = *cohortOut;
    const fs::path db = out / "cohort.sqlite";
    if (!fs::is_regular_file(db))
      throw InputError(db.string() + " does not exist (run ischia batch, or ischia merge for "
                       "shards, first)");
    CohortPageSummary s;
    try {
      s = WriteCohortPage(out);
    } catch (const std::exception& e) {
      throw InputError(e.what());
    }
    std::cout << "ischia cohort: " << s.studies << " studies (" << s.failed << " failed, "
              << s.outliers << " outlying sides) -> " << (out / "cohort.html").string() << "\n";
    *exitCode = kExitOk;
  });
}

}  // namespace ischia
