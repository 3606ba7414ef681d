#pragma once
// The per-study report: OUT_DIR/report.html (one self-contained file: CSS, images, meshes and the
// vtk.js viewer inlined; no external URL) and OUT_DIR/report.pdf (the same page printed by
// headless Chromium). Composed from the in-memory result JSON (schema ischia.result/1) and the
// files its "outputs" block lists, relative to OUT_DIR. Nothing here throws for bad input: a
// missing image, mesh, bundle or browser is said in the report and in ReportOutcome::warnings.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace ischia {

struct ReportOptions {
  bool writePdf = true;
  // vtk.js UMD bundle to inline; empty: FindVtkJsBundle().
  std::filesystem::path vtkJsBundle;
  // Chromium executable; empty: FindChromium().
  std::filesystem::path chromium;
  double pdfTimeoutS = 120;  // Chromium is killed (its whole process group) after this
  // Meshes are decimated to at most this many triangles each (bone: half) before embedding.
  std::size_t maxTrianglesPerMesh = 60000;
  std::size_t maxImageBytes = 20u << 20;  // larger PNGs are not embedded
};

struct ReportOutcome {
  bool htmlWritten = false;
  bool pdfWritten = false;
  bool interactive3d = false;  // vtk.js inlined and at least one mesh embedded
  std::string viewerNote;      // why the interactive view is absent, if it is
  std::string pdfNote;         // why report.pdf is absent, if it is
  std::vector<std::string> warnings;
  double htmlSeconds = 0, pdfSeconds = 0;
  std::uintmax_t htmlBytes = 0, pdfBytes = 0;
  nlohmann::json ToJson() const;  // the "report" block of result.json
};

// Writes OUT_DIR/report.html and, unless !options.writePdf, OUT_DIR/report.pdf, both atomically
// (temporary name + rename). Never throws: failures end up in the outcome.
ReportOutcome WriteReport(const nlohmann::json& result, const std::filesystem::path& outDir,
                          const ReportOptions& options = {});

// The HTML text alone. `pdfNote` (empty: none) is shown in the report's outputs section;
// `forPrint` leaves the interactive viewer (script and meshes) out.
struct ReportPage {
  std::string html;
  bool interactive3d = false;
  std::string viewerNote;
  std::vector<std::string> warnings;  // images or meshes that could not be embedded
};
ReportPage ComposeReportHtml(const nlohmann::json& result, const std::filesystem::path& outDir,
                             const ReportOptions& options, const std::string& pdfNote,
                             bool forPrint);

// Prints `html` (a file) to `pdf` with headless Chromium, atomically; false with `why` on any
// failure (no browser, time-out, crash, empty or non-PDF output).
bool PrintHtmlToPdf(const std::filesystem::path& html, const std::filesystem::path& pdf,
                    const std::filesystem::path& chromium, double timeoutS, std::string* why);

// $ISCHIA_VTKJS, else the bundle that scripts/setup.sh installs into the build tree (compile-time
// path, then next to the executable). Empty if none exists.
std::filesystem::path FindVtkJsBundle();
// $ISCHIA_CHROMIUM, else chromium, chromium-headless-shell, chromium-browser, google-chrome on
// PATH. Empty if none.
std::filesystem::path FindChromium();

}  // namespace ischia
