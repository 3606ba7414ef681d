// report.html sections that embed files (key images, renders, meshes and the vtk.js viewer) and
// the QC and software sections; plus the tolerant JSON readers the whole page uses.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>

#include "report_assets.h"
#include "report_internal.h"
#include "report_json.h"

namespace ischia::report {
namespace fs = std::filesystem;
using nlohmann::json;

const json* At(const json& root, const std::string& path) {
  const json* cur = &root;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    const std::string key = path.substr(start, end - start);
    if (cur->is_object()) {
      const auto it = cur->find(key);
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (cur->is_array() && !key.empty() && key.size() < 9 &&
               key.find_first_not_of("0123456789") == std::string::npos) {
      const std::size_t i = std::stoul(key);
      if (i >= cur->size()) return nullptr;
      cur = &(*cur)[i];
    } else {
      return nullptr;
    }
    start = end + 1;
  }
  return cur;
}

std::optional<double> Num(const json& root, const std::string& path) {
  const json* v = At(root, path);
  if (!v || !v->is_number()) return std::nullopt;
  const double d = v->get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

std::string Str(const json& root, const std::string& path) {
  const json* v = At(root, path);
  if (!v) return "";
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer() || v->is_number_unsigned()) return v->dump();
  if (v->is_number_float()) return Fmt(v->get<double>(), 2);
  if (v->is_boolean()) return v->get<bool>() ? "yes" : "no";
  return "";
}

std::string Fmt(std::optional<double> value, int decimals) {
  if (!value || !std::isfinite(*value)) return "—";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, *value);
  std::string s = buf;
  // "-0.0" reads as a signed difference that is not there.
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

namespace {

bool ReadFile(const fs::path& path, std::string& bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  bytes.assign(std::istreambuf_iterator<char>(in), {});
  return !in.bad();
}

// A path from result.json's outputs block, resolved inside OUT_DIR (never outside it).
bool ResolveOutput(const fs::path& outDir, const std::string& rel, fs::path& out,
                   std::string& why) {
  const fs::path p(rel);
  if (rel.empty() || p.is_absolute()) {
    why = "invalid file name '" + rel + "' (must be relative to the output folder)";
    return false;
  }
  for (const auto& part : p) {
    if (part == "..") {
      why = "invalid file name '" + rel + "' (leaves the output folder)";
      return false;
    }
  }
  out = outDir / p;
  return true;
}

// `landscape`: a PNG at least 1.4 times as wide as tall (both sides in one key image).
std::optional<std::string> ImageDataUri(const fs::path& outDir, const std::string& rel,
                                        std::size_t maxBytes, std::string& why, bool& landscape) {
  fs::path path;
  if (!ResolveOutput(outDir, rel, path, why)) return std::nullopt;
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    why = "file " + rel + " is missing";
    return std::nullopt;
  }
  const auto size = fs::file_size(path, ec);
  if (ec || size == 0) {
    why = "file " + rel + " is empty";
    return std::nullopt;
  }
  if (size > maxBytes) {
    why = "file " + rel + " is too large to embed (" + std::to_string(size >> 20) + " MB)";
    return std::nullopt;
  }
  std::string bytes;
  if (!ReadFile(path, bytes)) {
    why = "file " + rel + " cannot be read";
    return std::nullopt;
  }
  const char* mime = nullptr;
  if (bytes.size() > 24 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) {
    mime = "image/png";
    auto be32 = [&](std::size_t at) {
      std::uint32_t v = 0;
      for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
      return v;
    };
    landscape = be32(16) >= 1.4 * be32(20);
  }
  if (bytes.size() > 3 && bytes.compare(0, 3, "\xff\xd8\xff") == 0) mime = "image/jpeg";
  if (!mime) {
    why = "file " + rel + " is not a PNG or JPEG image";
    return std::nullopt;
  }
  return std::string("data:") + mime + ";base64," + Base64(bytes.data(), bytes.size());
}

struct ExpectedImage {
  const char* file;
  const char* kind;
  const char* title;
};
// The files the rendering stage writes (contract with visualization's renderer).
const ExpectedImage kExpectedImages[] = {
    {"key_images/axial_tip.png", "key_image", "Axial at the tuberosity tip"},
    {"key_images/axial_10mm.png", "key_image", "Axial 10 mm distal"},
    {"key_images/axial_20mm.png", "key_image", "Axial 20 mm distal"},
    {"key_images/axial_30mm.png", "key_image", "Axial 30 mm distal"},
    {"key_images/coronal_left.png", "key_image", "Coronal along the left tendon"},
    {"key_images/coronal_right.png", "key_image", "Coronal along the right tendon"},
    {"renders/posterior.png", "render", "3D, from posterior"},
    {"renders/left_oblique.png", "render", "3D, left posterior oblique"},
    {"renders/right_oblique.png", "render", "3D, right posterior oblique"},
};

struct Figure {
  std::string file, kind, title;
  bool listed = false;
};

void FigureHtml(std::ostringstream& h, const Figure& f, const fs::path& outDir,
                const ReportOptions& options, std::vector<std::string>& warnings) {
  std::string why = "not produced by the rendering stage";
  std::optional<std::string> uri;
  bool landscape = false;
  if (f.listed) {
    uri = ImageDataUri(outDir, f.file, options.maxImageBytes, why, landscape);
    if (!uri) warnings.push_back("image " + f.file + " not embedded: " + why);
  }
  // Wide key images (both sides side by side) take the full width in print, to stay legible.
  h << (landscape && f.kind != "render" ? "<figure class=\"wide\">" : "<figure>");
  if (uri) {
    h << "<img src=\"" << *uri << "\" alt=\"" << HtmlEscape(f.title) << "\">";
  } else {
    h << "<div class=\"missing\">Not rendered: " << HtmlEscape(why) << "</div>";
  }
  h << "<figcaption>" << HtmlEscape(f.title) << "</figcaption></figure>\n";
}

}  // namespace

