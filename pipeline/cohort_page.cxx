#include "cohort_page.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "atomic_output.h"
#include "results_store.h"

namespace ischia {
namespace fs = std::filesystem;

namespace {

const char* kLeftColour = "#1f77b4";
const char* kRightColour = "#d62728";

std::string Esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string F(double v, int digits = 2) {
  if (!std::isfinite(v)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::optional<double> ToDouble(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(s->c_str(), &end);
  if (end == s->c_str() || !std::isfinite(v)) return std::nullopt;
  return v;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

// Robust spread: 1.4826 x median absolute deviation.
double RobustSigma(const std::vector<double>& v, double median) {
  std::vector<double> dev;
  for (double x : v) dev.push_back(std::fabs(x - median));
  return 1.4826 * Quantile(dev, 0.5);
}

struct SideRow {
  std::string key, side, grade, tearType, status;
  bool found = false, tendonFound = false;
  std::optional<double> thickness, csa, signal, width, volume;
};

struct Measure {
  const char* name;
  const char* label;
  std::optional<double> SideRow::*field;
};

const Measure kMeasures[] = {
    {"thickness_mm", "Thickness (mm)", &SideRow::thickness},
    {"csa_mm2", "CSA (mm²)", &SideRow::csa},
    {"signal_ratio", "Signal ratio (tendon / muscle)", &SideRow::signal},
};

std::vector<double> Values(const std::vector<SideRow>& rows, const std::string& side,
                           std::optional<double> SideRow::*field) {
  std::vector<double> v;
  for (const SideRow& r : rows)
    if (r.side == side && r.tendonFound && (r.*field)) v.push_back(*(r.*field));
  return v;
}

// Overlaid histograms of the left and right values.
std::string HistogramSvg(const std::vector<double>& left, const std::vector<double>& right,
                         const std::string& label) {
  const int w = 420, h = 236, ml = 44, mr = 24, mt = 30, mb = 40;
  std::ostringstream s;
  s << "<svg width='" << w << "' height='" << h
    << "' role='img' aria-label='" << Esc(label) << " histogram'>";
  std::vector<double> all = left;
  all.insert(all.end(), right.begin(), right.end());
  if (all.empty()) {
    s << "<text x='" << w / 2 << "' y='" << h / 2 << "' text-anchor='middle'>no values</text></svg>";
    return s.str();
  }
  double lo = *std::min_element(all.begin(), all.end());
  double hi = *std::max_element(all.begin(), all.end());
  if (hi - lo < 1e-9) lo -= 0.5, hi += 0.5;
  const int bins = std::clamp(static_cast<int>(std::ceil(std::sqrt(all.size()) * 1.5)), 5, 30);
  const double bw = (hi - lo) / bins;
  auto counts = [&](const std::vector<double>& v) {
    std::vector<int> c(static_cast<std::size_t>(bins), 0);
    for (double x : v) c[static_cast<std::size_t>(std::clamp(int((x - lo) / bw), 0, bins - 1))]++;
    return c;
  };
  const std::vector<int> cl = counts(left), cr = counts(right);
  int maxc = 1;
  for (int i = 0; i < bins; ++i) maxc = std::max({maxc, cl[i], cr[i]});
  const double pw = w - ml - mr, ph = h - mt - mb;
  auto X = [&](double v) { return ml + (v - lo) / (hi - lo) * pw; };
  auto Y = [&](double c) { return mt + ph - c / maxc * ph; };
  s << "<line x1='" << ml << "' y1='" << mt + ph << "' x2='" << ml + pw << "' y2='" << mt + ph
    << "' stroke='#333'/><line x1='" << ml << "' y1='" << mt << "' x2='" << ml << "' y2='"
    << mt + ph << "' stroke='#333'/>";
  for (int i = 0; i < bins; ++i) {
    const double x0 = X(lo + i * bw), x1 = X(lo + (i + 1) * bw);
    for (int k = 0; k < 2; ++k) {
      const int c = k == 0 ? cl[i] : cr[i];
      if (c == 0) continue;
      s << "<rect x='" << F(x0 + 0.5, 1) << "' y='" << F(Y(c), 1) << "' width='"
        << F(std::max(0.5, x1 - x0 - 1), 1) << "' height='" << F(mt + ph - Y(c), 1)
        << "' fill='" << (k == 0 ? kLeftColour : kRightColour) << "' fill-opacity='0.5'><title>"
        << (k == 0 ? "left" : "right") << " " << F(lo + i * bw) << "-" << F(lo + (i + 1) * bw)
        << ": " << c << "</title></rect>";
    }
  }
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4;
    s << "<text x='" << F(X(v), 1) << "' y='" << mt + ph + 14
      << "' font-size='10' text-anchor='middle'>" << F(v, hi - lo < 5 ? 2 : 1) << "</text>";
  }
  s << "<text x='" << F(ml + pw / 2, 1) << "' y='" << h - 6
    << "' font-size='11' text-anchor='middle'>" << Esc(label) << "</text>";
  s << "<text x='" << ml - 6 << "' y='" << mt + 8 << "' font-size='10' text-anchor='end'>" << maxc
    << "</text><text x='" << ml - 6 << "' y='" << F(mt + ph, 1)
    << "' font-size='10' text-anchor='end'>0</text>";
  s << "<rect x='" << ml << "' y='4' width='10' height='10' fill='" << kLeftColour
    << "' fill-opacity='0.5'/><text x='" << ml + 14 << "' y='13' font-size='10'>left ("
    << left.size() << ")</text>";
  s << "<rect x='" << ml + 90 << "' y='4' width='10' height='10' fill='" << kRightColour
    << "' fill-opacity='0.5'/><text x='" << ml + 104 << "' y='13' font-size='10'>right ("
    << right.size() << ")</text>";
  s << "</svg>";
  return s.str();
}

// Left against right, one point per study, linked to the study's report.
std::string ScatterSvg(const std::vector<std::tuple<double, double, std::string, std::string>>& pts,
                       const std::string& label) {
  const int w = 340, h = 320, ml = 48, mr = 14, mt = 14, mb = 42;
  std::ostringstream s;
  s << "<svg width='" << w << "' height='" << h
    << "' role='img' aria-label='" << Esc(label) << " left against right'>";
  if (pts.empty()) {
    s << "<text x='" << w / 2 << "' y='" << h / 2
      << "' text-anchor='middle'>no study with both sides measured</text></svg>";
    return s.str();
  }
  double lo = INFINITY, hi = -INFINITY;
  for (const auto& [l, r, key, link] : pts) lo = std::min({lo, l, r}), hi = std::max({hi, l, r});
  const double pad = std::max(1e-6, (hi - lo) * 0.08);
  lo -= pad, hi += pad;
  const double pw = w - ml - mr, ph = h - mt - mb;
  auto X = [&](double v) { return ml + (v - lo) / (hi - lo) * pw; };
  auto Y = [&](double v) { return mt + ph - (v - lo) / (hi - lo) * ph; };
  s << "<rect x='" << ml << "' y='" << mt << "' width='" << pw << "' height='" << ph
    << "' fill='none' stroke='#333'/>";
  s << "<line x1='" << F(X(lo), 1) << "' y1='" << F(Y(lo), 1) << "' x2='" << F(X(hi), 1)
    << "' y2='" << F(Y(hi), 1) << "' stroke='#999' stroke-dasharray='4 3'/>";
  for (const auto& [l, r, key, link] : pts) {
    s << "<a href='" << Esc(link) << "'><circle cx='" << F(X(l), 1) << "' cy='" << F(Y(r), 1)
      << "' r='4' fill='#555' fill-opacity='0.7'><title>" << Esc(key) << ": left " << F(l)
      << ", right " << F(r) << "</title></circle></a>";
  }
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4;
    s << "<text x='" << F(X(v), 1) << "' y='" << F(mt + ph + 14, 1)
      << "' font-size='10' text-anchor='middle'>" << F(v, 1) << "</text>";
    s << "<text x='" << ml - 4 << "' y='" << F(Y(v) + 3, 1)
      << "' font-size='10' text-anchor='end'>" << F(v, 1) << "</text>";
  }
  s << "<text x='" << F(ml + pw / 2, 1) << "' y='" << h - 6
    << "' font-size='11' text-anchor='middle'>left " << Esc(label) << "</text>";
  s << "<text transform='translate(12," << F(mt + ph / 2, 1)
    << ") rotate(-90)' font-size='11' text-anchor='middle'>right " << Esc(label) << "</text>";
  s << "</svg>";
  return s.str();
}

std::string GradeSvg(const std::map<std::string, std::map<std::string, int>>& counts,
                     const std::vector<std::string>& grades) {
  const int w = 520, h = 220, ml = 40, mt = 14, mb = 44;
  int maxc = 1;
  for (const auto& [side, m] : counts)
    for (const auto& [g, c] : m) maxc = std::max(maxc, c);
  const double ph = h - mt - mb;
  const double groupW = (w - ml - 10.0) / std::max<std::size_t>(1, grades.size());
  std::ostringstream s;
  s << "<svg width='" << w << "' height='" << h
    << "' role='img' aria-label='grade counts'>";
  s << "<line x1='" << ml << "' y1='" << mt + ph << "' x2='" << w - 10 << "' y2='" << mt + ph
    << "' stroke='#333'/>";
  for (std::size_t g = 0; g < grades.size(); ++g) {
    const double gx = ml + g * groupW;
    int k = 0;
    for (const char* side : {"left", "right"}) {
      const auto it = counts.find(side);
      const int c = it == counts.end() || !it->second.count(grades[g]) ? 0 : it->second.at(grades[g]);
      const double bh = ph * c / maxc;
      const double x = gx + groupW * 0.15 + k * groupW * 0.35;
      s << "<rect x='" << F(x, 1) << "' y='" << F(mt + ph - bh, 1) << "' width='"
        << F(groupW * 0.33, 1) << "' height='" << F(bh, 1) << "' fill='"
        << (k == 0 ? kLeftColour : kRightColour) << "'><title>" << side << " " << Esc(grades[g])
        << ": " << c << "</title></rect>";
      s << "<text x='" << F(x + groupW * 0.165, 1) << "' y='" << F(mt + ph - bh - 3, 1)
        << "' font-size='10' text-anchor='middle'>" << c << "</text>";
      ++k;
    }
    s << "<text x='" << F(gx + groupW / 2, 1) << "' y='" << F(mt + ph + 16, 1)
      << "' font-size='11' text-anchor='middle'>" << Esc(grades[g]) << "</text>";
  }
  s << "<text x='" << ml << "' y='" << h - 8 << "' font-size='10' fill='" << kLeftColour
    << "'>■ left</text><text x='" << ml + 50 << "' y='" << h - 8 << "' font-size='10' fill='"
    << kRightColour << "'>■ right</text></svg>";
  return s.str();
}

}  // namespace

CohortPageSummary WriteCohortPage(const fs::path& out) {
  CohortDb db(out / "cohort.sqlite");
  CohortPageSummary summary;

  struct StudyInfo {
    std::string status, errorCode, errorMessage, outputDir, finishedAt;
  };
  std::map<std::string, StudyInfo> studies;
  for (const auto& r : db.Query("SELECT study_key, status, error_code, error_message, output_dir, "
                                "finished_at FROM studies ORDER BY study_key")) {
    studies[*r[0]] = {r[1].value_or(""), r[2].value_or(""), r[3].value_or(""),
                      r[4].value_or("studies/" + *r[0]), r[5].value_or("")};
  }
  // Link of a study: its report if the run wrote one, else result.json, else its log.
  auto link = [&](const std::string& key) {
    const auto it = studies.find(key);
    const std::string dir = it != studies.end() ? it->second.outputDir : "studies/" + key;
    for (const char* f : {"report.html", "result.json", "run.log"})
      if (fs::exists(out / dir / f)) return dir + "/" + f;
    return dir + "/";
  };

  std::vector<SideRow> rows;
  for (const auto& r : db.Query(
           "SELECT s.study_key, s.side, s.found, s.tendon_found, s.grade, s.tear_type, "
           "s.thickness_mm, s.csa_mm2, s.signal_ratio, s.width_mm, s.volume_mm3, st.status "
           "FROM sides s JOIN studies st ON st.study_key = s.study_key "
           "ORDER BY s.study_key, s.side")) {
    SideRow row;
    row.key = *r[0];
    row.side = r[1].value_or("");
    row.found = r[2].value_or("0") == "1";
    row.tendonFound = r[3].value_or("0") == "1";
    row.grade = r[4].value_or("");
    row.tearType = r[5].value_or("");
    row.thickness = ToDouble(r[6]);
    row.csa = ToDouble(r[7]);
    row.signal = ToDouble(r[8]);
    row.width = ToDouble(r[9]);
    row.volume = ToDouble(r[10]);
    row.status = r[11].value_or("");
    if (row.status == "ok") rows.push_back(row);
  }

  int analysed = 0;
  for (const auto& [k, s] : studies) {
    if (s.status == "ok") ++analysed;
    else ++summary.failed;
  }
  summary.studies = static_cast<int>(studies.size());

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
       "<title>ischia cohort</title><style>"
       "body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}"
       "h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}"
       "table{border-collapse:collapse;font-size:13px;margin:8px 0}"
       "td,th{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}"
       "th{background:#f3f3f3}.num{text-align:right}.plots{display:flex;flex-wrap:wrap;gap:18px}"
       ".plots figure{margin:0}.note{color:#555;font-size:13px}code{font-size:12px}"
       "</style></head><body>\n";
  h << "<h1>ischia cohort</h1>\n<p>" << summary.studies << " studies: " << analysed
    << " analysed, " << summary.failed << " failed. Generated " << Esc(NowIsoUtc())
    << " from <code>cohort.sqlite</code>.";
  const auto versions = db.Query(
      "SELECT software_version, build_id, config_hash, COUNT(*) FROM studies GROUP BY 1, 2, 3");
  if (!versions.empty()) {
    h << " Software / settings:";
    for (const auto& v : versions)
      h << " <code>" << Esc(v[0].value_or("?")) << " build " << Esc(v[1].value_or("?"))
        << " config " << Esc(v[2].value_or("?")) << "</code> (" << v[3].value_or("0") << ")";
  }
  h << "</p>\n<p class='note'>Measurements are those of <code>ischia run</code> (experimental: "
       "check the label maps). Sides without a measured tendon are left out of the plots. "
       "Study keys are hashes of the StudyInstanceUID; patient identifiers are only in the "
       "database.</p>\n";

  // Distributions.
  h << "<h2>Distributions per side</h2>\n<div class='plots'>";
  for (const Measure& m : kMeasures) {
    h << "<figure>"
      << HistogramSvg(Values(rows, "left", m.field), Values(rows, "right", m.field), m.label)
      << "</figure>";
  }
  h << "</div>\n<table><tr><th>measure</th><th>side</th><th class='num'>n</th>"
       "<th class='num'>median</th><th class='num'>IQR</th><th class='num'>min</th>"
       "<th class='num'>max</th></tr>";
  for (const Measure& m : kMeasures) {
    for (const char* side : {"left", "right"}) {
      const std::vector<double> v = Values(rows, side, m.field);
      h << "<tr><td>" << Esc(m.label) << "</td><td>" << side << "</td><td class='num'>"
        << v.size() << "</td><td class='num'>" << F(Quantile(v, 0.5)) << "</td><td class='num'>"
        << F(Quantile(v, 0.25)) << "-" << F(Quantile(v, 0.75)) << "</td><td class='num'>"
        << F(v.empty() ? NAN : *std::min_element(v.begin(), v.end())) << "</td><td class='num'>"
        << F(v.empty() ? NAN : *std::max_element(v.begin(), v.end())) << "</td></tr>";
    }
  }
  h << "</table>\n";

  // Left-right scatter plots.
  h << "<h2>Left against right</h2>\n<p class='note'>One point per study (click for its "
       "report); the dashed line is left = right.</p><div class='plots'>";
  std::map<std::string, std::map<std::string, const SideRow*>> bySide;
  for (const SideRow& r : rows) bySide[r.key][r.side] = &r;
  for (const Measure& m : {kMeasures[0], kMeasures[1]}) {
    std::vector<std::tuple<double, double, std::string, std::string>> pts;
    for (const auto& [key, sides] : bySide) {
      const auto l = sides.find("left"), r = sides.find("right");
      if (l == sides.end() || r == sides.end()) continue;
      if (!l->second->tendonFound || !r->second->tendonFound) continue;
      const auto lv = l->second->*m.field, rv = r->second->*m.field;
      if (lv && rv) pts.emplace_back(*lv, *rv, key, link(key));
    }
    h << "<figure>" << ScatterSvg(pts, m.label) << "</figure>";
  }
  h << "</div>\n";

  // Grades.
  const std::vector<std::string> grades = {"normal", "tendinopathy", "partial_tear",
                                           "complete_tear", "not found"};
  std::map<std::string, std::map<std::string, int>> gradeCounts;
  for (const SideRow& r : rows) {
    const std::string g = r.found && !r.grade.empty() ? r.grade : "not found";
    gradeCounts[r.side][g]++;
  }
  h << "<h2>Grades</h2>\n" << GradeSvg(gradeCounts, grades) << "\n";

  // Outliers: robust z-score > 3.5 on a measure of one side, or on the left/right ratio.
  struct Outlier {
    std::string key, side, measure;
    double value, median, z;
  };
  std::vector<Outlier> outliers;
  for (const Measure& m : kMeasures) {
    for (const char* side : {"left", "right"}) {
      const std::vector<double> v = Values(rows, side, m.field);
      if (v.size() < 5) continue;
      const double med = Quantile(v, 0.5);
      const double sigma = RobustSigma(v, med);
      if (!(sigma > 0)) continue;
      for (const SideRow& r : rows) {
        if (r.side != side || !r.tendonFound || !(r.*m.field)) continue;
        const double z = (*(r.*m.field) - med) / sigma;
        if (std::fabs(z) > 3.5) outliers.push_back({r.key, side, m.name, *(r.*m.field), med, z});
      }
    }
  }
  {
    std::vector<std::pair<std::string, double>> ratios;
    for (const auto& [key, sides] : bySide) {
      const auto l = sides.find("left"), r = sides.find("right");
      if (l == sides.end() || r == sides.end() || !l->second->thickness || !r->second->thickness)
        continue;
      if (!l->second->tendonFound || !r->second->tendonFound || *r->second->thickness <= 0) continue;
      ratios.emplace_back(key, std::log(*l->second->thickness / *r->second->thickness));
    }
    if (ratios.size() >= 5) {
      std::vector<double> v;
      for (const auto& [k, x] : ratios) v.push_back(x);
      const double med = Quantile(v, 0.5), sigma = RobustSigma(v, med);
      if (sigma > 0)
        for (const auto& [k, x] : ratios)
          if (std::fabs((x - med) / sigma) > 3.5)
            outliers.push_back({k, "left/right", "thickness ratio", std::exp(x), std::exp(med),
                                (x - med) / sigma});
    }
  }
  std::sort(outliers.begin(), outliers.end(),
            [](const Outlier& a, const Outlier& b) { return std::fabs(a.z) > std::fabs(b.z); });
  summary.outliers = static_cast<int>(outliers.size());
  h << "<h2>Outliers (" << outliers.size() << ")</h2>\n<p class='note'>Sides more than 3.5 "
       "robust standard deviations (1.4826 x MAD) from the cohort median of their side, and "
       "studies whose left/right thickness ratio is; computed with at least 5 values.</p>";
  if (!outliers.empty()) {
    h << "<table><tr><th>study</th><th>side</th><th>measure</th><th class='num'>value</th>"
         "<th class='num'>cohort median</th><th class='num'>robust z</th></tr>";
    for (const Outlier& o : outliers) {
      h << "<tr><td><a href='" << Esc(link(o.key)) << "'>" << Esc(o.key) << "</a></td><td>"
        << Esc(o.side) << "</td><td>" << Esc(o.measure) << "</td><td class='num'>" << F(o.value)
        << "</td><td class='num'>" << F(o.median) << "</td><td class='num'>" << F(o.z, 1)
        << "</td></tr>";
    }
    h << "</table>\n";
  }

  // Failures.
  h << "<h2>Failed studies (" << summary.failed << ")</h2>\n";
  if (summary.failed > 0) {
    h << "<table><tr><th>study</th><th>status</th><th>error</th><th>reason</th></tr>";
    for (const auto& [key, s] : studies) {
      if (s.status == "ok") continue;
      h << "<tr><td><a href='" << Esc(link(key)) << "'>" << Esc(key) << "</a></td><td>"
        << Esc(s.status) << "</td><td>" << Esc(s.errorCode) << "</td><td>"
        << Esc(s.errorMessage.size() > 400 ? s.errorMessage.substr(0, 397) + "..." : s.errorMessage)
        << "</td></tr>";
    }
    h << "</table>\n";
  }
  const auto inputs = db.Query(
      "SELECT code, COUNT(*), MIN(message) FROM failures WHERE study_key IS NULL GROUP BY code "
      "ORDER BY 2 DESC");
  if (!inputs.empty()) {
    h << "<h2>Inputs that did not become a study</h2>\n<table><tr><th>problem</th>"
         "<th class='num'>files or folders</th><th>example reason</th></tr>";
    for (const auto& r : inputs)
      h << "<tr><td>" << Esc(r[0].value_or("")) << "</td><td class='num'>" << r[1].value_or("0")
        << "</td><td>" << Esc(r[2].value_or("")) << "</td></tr>";
    h << "</table><p class='note'>Each one, with its path, is in the <code>failures</code> table "
         "of the database (<code>study_key IS NULL</code>).</p>\n";
  }
  h << "</body></html>\n";
  WriteFileAtomically(out / "cohort.html", h.str());
  return summary;
}

}  // namespace ischia
