#pragma once
// Tolerant reading of the result JSON for the report, and the page's sections that live in
// report_sections.cxx. Internal to the report.
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "report.h"

namespace ischia::report {

// The value at "a/b/0/c" (object keys and array indices), or nullptr if any step is missing.
const nlohmann::json* At(const nlohmann::json& root, const std::string& path);
// A finite number at `path`.
std::optional<double> Num(const nlohmann::json& root, const std::string& path);
// A string (numbers and booleans as text) at `path`, or "".
std::string Str(const nlohmann::json& root, const std::string& path);
// Fixed decimals; "—" for no value.
std::string Fmt(std::optional<double> value, int decimals);

void FiguresSection(std::ostringstream& h, const nlohmann::json& result,
                    const std::filesystem::path& outDir, const ReportOptions& options,
                    std::vector<std::string>& warnings);
void ViewerSection(std::ostringstream& h, const nlohmann::json& result,
                   const std::filesystem::path& outDir, const ReportOptions& options,
                   ReportPage& page);
struct QcItem {
  std::string severity;  // "error", "warning", "info"
  std::string text;
};
// What the result says the reader should know: failure, sides or tendons not found, per-side notes,
// run warnings, thin coverage; then the report's own warnings.
std::vector<QcItem> CollectQc(const nlohmann::json& result,
                              const std::vector<std::string>& reportWarnings,
                              const std::string& pdfNote);
void QcSection(std::ostringstream& h, const nlohmann::json& result,
               const std::vector<std::string>& reportWarnings, const std::string& pdfNote);
void SoftwareSection(std::ostringstream& h, const nlohmann::json& result, const ReportPage& page,
                     const std::string& pdfNote, bool forPrint);

}  // namespace ischia::report
