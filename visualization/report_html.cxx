// report.html: the page itself. Every value comes from the result JSON (ischia.result/1); any
// field may be missing or of the wrong type (a failed or partial run), which shows as "—".
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "report.h"
#include "report_assets.h"
#include "report_internal.h"
#include "report_json.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace report;

namespace {

const char* const kSides[] = {"left", "right"};

std::string SideTitle(const std::string& side) { return side == "left" ? "Left" : "Right"; }

std::string GradeLabel(const std::string& grade) {
  if (grade == "normal") return "Normal";
  if (grade == "tendinopathy") return "Tendinopathy";
  if (grade == "partial_tear") return "Partial tear";
  if (grade == "complete_tear") return "Complete tear";
  return grade.empty() ? "Not graded" : grade;
}

// "DOE^JANE^^^" -> "DOE, JANE".
std::string PersonName(const std::string& pn) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : pn.substr(0, pn.find('='))) {
    if (c == '^') {
      parts.push_back(cur), cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].empty()) continue;
    out += out.empty() ? "" : (i == 1 ? ", " : " ");
    out += parts[i];
  }
  return out;
}

// "20240131" -> "2024-01-31"; anything else unchanged.
std::string DicomDate(const std::string& da) {
  if (da.size() == 8 && da.find_first_not_of("0123456789") == std::string::npos) {
    return da.substr(0, 4) + "-" + da.substr(4, 2) + "-" + da.substr(6, 2);
  }
  return da;
}
// "143012.5" -> "14:30"
std::string DicomTime(const std::string& tm) {
  if (tm.size() >= 4 && tm.substr(0, 4).find_first_not_of("0123456789") == std::string::npos) {
    return tm.substr(0, 2) + ":" + tm.substr(2, 2);
  }
  return tm;
}

std::string Or(const std::string& s, const char* fallback = "—") {
  return s.empty() ? fallback : s;
}

// A CSS string literal (for @page margin boxes): no quote, backslash, newline or '<' left raw.
std::string CssString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\' || c == '<' || c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%X ", c < 0x20 ? ' ' : c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string NowText() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M %Z", &tm);
  return buf;
}

struct Identity {
  std::string name, id, birth, sex, date, time, accession, description, institution, uid;
};

Identity ReadIdentity(const json& r) {
  Identity i;
  i.name = PersonName(Str(r, "study/patient_name"));
  i.id = Str(r, "study/patient_id");
  i.birth = DicomDate(Str(r, "study/patient_birth_date"));
  i.sex = Str(r, "study/patient_sex");
  i.date = DicomDate(Str(r, "study/study_date"));
  i.time = DicomTime(Str(r, "study/study_time"));
  i.accession = Str(r, "study/accession_number");
  i.description = Str(r, "study/study_description");
  i.institution = Str(r, "study/institution_name");
  i.uid = Str(r, "study/study_instance_uid");
  return i;
}

void Head(std::ostringstream& h, const Identity& id) {
  const std::string footer = "ischia · " + Or(id.name, "no patient name") + " · ID " + Or(id.id) +
                             " · study " + Or(id.date);
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    // Nothing may leave the file: no fetch, image, font or frame from anywhere.
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
       "style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\n"
    << "<title>Hamstring MRI report – " << HtmlEscape(Or(id.name, "unnamed")) << " – "
    << HtmlEscape(Or(id.date, "no date")) << "</title>\n<style>" << kReportCss
    << "@page{size:A4;margin:13mm 11mm 15mm 11mm;"
    << "@bottom-left{content:" << CssString(footer) << ";font-size:8pt;color:#555}"
    << "@bottom-right{content:\"Page \" counter(page) \" of \" counter(pages);font-size:8pt;"
       "color:#555}}\n</style></head>\n<body>\n";
}