void FiguresSection(std::ostringstream& h, const json& r, const fs::path& outDir,
                    const ReportOptions& options, std::vector<std::string>& warnings) {
  h << "<section id=\"images\"><h2>Key images and 3D renders</h2>\n";
  const json* images = At(r, "outputs/images");
  if (!images || !images->is_array()) {
    h << "<p class=\"missing\">"
      << (Str(r, "status") == "ok"
              ? "No key images or renders: the rendering stage wrote none (result.json lists no "
                "outputs.images)."
              : "No key images or renders: the study was not analysed.")
      << "</p>\n</section>\n";
    return;
  }
  std::vector<Figure> figures;
  for (const ExpectedImage& e : kExpectedImages)
    figures.push_back({e.file, e.kind, e.title, false});
  for (const json& entry : *images) {
    const std::string file = Str(entry, "file");
    if (file.empty()) continue;
    Figure* f = nullptr;
    for (Figure& g : figures) {
      if (fs::path(g.file).lexically_normal() == fs::path(file).lexically_normal()) f = &g;
    }
    if (!f) {
      figures.push_back({file, Str(entry, "kind"), fs::path(file).stem().string(), false});
      f = &figures.back();
    }
    f->listed = true;
    if (!Str(entry, "title").empty()) f->title = Str(entry, "title");
  }
  const std::pair<const char*, const char*> groups[] = {
      {"key_image", "Key images (bone, tendon and tear contours; calipers where measured)"},
      {"render", "3D renders"}};
  for (const auto& [kind, heading] : groups) {
    h << "<h3>" << heading << "</h3>\n<div class=\"figs"
      << (std::string(kind) == "render" ? " three" : "") << "\">\n";
    for (const Figure& f : figures) {
      const bool isRender = f.kind == "render";
      if (isRender == (std::string(kind) == "render")) FigureHtml(h, f, outDir, options, warnings);
    }
    h << "</div>\n";
  }
  // Screen: a click on an image shows it across the whole width.
  h << "<script>document.querySelectorAll('.figs figure img').forEach(function (i) {"
       "i.addEventListener('click', function () { i.parentNode.classList.toggle('zoom'); }); });"
       "</script>\n</section>\n";
}

