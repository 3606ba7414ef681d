// Classifying a stack's role from its DICOM tags. Order of evidence: object type and geometry,
// then ImageType, diffusion tags, orientation from IOP, fat suppression from ScanOptions /
// SequenceVariant / ScanningSequence / InversionTime, weighting from TR/TE, and the series
// description only as a last hint.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "dicom_ingest.h"

namespace ischia {

const char* ToString(SeriesRole role) {
  switch (role) {
    case SeriesRole::AxialT1: return "axial_t1";
    case SeriesRole::AxialFluidSensitive: return "axial_fluid_sensitive";
    case SeriesRole::CoronalFluidSensitive: return "coronal_fluid_sensitive";
    case SeriesRole::OtherAnatomical: return "other_anatomical";
    case SeriesRole::Localizer: return "localizer";
    case SeriesRole::DiffusionDerivedOther: return "diffusion_derived_other";
  }
  return "unknown";
}

namespace {

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Multi-valued CS split on '\'.
std::vector<std::string> Values(const std::string& cs) {
  std::vector<std::string> out;
  std::stringstream ss(Upper(cs));
  std::string item;
  while (std::getline(ss, item, '\\')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}
bool Has(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

// Words of a description, split at anything not alphanumeric ("t2_tse_fs" -> t2, tse, fs).
std::vector<std::string> Words(const std::string& text) {
  std::vector<std::string> out;
  std::string w;
  for (char ch : Upper(text) + " ") {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      w += ch;
    } else if (!w.empty()) {
      out.push_back(w);
      w.clear();
    }
  }
  return out;
}

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

SeriesRole ClassifyStack(const ImageStack& stack, std::string& reason) {
  if (stack.slices.empty()) {
    reason = "empty stack";
    return SeriesRole::DiffusionDerivedOther;
  }
  const FrameInfo& f = stack.slices.front();
  const auto imageType = Values(f.imageType);
  const auto options = Values(f.scanOptions);
  const auto variant = Values(f.sequenceVariant);
  const auto sequence = Values(f.scanningSequence);
  const auto words = Words(f.seriesDescription);
  auto wordHas = [&](std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (Has(words, k)) return true;
    return false;
  };

  if (!f.modality.empty() && Upper(f.modality) != "MR") {
    reason = "modality " + f.modality + ", not MR";
    return SeriesRole::DiffusionDerivedOther;
  }
  if (f.samplesPerPixel != 1) {
    reason = "colour image (" + std::to_string(f.samplesPerPixel) + " samples per pixel)";
    return SeriesRole::DiffusionDerivedOther;
  }
  if (!f.hasGeometry) {
    reason = "no patient geometry (ImagePositionPatient/ImageOrientationPatient/PixelSpacing)";
    return SeriesRole::DiffusionDerivedOther;
  }
  if (Has(imageType, "LOCALIZER") || Has(imageType, "SCOUT")) {
    reason = "ImageType " + f.imageType + " marks a localizer";
    return SeriesRole::Localizer;
  }
  if (stack.orientationsInSeries > 1) {
    reason = "series holds " + std::to_string(stack.orientationsInSeries) +
             " slice orientations (multi-plane localizer)";
    return SeriesRole::Localizer;
  }
  if (f.hasBValue || Has(imageType, "DIFFUSION") || Has(imageType, "ADC") ||
      Has(imageType, "TRACEW") || Has(imageType, "FA")) {
    reason = "diffusion (ImageType " + f.imageType + ")";
    if (f.hasBValue) reason += ", b=" + Fmt("%g", f.bValue);
    return SeriesRole::DiffusionDerivedOther;
  }
  for (const char* kind : {"FIELD_MAP", "B0 MAP", "PHASE", "P", "REAL", "IMAGINARY", "T1 MAP",
                           "T2 MAP", "T2_MAP", "T1_MAP"}) {
    if (Has(imageType, kind)) {
      reason = "ImageType " + f.imageType + " (map or phase image, not anatomical)";
      return SeriesRole::DiffusionDerivedOther;
    }
  }
  if (!imageType.empty() && imageType.front() == "DERIVED") {
    reason = "ImageType " + f.imageType + " (derived image)";
    return SeriesRole::DiffusionDerivedOther;
  }
  const double fovMm = std::max(f.rows * f.pixelSpacing[0], f.columns * f.pixelSpacing[1]);
  if (stack.NumberOfSlices() <= 3 && fovMm >= 380 &&
      wordHas({"LOC", "LOCALIZER", "LOCALISER", "SCOUT", "SURVEY", "TRIPILOT", "PILOT", "3PLANE"})) {
    reason = std::to_string(stack.NumberOfSlices()) + " slice(s), FOV " + Fmt("%.0f", fovMm) +
             " mm, description '" + f.seriesDescription + "' (localizer)";
    return SeriesRole::Localizer;
  }

  const std::string orientation = stack.OrientationName();
  const bool axial = orientation.rfind("axial", 0) == 0;
  const bool coronal = orientation.rfind("coronal", 0) == 0;

  // Fat suppression: ScanOptions FS/SFS/FAT SAT/SPAIR/SPIR/CHESS, Dixon water images, or STIR.
  std::string fatReason;
  for (const std::string& o : options) {
    if (o == "FS" || o == "SFS" || o == "FAT SAT" || o == "FATSAT" || o == "SPAIR" ||
        o == "SPIR" || o == "CHESS" || o == "FSA" || o == "FSA_GEMS" || o == "FSP" ||
        o == "WE" || o.rfind("FAT", 0) == 0) {
      fatReason = "ScanOptions " + o;
      break;
    }
  }
  if (fatReason.empty() && (Has(imageType, "WATER") || Has(imageType, "W")))
    fatReason = "ImageType " + f.imageType + " (Dixon water image)";
  const bool inversion = Has(sequence, "IR") || Has(options, "IR") || f.inversionTime > 0;
  const bool stir = inversion && f.inversionTime >= 80 && f.inversionTime <= 300;
  const bool flair = inversion && f.inversionTime > 1200;
  if (stir && fatReason.empty())
    fatReason = "inversion recovery with TI " + Fmt("%g", f.inversionTime) + " ms (STIR)";

  const bool haveTiming = f.repetitionTime > 0 && f.echoTime > 0;
  std::string weighting;
  const bool gradientEcho = Has(sequence, "GR") && !Has(sequence, "SE");
  if (haveTiming) {
    // Short-TR gradient echo with a small flip angle has little T1 weighting (PD-like).
    if (gradientEcho && f.repetitionTime < 1000 && f.flipAngle > 0 && f.flipAngle < 20)
      weighting = "PD";
    else if (f.repetitionTime < 1000 && f.echoTime < 30) weighting = "T1";
    else if (f.repetitionTime >= 1000 && f.echoTime < 50) weighting = "PD";
    else if (f.repetitionTime >= 1000) weighting = "T2";
    else weighting = "mixed";
  }
  std::string hint;
  if (weighting.empty()) {
    // Last resort: the description.
    if (wordHas({"STIR", "TIRM"})) weighting = "STIR", hint = "description";
    else if (wordHas({"T1", "T1W", "T1TSE", "T1FSE"})) weighting = "T1", hint = "description";
    else if (wordHas({"PD", "PDW", "PDFS"})) weighting = "PD", hint = "description";
    else if (wordHas({"T2", "T2W", "T2FS"})) weighting = "T2", hint = "description";
    if (fatReason.empty() && wordHas({"FS", "FATSAT", "SPAIR", "SPIR", "STIR", "TIRM", "PDFS", "T2FS"}))
      fatReason = "description '" + f.seriesDescription + "'";
  }

  std::string timing = haveTiming ? "TR " + Fmt("%g", f.repetitionTime) + " ms, TE " +
                                        Fmt("%g", f.echoTime) + " ms"
                                  : "no TR/TE";
  if (f.inversionTime > 0) timing += ", TI " + Fmt("%g", f.inversionTime) + " ms";
  if (gradientEcho && f.flipAngle > 0) timing += ", gradient echo, flip " + Fmt("%g", f.flipAngle) + " deg";
  const std::string what = orientation + "; " + timing +
                           (weighting.empty() ? "" : ": " + weighting + "-weighted") +
                           (hint.empty() ? "" : " (from " + hint + ")");

  if (flair) {
    reason = what + "; fluid-attenuated inversion recovery";
    return SeriesRole::OtherAnatomical;
  }
  const bool fluidSensitive =
      stir || weighting == "STIR" ||
      (!fatReason.empty() && (weighting == "PD" || weighting == "T2"));
  if (fluidSensitive && (axial || coronal)) {
    reason = what + "; fat-suppressed (" + fatReason + "): fluid-sensitive";
    return axial ? SeriesRole::AxialFluidSensitive : SeriesRole::CoronalFluidSensitive;
  }
  if (axial && weighting == "T1" && fatReason.empty()) {
    reason = what + "; no fat suppression";
    return SeriesRole::AxialT1;
  }
  if (weighting.empty()) {
    reason = what + "; contrast unknown";
    return SeriesRole::OtherAnatomical;
  }
  reason = what + (fatReason.empty() ? "; no fat suppression" : "; fat-suppressed (" + fatReason + ")");
  return SeriesRole::OtherAnatomical;
}

}  // namespace ischia