void Banner(std::ostringstream& h, const json& r, const Identity& id) {
  h << "<header class=\"banner\"><h1>Proximal hamstring origin – MRI measurements</h1>\n"
    << "<table class=\"ids\"><tr><th>Patient</th><td><strong>" << HtmlEscape(Or(id.name))
    << "</strong></td><th>Patient ID</th><td data-id=\"patient_id\">" << HtmlEscape(Or(id.id))
    << "</td><th>Birth date</th><td>" << HtmlEscape(Or(id.birth)) << "</td><th>Sex</th><td>"
    << HtmlEscape(Or(id.sex)) << "</td></tr>\n<tr><th>Study date</th><td>"
    << HtmlEscape(Or(id.date)) << (id.time.empty() ? "" : " " + HtmlEscape(id.time))
    << "</td><th>Accession</th><td data-id=\"accession\">" << HtmlEscape(Or(id.accession))
    << "</td><th>Study</th><td colspan=\"3\">" << HtmlEscape(Or(id.description))
    << (id.institution.empty() ? "" : " · " + HtmlEscape(id.institution)) << "</td></tr>\n"
    << "<tr><th>Study UID</th><td colspan=\"7\" class=\"uid\">" << HtmlEscape(Or(id.uid))
    << "</td></tr></table>\n";
  h << "<p class=\"sub\">Measurements and findings, not a diagnosis: grades are an aid to the "
       "reader, computed by ischia "
    << HtmlEscape(Or(Str(r, "ischia_version"), "(version unknown)"))
    << " with the thresholds printed below. Check the key images before relying on a number.</p>"
    << "</header>\n";
}

void FailureBox(std::ostringstream& h, const json& r) {
  const std::string status = Str(r, "status");
  if (status == "ok") return;
  h << "<div class=\"failed keep\"><strong>Study not analysed</strong><br>";
  if (const json* e = At(r, "error"); e && e->is_object()) {
    h << "Reason: " << HtmlEscape(Or(Str(*e, "message"), "no message")) << " <span class=\"sub\">("
      << HtmlEscape(Or(Str(*e, "code"), "no code")) << ")</span>";
  } else if (status.empty()) {
    h << "The result has no status: it may come from an interrupted or foreign run.";
  } else {
    h << "Status: " << HtmlEscape(status) << "; no reason recorded.";
  }
  h << "<br>No measurements were made; the series found and the QC notes below may say "
       "why.</div>\n";
}

bool SideFound(const json& r, const std::string& side) {
  const json* f = At(r, "sides/" + side + "/found");
  return f && f->is_boolean() && f->get<bool>();
}
bool TendonFound(const json& r, const std::string& side) {
  const json* f = At(r, "sides/" + side + "/tendon_found");
  return SideFound(r, side) && (!f || (f->is_boolean() && f->get<bool>()));
}

void GradeCards(std::ostringstream& h, const json& r) {
  h << "<section id=\"grade\"><h2>Grade</h2><div class=\"grades\">\n";
  for (const char* side : kSides) {
    const std::string base = std::string("sides/") + side;
    const std::string grade = SideFound(r, side) ? Str(r, base + "/grade") : "";
    // A grade without a measured tendon is no finding: grey, whatever its label; except a
    // bared footprint, graded as a complete tear.
    const bool bared = SideFound(r, side) && !TendonFound(r, side) && grade == "complete_tear";
    const std::string style =
        grade.empty() || (!TendonFound(r, side) && !bared) ? "unknown" : grade;
    h << "<div class=\"grade g-" << HtmlEscape(style) << "\"><div class=\"side\">"
      << SideTitle(side) << "</div><div class=\"value\" data-field=\"" << base << "/grade\">"
      << HtmlEscape(SideFound(r, side) ? GradeLabel(grade) : "Not assessed")
      << "</div><div class=\"why\">";
    if (!SideFound(r, side)) {
      h << "Tuberosity not found: " << HtmlEscape(Or(Str(r, base + "/reason"), "no reason given"));
    } else if (bared) {
      h << "<span class=\"warn\">No tendon below the tuberosity: taken as a complete tear. No "
           "stump found within "
        << Fmt(Num(r, base + "/tear/stump_searched_mm"), 0)
        << " mm below the footprint: retraction not measured.</span>";
    } else if (!TendonFound(r, side)) {
      h << "<span class=\"warn\">Tendon not found at this tuberosity: nothing was measured on this "
           "side.</span>";
    } else {
      const std::string tear = Str(r, base + "/tear/type");
      if (tear == "complete") {
        h << "Retraction " << Fmt(Num(r, base + "/tear/retraction_mm"), 1) << " mm · gap "
          << Fmt(Num(r, base + "/tear/gap_mm"), 1) << " mm";
      } else {
        h << "Max thickness " << Fmt(Num(r, base + "/tendon/thickness_mm"), 1)
          << " mm · signal ratio " << Fmt(Num(r, base + "/tendon/signal_ratio"), 2);
        if (tear == "partial")
          h << " · tear extent " << Fmt(Num(r, base + "/tear/extent_percent"), 0) << "%";
      }
    }
    h << "</div></div>\n";
  }
  h << "</div>\n";
  std::set<std::string> rules;
  for (const char* side : kSides) {
    const std::string rule = Str(r, std::string("sides/") + side + "/grade_rule");
    if (!rule.empty()) rules.insert(rule);
  }
  const std::size_t notes = CollectQc(r, {}, "").size();
  if (notes > 0) {
    h << "<p class=\"warn\"><b>" << notes << " QC note" << (notes > 1 ? "s" : "")
      << "</b> from the analysis: see <a href=\"#qc\">Quality control</a> before relying on the "
         "numbers.</p>\n";
  }
  for (const std::string& rule : rules)
    h << "<div class=\"rule\"><b>Rule:</b> " << HtmlEscape(rule) << "</div>\n";
  if (const json* g = At(r, "config/analysis/grade"); g && g->is_object()) {
    h << "<p class=\"note\">Thresholds (configurable; no validated millimetre cut-off for a "
         "thickened "
         "proximal hamstring tendon exists): ";
    bool first = true;
    for (const auto& [key, value] : g->items()) {
      h << (first ? "" : " · ") << HtmlEscape(key) << " = " << HtmlEscape(value.dump());
      first = false;
    }
    h << "</p>\n";
  }
  h << "</section>\n";
}

