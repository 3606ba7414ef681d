#pragma once
// Fixed text of report.html: its style sheet and the vtk.js viewer script.
namespace ischia::report {
extern const char* const kReportCss;
extern const char* const kViewerScript;
}  // namespace ischia::report