namespace {

struct MeshStyle {
  std::array<double, 3> colour;
  double opacity;
};
MeshStyle StyleOf(const std::string& structure) {
  if (structure == "bone") return {{0.89, 0.85, 0.76}, 1.0};
  if (structure == "tear") return {{0.15, 0.6, 1.0}, 1.0};
  return {{0.82, 0.32, 0.24}, 1.0};  // tendon and anything else
}

// Blue to red, the same stops in vtk.js and in the legend's CSS gradient.
const double kRamp[5][4] = {{0, 0.17, 0.48, 0.71},
                            {0.25, 0.67, 0.85, 0.91},
                            {0.5, 1.0, 1.0, 0.75},
                            {0.75, 0.99, 0.68, 0.38},
                            {1, 0.84, 0.1, 0.11}};

std::string BundleVersion(const fs::path& bundle) {
  std::ifstream in(bundle.parent_path() / "package.json");
  if (!in) return "";
  try {
    const json p = json::parse(in);
    return Str(p, "version");
  } catch (const std::exception&) {
    return "";
  }
}

}  // namespace

void ViewerSection(std::ostringstream& h, const json& r, const fs::path& outDir,
                   const ReportOptions& options, ReportPage& page) {
  h << "<section id=\"viewer3d\" class=\"screen-only\"><h2>Interactive 3D view</h2>\n";
  auto unavailable = [&](const std::string& why) {
    page.viewerNote = why;
    h << "<p class=\"note warn\" id=\"viewer-status\">Interactive 3D view not included: "
      << HtmlEscape(why) << ". The static renders above are the fallback.</p>\n</section>\n";
  };
  // One surface per structure and side; .vtp preferred over .stl (it carries the scalars).
  std::map<std::string, std::pair<std::string, json>> chosen;  // key -> (file, entry)
  const json* meshes = At(r, "outputs/meshes");
  if (meshes && meshes->is_array()) {
    for (const json& m : *meshes) {
      const std::string file = Str(m, "file");
      if (file.empty()) continue;
      const std::string key = Str(m, "structure") + "/" + Str(m, "side");
      const bool vtp = fs::path(file).extension() == ".vtp";
      auto it = chosen.find(key);
      if (it == chosen.end() || (vtp && fs::path(it->second.first).extension() != ".vtp")) {
        chosen[key] = {file, m};
      }
    }
  }
  if (chosen.empty()) {
    unavailable(Str(r, "status") == "ok"
                    ? "no meshes were written (result.json lists no outputs.meshes)"
                    : "the study was not analysed, so there are no meshes");
    return;
  }
  const fs::path bundlePath = options.vtkJsBundle.empty() ? FindVtkJsBundle() : options.vtkJsBundle;
  std::string bundle;
  std::error_code ec;
  if (bundlePath.empty() || !fs::is_regular_file(bundlePath, ec)) {
    unavailable("the vtk.js bundle was not found" +
                (bundlePath.empty() ? std::string(" (run scripts/setup.sh, or set ISCHIA_VTKJS)")
                                    : " at " + bundlePath.string()));
    return;
  }
  if (fs::file_size(bundlePath, ec) > (64u << 20) || !ReadFile(bundlePath, bundle) ||
      bundle.empty()) {
    unavailable("the vtk.js bundle at " + bundlePath.string() + " cannot be read or is too large");
    return;
  }
  std::string lower = bundle;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // Inside <script>, "</script" would end the element and "<script" (after "<!--") would keep it
  // open.
  if (lower.find("</script") != std::string::npos || lower.find("<script") != std::string::npos) {
    unavailable("the vtk.js bundle contains '<script' or '</script' and cannot be inlined");
    return;
  }

  json data = {{"meshes", json::array()}, {"scalar_range", nullptr}, {"ramp", kRamp}};
  std::array<double, 2> range{INFINITY, -INFINITY};
  std::ostringstream notes;
  for (const auto& [key, fileEntry] : chosen) {
    const auto& [file, entry] = fileEntry;
    const std::string structure = Str(entry, "structure"), side = Str(entry, "side");
    fs::path path;
    std::string why;
    if (!ResolveOutput(outDir, file, path, why)) {
      page.warnings.push_back("mesh " + file + " not embedded: " + why);
      continue;
    }
    try {
      // Bone is context: half the triangle budget of the tendon and tear surfaces.
      const std::size_t budget =
          structure == "bone" ? options.maxTrianglesPerMesh / 2 : options.maxTrianglesPerMesh;
      const ViewerMesh m = LoadViewerMesh(path, budget);
      const MeshStyle style = StyleOf(structure);
      std::string label = structure.empty() ? "surface" : structure;
      label[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(label[0])));
      if (!side.empty()) label += " (" + side + ")";
      json j = {{"label", label},
                {"structure", structure},
                {"side", side},
                {"colour", style.colour},
                {"opacity", style.opacity},
                {"points", m.pointsBase64},
                {"triangles", m.trianglesBase64},
                {"bounds", m.bounds}};
      if (structure == "tendon" && !m.scalarsBase64.empty()) {
        j["scalars"] = m.scalarsBase64;
        j["scalar_name"] = m.scalarName;
        range = {std::min(range[0], m.scalarRange[0]), std::max(range[1], m.scalarRange[1])};
      }
      data["meshes"].push_back(std::move(j));
      notes << (notes.tellp() > 0 ? "; " : "") << HtmlEscape(file) << ": " << m.triangles
            << " triangles";
      if (m.triangles < m.trianglesInFile) notes << " (decimated from " << m.trianglesInFile << ")";
    } catch (const std::exception& e) {
      page.warnings.push_back("mesh " + file + " not embedded: " + e.what());
    }
  }
  if (data["meshes"].empty()) {
    unavailable("none of the listed meshes could be read (see QC warnings)");
    return;
  }
  std::string scalarLabel;
  if (range[0] <= range[1]) {
    if (range[1] - range[0] < 1e-6) range[1] = range[0] + 1;
    data["scalar_range"] = range;
    for (const json& m : data["meshes"]) {
      if (m.contains("scalar_name")) scalarLabel = m["scalar_name"].get<std::string>();
    }
    if (scalarLabel == "thickness_mm" || scalarLabel == "thickness")
      scalarLabel = "local thickness (mm)";
  }
  std::string meshJson = data.dump(-1, ' ', false, json::error_handler_t::replace);
  // '<' occurs only inside JSON strings (labels): as \u003c nothing in them can close the script.
  for (std::size_t p = 0; (p = meshJson.find('<', p)) != std::string::npos; p += 6) {
    meshJson.replace(p, 1, "\\u003c");
  }
  page.interactive3d = true;
  const std::string version = BundleVersion(bundlePath);
  h << "<p id=\"viewer-status\" class=\"note\">Loading the interactive 3D view (needs JavaScript "
       "and WebGL; "
       "the static renders above are the fallback)…</p>\n"
    << "<noscript><p class=\"note warn\">JavaScript is off: the interactive 3D view cannot run. "
       "The static "
       "renders above show the same surfaces.</p></noscript>\n"
    << "<div id=\"viewer-controls\" hidden><button data-view=\"posterior\">Posterior</button>"
       "<button data-view=\"left_oblique\">Left oblique</button><button "
       "data-view=\"right_oblique\">"
       "Right oblique</button><button data-view=\"inferior\">From below (axial)</button>";
  if (!scalarLabel.empty()) {
    h << "<span class=\"legend\">Tendon colour: " << HtmlEscape(scalarLabel) << " "
      << Fmt(range[0], 1) << " <span class=\"bar\" style=\"background:linear-gradient(to right";
    for (const auto& s : kRamp) {
      h << ",rgb(" << std::lround(255 * s[1]) << "," << std::lround(255 * s[2]) << ","
        << std::lround(255 * s[3]) << ") " << std::lround(100 * s[0]) << "%";
    }
    h << ")\"></span> " << Fmt(range[1], 1) << "</span>";
  }
  h << "</div>\n<div id=\"viewer\" hidden><div id=\"viewer-label\"></div></div>\n"
    << "<p class=\"note\">Embedded surfaces: " << notes.str() << ". Rendered with vtk.js "
    << HtmlEscape(version.empty() ? "(version unknown)" : version)
    << ", inlined in this file.</p>\n"
    << "<script type=\"application/json\" id=\"ischia-meshes\">" << meshJson << "</script>\n"
    << "<script id=\"vtkjs-bundle\" data-version=\"" << HtmlEscape(version) << "\">\n"
    << bundle << "\n</script>\n<script>" << kViewerScript << "</script>\n</section>\n";
}