struct MeasureRow {
  const char* label;
  const char* unit;
  const char* path;   // under sides/<side>/
  const char* lrKey;  // under left_right/, or nullptr
  int decimals;
  bool needsTendon;
};

const MeasureRow kTendonRows[] = {
    {"Maximum thickness", "mm", "tendon/thickness_mm", "thickness_mm", 1, true},
    {"Maximum width", "mm", "tendon/width_mm", "width_mm", 1, true},
    {"Maximum cross-sectional area", "mm²", "tendon/csa_mm2", "csa_mm2", 0, true},
    {"Tendon volume", "mm³", "tendon/volume_mm3", "volume_mm3", 0, true},
    {"Signal ratio tendon / muscle", "ratio", "tendon/signal_ratio", "signal_ratio", 2, true},
    {"Peritendinous oedema", "mm³", "oedema/peritendinous_mm3", "peritendinous_oedema_mm3", 0,
     true},
    {"Tuberosity marrow oedema", "mm³", "oedema/marrow_mm3", "marrow_oedema_mm3", 0, false},
};
const MeasureRow kTearRows[] = {
    {"Tear extent (share of thickness)", "%", "tear/extent_percent", nullptr, 0, true},
    {"Tear length", "mm", "tear/length_mm", nullptr, 1, true},
    {"Tear volume", "mm³", "tear/volume_mm3", nullptr, 0, true},
    {"Gap", "mm", "tear/gap_mm", nullptr, 1, true},
    {"Retraction (footprint to stump)", "mm", "tear/retraction_mm", nullptr, 1, true},
};

void NumberCell(std::ostringstream& h, const json& r, const std::string& path, int decimals,
                bool available) {
  const std::optional<double> v = available ? Num(r, path) : std::nullopt;
  if (v) {
    h << "<td class=\"num\" data-field=\"" << path << "\">" << Fmt(v, decimals) << "</td>";
  } else {
    h << "<td class=\"na\">—</td>";
  }
}

