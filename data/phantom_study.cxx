// The study writer: protocol and geometry of each series, rendering in parallel, DICOM files in
// nested folders, the label map and truth.json.
#include <itkMultiThreaderBase.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "dicom_writer.h"
#include "image_types.h"
#include "nifti_io.h"
#include "phantom.h"
#include "phantom_model.h"
#include "phantom_render.h"

namespace ischia {
namespace fs = std::filesystem;
using namespace phantom;

const char* ToString(PhantomCase c) {
  switch (c) {
    case PhantomCase::Normal:
      return "normal";
    case PhantomCase::Tendinopathy:
      return "tendinopathy";
    case PhantomCase::PartialTear:
      return "partial_tear";
    case PhantomCase::CompleteTear:
      return "complete_tear";
  }
  return "?";
}

PhantomCase ParsePhantomCase(const std::string& name) {
  for (PhantomCase c : {PhantomCase::Normal, PhantomCase::Tendinopathy, PhantomCase::PartialTear,
                        PhantomCase::CompleteTear}) {
    if (name == ToString(c)) return c;
  }
  throw std::invalid_argument("unknown case '" + name +
                              "' (expected normal, tendinopathy, partial_tear or complete_tear)");
}

const char* ToString(PhantomSeries s) {
  switch (s) {
    case PhantomSeries::AxialT1:
      return "t1";
    case PhantomSeries::AxialFluidSensitive:
      return "pdfs";
    case PhantomSeries::CoronalStir:
      return "stir";
    case PhantomSeries::Localizer:
      return "localizer";
  }
  return "?";
}

PhantomSeries ParsePhantomSeries(const std::string& name) {
  for (PhantomSeries s : {PhantomSeries::AxialT1, PhantomSeries::AxialFluidSensitive,
                          PhantomSeries::CoronalStir, PhantomSeries::Localizer}) {
    if (name == ToString(s)) return s;
  }
  throw std::invalid_argument("unknown series '" + name +
                              "' (expected t1, pdfs, stir or localizer)");
}

namespace {

const char* RoleName(PhantomSeries s) {
  switch (s) {
    case PhantomSeries::AxialT1:
      return "AxialT1";
    case PhantomSeries::AxialFluidSensitive:
      return "AxialFluidSensitive";
    case PhantomSeries::CoronalStir:
      return "CoronalFluidSensitive";
    case PhantomSeries::Localizer:
      return "Localizer";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Protocol
struct Vendor {
  std::string manufacturer, model, software;
  int kind;  // 0 Siemens, 1 GE, 2 Philips
};

struct SeriesPlan {
  PhantomSeries kind;
  std::string description, scanningSequence, sequenceVariant, scanOptions, sequenceName, imageType;
  int seriesNumber = 0;
  Sequence sequence;
  std::vector<Plane> planes;  // volume series: ascending along the normal
  double spacingBetween = 0;  // volume series
  bool descendingInstances = false;
  bool written = true;
  int group = -1;  // planes shared with an earlier plan of the same group
  int echoTrain = 1, averages = 1;
  double pixelBandwidth = 200;
  bool phaseAlongRows = false;
  std::string uid;
  std::vector<std::vector<float>> slices;
};

// Rounds a value to what its DS string says, so that pixels and tags agree exactly.
double Ds(double v) { return ParseDecimalString(FormatDecimalString(v)); }
Vec3 Ds(const Vec3& v) { return {Ds(v.x), Ds(v.y), Ds(v.z)}; }

// A stack of parallel planes centred on `centre`, rotated by `rot` from the canonical
// orientation (row0, col0), k ascending along row x col.
std::vector<Plane> MakeStack(const Vec3& centre, const Mat3& rot, Vec3 row0, Vec3 col0, int nx,
                             int ny, double pixel, int nz, double spacing, double thickness) {
  const Vec3 row = Ds(rot * row0), col = Ds(rot * col0);
  const Vec3 normal = Normalized(Cross(row, col));
  const double ps = Ds(pixel);
  std::vector<Plane> planes;
  for (int k = 0; k < nz; ++k) {
    Plane p;
    p.row = row;
    p.col = col;
    p.dx = p.dy = ps;
    p.nx = nx;
    p.ny = ny;
    p.thickness = thickness;
    p.origin = Ds(centre - (0.5 * (nx - 1) * ps) * row - (0.5 * (ny - 1) * ps) * col +
                  ((k - 0.5 * (nz - 1)) * spacing) * normal);
    planes.push_back(p);
  }
  return planes;
}

int PickMatrix(Rng& rng, double fov, double scale) {
  const int options[] = {320, 384, 448, 512, 576, 640};
  std::vector<int> valid;
  for (int n : options) {
    const double s = fov / n;
    if (s >= 0.4 && s <= 0.9 && !(n > 576 && s < 0.55)) valid.push_back(n);
  }
  if (valid.empty()) valid.push_back(512);
  const int n = valid[rng.Int(0, static_cast<int>(valid.size()) - 1)];
  return std::max(32, static_cast<int>(std::lround(n / scale)));
}

double Round1(double v, double q) { return std::round(v / q) * q; }

std::string Pad(int v, int width) {
  std::string s = std::to_string(v);
  while (static_cast<int>(s.size()) < width) s = "0" + s;
  return s;
}

std::string FormatDs3(const Vec3& v) {
  return FormatDecimalString(v.x) + "\\" + FormatDecimalString(v.y) + "\\" +
         FormatDecimalString(v.z);
}

// Stage timer: with ISCHIA_PHANTOM_TIMING set, prints the wall and process CPU seconds of each
// stage of a study to stderr (for benchmarks; the output files do not depend on it).
class StageTimer {
 public:
  StageTimer() : enabled_(std::getenv("ISCHIA_PHANTOM_TIMING") != nullptr) { Reset(); }
  // `evaluations`: anatomy classifications of the stage, printed if not 0.
  void Lap(const char* stage, std::size_t evaluations = 0) {
    if (!enabled_) return;
    const double wall = Wall(), cpu = Cpu();
    std::fprintf(stderr, "phantom stage %-10s wall %7.3f s  cpu %7.3f s", stage, wall - wall_,
                 cpu - cpu_);
    if (evaluations) std::fprintf(stderr, "  %zu classifications", evaluations);
    std::fprintf(stderr, "\n");
    wall_ = wall;
    cpu_ = cpu;
  }

 private:
  void Reset() {
    wall_ = Wall();
    cpu_ = Cpu();
  }
  static double Wall() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static double Cpu() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
  }
  bool enabled_;
  double wall_ = 0, cpu_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Runs body(0) .. body(n - 1) on ITK's default number of threads, each thread taking the next
// index when it is done with one (the list's order is the schedule: large tasks first keeps
// the threads busy to the end). The results must not depend on the thread or the order.
template <class F>
void ParallelTasks(std::size_t n, F&& body) {
  const std::size_t threads = std::min<std::size_t>(
      std::max<std::size_t>(1, itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads()), n);
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex mutex;
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

nlohmann::json ToJson(const Vec3& v) { return nlohmann::json::array({v.x, v.y, v.z}); }

nlohmann::json ToJson(const TendonSection& s) {
  return {{"distanceMm", s.distanceMm},
          {"zMm", s.zMm},
          {"csaMm2", s.csaMm2},
          {"thicknessMm", s.thicknessMm},
          {"widthMm", s.widthMm}};
}

// Footprint of one side (LPS): the tendon sections are measured at distances below it.
Vec3 FootprintLps(const Anatomy& anatomy, int i) {
  return anatomy.SideToLps(anatomy.GetSide(i).footprint, i);
}

// The numerically measured parts of a side's truth (computed in parallel with the rendering).
struct SideMeasurements {
  Vec3 tip;
  std::vector<TendonSection> sections;  // at 0..50 mm below the footprint
};

PhantomSideTruth SideTruth(const Anatomy& anatomy, int i, const SideMeasurements& m) {
  const Side& s = anatomy.GetSide(i);
  PhantomSideTruth t;
  t.side = i == 0 ? "right" : "left";
  t.pathology = s.pathology;
  const Vec3 tip = m.tip;
  t.tuberosityTipLps = {tip.x, tip.y, tip.z};
  const Vec3 fp = anatomy.SideToLps(s.footprint, i);
  t.footprintLps = {fp.x, fp.y, fp.z};
  TubeKey k;
  s.sciatic.Section(s.tipZ, k);
  const Vec3 nerve = anatomy.SideToLps({k.cx, k.cy, s.tipZ}, i);
  t.sciaticNerveLps = {nerve.x, nerve.y, nerve.z};
  t.tendonLengthMm = s.tendon.length * s.tendon.arcPerZ;
  for (int d = 0; d <= 50; ++d) {
    TendonSection sec = m.sections[d];
    sec.distanceMm = d;
    t.profile.push_back(sec);
    t.maximum.csaMm2 = std::max(t.maximum.csaMm2, sec.csaMm2);
    t.maximum.thicknessMm = std::max(t.maximum.thicknessMm, sec.thicknessMm);
    t.maximum.widthMm = std::max(t.maximum.widthMm, sec.widthMm);
    if (d % 10 == 0 && d <= 30) t.atLevels.push_back(sec);
    if (d > 0) t.volumeMm3 += 0.5 * (sec.csaMm2 + t.profile[d - 1].csaMm2);
  }
  t.maximum.distanceMm = -1;
  t.maximum.zMm = 0;
  t.volumeLengthMm = 50;
  t.intrasubstanceSignal = s.intrasubstance;
  t.peritendinousOedema = s.periOedema;
  t.marrowOedema = s.marrowOedema;
  if (s.pathology == PhantomCase::PartialTear) {
    t.tearType = "partial";
    t.partialExtentPercent = 100 * s.partialExtent;
    t.partialLengthMm = (s.tendon.cleftTop - s.tendon.cleftBottom) * s.tendon.arcPerZ;
  } else if (s.pathology == PhantomCase::CompleteTear) {
    t.tearType = "complete";
    t.retractionMm = s.retractionMm;
    t.gapLengthMm = s.retractionMm;
  }
  return t;
}

nlohmann::json ToJson(const PhantomSideTruth& t) {
  nlohmann::json levels = nlohmann::json::array(), profile = nlohmann::json::array();
  for (const auto& s : t.atLevels) levels.push_back(ToJson(s));
  for (const auto& s : t.profile) profile.push_back(ToJson(s));
  return {{"grade", ToString(t.pathology)},
          {"tuberosityTipLps", t.tuberosityTipLps},
          {"footprintLps", t.footprintLps},
          {"sciaticNerveAtTipLps", t.sciaticNerveLps},
          {"tendonLengthMm", t.tendonLengthMm},
          {"tendon",
           {{"maxCsaMm2", t.maximum.csaMm2},
            {"maxThicknessMm", t.maximum.thicknessMm},
            {"maxWidthMm", t.maximum.widthMm},
            {"atLevels", levels},
            {"volumeMm3", t.volumeMm3},
            {"volumeLengthMm", t.volumeLengthMm},
            {"profile", profile}}},
          {"tear",
           {{"type", t.tearType},
            {"retractionMm", t.retractionMm},
            {"gapLengthMm", t.gapLengthMm},
            {"partialExtentPercent", t.partialExtentPercent},
            {"partialLengthMm", t.partialLengthMm},
            {"tendonsInvolved", t.tearType == "complete" ? 2 : (t.tearType == "partial" ? 1 : 0)}}},
          {"findings",
           {{"intrasubstanceSignal", t.intrasubstanceSignal},
            {"peritendinousOedema", t.peritendinousOedema},
            {"marrowOedema", t.marrowOedema}}}};
}

// ---------------------------------------------------------------------------------------------
struct StudyContext {
  std::uint64_t seed;
  Vendor vendor;
  double fieldT;
  std::string patientPosition, studyUid, frameUid, patientId, patientName, studyDate, studyTime,
      accession, birthDate, sex, age, weight, studyDescription, bodyPart;
  int folderStyle;
};

std::string SeriesFolder(const StudyContext& c, const SeriesPlan& p, Rng& rng) {
  std::string desc;
  for (char ch : p.description)
    desc += (std::isalnum(static_cast<unsigned char>(ch)) ? ch : (ch == '_' ? '_' : '-'));
  switch (c.folderStyle) {
    case 0:
      return c.patientId + "/" + c.studyDate.substr(4, 2) + "-" + c.studyDate.substr(6, 2) + "-" +
             c.studyDate.substr(0, 4) + "-PELVIS-" + Pad(rng.Int(10000, 99999), 5) + "/" +
             std::to_string(p.seriesNumber) + ".000000-" + desc + "-" +
             Pad(rng.Int(10000, 99999), 5);
    case 1:
      return "DICOM/ST" + Pad(rng.Int(0, 99), 6) + "/SE" + Pad(p.seriesNumber, 6);
    case 2:
      return c.studyDate + "/" + Pad(p.seriesNumber, 4) + "_" + desc;
    default:
      return c.studyUid + "/" + p.uid;
  }
}

std::string InstanceFile(const StudyContext& c, const SeriesPlan& p, int instance,
                         const std::string& sopUid) {
  switch (c.folderStyle) {
    case 0:
      return "1-" + Pad(instance, instance > 99 ? 3 : 2) + ".dcm";
    case 1:
      return "IM" + Pad(instance, 6);
    case 2:
      return "IMG-" + Pad(p.seriesNumber, 4) + "-" + Pad(instance, 5) + ".dcm";
    default:
      return sopUid + ".dcm";
  }
}

// The random part of a series' intensity scaling: a display range, an optional rescale. Drawn
// in series order before the rendering (it does not depend on the pixels), so that a series
// can be written as soon as its slices are done.
struct SeriesScaling {
  double target = 0, slope = 1, intercept = 0;
  bool rescale = false;
};

SeriesScaling DrawScaling(const StudyContext& c, Rng& rng) {
  SeriesScaling s;
  s.target = rng.Uniform(1200, 3400);
  s.rescale = c.vendor.kind == 2 || rng.Chance(0.2);
  s.slope = s.rescale ? Ds(Round1(rng.Uniform(0.5, 3.5), 1e-5)) : 1.0;
  s.intercept = s.rescale && rng.Chance(0.3) ? -std::round(rng.Uniform(0, 50)) : 0.0;
  return s;
}

// Whether WriteSeries has pixels to write (and DrawScaling is drawn for the series).
bool HasPixels(const SeriesPlan& p) {
  for (const Plane& plane : p.planes)
    if (plane.nx > 0 && plane.ny > 0) return true;
  return false;
}

void WriteSeries(const StudyContext& c, SeriesPlan& p, const fs::path& outDir,
                 const std::string& folder, const SeriesScaling& scaling) {
  // Intensity scaling: a random display range, stored as 12 or 16 bits, optional rescale.
  std::vector<float> sample;
  std::size_t count = 0;
  for (const auto& s : p.slices) count += (s.size() + 6) / 7;
  sample.reserve(count);
  for (const auto& s : p.slices)
    for (std::size_t i = 0; i < s.size(); i += 7) sample.push_back(s[i]);
  if (sample.empty()) return;
  const std::size_t q = static_cast<std::size_t>(0.999 * (sample.size() - 1));
  std::nth_element(sample.begin(), sample.begin() + q, sample.end());
  const double high = std::max(1e-6f, sample[q]);
  const double target = scaling.target;
  const double gain = target / high;
  const bool rescale = scaling.rescale;
  const double slope = scaling.slope;
  const double intercept = scaling.intercept;
  // The stored value rises with the pixel value: the largest pixel gives the largest one.
  float maxValue = 0;
  for (const auto& s : p.slices)
    for (float v : s) maxValue = std::max(maxValue, v);
  const double maxStored = std::max(0.0, (maxValue * gain - intercept) / slope);
  const unsigned bits = maxStored < 4095 ? 12 : 16;
  const double limit = std::pow(2.0, bits) - 1;
  const fs::path dir = outDir / folder;
  fs::create_directories(dir);
  const int n = static_cast<int>(p.slices.size());
  for (int k = 0; k < n; ++k) {
    const Plane& plane = p.planes[k];
    const int instance =
        p.kind == PhantomSeries::Localizer ? k + 1 : (p.descendingInstances ? n - k : k + 1);
    DicomImageWriter w;
    std::vector<std::uint16_t> pixels(p.slices[k].size());
    for (std::size_t i = 0; i < pixels.size(); ++i) {
      const double v = std::round((p.slices[k][i] * gain - intercept) / slope);
      pixels[i] = static_cast<std::uint16_t>(std::clamp(v, 0.0, limit));
    }
    const std::string sop =
        MakeUid(HashCombine(c.seed, 0x50F), HashCombine(Mix64(p.seriesNumber), instance));
    w.Set(0x0008, 0x0005, "CS", "ISO_IR 100");
    w.Set(0x0008, 0x0008, "CS", p.imageType);
    w.Set(0x0008, 0x0012, "DA", c.studyDate);
    w.Set(0x0008, 0x0013, "TM", c.studyTime);
    w.Set(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.4");
    w.Set(0x0008, 0x0018, "UI", sop);
    w.Set(0x0008, 0x0020, "DA", c.studyDate);
    w.Set(0x0008, 0x0021, "DA", c.studyDate);
    w.Set(0x0008, 0x0022, "DA", c.studyDate);
    w.Set(0x0008, 0x0023, "DA", c.studyDate);
    w.Set(0x0008, 0x0030, "TM", c.studyTime);
    const int minutes = 2 + 4 * p.seriesNumber % 60;
    const std::string seriesTime =
        c.studyTime.substr(0, 2) + Pad(minutes, 2) + c.studyTime.substr(4);
    w.Set(0x0008, 0x0031, "TM", seriesTime);
    w.Set(0x0008, 0x0032, "TM", seriesTime);
    w.Set(0x0008, 0x0033, "TM", seriesTime);
    w.Set(0x0008, 0x0050, "SH", c.accession);
    w.Set(0x0008, 0x0060, "CS", "MR");
    w.Set(0x0008, 0x0070, "LO", c.vendor.manufacturer);
    w.Set(0x0008, 0x0080, "LO", "Synthetic Imaging Centre");
    w.Set(0x0008, 0x1030, "LO", c.studyDescription);
    w.Set(0x0008, 0x103e, "LO", p.description);
    w.Set(0x0008, 0x1090, "LO", c.vendor.model);
    w.Set(0x0010, 0x0010, "PN", c.patientName);
    w.Set(0x0010, 0x0020, "LO", c.patientId);
    w.Set(0x0010, 0x0030, "DA", c.birthDate);
    w.Set(0x0010, 0x0040, "CS", c.sex);
    w.Set(0x0010, 0x1010, "AS", c.age);
    w.Set(0x0010, 0x1030, "DS", c.weight);
    w.Set(0x0018, 0x0015, "CS", c.bodyPart);
    w.Set(0x0018, 0x0020, "CS", p.scanningSequence);
    w.Set(0x0018, 0x0021, "CS", p.sequenceVariant);
    w.Set(0x0018, 0x0022, "CS", p.scanOptions);
    w.Set(0x0018, 0x0023, "CS", "2D");
    w.Set(0x0018, 0x0024, "SH", p.sequenceName);
    w.Set(0x0018, 0x0050, "DS", FormatDecimalString(plane.thickness));
    w.Set(0x0018, 0x0080, "DS", FormatDecimalString(p.sequence.tr));
    w.Set(0x0018, 0x0081, "DS", FormatDecimalString(p.sequence.te));
    if (p.sequence.kind == SequenceKind::InversionRecovery)
      w.Set(0x0018, 0x0082, "DS", FormatDecimalString(p.sequence.ti));
    w.Set(0x0018, 0x0083, "DS", std::to_string(p.averages));
    w.Set(0x0018, 0x0084, "DS", FormatDecimalString(Round1(42.577478 * p.sequence.fieldT, 1e-6)));
    w.Set(0x0018, 0x0085, "SH", "1H");
    w.Set(0x0018, 0x0086, "IS", "1");
    w.Set(0x0018, 0x0087, "DS", FormatDecimalString(p.sequence.fieldT));
    if (p.kind != PhantomSeries::Localizer)
      w.Set(0x0018, 0x0088, "DS", FormatDecimalString(p.spacingBetween));
    w.Set(0x0018, 0x0091, "IS", std::to_string(p.echoTrain));
    w.Set(0x0018, 0x0095, "DS", FormatDecimalString(p.pixelBandwidth));
    w.Set(0x0018, 0x1020, "LO", c.vendor.software);
    const int acqF = p.sequence.acquiredColumns, acqP = p.sequence.acquiredRows;
    w.Set(0x0018, 0x1310, "US",
          p.phaseAlongRows ? "0\\" + std::to_string(acqF) + "\\" + std::to_string(acqP) + "\\0"
                           : std::to_string(acqF) + "\\0\\0\\" + std::to_string(acqP));
    w.Set(0x0018, 0x1312, "CS", p.phaseAlongRows ? "ROW" : "COL");
    w.Set(0x0018, 0x1314, "DS", FormatDecimalString(p.sequence.flipDeg));
    w.Set(0x0018, 0x5100, "CS", c.patientPosition);
    w.Set(0x0020, 0x000d, "UI", c.studyUid);
    w.Set(0x0020, 0x000e, "UI", p.uid);
    w.Set(0x0020, 0x0010, "SH", c.accession.substr(0, 8));
    w.Set(0x0020, 0x0011, "IS", std::to_string(p.seriesNumber));
    w.Set(0x0020, 0x0012, "IS", "1");
    w.Set(0x0020, 0x0013, "IS", std::to_string(instance));
    w.Set(0x0020, 0x0032, "DS", FormatDs3(plane.origin));
    w.Set(0x0020, 0x0037, "DS", FormatDs3(plane.row) + "\\" + FormatDs3(plane.col));
    w.Set(0x0020, 0x0052, "UI", c.frameUid);
    w.Set(0x0020, 0x1040, "LO", "");
    w.Set(0x0020, 0x1041, "DS",
          FormatDecimalString(Round1(Dot(plane.origin, plane.Normal()), 1e-4)));
    w.Set(0x0028, 0x0030, "DS",
          FormatDecimalString(plane.dy) + "\\" + FormatDecimalString(plane.dx));
    w.Set(0x0028, 0x1050, "DS", FormatDecimalString(std::round(0.45 * target / slope)));
    w.Set(0x0028, 0x1051, "DS", FormatDecimalString(std::round(0.9 * target / slope)));
    if (rescale) {
      w.Set(0x0028, 0x1052, "DS", FormatDecimalString(intercept));
      w.Set(0x0028, 0x1053, "DS", FormatDecimalString(slope));
      w.Set(0x0028, 0x1054, "LO", "US");
    }
    w.SetPixels(static_cast<unsigned>(plane.ny), static_cast<unsigned>(plane.nx), bits,
                std::move(pixels));
    w.Write(dir / InstanceFile(c, p, instance, sop));
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
PhantomStudyTruth GeneratePhantomStudy(const PhantomOptions& options, const fs::path& outDir) {
  const auto start = std::chrono::steady_clock::now();
  StageTimer timer;
  if (options.inPlaneScale < 1.0 || options.inPlaneScale > 8.0)
    throw std::invalid_argument("inPlaneScale must be within 1-8");
  if (options.supersampling < 1 || options.supersampling > 8)
    throw std::invalid_argument("supersampling must be within 1-8");
  const std::uint64_t seed = options.seed;
  const Anatomy anatomy(seed, options);
  timer.Lap("anatomy");
  Rng rng(HashCombine(seed, 0x9807));

  StudyContext c;
  c.seed = seed;
  const Vendor vendors[] = {
      {"SIEMENS", "Aera", "syngo MR E11", 0},
      {"SIEMENS", "Skyra", "syngo MR E11", 0},
      {"GE MEDICAL SYSTEMS", "SIGNA Architect", "28\\LX\\MR Software release:RX28.0", 1},
      {"GE MEDICAL SYSTEMS", "DISCOVERY MR750w", "27\\LX\\MR Software release:DV26.0", 1},
      {"Philips Medical Systems", "Ingenia", "5.4.1\\5.4.1.0", 2},
      {"Philips Medical Systems", "Achieva", "5.1.7\\5.1.7.2", 2}};
  c.vendor = vendors[rng.Int(0, 5)];
  c.fieldT = rng.Chance(0.5) ? 1.5 : 3.0;
  if (c.vendor.model == "Skyra" || c.vendor.model == "SIGNA Architect") c.fieldT = 3.0;
  if (c.vendor.model == "Aera") c.fieldT = 1.5;
  c.patientPosition = rng.Chance(0.75) ? "HFS" : "FFS";
  c.studyUid = MakeUid(HashCombine(seed, 0x57D1), HashCombine(seed, 0x57D2));
  c.frameUid = MakeUid(HashCombine(seed, 0xF0F1), HashCombine(seed, 0xF0F2));
  c.patientId = "PH" + Pad(static_cast<int>(Mix64(seed) % 100000000ull), 8);
  c.patientName = "PHANTOM^" + std::to_string(seed);
  const int year = rng.Int(2014, 2023), month = rng.Int(1, 12), day = rng.Int(1, 28);
  c.studyDate = std::to_string(year) + Pad(month, 2) + Pad(day, 2);
  c.studyTime =
      Pad(rng.Int(7, 18), 2) + Pad(rng.Int(0, 59), 2) + Pad(rng.Int(0, 59), 2) + ".000000";
  c.accession = Pad(rng.Int(10000000, 99999999), 8) + Pad(rng.Int(1000, 9999), 4);
  const int ageYears = rng.Int(18, 75);
  c.birthDate = std::to_string(year - ageYears) + Pad(rng.Int(1, 12), 2) + Pad(rng.Int(1, 28), 2);
  c.sex = rng.Chance(0.5) ? "M" : "F";
  c.age = Pad(ageYears, 3) + "Y";
  c.weight = std::to_string(
      static_cast<int>(55 + 40 * anatomy.BodyWidth() / 420.0 * rng.Uniform(0.8, 1.2)));
  const char* studyDescriptions[] = {"MRI PELVIS", "MR HIP HAMSTRING", "MR Becken",
                                     "PELVIS^HAMSTRINGS"};
  c.studyDescription = studyDescriptions[rng.Int(0, 3)];
  c.bodyPart = rng.Chance(0.7) ? "PELVIS" : "HIP";
  c.folderStyle = rng.Int(0, 3);

  // Series plans.
  const double tipZ = anatomy.TipZLps();
  const Vec3 bodyCentre = anatomy.BodyCentreLps();
  const double scale = options.inPlaneScale;
  std::vector<PhantomSeries> wanted = options.series;
  if (wanted.empty())
    wanted = {PhantomSeries::Localizer, PhantomSeries::AxialT1, PhantomSeries::AxialFluidSensitive,
              PhantomSeries::CoronalStir};
  auto isWanted = [&](PhantomSeries s) {
    return std::find(wanted.begin(), wanted.end(), s) != wanted.end();
  };
  const int vk = c.vendor.kind;
  std::vector<SeriesPlan> plans;
  const double degree = M_PI / 180;

  {  // localizer: three orientations, one series
    SeriesPlan p;
    p.kind = PhantomSeries::Localizer;
    const bool haste = rng.Chance(0.5);
    p.sequence.kind = haste ? SequenceKind::SpinEcho : SequenceKind::GradientEcho;
    p.sequence.tr = haste ? Round1(rng.Uniform(1000, 1600), 1) : Round1(rng.Uniform(6, 9), 0.01);
    p.sequence.te = haste ? Round1(rng.Uniform(75, 100), 1) : Round1(rng.Uniform(2.5, 4.5), 0.01);
    p.sequence.flipDeg = haste ? 150 : 20;
    p.sequence.snr = rng.Uniform(14, 25);
    p.description = vk == 0   ? (haste ? "t2_localizer" : "localizer")
                    : vk == 1 ? "3-Plane Loc"
                              : "Survey";
    p.scanningSequence = haste ? "SE" : "GR";
    p.sequenceVariant = haste ? "SK\\SP" : "SP\\OSP";
    p.scanOptions = "";
    p.sequenceName = haste ? "*haste2d1_128" : "*fl2d1";
    p.imageType = vk == 1 ? "ORIGINAL\\PRIMARY\\LOCALIZER" : "ORIGINAL\\PRIMARY\\M\\NORM\\DIS2D";
    const double fov = Round1(rng.Uniform(380, 460), 10);
    const int n = std::max(32, static_cast<int>(std::lround(256 / scale)));
    const double px = fov / n, th = Round1(rng.Uniform(6, 10), 0.5),
                 gap = Round1(th * rng.Uniform(1.0, 1.5), 0.5);
    const Vec3 centre{bodyCentre.x + rng.Uniform(-10, 10), bodyCentre.y + rng.Uniform(-10, 10),
                      tipZ + rng.Uniform(50, 100)};
    const int counts[3] = {rng.Int(3, 5), rng.Int(3, 5), rng.Int(3, 5)};
    const Mat3 none = RotationXYZ(0, 0, 0);
    auto add = [&](const std::vector<Plane>& stack) {
      p.planes.insert(p.planes.end(), stack.begin(), stack.end());
    };
    add(MakeStack(centre, none, {0, 1, 0}, {0, 0, -1}, n, n, px, counts[0], gap, th));  // sagittal
    add(MakeStack(centre, none, {1, 0, 0}, {0, 0, -1}, n, n, px, counts[1], gap, th));  // coronal
    add(MakeStack(centre, none, {1, 0, 0}, {0, 1, 0}, n, n, px, counts[2], gap, th));   // axial
    p.sequence.acquiredColumns = static_cast<int>(n * 0.9);
    p.sequence.acquiredRows = static_cast<int>(n * rng.Uniform(0.5, 0.8));
    p.written = isWanted(PhantomSeries::Localizer);
    plans.push_back(p);
  }
  const double fovAx = std::clamp(anatomy.BodyWidth() + rng.Uniform(25, 60), 300.0, 440.0);
  const int nxAx = PickMatrix(rng, fovAx, scale);
  const double pxAx = fovAx / (nxAx * 1.0);
  const double fovAy =
      std::min(fovAx, std::max(anatomy.BodyDepth() + rng.Uniform(30, 70), 0.7 * fovAx));
  const int nyAx = std::max(16, static_cast<int>(std::lround(fovAy / pxAx / 8)) * 8);
  const double thAx = Round1(rng.Uniform(3.0, 5.0), 0.5);
  const double spAx = Round1(thAx * rng.Uniform(1.0, 1.3), 0.1);
  const double topAx = tipZ + rng.Uniform(65, 95), bottomAx = tipZ - rng.Uniform(110, 135);
  const int nzAx = static_cast<int>(std::ceil((topAx - bottomAx) / spAx)) + 1;
  const Vec3 centreAx{bodyCentre.x + rng.Uniform(-8, 8), bodyCentre.y + rng.Uniform(-12, 12),
                      0.5 * (topAx + bottomAx)};
  const Mat3 tiltAx = RotationXYZ(rng.Uniform(-5, 5) * degree, rng.Uniform(-4, 4) * degree,
                                  rng.Uniform(-2, 2) * degree);
  const std::vector<Plane> axialPlanes =
      MakeStack(centreAx, tiltAx, {1, 0, 0}, {0, 1, 0}, nxAx, nyAx, pxAx, nzAx, spAx, thAx);
  const bool sameGeometry = rng.Chance(0.6);
  const double freqFraction = rng.Uniform(0.55, 0.8), phaseFraction = rng.Uniform(0.45, 0.75);
  {  // axial T1
    SeriesPlan p;
    p.kind = PhantomSeries::AxialT1;
    p.sequence.kind = SequenceKind::SpinEcho;
    p.sequence.tr = Round1(rng.Uniform(420, 750), 1);
    p.sequence.te = Round1(rng.Uniform(8, 16), 0.1);
    p.sequence.snr = rng.Uniform(18, 32);
    p.echoTrain = rng.Int(3, 5);
    p.description = vk == 0 ? "t1_tse_tra" : vk == 1 ? "AX T1 FSE" : "T1W_TSE_TRA";
    p.scanningSequence = "SE";
    p.sequenceVariant = vk == 0 ? "SK\\SP\\OSP" : "SK\\SP";
    p.scanOptions = vk == 1 ? "FAST_GEMS" : "";
    p.sequenceName = vk == 0 ? "*tse2d1_" + std::to_string(p.echoTrain) : vk == 1 ? "fse" : "TSE";
    p.imageType = vk == 2 ? "ORIGINAL\\PRIMARY\\M_SE\\M\\SE" : "ORIGINAL\\PRIMARY\\M\\NORM\\DIS2D";
    p.planes = axialPlanes;
    p.spacingBetween = spAx;
    p.sequence.acquiredColumns = static_cast<int>(nxAx * freqFraction);
    p.sequence.acquiredRows = static_cast<int>(nyAx * phaseFraction);
    p.phaseAlongRows = true;
    p.written = isWanted(PhantomSeries::AxialT1);
    plans.push_back(p);
  }
  {  // axial PD (or T2) fat-saturated
    SeriesPlan p;
    p.kind = PhantomSeries::AxialFluidSensitive;
    const bool t2 = rng.Chance(0.3);
    p.sequence.kind = SequenceKind::SpinEcho;
    p.sequence.tr = Round1(rng.Uniform(2500, 4500), 1);
    p.sequence.te = Round1(t2 ? rng.Uniform(60, 85) : rng.Uniform(25, 42), 0.1);
    p.sequence.fatSat = true;
    p.sequence.fatSatEfficiency = rng.Uniform(0.88, 0.97);
    p.sequence.snr = rng.Uniform(12, 22);
    p.echoTrain = rng.Int(7, 15);
    const std::string w = t2 ? "t2" : "pd";
    p.description = vk == 0   ? w + "_tse_fs_tra"
                    : vk == 1 ? (t2 ? "AX T2 FS" : "AX PD FS")
                              : (t2 ? "T2W_SPAIR_TRA" : "PDW_SPAIR_TRA");
    p.scanningSequence = "SE";
    p.sequenceVariant = vk == 0 ? "SK\\SP\\OSP" : "SK\\SP";
    p.scanOptions = vk == 1 ? "FAST_GEMS\\FS" : "FS";
    p.sequenceName = vk == 0 ? "*tse2d1_" + std::to_string(p.echoTrain) : vk == 1 ? "fse" : "TSE";
    p.imageType = vk == 2 ? "ORIGINAL\\PRIMARY\\M_SE\\M\\SE" : "ORIGINAL\\PRIMARY\\M\\NORM\\DIS2D";
    if (sameGeometry) {
      p.planes = axialPlanes;
      p.group = 1;
      p.sequence.acquiredColumns = plans[1].sequence.acquiredColumns;
      p.sequence.acquiredRows = plans[1].sequence.acquiredRows;
    } else {
      const int nx = PickMatrix(rng, fovAx, scale);
      const double px = fovAx / nx;
      const int ny = std::max(16, static_cast<int>(std::lround(fovAy / px / 8)) * 8);
      const Mat3 tilt = RotationXYZ(rng.Uniform(-5, 5) * degree, rng.Uniform(-4, 4) * degree,
                                    rng.Uniform(-2, 2) * degree);
      p.planes =
          MakeStack(centreAx + Vec3{rng.Uniform(-5, 5), rng.Uniform(-5, 5), rng.Uniform(-5, 5)},
                    tilt, {1, 0, 0}, {0, 1, 0}, nx, ny, px, nzAx, spAx, thAx);
      p.sequence.acquiredColumns = static_cast<int>(nx * rng.Uniform(0.55, 0.8));
      p.sequence.acquiredRows = static_cast<int>(ny * rng.Uniform(0.45, 0.75));
    }
    p.spacingBetween = spAx;
    p.phaseAlongRows = true;
    p.written = isWanted(PhantomSeries::AxialFluidSensitive);
    plans.push_back(p);
  }
  {  // coronal STIR
    SeriesPlan p;
    p.kind = PhantomSeries::CoronalStir;
    p.sequence.kind = SequenceKind::InversionRecovery;
    p.sequence.fieldT = c.fieldT;
    p.sequence.tr = Round1(rng.Uniform(3500, 6000), 1);
    p.sequence.te = Round1(rng.Uniform(30, 60), 0.1);
    const double fatT1 = c.fieldT > 2 ? 370 : 260;
    // Inversion time near the fat null, as technologists set it (a few % off).
    p.sequence.ti = Round1(
        fatT1 * std::log(2.0 / (1 + std::exp(-p.sequence.tr / fatT1))) * rng.Uniform(0.95, 1.06),
        1);
    p.sequence.snr = rng.Uniform(10, 18);
    p.echoTrain = rng.Int(9, 17);
    p.description = vk == 0 ? "t2_tirm_cor" : vk == 1 ? "COR STIR" : "STIR_COR";
    p.scanningSequence = "SE\\IR";
    p.sequenceVariant = vk == 0 ? "SK\\SP\\MP\\OSP" : "SK\\SP\\MP";
    p.scanOptions = vk == 1 ? "FAST_GEMS\\IR" : "IR";
    p.sequenceName = vk == 0   ? "*tir2d1_" + std::to_string(p.echoTrain)
                     : vk == 1 ? "fse-ir"
                               : "TIR";
    p.imageType = vk == 2 ? "ORIGINAL\\PRIMARY\\M_IR\\M\\IR" : "ORIGINAL\\PRIMARY\\M\\NORM\\DIS2D";
    const double fov =
        Round1(std::clamp(anatomy.BodyWidth() + rng.Uniform(25, 60), 340.0, 460.0), 10);
    const int nx = PickMatrix(rng, fov, scale);
    const double px = fov / nx;
    const double th = Round1(rng.Uniform(3.5, 5.0), 0.5),
                 sp = Round1(th * rng.Uniform(1.0, 1.3), 0.1);
    const double y0 = anatomy.TuberosityYLps() - rng.Uniform(55, 75),
                 y1 = anatomy.TuberosityYLps() + rng.Uniform(40, 55);
    const int nz = static_cast<int>(std::ceil((y1 - y0) / sp)) + 1;
    const Vec3 centre{bodyCentre.x + rng.Uniform(-8, 8), 0.5 * (y0 + y1),
                      tipZ + rng.Uniform(10, 50)};
    const Mat3 tilt = RotationXYZ(rng.Uniform(-4, 4) * degree, rng.Uniform(-3, 3) * degree,
                                  rng.Uniform(-5, 5) * degree);
    p.planes = MakeStack(centre, tilt, {1, 0, 0}, {0, 0, -1}, nx, nx, px, nz, sp, th);
    p.spacingBetween = sp;
    p.sequence.acquiredColumns = static_cast<int>(nx * rng.Uniform(0.55, 0.8));
    p.sequence.acquiredRows = static_cast<int>(nx * rng.Uniform(0.5, 0.75));
    p.written = isWanted(PhantomSeries::CoronalStir);
    plans.push_back(p);
  }
  // Acquisition order after the localizer is the site's choice.
  std::vector<int> order = {1, 2, 3};
  for (int i = 2; i > 0; --i) std::swap(order[i], order[rng.Int(0, i)]);
  const int numberBase = vk == 2 ? 100 : 1;
  plans[0].seriesNumber = numberBase == 100 ? 101 : 1;
  for (int i = 0; i < 3; ++i)
    plans[order[i]].seriesNumber = numberBase == 100 ? 100 * (i + 2) + 1 : i + 2;
  for (auto& p : plans) {
    p.sequence.fieldT = c.fieldT;
    p.descendingInstances = rng.Chance(0.5);
    p.averages = rng.Int(1, 2);
    p.pixelBandwidth = Round1(rng.Uniform(130, 300), 1);
    p.uid = MakeUid(HashCombine(seed, 0x5E00 + p.seriesNumber),
                    HashCombine(seed, 0x5E10 + static_cast<int>(p.kind)));
  }
  if (c.patientPosition == "FFS") {
    // Feet first: scanners commonly acquire the axial stacks from the feet upwards.
    plans[1].descendingInstances = plans[2].descendingInstances = false;
  }

  // Coil: anterior and posterior arrays around the body at the pelvis.
  CoilModel coil;
  {
    const double zc = tipZ + rng.Uniform(20, 60);
    for (int iz = -1; iz <= 1; ++iz) {
      for (int ix = -1; ix <= 1; ++ix) {
        const double x = bodyCentre.x + ix * 0.32 * anatomy.BodyWidth();
        coil.elements.push_back({x, bodyCentre.y - 0.5 * anatomy.BodyDepth() - 25, zc + iz * 90.0});
        coil.elements.push_back({x, bodyCentre.y + 0.5 * anatomy.BodyDepth() + 30, zc + iz * 90.0});
      }
    }
    coil.reach = rng.Uniform(110, 160);
    coil.exponent = rng.Uniform(0.35, 0.6);
    double sum = 0;
    for (const Vec3& e : coil.elements) {
      const Vec3 d = Vec3{bodyCentre.x, bodyCentre.y, zc} - e;
      const double g = 1.0 / (1.0 + Dot(d, d) / (coil.reach * coil.reach));
      sum += g * g;
    }
    coil.norm = std::sqrt(sum) * 1.25;
  }
  const Vec3 isocentre{rng.Uniform(-10, 10), rng.Uniform(-10, 10) + bodyCentre.y,
                       tipZ + rng.Uniform(0, 60)};

  // Label map in the axial fluid-sensitive geometry.
  const SeriesPlan& fluid = plans[2];
  auto labels = LabelImage::New();
  {
    const Plane& p0 = fluid.planes.front();
    LabelImage::RegionType region;
    region.SetSize({static_cast<itk::SizeValueType>(p0.nx), static_cast<itk::SizeValueType>(p0.ny),
                    static_cast<itk::SizeValueType>(fluid.planes.size())});
    labels->SetRegions(region);
    LabelImage::SpacingType spacing;
    spacing[0] = p0.dx;
    spacing[1] = p0.dy;
    spacing[2] =
        fluid.planes.size() > 1 ? Norm(fluid.planes[1].origin - p0.origin) : fluid.spacingBetween;
    labels->SetSpacing(spacing);
    labels->SetOrigin(
        LabelImage::PointType(std::array<double, 3>{p0.origin.x, p0.origin.y, p0.origin.z}.data()));
    LabelImage::DirectionType dir;
    const Vec3 n = p0.Normal();
    const Vec3 cols[3] = {p0.row, p0.col, n};
    for (int r = 0; r < 3; ++r) {
      dir(0, r) = cols[r].x;
      dir(1, r) = cols[r].y;
      dir(2, r) = cols[r].z;
    }
    labels->SetDirection(dir);
    labels->Allocate();
  }
  std::uint16_t* labelBuffer = labels->GetBufferPointer();
  // The label map file is written as soon as its last slice is done (while the threads go on).
  const fs::path truthDir = outDir / "truth";
  const fs::path labelMapPath = fs::absolute(truthDir / "labels.nii.gz");
  std::atomic<std::size_t> labelSlicesLeft{fluid.planes.size()};
  auto labelSliceDone = [&] {
    if (--labelSlicesLeft == 0) {
      fs::create_directories(truthDir);
      WriteNifti(labels.GetPointer(), labelMapPath);
    }
  };
  const std::size_t labelSliceSize =
      static_cast<std::size_t>(fluid.planes.front().nx) * fluid.planes.front().ny;
  const std::vector<Box> labelBoxes = {anatomy.LabelBox(0), anatomy.LabelBox(1)};

  // Folders and intensity scaling of every series, drawn in series order (as they were when
  // the series were written one after the other).
  Rng folderRng(HashCombine(seed, 0xF01D));
  std::vector<std::string> folders(plans.size());
  std::vector<SeriesScaling> scalings(plans.size());
  for (std::size_t pi = 0; pi < plans.size(); ++pi) {
    folders[pi] = SeriesFolder(c, plans[pi], folderRng);
    if (plans[pi].written && HasPixels(plans[pi])) scalings[pi] = DrawScaling(c, folderRng);
  }
  fs::create_directories(outDir);

  // One list of independent tasks for the threads: the slices of every series (planes shared
  // between plans are sampled once, for all of them), the label map slices and the numerical
  // ground truth of both sides. Each task writes its own results only.
  struct Task {
    enum Kind { kSlice, kLabels, kTip, kSection } kind;
    std::size_t plan = 0, index = 0;  // kSlice: group leader and plane; kLabels: plane;
                                      // kTip / kSection: side (plan) and distance (index)
  };
  std::vector<Task> tasks;
  std::vector<std::vector<SeriesPlan*>> members(plans.size());
  for (std::size_t pi = 0; pi < plans.size(); ++pi) {
    SeriesPlan& p = plans[pi];
    if (!p.written) continue;
    if (p.group >= 0 && plans[p.group].written) continue;  // rendered with its group leader
    members[pi] = {&p};
    for (auto& other : plans)
      if (other.group == static_cast<int>(pi) && other.written) members[pi].push_back(&other);
    for (SeriesPlan* m : members[pi]) m->slices.assign(p.planes.size(), {});
    for (std::size_t k = 0; k < p.planes.size(); ++k) tasks.push_back({Task::kSlice, pi, k});
  }
  // A series is written by the thread that finishes its last slice, while the others go on
  // (one series at a time: the DICOM library is not used concurrently).
  std::vector<std::atomic<std::size_t>> slicesLeft(plans.size());
  for (std::size_t pi = 0; pi < plans.size(); ++pi) slicesLeft[pi] = plans[pi].planes.size();
  std::mutex writeMutex;
  // The label map's planes: when a written series renders them (the fluid-sensitive series, or
  // the T1 with the same geometry), their central sub-plane gives the labels as well;
  // otherwise they are sampled on their own.
  const int sub = options.supersampling;
  int labelPlan = !members[2].empty() ? 2 : (fluid.group == 1 && !members[1].empty() ? 1 : -1);
  if (labelPlan >= 0 &&
      !SamplesLabelsWithTissues(sub, fluid.planes.front().thickness > 5.5 ? 5 : 3))
    labelPlan = -1;
  if (labelPlan < 0)
    for (std::size_t k = 0; k < fluid.planes.size(); ++k) tasks.push_back({Task::kLabels, 0, k});
  SideMeasurements measured[2];
  for (std::size_t i = 0; i < 2; ++i) {
    measured[i].sections.resize(51);
    tasks.push_back({Task::kTip, i, 0});
    for (std::size_t d = 0; d <= 50; ++d) tasks.push_back({Task::kSection, i, d});
  }
  std::atomic<std::size_t> evaluations{0};  // for the stage timer
  ParallelTasks(tasks.size(), [&](std::size_t t) {
    const Task& task = tasks[t];
    switch (task.kind) {
      case Task::kSlice: {
        const SeriesPlan& p = plans[task.plan];
        const std::size_t k = task.index;
        std::vector<PixelMix> mix;
        PlaneTexture texture;
        const Plane& plane = p.planes[k];
        const int through = plane.thickness > 5.5 ? 5 : 3;
        const bool withLabels = static_cast<int>(task.plan) == labelPlan;
        std::vector<std::uint16_t> labelSlice;
        evaluations += SampleTissues(anatomy, plane, p.kind == PhantomSeries::Localizer ? 1 : sub,
                                     through, mix, withLabels ? &labelBoxes : nullptr,
                                     withLabels ? &labelSlice : nullptr);
        if (withLabels) {
          std::copy(labelSlice.begin(), labelSlice.end(), labelBuffer + k * labelSliceSize);
          labelSliceDone();
        }
        SampleTexture(anatomy, plane, mix, texture);
        for (SeriesPlan* m : members[task.plan]) {
          const std::uint64_t noiseSeed =
              HashCombine(HashCombine(seed, 0x0153 + m->seriesNumber), k);
          SimulateSlice(plane, mix, texture, m->sequence, coil, isocentre, noiseSeed,
                        m->slices[k]);
        }
        if (--slicesLeft[task.plan] == 0) {
          std::lock_guard<std::mutex> lock(writeMutex);
          for (SeriesPlan* m : members[task.plan]) {
            const std::size_t mi = static_cast<std::size_t>(m - plans.data());
            WriteSeries(c, *m, outDir, folders[mi], scalings[mi]);
            m->slices.clear();
            m->slices.shrink_to_fit();
          }
        }
        break;
      }
      case Task::kLabels: {
        std::vector<std::uint16_t> slice;
        evaluations += SampleLabels(anatomy, fluid.planes[task.index], labelBoxes, slice);
        std::copy(slice.begin(), slice.end(), labelBuffer + task.index * labelSliceSize);
        labelSliceDone();
        break;
      }
      case Task::kTip:
        measured[task.plan].tip = anatomy.FindTuberosityTip(static_cast<int>(task.plan));
        break;
      case Task::kSection: {
        const int side = static_cast<int>(task.plan);
        measured[side].sections[task.index] = MeasureTendonSection(
            anatomy, side, FootprintLps(anatomy, side).z - static_cast<double>(task.index));
        break;
      }
    }
  });

  timer.Lap("render", evaluations);  // with the numerical truth, the DICOM and label map files

  // Truth of the series (their DICOM files are written).
  PhantomStudyTruth truth;
  truth.seed = seed;
  truth.studyInstanceUid = c.studyUid;
  truth.frameOfReferenceUid = c.frameUid;
  truth.patientId = c.patientId;
  nlohmann::json seriesJson = nlohmann::json::array();
  for (std::size_t pi = 0; pi < plans.size(); ++pi) {
    const SeriesPlan& p = plans[pi];
    PhantomSeriesTruth st;
    st.kind = p.kind;
    st.seriesInstanceUid = p.uid;
    st.seriesDescription = p.description;
    st.seriesNumber = p.seriesNumber;
    st.written = p.written;
    st.folder = folders[pi];
    nlohmann::json sj = {{"kind", ToString(p.kind)},          {"role", RoleName(p.kind)},
                         {"seriesInstanceUid", p.uid},        {"seriesNumber", p.seriesNumber},
                         {"description", p.description},      {"written", p.written},
                         {"repetitionTimeMs", p.sequence.tr}, {"echoTimeMs", p.sequence.te},
                         {"inversionTimeMs", p.sequence.ti},  {"imageCount", p.planes.size()}};
    if (p.written) sj["folder"] = st.folder;
    if (p.kind != PhantomSeries::Localizer) {
      const Plane& p0 = p.planes.front();
      const Vec3 n = p0.Normal();
      st.origin = {p0.origin.x, p0.origin.y, p0.origin.z};
      st.spacing = {p0.dx, p0.dy,
                    p.planes.size() > 1 ? Norm(p.planes[1].origin - p0.origin) : p.spacingBetween};
      st.direction = {
          {{p0.row.x, p0.col.x, n.x}, {p0.row.y, p0.col.y, n.y}, {p0.row.z, p0.col.z, n.z}}};
      st.size = {static_cast<unsigned>(p0.nx), static_cast<unsigned>(p0.ny),
                 static_cast<unsigned>(p.planes.size())};
      st.sliceThicknessMm = p0.thickness;
      sj["geometry"] = {{"origin", st.origin},
                        {"spacing", st.spacing},
                        {"direction", st.direction},
                        {"size", st.size},
                        {"sliceThicknessMm", st.sliceThicknessMm},
                        {"spacingBetweenSlicesMm", p.spacingBetween}};
    }
    truth.series.push_back(st);
    seriesJson.push_back(sj);
  }
  truth.right = SideTruth(anatomy, 0, measured[0]);
  truth.left = SideTruth(anatomy, 1, measured[1]);

  fs::create_directories(truthDir);
  truth.labelMap = labelMapPath;
  nlohmann::json j;
  j["generator"] = {{"name", "ischia phantom"}, {"version", 1}};
  j["seed"] = seed;
  j["study"] = {{"studyInstanceUid", c.studyUid},
                {"frameOfReferenceUid", c.frameUid},
                {"patientId", c.patientId},
                {"patientName", c.patientName},
                {"studyDate", c.studyDate},
                {"manufacturer", c.vendor.manufacturer},
                {"model", c.vendor.model},
                {"fieldStrengthT", c.fieldT},
                {"patientPosition", c.patientPosition}};
  j["labels"] = {{"file", "labels.nii.gz"},
                 {"values",
                  {{"0", "background"},
                   {"1", "ischial tuberosity / ischium bone"},
                   {"2", "hamstring tendon"},
                   {"3", "fluid-signal tear"}}},
                 {"geometry", "AxialFluidSensitive"},
                 {"seriesInstanceUid", fluid.uid},
                 {"sampling", "tissue at each voxel centre"}};
  j["series"] = seriesJson;
  j["sides"] = {{"left", ToJson(truth.left)}, {"right", ToJson(truth.right)}};
  j["definitions"] = {
      {"coordinates", "DICOM patient coordinates (LPS), millimetres"},
      {"tendonSection",
       "axial plane of constant patient z; envelope = hamstring tendon (conjoint + "
       "semimembranosus) including any intratendinous cleft, excluding bone; thickness = extent "
       "along the minor principal axis, width = extent along the major principal axis, csa = area"},
      {"levels", "distance in mm caudal to the footprint level (footprintLps z)"},
      {"volume", "integral of csa over distances 0..volumeLengthMm"},
      {"retraction", "along the tendon course from the footprint to the proximal end of the stump"},
      {"tuberosityTip", "lowest point of the ischium (centroid of its lowest section)"}};
  truth.json = j.dump(2) + "\n";
  truth.truthJson = fs::absolute(truthDir / "truth.json");
  {
    std::ofstream out(truth.truthJson, std::ios::binary);
    out << truth.json;
    if (!out) throw std::runtime_error("cannot write " + truth.truthJson.string());
  }
  timer.Lap("truth");  // truth.json
  truth.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return truth;
}

std::vector<PhantomStudyTruth> GeneratePhantomSuite(int count, const PhantomOptions& base,
                                                    const fs::path& outDir) {
  if (count < 4)
    throw std::invalid_argument(
        "a suite needs at least 4 studies to cover every case on each side");
  const PhantomCase cases[] = {PhantomCase::Normal, PhantomCase::Tendinopathy,
                               PhantomCase::PartialTear, PhantomCase::CompleteTear};
  std::vector<PhantomStudyTruth> out;
  nlohmann::json list = nlohmann::json::array();
  for (int i = 0; i < count; ++i) {
    PhantomOptions o = base;
    o.seed = base.seed + static_cast<std::uint64_t>(i);
    o.left = {};
    o.right = {};
    if (i < 4) {
      o.left.pathology = cases[i];
      o.right.pathology = cases[(i + 2) % 4];
    }
    const std::string name = "study-" + Pad(i + 1, 3);
    out.push_back(GeneratePhantomStudy(o, outDir / name));
    list.push_back({{"folder", name},
                    {"seed", o.seed},
                    {"left", ToString(out.back().left.pathology)},
                    {"right", ToString(out.back().right.pathology)}});
  }
  std::ofstream suite(outDir / "suite.json", std::ios::binary);
  suite << nlohmann::json{{"studies", list}}.dump(2) << "\n";
  if (!suite) throw std::runtime_error("cannot write " + (outDir / "suite.json").string());
  return out;
}

}  // namespace ischia
