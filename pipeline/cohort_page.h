#pragma once
// `ischia cohort OUT`: OUT/cohort.html from OUT/cohort.sqlite, self-contained (inline SVG and
// CSS, no external URL, no patient identifier): distributions of thickness, CSA and signal ratio
// per side, left-right scatter plots, grade counts, outliers linked to their study's report
// (report.html if the run wrote one, else result.json), and the failed studies with reasons.
#include <filesystem>

namespace ischia {

struct CohortPageSummary {
  int studies = 0, failed = 0, outliers = 0;
};

// Reads OUT/cohort.sqlite, writes OUT/cohort.html atomically.
CohortPageSummary WriteCohortPage(const std::filesystem::path& out);

}  // namespace ischia