void MeasurementTable(std::ostringstream& h, const json& r) {
  h << "<section id=\"measurements\"><h2>Measurements per side</h2>\n";
  const bool anyFound = SideFound(r, "left") || SideFound(r, "right");
  if (!anyFound) {
    h << "<p>No side was measured.</p>";
    for (const char* side : kSides) {
      h << "<p><b>" << SideTitle(side) << ":</b> "
        << HtmlEscape(Or(Str(r, std::string("sides/") + side + "/reason"), "no reason given"))
        << "</p>\n";
    }
    h << "</section>\n";
    return;
  }
  const bool haveLr = At(r, "left_right") && At(r, "left_right")->is_object();
  h << "<table class=\"measures\"><thead><tr><th>Measurement</th><th>Unit</th>"
       "<th class=\"num\">Left</th><th class=\"num\">Right</th><th class=\"num\">Left − Right</th>"
       "<th class=\"num\">Left / Right</th></tr></thead><tbody>\n";
  h << "<tr><td>Tuberosity found</td><td class=\"unit\"></td>";
  for (const char* side : kSides)
    h << "<td class=\"num\">" << (SideFound(r, side) ? "yes" : "no") << "</td>";
  h << "<td></td><td></td></tr>\n<tr><td>Tendon found</td><td class=\"unit\"></td>";
  for (const char* side : kSides)
    h << "<td class=\"num\">" << (TendonFound(r, side) ? "yes" : "no") << "</td>";
  h << "<td></td><td></td></tr>\n";
  const std::optional<double> volLen = Num(r, "sides/left/tendon/volume_length_mm")
                                           ? Num(r, "sides/left/tendon/volume_length_mm")
                                           : Num(r, "sides/right/tendon/volume_length_mm");
  for (const MeasureRow& row : kTendonRows) {
    std::string label = row.label;
    if (std::string(row.path) == "tendon/volume_mm3" && volLen) {
      label += " (footprint to " + Fmt(volLen, 0) + " mm)";
    }
    h << "<tr><td>" << HtmlEscape(label) << "</td><td class=\"unit\">" << row.unit << "</td>";
    for (const char* side : kSides) {
      NumberCell(h, r, std::string("sides/") + side + "/" + row.path, row.decimals,
                 row.needsTendon ? TendonFound(r, side) : SideFound(r, side));
    }
    const std::string lr = std::string("left_right/") + row.lrKey;
    NumberCell(h, r, lr + "/left_minus_right", row.decimals, haveLr);
    NumberCell(h, r, lr + "/left_over_right", 2, haveLr);
    h << "</tr>\n";
  }
  h << "<tr class=\"group\"><td colspan=\"6\">Tear</td></tr>\n<tr><td>Tear type</td><td "
       "class=\"unit\"></td>";
  for (const char* side : kSides) {
    const std::string path = std::string("sides/") + side + "/tear/type";
    if (TendonFound(r, side) && !Str(r, path).empty()) {
      h << "<td class=\"num\" data-field=\"" << path << "\">" << HtmlEscape(Str(r, path))
        << "</td>";
    } else {
      h << "<td class=\"na\">—</td>";
    }
  }
  h << "<td></td><td></td></tr>\n";
  for (const MeasureRow& row : kTearRows) {
    h << "<tr><td>" << row.label << "</td><td class=\"unit\">" << row.unit << "</td>";
    for (const char* side : kSides) {
      NumberCell(h, r, std::string("sides/") + side + "/" + row.path, row.decimals,
                 TendonFound(r, side));
    }
    h << "<td></td><td></td></tr>\n";
  }
  h << "<tr class=\"group\"><td colspan=\"6\">Tuberosity tip (patient LPS, "
       "mm)</td></tr>\n<tr><td>x, y, z</td>"
       "<td class=\"unit\">mm</td>";
  for (const char* side : kSides) {
    const json* tip = At(r, std::string("sides/") + side + "/tuberosity_mm");
    h << "<td class=\"num\">";
    if (SideFound(r, side) && tip && tip->is_array() && tip->size() == 3) {
      for (int a = 0; a < 3; ++a) h << (a ? ", " : "") << Fmt(Num(*tip, std::to_string(a)), 1);
    } else {
      h << "—";
    }
    h << "</td>";
  }
  h << "<td></td><td></td></tr>\n</tbody></table>\n";
  h << "<p class=\"note\">Thickness is the short axis and width the long axis of the tendon "
       "section; "
       "maxima over the footprint to 50 mm distal. Signal ratio: tendon / muscle on the "
       "fluid-sensitive "
       "series. Oedema: fluid-bright volume in a shell around the tendon and in the tuberosity "
       "marrow. "
       "Left − Right and Left / Right need a tendon on both sides.</p>\n";
}