namespace {

// "axial_fluid_sensitive" -> "axial fluid-sensitive".
std::string RoleName(const std::string& role) {
  std::string name = role;
  for (char& c : name) c = c == '_' ? ' ' : c;
  const auto p = name.find("fluid sensitive");
  if (p != std::string::npos) name[p + 5] = '-';
  if (name.size() >= 2 && name.compare(name.size() - 2, 2, "t1") == 0) name[name.size() - 2] = 'T';
  return name;
}

// The image-quality figures of every series used, flagged or not.
void ImageQualityTable(std::ostringstream& h, const json& r) {
  const json* pre = At(r, "preprocessing");
  if (!pre || !pre->is_object()) return;
  std::ostringstream rows;
  for (const auto& [role, qc] : pre->items()) {
    const json* q = At(qc, "image_quality");
    if (!q || !q->is_object()) continue;
    auto flag = [&](const char* key) {
      const json* f = At(*q, key);
      return f && f->is_boolean() && f->get<bool>();
    };
    std::string ghost = Fmt(Num(*q, "ghost_ratio"), 2) + " · " +
                        Fmt(Num(*q, "ghost_signal_percent"), 1) + "%";
    const json* measured = At(*q, "ghost_measured");
    if (!measured || !measured->is_boolean() || !measured->get<bool>()) ghost = "not measured";
    std::string notes;
    if (const json* n = At(*q, "notes"); n && n->is_array()) {
      for (const json& x : *n)
        if (x.is_string()) notes += (notes.empty() ? "" : "; ") + x.get<std::string>();
    }
    const std::string pe = Str(*q, "phase_encoding_direction");
    rows << "<tr><td>" << HtmlEscape(RoleName(role)) << "</td><td class=\"num\">"
         << Fmt(Num(*q, "snr"), 1) << "</td><td class=\"num\">" << Fmt(Num(*q, "noise_sigma"), 1)
         << "</td><td class=\"num\">" << Fmt(Num(*q, "background_noise_sigma"), 1)
         << "</td><td>" << HtmlEscape(pe.empty() ? "not recorded" : pe)
         << "</td><td class=\"num\">" << HtmlEscape(ghost) << "</td><td>"
         << (flag("low_snr") ? "<strong>low SNR</strong>" : "SNR ok") << " · "
         << (flag("motion_suspected") ? "<strong>motion suspected</strong>"
             : measured && measured->is_boolean() && measured->get<bool>() ? "no ghosting"
                                                                            : "ghosting unknown")
         << "</td><td>" << HtmlEscape(notes) << "</td></tr>\n";
  }
  if (rows.str().empty()) return;
  const json* summary = At(r, "image_quality");
  h << "<h3>Image quality</h3><table class=\"small keep\" id=\"image-quality\"><thead><tr>"
       "<th>Series</th><th class=\"num\">SNR</th><th class=\"num\">Noise σ</th>"
       "<th class=\"num\">Background σ</th><th>Phase encoding</th>"
       "<th class=\"num\">Ghost ratio · excess</th><th>Result</th><th>Notes</th></tr></thead>"
       "<tbody>\n"
    << rows.str() << "</tbody></table>\n<p class=\"note\">SNR: median muscle intensity over the "
       "noise σ measured inside the body (robust local residual in homogeneous tissue); low below "
    << Fmt(summary ? Num(*summary, "min_snr") : std::nullopt, 1)
    << ". Background σ: cross-check from air beside the body when it holds noise. Ghost ratio: "
       "mean background on the body's phase-encoding lines over the background elsewhere (1 = no "
       "ghosting); excess in % of the muscle signal; motion suspected when both reach "
    << Fmt(summary ? Num(*summary, "motion_thresholds/ghost_ratio") : std::nullopt, 2) << " and "
    << Fmt(summary ? Num(*summary, "motion_thresholds/ghost_signal_percent") : std::nullopt, 1)
    << "%.</p>\n";
}

}  // namespace

