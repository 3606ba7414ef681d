// Batch discovery: studies under a folder (headers only) or from a manifest CSV.
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "atomic_output.h"
#include "batch.h"
#include "cli.h"
#include "series_selection.h"
#include "sha256.h"

namespace ischia {
namespace fs = std::filesystem;

namespace {

std::string StudyKey(const std::string& uid, const fs::path& folder) {
  // A study without a StudyInstanceUID is keyed by its folder so that it still has a stable
  // name; the prefix keeps the two kinds of key apart.
  return Sha256Hex(uid.empty() ? "no-study-uid:" + folder.string() : uid).substr(0, 20);
}

std::uint64_t GridVoxels(const ImageStack& s) {
  const std::vector<int> idx = s.SliceGridIndices();
  const std::uint64_t slices = idx.empty() ? s.NumberOfSlices() : std::uint64_t(idx.back() + 1);
  return std::uint64_t(s.rows) * s.columns * slices;
}

// Voxels the analysis would hold: each used series in its own grid and resampled into the axial
// fluid-sensitive grid (the largest readable stack of each role stands in for the chosen one).
std::uint64_t AnalysisVoxels(const Study& study) {
  std::uint64_t fluid = 0, t1 = 0, coronal = 0;
  for (const ImageStack& s : study.stacks) {
    if (!IsReadableAsVolume(s)) continue;
    const std::uint64_t v = GridVoxels(s);
    if (s.role == SeriesRole::AxialFluidSensitive) fluid = std::max(fluid, v);
    if (s.role == SeriesRole::AxialT1) t1 = std::max(t1, v);
    if (s.role == SeriesRole::CoronalFluidSensitive) coronal = std::max(coronal, v);
  }
  if (fluid == 0) return 0;  // not analysable: the run stops after reading headers
  const int used = 1 + (t1 > 0) + (coronal > 0);
  return fluid + t1 + coronal + std::uint64_t(used) * fluid;
}

fs::path CommonFolder(const std::vector<std::string>& files) {
  fs::path common = fs::path(files.front()).parent_path();
  for (const std::string& f : files) {
    const fs::path dir = fs::path(f).parent_path();
    while (!common.empty()) {
      const std::string c = common.string();
      const std::string d = dir.string();
      if (d == c || (d.size() > c.size() && d.compare(0, c.size(), c) == 0 &&
                     (c.back() == '/' || d[c.size()] == '/')))
        break;
      common = common.parent_path();
    }
  }
  return common;
}

// Fingerprint of the inputs: relative path, size and modification time of every file.
std::string Fingerprint(const fs::path& folder, const std::vector<std::string>& files,
                        std::uint64_t* bytes) {
  Sha256 h;
  *bytes = 0;
  for (const std::string& f : files) {
    struct stat st {};
    std::string line = fs::path(f).lexically_relative(folder).string();
    if (::stat(f.c_str(), &st) == 0) {
      *bytes += static_cast<std::uint64_t>(st.st_size);
      line += "\t" + std::to_string(st.st_size) + "\t" + std::to_string(st.st_mtim.tv_sec) + "." +
              std::to_string(st.st_mtim.tv_nsec);
    } else {
      line += "\tmissing";
    }
    h.Update(line + "\n");
  }
  return h.HexDigest();
}

// Studies of one scan, ordered by key; files of other studies under a study's folder are
// flagged (the run then gets a folder of links).
Discovery FromScan(const ScanResult& scan) {
  Discovery d;
  d.filesExamined = scan.filesExamined;
  d.notDicom = scan.notDicom;
  d.nonImage = scan.nonImage;
  for (const SkippedFile& u : scan.unreadable) d.problems.push_back({u.path, "unreadable_file", u.reason});

  std::map<std::string, std::set<std::string>> filesByUid;
  for (const FrameInfo& f : scan.frames) filesByUid[f.studyInstanceUid].insert(f.path);
  const std::vector<Study> studies = BuildStudies(scan.frames);
  std::map<std::string, const Study*> byUid;
  for (const Study& s : studies) byUid.emplace(s.studyInstanceUid, &s);

  std::vector<std::pair<std::string, std::size_t>> allFiles;  // path, study position
  for (const auto& [uid, files] : filesByUid) {
    StudyInput in;
    in.studyInstanceUid = uid;
    in.files.assign(files.begin(), files.end());
    in.folder = CommonFolder(in.files);
    in.key = StudyKey(uid, in.folder);
    if (const auto it = byUid.find(uid); it != byUid.end()) {
      const Study& s = *it->second;
      in.patientId = s.patientId;
      in.patientName = s.patientName;
      in.studyDate = s.studyDate;
      in.description = s.studyDescription;
      in.voxels = AnalysisVoxels(s);
      for (const ImageStack& st : s.stacks)
        if (!st.slices.empty() && in.accessionNumber.empty())
          in.accessionNumber = st.slices.front().accessionNumber;
    }
    in.estimatedMemoryBytes = EstimateRunMemoryBytes(in.voxels);
    in.fingerprint = Fingerprint(in.folder, in.files, &in.bytes);
    d.studies.push_back(std::move(in));
  }
  std::sort(d.studies.begin(), d.studies.end(),
            [](const StudyInput& a, const StudyInput& b) { return a.key < b.key; });
  for (std::size_t i = 0; i < d.studies.size(); ++i)
    for (const std::string& f : d.studies[i].files) allFiles.emplace_back(f, i);
  std::sort(allFiles.begin(), allFiles.end());
  for (std::size_t i = 0; i < d.studies.size(); ++i) {
    const std::string prefix = d.studies[i].folder.string() + "/";
    auto it = std::lower_bound(allFiles.begin(), allFiles.end(),
                               std::make_pair(prefix, std::size_t(0)));
    for (; it != allFiles.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (it->second != i) {
        d.studies[i].folderShared = true;
        break;
      }
    }
  }
  return d;
}

ScanResult Scan(const fs::path& root) {
  try {
    return ScanDicomFolder(root);
  } catch (const std::exception& e) {
    throw InputError(e.what());
  }
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string TrimSpace(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// Splits one CSV record (RFC 4180 quoting; no embedded newlines).
bool SplitCsv(const std::string& line, std::vector<std::string>& fields) {
  fields.clear();
  std::string cur;
  bool quoted = false, wasQuoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') cur += '"', ++i;
        else quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"' && TrimSpace(cur).empty()) {
      quoted = wasQuoted = true;
      cur.clear();
    } else if (c == ',') {
      fields.push_back(wasQuoted ? cur : TrimSpace(cur));
      cur.clear();
      wasQuoted = false;
    } else {
      cur += c;
    }
  }
  if (quoted) return false;
  fields.push_back(wasQuoted ? cur : TrimSpace(cur));
  return true;
}

std::string CsvQuote(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos && TrimSpace(s) == s) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

std::uint64_t EstimateRunMemoryBytes(std::uint64_t voxels, int threads) {
  // Fitted on generated studies at two sizes (docs/batch.md): fixed cost of the program and
  // its libraries, plus bytes per analysis voxel (float copies: native, corrected,
  // standardised, resampled, masks, N4 and the analysis' working images), with a margin.
  // With two threads or more two series are preprocessed side by side (their image-quality
  // passes at once): more working images at the peak.
  constexpr std::uint64_t kBase = 100ull << 20;
  const double bytesPerVoxel = threads == 1 ? 12.0 : 18.0;
  return kBase + static_cast<std::uint64_t>(bytesPerVoxel * static_cast<double>(voxels));
}

Discovery DiscoverStudies(const fs::path& root) {
  if (!fs::exists(root)) throw InputError(root.string() + ": no such file or folder");
  return FromScan(Scan(fs::absolute(root).lexically_normal()));
}

std::vector<ManifestRow> ReadManifest(const fs::path& csv) {
  std::ifstream in(csv);
  if (!in) throw InputError("cannot read manifest " + csv.string());
  const fs::path base = fs::absolute(csv).parent_path();
  std::vector<ManifestRow> rows;
  std::string line;
  int lineNo = 0;
  int folderCol = 0, uidCol = -1;
  bool headerSeen = false;
  std::vector<std::string> fields;
  while (std::getline(in, line)) {
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (lineNo == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
    if (TrimSpace(line).empty() || TrimSpace(line)[0] == '#') continue;
    if (line.find('\0') != std::string::npos)
      throw InputError(csv.string() + ": line " + std::to_string(lineNo) +
                       ": binary content (not a CSV file)");
    if (!SplitCsv(line, fields))
      throw InputError(csv.string() + ": line " + std::to_string(lineNo) + ": unclosed quote");
    if (!headerSeen) {
      headerSeen = true;
      int found = -1;
      for (std::size_t i = 0; i < fields.size(); ++i) {
        const std::string f = Lower(fields[i]);
        if (f == "study_dir" || f == "path" || f == "folder" || f == "study_folder") found = int(i);
        if (f == "study_instance_uid") uidCol = int(i);
      }
      if (found >= 0) {
        folderCol = found;
        continue;
      }
      uidCol = -1;  // no header: the first line is data
    }
    if (folderCol >= static_cast<int>(fields.size()) || fields[folderCol].empty()) {
      throw InputError(csv.string() + ": line " + std::to_string(lineNo) +
                       ": no study folder in column " + std::to_string(folderCol + 1));
    }
    ManifestRow row;
    fs::path p = fields[folderCol];
    row.folder = p.is_absolute() ? p : base / p;
    row.folder = row.folder.lexically_normal();
    if (uidCol >= 0 && uidCol < static_cast<int>(fields.size())) row.studyInstanceUid = fields[uidCol];
    row.line = lineNo;
    rows.push_back(std::move(row));
  }
  if (in.bad()) throw InputError("error reading manifest " + csv.string());
  return rows;
}

Discovery DiscoverManifestRows(const std::vector<ManifestRow>& rows,
                               const std::vector<int>& rowIndices) {
  Discovery d;
  std::set<std::string> seen;
  std::map<fs::path, Discovery> scanned;  // rows may name one folder for several studies
  std::set<fs::path> counted;
  for (int r : rowIndices) {
    const ManifestRow& row = rows.at(static_cast<std::size_t>(r));
    const std::string where = row.folder.string();
    std::error_code ec;
    if (!fs::exists(row.folder, ec)) {
      d.problems.push_back({where, "missing_folder",
                            "manifest line " + std::to_string(row.line) + ": no such folder"});
      continue;
    }
    auto cached = scanned.find(row.folder);
    if (cached == scanned.end()) {
      try {
        cached = scanned.emplace(row.folder, FromScan(ScanDicomFolder(fs::absolute(row.folder)))).first;
      } catch (const std::exception& e) {
        d.problems.push_back({where, "unreadable_folder", e.what()});
        continue;
      }
    }
    const Discovery& one = cached->second;
    if (counted.insert(row.folder).second) {
      d.filesExamined += one.filesExamined;
      d.notDicom += one.notDicom;
      d.nonImage.insert(d.nonImage.end(), one.nonImage.begin(), one.nonImage.end());
      d.problems.insert(d.problems.end(), one.problems.begin(), one.problems.end());
    }
    int taken = 0;
    for (StudyInput s : one.studies) {
      if (!row.studyInstanceUid.empty() && s.studyInstanceUid != row.studyInstanceUid) continue;
      if (!seen.insert(s.key).second) continue;  // listed twice
      s.manifestRow = r;
      d.studies.push_back(std::move(s));
      ++taken;
    }
    if (taken == 0 && !row.studyInstanceUid.empty() && !one.studies.empty()) {
      d.problems.push_back({where, "study_not_found",
                            "manifest line " + std::to_string(row.line) + ": study " +
                                row.studyInstanceUid + " not in this folder"});
    } else if (one.studies.empty()) {
      d.problems.push_back({where, "no_dicom_images",
                            "manifest line " + std::to_string(row.line) + ": no readable DICOM "
                            "image among " + std::to_string(one.filesExamined) + " files"});
    }
  }
  return d;
}

void WriteManifest(const Discovery& discovery, const fs::path& csv) {
  std::ostringstream out;
  out << "index,study_key,study_dir,study_instance_uid,files,estimated_memory_mb\n";
  for (std::size_t i = 0; i < discovery.studies.size(); ++i) {
    const StudyInput& s = discovery.studies[i];
    out << i << "," << s.key << "," << CsvQuote(s.folder.string()) << ","
        << CsvQuote(s.studyInstanceUid) << "," << s.files.size() << ","
        << (s.estimatedMemoryBytes >> 20) << "\n";
  }
  fs::create_directories(fs::absolute(csv).parent_path());
  WriteFileAtomically(csv, out.str());
}

std::string WorkSelection::Label() const {
  if (index) return "index-" + std::to_string(*index);
  if (shardCount > 1) return "shard-" + std::to_string(shardIndex) + "-of-" + std::to_string(shardCount);
  return "";
}

}  // namespace ischia