void LevelTable(std::ostringstream& h, const json& r) {
  std::vector<double> distances;
  for (const char* side : kSides) {
    const json* levels = At(r, std::string("sides/") + side + "/tendon/at_levels");
    if (!levels || !levels->is_array() || !TendonFound(r, side)) continue;
    for (const json& l : *levels) {
      if (auto d = Num(l, "distance_mm")) {
        bool seen = false;
        for (double x : distances) seen |= std::abs(x - *d) < 1e-6;
        if (!seen) distances.push_back(*d);
      }
    }
  }
  if (distances.empty()) {
    h << "</section>\n";
    return;
  }
  std::sort(distances.begin(), distances.end());
  h << "<h3>At fixed levels (distance below the footprint)</h3>\n<table class=\"levels "
       "keep\"><thead><tr>"
       "<th rowspan=\"2\">Level</th><th colspan=\"3\" class=\"group\">Left</th><th colspan=\"3\" "
       "class=\"group\">Right</th></tr><tr>";
  for (int s = 0; s < 2; ++s) {
    h << "<th class=\"num\">Thickness (mm)</th><th class=\"num\">Width (mm)</th><th "
         "class=\"num\">CSA (mm²)</th>";
  }
  h << "</tr></thead><tbody>\n";
  for (double d : distances) {
    h << "<tr><td>" << Fmt(d, 0) << " mm</td>";
    for (const char* side : kSides) {
      const std::string base = std::string("sides/") + side + "/tendon/at_levels";
      const json* levels = At(r, base);
      std::string idx;
      if (levels && levels->is_array() && TendonFound(r, side)) {
        for (std::size_t i = 0; i < levels->size(); ++i) {
          auto x = Num((*levels)[i], "distance_mm");
          if (x && std::abs(*x - d) < 1e-6) idx = std::to_string(i);
        }
      }
      for (const char* key : {"thickness_mm", "width_mm", "csa_mm2"}) {
        NumberCell(h, r, base + "/" + idx + "/" + key, std::string(key) == "csa_mm2" ? 0 : 1,
                   !idx.empty());
      }
    }
    h << "</tr>\n";
  }
  h << "</tbody></table>\n</section>\n";
}

// Thickness along the tendon, both sides on one chart (inline SVG).
void ProfileChart(std::ostringstream& h, const json& r) {
  struct Curve {
    std::string side, colour;
    std::vector<std::pair<double, double>> pts;
  };
  std::vector<Curve> curves;
  double maxD = 0, maxT = 0;
  for (const char* side : kSides) {
    const json* p = At(r, std::string("sides/") + side + "/tendon/profile");
    if (!p || !p->is_array() || !TendonFound(r, side)) continue;
    Curve c{side, std::string(side) == "left" ? "#1f5fa8" : "#c0392b", {}};
    for (const json& s : *p) {
      auto d = Num(s, "distance_mm");
      auto t = Num(s, "thickness_mm");
      if (d && t && *d >= 0 && *d < 1000 && *t >= 0 && *t < 1000) {
        c.pts.push_back({*d, *t});
        maxD = std::max(maxD, *d), maxT = std::max(maxT, *t);
      }
    }
    if (c.pts.size() >= 2) curves.push_back(c);
  }
  if (curves.empty()) return;
  const double W = 720, H = 230, L = 52, R = 16, T = 14, B = 40;
  const double xMax = std::max(10.0, std::ceil(maxD / 10) * 10);
  const double yMax = std::max(5.0, std::ceil(maxT * 1.1 / 5) * 5);
  auto X = [&](double d) { return L + (W - L - R) * d / xMax; };
  auto Y = [&](double t) { return H - B - (H - T - B) * t / yMax; };
  h << "<h3>Thickness along the tendon</h3>\n<svg class=\"chart keep\" viewBox=\"0 0 " << W << " "
    << H
    << "\" role=\"img\" aria-label=\"Tendon thickness profile\" "
       "font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"11\">\n";
  for (double y = 0; y <= yMax + 1e-9; y += yMax / 5) {
    h << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << Y(y) << "\" y2=\"" << Y(y)
      << "\" stroke=\"#e1e5ea\"/><text x=\"" << L - 6 << "\" y=\"" << Y(y) + 4
      << "\" text-anchor=\"end\">" << Fmt(y, 0) << "</text>\n";
  }
  for (double x = 0; x <= xMax + 1e-9; x += 10) {
    h << "<text x=\"" << X(x) << "\" y=\"" << H - B + 15 << "\" text-anchor=\"middle\">"
      << Fmt(x, 0) << "</text>\n";
  }
  h << "<line x1=\"" << L << "\" x2=\"" << L << "\" y1=\"" << T << "\" y2=\"" << H - B
    << "\" stroke=\"#555\"/><line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << H - B
    << "\" y2=\"" << H - B << "\" stroke=\"#555\"/>\n<text x=\"" << (L + W - R) / 2 << "\" y=\""
    << H - 6
    << "\" text-anchor=\"middle\">distance below the footprint (mm)</text>\n<text x=\"14\" y=\""
    << (T + H - B) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 14 " << (T + H - B) / 2
    << ")\">thickness (mm)</text>\n";
  double legendX = W - R - 150;
  for (const Curve& c : curves) {
    h << "<polyline fill=\"none\" stroke=\"" << c.colour << "\" stroke-width=\"2\" points=\"";
    for (const auto& [d, t] : c.pts) h << Fmt(X(d), 1) << "," << Fmt(Y(t), 1) << " ";
    h << "\"/>\n<line x1=\"" << legendX << "\" x2=\"" << legendX + 20 << "\" y1=\"" << T + 8
      << "\" y2=\"" << T + 8 << "\" stroke=\"" << c.colour << "\" stroke-width=\"3\"/><text x=\""
      << legendX + 25 << "\" y=\"" << T + 12 << "\">" << SideTitle(c.side) << "</text>\n";
    legendX += 75;
  }
  h << "</svg>\n";
}