std::vector<QcItem> CollectQc(const json& r, const std::vector<std::string>& reportWarnings,
                              const std::string& pdfNote) {
  std::vector<QcItem> items;
  if (Str(r, "status") != "ok") {
    items.push_back({"error", "Study not analysed: " + (Str(r, "error/message").empty()
                                                            ? std::string("no reason recorded")
                                                            : Str(r, "error/message"))});
  }
  for (const char* side : {"left", "right"}) {
    const std::string base = std::string("sides/") + side;
    const std::string title = std::string(side) == "left" ? "Left" : "Right";
    const json* found = At(r, base + "/found");
    if (Str(r, "status") == "ok" && found && found->is_boolean() && !found->get<bool>()) {
      items.push_back({"warning", title + " side not found: " + Str(r, base + "/reason")});
    }
    const json* tendon = At(r, base + "/tendon_found");
    if (tendon && tendon->is_boolean() && !tendon->get<bool>()) {
      items.push_back({"warning", title + " tendon not found at the tuberosity"});
    }
    if (const json* qc = At(r, base + "/qc"); qc && qc->is_array()) {
      for (const json& q : *qc) {
        if (q.is_string()) items.push_back({"warning", title + ": " + q.get<std::string>()});
      }
    }
  }
  for (const char* path : {"warnings", "outputs/warnings"}) {
    if (const json* w = At(r, path); w && w->is_array()) {
      for (const json& q : *w) {
        if (q.is_string()) items.push_back({"warning", q.get<std::string>()});
      }
    }
  }
  if (const json* pre = At(r, "preprocessing"); pre && pre->is_object()) {
    for (const auto& [role, qc] : pre->items()) {
      const std::optional<double> covered = Num(qc, "fraction_of_axial_grid_covered");
      if (covered && *covered < 0.8) {
        items.push_back({"warning", "Thin coverage: the " + role + " series covers only " +
                                        Fmt(100 * *covered, 0) +
                                        "% of the axial fluid-sensitive volume"});
      }
    }
  }
  // Image quality of each series used (preprocessing.<role>.image_quality).
  if (const json* pre = At(r, "preprocessing"); pre && pre->is_object()) {
    for (const auto& [role, qc] : pre->items()) {
      const json* q = At(qc, "image_quality");
      if (!q || !q->is_object()) continue;
      const std::string name = "the " + RoleName(role) + " series";
      const json* low = At(*q, "low_snr");
      if (low && low->is_boolean() && low->get<bool>()) {
        items.push_back({"warning", "Low SNR: " + name + " has SNR " + Fmt(Num(*q, "snr"), 1) +
                                        " (muscle signal / in-body noise), below the threshold " +
                                        Fmt(Num(*q, "min_snr"), 1) +
                                        "; thin tendon detail and tear clefts may be hidden"});
      }
      const json* motion = At(*q, "motion_suspected");
      if (motion && motion->is_boolean() && motion->get<bool>()) {
        items.push_back(
            {"warning", "Motion suspected: " + name + " shows ghosting along the phase-encoding "
                            "direction (" + Str(*q, "phase_encoding_direction") +
                            "): background on the body's phase-encoding lines " +
                            Fmt(Num(*q, "ghost_ratio"), 2) + " x the reference (threshold " +
                            Fmt(Num(*q, "motion_thresholds/ghost_ratio"), 2) + "), excess " +
                            Fmt(Num(*q, "ghost_signal_percent"), 1) +
                            "% of the muscle signal (threshold " +
                            Fmt(Num(*q, "motion_thresholds/ghost_signal_percent"), 1) + "%)"});
      }
    }
  }
  // Gaps and other problems of the series the analysis used (missing slices, irregular spacing).
  const json* used = At(r, "study/series_used");
  const json* all = At(r, "study/series");
  if (used && used->is_object() && all && all->is_array()) {
    for (const json& s : *all) {
      bool inUse = false;
      for (const auto& [role, u] : used->items()) {
        inUse |= !Str(s, "series_instance_uid").empty() &&
                 Str(u, "series_instance_uid") == Str(s, "series_instance_uid") &&
                 Str(u, "split_label") == Str(s, "split_label");
      }
      if (!inUse) continue;
      const std::string name =
          "Series " + Str(s, "series_number") + " (" + Str(s, "description") + ")";
      const std::optional<double> missing = Num(s, "missing_slices");
      if (missing && *missing > 0) {
        items.push_back(
            {"warning", name + ": " + Fmt(missing, 0) + " missing slice(s), kept as empty planes"});
      }
      if (const json* problems = At(s, "problems"); problems && problems->is_array()) {
        for (const json& p : *problems) {
          if (p.is_string()) items.push_back({"warning", name + ": " + p.get<std::string>()});
        }
      }
    }
  }
  for (const std::string& w : reportWarnings) items.push_back({"info", "Report: " + w});
  if (!pdfNote.empty()) items.push_back({"info", "Report: report.pdf not written: " + pdfNote});
  return items;
}

