// `ischia phantom`: writes synthetic pelvis MRI studies with ground truth (data/phantom.h).
#include <iostream>
#include <stdexcept>

#include "atomic_output.h"
#include "cli.h"
#include "phantom.h"

namespace ischia {

void AddPhantomCommand(CLI::App& app, int* exitCode) {
  auto* cmd = app.add_subcommand(
      "phantom", "Write synthetic pelvis MRI studies (DICOM) with ground truth in OUT/truth/");
  struct Args {
    std::string out, left, right;
    std::uint64_t seed = 1;
    int suite = 0;
    double leftRetraction = -1, rightRetraction = -1, inPlaneScale = 1;
    int supersampling = 2;
    std::vector<std::string> series;
    bool force = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--out", args->out, "Output folder (must not exist or be empty, unless --force)")
      ->required();
  cmd->add_option("--seed", args->seed, "Random seed: same seed, same bytes")
      ->capture_default_str();
  cmd->add_option("--left", args->left,
                  "Case of the left side: normal, tendinopathy, partial_tear, complete_tear "
                  "(default: drawn from the seed)");
  cmd->add_option("--right", args->right, "Case of the right side (as --left)");
  cmd->add_option("--left-retraction", args->leftRetraction, "Complete tear: stump retraction, mm");
  cmd->add_option("--right-retraction", args->rightRetraction,
                  "Complete tear: stump retraction, mm");
  cmd->add_option("--series", args->series, "Series to write: t1 pdfs stir localizer (default all)")
      ->delimiter(',');
  cmd->add_option("--suite", args->suite,
                  "Write N >= 4 studies as OUT/study-NNN covering every case on each side");
  cmd->add_option("--in-plane-scale", args->inPlaneScale,
                  "Coarsen in-plane grids by this factor (fast tests; 1 = clinical)")
      ->capture_default_str();
  cmd->add_option("--supersampling", args->supersampling,
                  "Partial-volume sub-samples per pixel edge")
      ->capture_default_str();
  cmd->add_flag("--force", args->force, "Replace a non-empty output folder");

  cmd->callback([args, exitCode]() {
    namespace fs = std::filesystem;
    PhantomOptions options;
    options.seed = args->seed;
    options.inPlaneScale = args->inPlaneScale;
    options.supersampling = args->supersampling;
    try {
      if (!args->left.empty()) options.left.pathology = ParsePhantomCase(args->left);
      if (!args->right.empty()) options.right.pathology = ParsePhantomCase(args->right);
      for (const auto& s : args->series) options.series.push_back(ParsePhantomSeries(s));
    } catch (const std::invalid_argument& e) {
      throw InputError(e.what());
    }
    if (args->leftRetraction >= 0) options.left.retractionMm = args->leftRetraction;
    if (args->rightRetraction >= 0) options.right.retractionMm = args->rightRetraction;
    if (args->suite != 0 && args->suite < 4) throw InputError("--suite needs N >= 4");
    if (args->suite != 0 && (!args->left.empty() || !args->right.empty()))
      throw InputError("--suite chooses the cases itself: drop --left/--right");
    const fs::path out = args->out;
    if (fs::exists(out) && (!fs::is_directory(out) || (!fs::is_empty(out) && !args->force)))
      throw InputError("output folder " + out.string() + " exists and is not empty (use --force)");
    // Written under a temporary name and renamed into place: an interrupted run never leaves
    // a study that looks complete.
    try {
      CreateDirectoryAtomically(out, [&](const fs::path& tmp) {
        if (args->suite > 0) {
          const auto studies = GeneratePhantomSuite(args->suite, options, tmp);
          for (const auto& s : studies) {
            std::cout << (out / fs::relative(s.truthJson.parent_path().parent_path(), tmp)).string()
                      << "  left " << ToString(s.left.pathology) << ", right "
                      << ToString(s.right.pathology) << "  (" << s.seconds << " s)\n";
          }
        } else {
          const auto s = GeneratePhantomStudy(options, tmp);
          std::cout << "wrote " << out.string() << "  left " << ToString(s.left.pathology)
                    << ", right " << ToString(s.right.pathology) << "  truth "
                    << (out / "truth" / "truth.json").string() << "  (" << s.seconds << " s)\n";
        }
      });
    } catch (const std::invalid_argument& e) {
      throw InputError(e.what());
    }
    *exitCode = kExitOk;
  });
}

}  // namespace ischia