void SeriesSection(std::ostringstream& h, const json& r) {
  h << "<section id=\"series\"><h2>Series</h2>\n";
  const json* used = At(r, "study/series_used");
  if (used && used->is_object()) {
    h << "<table class=\"keep\"><thead><tr><th>Used "
         "as</th><th>Series</th><th>Description</th><th>Why</th>"
         "</tr></thead><tbody>\n";
    for (const auto& [role, u] : used->items()) {
      const bool notUsed =
          u.is_object() && u.contains("used") && u["used"].is_boolean() && !u["used"].get<bool>();
      std::string roleText = role;
      for (char& c : roleText) c = c == '_' ? ' ' : c;
      if (!roleText.empty())
        roleText[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(roleText[0])));
      h << "<tr><td>" << HtmlEscape(roleText) << "</td><td>";
      if (notUsed) {
        h << "not used</td><td>—</td>";
      } else {
        h << HtmlEscape(Str(u, "series_number"))
          << (Str(u, "split_label").empty() ? "" : " (" + HtmlEscape(Str(u, "split_label")) + ")")
          << "</td><td>" << HtmlEscape(Or(Str(u, "description"))) << "</td>";
      }
      h << "<td>" << HtmlEscape(Or(Str(u, "reason"))) << "</td></tr>\n";
    }
    h << "</tbody></table>\n";
  } else {
    h << "<p>No series was selected for the analysis.</p>\n";
  }
  const json* all = At(r, "study/series");
  if (all && all->is_array() && !all->empty()) {
    h << "<h3>All image series in the study</h3><table "
         "class=\"small\"><thead><tr><th>#</th><th>Description</th>"
         "<th>Orientation</th><th class=\"num\">Slices</th><th>Role</th><th>Role "
         "evidence</th></tr></thead><tbody>\n";
    for (const json& s : *all) {
      h << "<tr><td>" << HtmlEscape(Str(s, "series_number"))
        << (Str(s, "split_label").empty() ? "" : " " + HtmlEscape(Str(s, "split_label")))
        << "</td><td>" << HtmlEscape(Or(Str(s, "description"))) << "</td><td>"
        << HtmlEscape(Or(Str(s, "orientation"))) << "</td><td class=\"num\">"
        << HtmlEscape(Or(Str(s, "slices"))) << "</td><td>" << HtmlEscape(Or(Str(s, "role")))
        << "</td><td>" << HtmlEscape(Or(Str(s, "role_reason"))) << "</td></tr>\n";
    }
    h << "</tbody></table>\n";
  }
  h << "</section>\n";
}

}  // namespace

ReportPage ComposeReportHtml(const json& result, const fs::path& outDir,
                             const ReportOptions& options, const std::string& pdfNote,
                             bool forPrint) {
  ReportPage page;
  const json& r = result;
  const Identity id = ReadIdentity(r);
  std::ostringstream h;
  Head(h, id);
  Banner(h, r, id);
  FailureBox(h, r);
  GradeCards(h, r);
  MeasurementTable(h, r);
  LevelTable(h, r);
  ProfileChart(h, r);
  FiguresSection(h, r, outDir, options, page.warnings);
  if (forPrint) {
    const json* meshes = At(r, "outputs/meshes");
    if (meshes && meshes->is_array() && !meshes->empty()) {
      h << "<p class=\"print-only note\">The interactive 3D view of the meshes is in report.html "
           "(open it in a browser).</p>\n";
    }
  } else {
    ViewerSection(h, r, outDir, options, page);
  }
  SeriesSection(h, r);
  QcSection(h, r, page.warnings, pdfNote);
  SoftwareSection(h, r, page, pdfNote, forPrint);
  h << "<footer>Report generated " << HtmlEscape(NowText()) << " by ischia "
    << HtmlEscape(Or(Str(r, "ischia_version"), "?"))
    << ". Measurements are experimental and not a diagnosis; always review the images.</footer>\n"
    << "</body></html>\n";
  page.html = h.str();
  return page;
}

}  // namespace ischia