void QcSection(std::ostringstream& h, const json& r, const std::vector<std::string>& reportWarnings,
               const std::string& pdfNote) {
  const std::vector<QcItem> items = CollectQc(r, reportWarnings, pdfNote);
  h << "<section id=\"qc\"><h2>Quality control</h2>\n";
  ImageQualityTable(h, r);
  if (items.empty()) {
    h << "<p>No QC warnings: both sides found, full coverage, every series read.</p>\n";
  } else {
    h << "<ul class=\"qc\">\n";
    for (const QcItem& q : items) {
      h << "<li class=\"sev-" << q.severity << "\">" << HtmlEscape(q.text) << "</li>\n";
    }
    h << "</ul>\n";
  }
  h << "<p class=\"note\">The pipeline reports what it can check: sides not found, series coverage "
       "and missing series, per-side analysis notes, and per series the SNR (muscle signal over "
       "the noise measured inside the body) and ghosting along the phase-encoding direction (the "
       "usual sign of motion or pulsatile flow). A flag is a prompt to look at the images, not a "
       "verdict.</p>\n</section>\n";
}

namespace {

void Flatten(const json& j, const std::string& prefix, std::ostringstream& out) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) Flatten(v, prefix.empty() ? k : prefix + "." + k, out);
  } else {
    out << HtmlEscape(prefix) << " = "
        << HtmlEscape(j.dump(-1, ' ', false, json::error_handler_t::replace)) << "\n";
  }
}

}  // namespace

