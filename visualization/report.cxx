// WriteReport: report.pdf first (printed from a variant of the page without the viewer), then
// report.html, which says whether the PDF exists and why not.
#include "report.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* const kVtkJsInBuildTree = "third_party/vtkjs/node_modules/vtk.js/vtk.js";

// Temporary sibling, flushed, renamed over `path`; throws std::runtime_error.
void WriteAtomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".partial-" + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot write " + tmp.string() + ": " + std::strerror(errno));
  const char* p = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string err = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error("cannot write " + tmp.string() + ": " + err);
    }
    p += n, left -= static_cast<std::size_t>(n);
  }
  const bool flushed = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !flushed) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot flush " + tmp.string());
  }
  fs::rename(tmp, path);
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

fs::path FindVtkJsBundle() {
  std::error_code ec;
  if (const char* env = std::getenv("ISCHIA_VTKJS"); env && *env) {
    return fs::is_regular_file(env, ec) ? fs::path(env) : fs::path();
  }
#ifdef ISCHIA_VTKJS_BUNDLE
  if (fs::is_regular_file(ISCHIA_VTKJS_BUNDLE, ec)) return ISCHIA_VTKJS_BUNDLE;
#endif
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path beside = exe.parent_path() / kVtkJsInBuildTree;
    if (fs::is_regular_file(beside, ec)) return beside;
  }
  return {};
}

json ReportOutcome::ToJson() const {
  return {{"html", htmlWritten ? json("report.html") : json(nullptr)},
          {"pdf", pdfWritten ? json("report.pdf") : json(nullptr)},
          {"pdf_note", pdfNote.empty() ? json(nullptr) : json(pdfNote)},
          {"interactive_3d", interactive3d},
          {"viewer_note", viewerNote.empty() ? json(nullptr) : json(viewerNote)},
          {"html_bytes", htmlBytes},
          {"pdf_bytes", pdfBytes},
          {"html_s", htmlSeconds},
          {"pdf_s", pdfSeconds},
          {"warnings", warnings}};
}

ReportOutcome WriteReport(const json& result, const fs::path& outDir,
                          const ReportOptions& options) {
  ReportOutcome out;
  std::error_code ec;
  const fs::path htmlPath = outDir / "report.html", pdfPath = outDir / "report.pdf";
  fs::remove(pdfPath, ec);  // a stale PDF must not pass for this run's
  try {
    if (!options.writePdf) {
      out.pdfNote = "skipped (PDF disabled by configuration: report.pdf = false or --no-pdf)";
    } else {
      const auto start = std::chrono::steady_clock::now();
      std::string dir = (fs::temp_directory_path() / "ischia-report-XXXXXX").string();
      if (!::mkdtemp(dir.data())) {
        out.pdfNote = std::string("cannot create a temporary folder: ") + std::strerror(errno);
      } else {
        const fs::path printPage = fs::path(dir) / "report-print.html";
        try {
          WriteAtomically(printPage, ComposeReportHtml(result, outDir, options, "", true).html);
          out.pdfWritten = PrintHtmlToPdf(printPage, pdfPath, options.chromium, options.pdfTimeoutS,
                                          &out.pdfNote);
        } catch (const std::exception& e) {
          out.pdfNote = e.what();
        }
        fs::remove_all(dir, ec);
      }
      out.pdfSeconds = SecondsSince(start);
      if (out.pdfWritten) out.pdfBytes = fs::file_size(pdfPath, ec);
    }
    if (!out.pdfNote.empty() && options.writePdf)
      out.warnings.push_back("report.pdf not written: " + out.pdfNote);

    const auto start = std::chrono::steady_clock::now();
    ReportPage page = ComposeReportHtml(result, outDir, options, out.pdfNote, false);
    WriteAtomically(htmlPath, page.html);
    out.htmlSeconds = SecondsSince(start);
    out.htmlWritten = true;
    out.htmlBytes = page.html.size();
    out.interactive3d = page.interactive3d;
    out.viewerNote = page.viewerNote;
    out.warnings.insert(out.warnings.end(), page.warnings.begin(), page.warnings.end());
  } catch (const std::exception& e) {
    out.warnings.push_back(std::string("report.html not written: ") + e.what());
  }
  return out;
}

}  // namespace ischia