void SoftwareSection(std::ostringstream& h, const json& r, const ReportPage& page,
                     const std::string& pdfNote, bool forPrint) {
  h << "<section id=\"software\"><h2>Software and parameters</h2>\n<table class=\"small "
       "keep\"><tbody>\n"
    << "<tr><th>ischia version</th><td>"
    << HtmlEscape(Str(r, "ischia_version").empty() ? "—" : Str(r, "ischia_version"))
    << "</td></tr>\n<tr><th>Result schema</th><td>" << HtmlEscape(Str(r, "schema"))
    << "</td></tr>\n"
    << "<tr><th>Threads</th><td>" << HtmlEscape(Str(r, "threads")) << "</td></tr>\n";
  if (const json* t = At(r, "timings_s"); t && t->is_object()) {
    h << "<tr><th>Run time</th><td>";
    bool first = true;
    for (const auto& [stage, s] : t->items()) {
      if (!s.is_number()) continue;
      h << (first ? "" : " · ") << HtmlEscape(stage) << " " << Fmt(s.get<double>(), 1) << " s";
      first = false;
    }
    h << "</td></tr>\n";
  }
  h << "<tr><th>Interactive 3D view</th><td>"
    << (forPrint             ? "in report.html"
        : page.interactive3d ? "included (vtk.js)"
                             : "not included: " + HtmlEscape(page.viewerNote))
    << "</td></tr>\n";
  if (!pdfNote.empty())
    h << "<tr><th>report.pdf</th><td>not written: " << HtmlEscape(pdfNote) << "</td></tr>\n";
  h << "</tbody></table>\n";
  if (const json* c = At(r, "config"); c && c->is_object()) {
    std::ostringstream flat;
    Flatten(*c, "", flat);
    h << "<h3>Parameters</h3><pre class=\"params\">" << flat.str() << "</pre>\n";
  }
  h << "</section>\n";
}

}  // namespace ischia::report
