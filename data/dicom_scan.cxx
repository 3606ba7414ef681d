// Finding DICOM files by content and reading their headers (no pixel data) into FrameInfo.
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmMediaStorage.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmStringFilter.h>
#include <gdcmTrace.h>
#include <gdcmTransferSyntax.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <stdexcept>
#include <system_error>

#include "dicom_ingest.h"
#include "isolation.h"

namespace ischia {
namespace fs = std::filesystem;

// Header records cross from the parsing child to the parent as CBOR (binary-safe strings).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(
    FrameInfo, path, frameIndex, numberOfFrames, sopClassUid, sopInstanceUid, transferSyntaxUid,
    studyInstanceUid, seriesInstanceUid, frameOfReferenceUid, patientId, patientName, studyDate,
    studyDescription, accessionNumber, modality, seriesDescription, bodyPartExamined,
    patientPosition, manufacturer, seriesNumber, instanceNumber, acquisitionNumber,
    temporalPosition, rows, columns, samplesPerPixel, bitsAllocated, photometricInterpretation,
    hasGeometry, position, orientation, pixelSpacing, sliceThickness, spacingBetweenSlices,
    repetitionTime, echoTime, inversionTime, flipAngle, echoNumber, hasBValue, bValue,
    diffusionDirection, scanningSequence, sequenceVariant, scanOptions, sequenceName, imageType,
    rescaleSlope, rescaleIntercept, patientBirthDate, patientSex, studyTime, institutionName,
    inPlanePhaseEncodingDirection, acquisitionMatrix)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SkippedFile, path, reason)

namespace {

const gdcm::Tag kPixelData(0x7fe0, 0x0010);
const gdcm::Tag kFloatPixelData(0x7fe0, 0x0008);
const gdcm::Tag kDoubleFloatPixelData(0x7fe0, 0x0009);
const gdcm::Tag kSharedGroups(0x5200, 0x9229);
const gdcm::Tag kPerFrameGroups(0x5200, 0x9230);

std::string Trim(std::string s) {
  auto notSpace = [](unsigned char c) { return !std::isspace(c) && c != '\0'; };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), notSpace));
  s.erase(std::find_if(s.rbegin(), s.rend(), notSpace).base(), s.end());
  return s;
}

std::vector<double> ParseNumbers(const std::string& text) {
  std::vector<double> values;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find('\\', start), text.size());
    const std::string item = Trim(text.substr(start, end - start));
    if (!item.empty()) {
      char* stop = nullptr;
      const double v = std::strtod(item.c_str(), &stop);
      if (stop != item.c_str()) values.push_back(v);
    }
    start = end + 1;
  }
  return values;
}

// Reads tag values from a data set with the file's dictionary and byte order; also looks into
// the functional group macros of multi-frame objects.
class TagReader {
 public:
  explicit TagReader(const gdcm::File& file) : file_(file) { filter_.SetFile(file); }

  std::string String(const gdcm::DataSet& ds, gdcm::Tag tag) const {
    if (!ds.FindDataElement(tag)) return {};
    const gdcm::DataElement& de = ds.GetDataElement(tag);
    if (de.IsEmpty()) return {};
    std::string s;
    const gdcm::VR vr = de.GetVR();
    const bool opaque = tag.IsPrivate() || vr == gdcm::VR::OB || vr == gdcm::VR::UN;
    if (!opaque) {
      try {
        s = filter_.ToString(de);
      } catch (...) {
        s.clear();
      }
    }
    if (s.empty()) {
      // Private or unknown tags (e.g. Siemens B_value stored as OB text): raw bytes if printable.
      if (const gdcm::ByteValue* bv = de.GetByteValue()) {
        std::string raw(bv->GetPointer(), bv->GetLength());
        if (std::all_of(raw.begin(), raw.end(), [](unsigned char c) {
              return c == 0 || std::isprint(c) || std::isspace(c);
            })) {
          s = raw;
        }
      }
    }
    return Trim(s);
  }
  std::string String(gdcm::Tag tag) const { return String(file_.GetDataSet(), tag); }

  std::vector<double> Numbers(const gdcm::DataSet& ds, gdcm::Tag tag) const {
    return ParseNumbers(String(ds, tag));
  }
  double Number(const gdcm::DataSet& ds, gdcm::Tag tag, double fallback = 0) const {
    const auto v = Numbers(ds, tag);
    return v.empty() ? fallback : v.front();
  }

 private:
  const gdcm::File& file_;
  gdcm::StringFilter filter_;
};

// First item of a sequence element in `ds`, or nullptr.
const gdcm::DataSet* FirstItem(const gdcm::DataSet& ds, gdcm::Tag seq) {
  if (!ds.FindDataElement(seq)) return nullptr;
  gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(seq).GetValueAsSQ();
  if (!sq || sq->GetNumberOfItems() == 0) return nullptr;
  return &sq->GetItem(1).GetNestedDataSet();
}

// The data set of functional group `macro` for one frame: per-frame first, then shared.
const gdcm::DataSet* FunctionalGroup(const gdcm::DataSet* perFrame, const gdcm::DataSet* shared,
                                     gdcm::Tag macro) {
  if (perFrame) {
    if (const gdcm::DataSet* d = FirstItem(*perFrame, macro)) return d;
  }
  if (shared) {
    if (const gdcm::DataSet* d = FirstItem(*shared, macro)) return d;
  }
  return nullptr;
}

// True if the first bytes look like DICOM: "DICM" after a 128-byte preamble, or (for files
// without preamble) a plausible first element of group 0002 or 0008 in either byte order.
bool LooksLikeDicom(const fs::path& path, std::uintmax_t size) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  char head[132] = {};
  in.read(head, sizeof head);
  const std::streamsize n = in.gcount();
  if (n >= 132 && std::memcmp(head + 128, "DICM", 4) == 0) return true;
  if (n < 8 || size < 8) return false;
  const auto b = reinterpret_cast<const unsigned char*>(head);
  const unsigned groupLE = b[0] | (b[1] << 8);
  const unsigned groupBE = (b[0] << 8) | b[1];
  const bool plausibleGroup = groupLE == 0x0002 || groupLE == 0x0008 || groupBE == 0x0008;
  if (!plausibleGroup) return false;
  // Explicit VR: two upper-case letters; implicit VR: a 32-bit length that fits the file.
  const bool explicitVr = std::isupper(b[4]) && std::isupper(b[5]);
  const std::uint32_t lenLE = b[4] | (b[5] << 8) | (b[6] << 16) | (std::uint32_t(b[7]) << 24);
  return explicitVr || lenLE < size;
}

const char* NonImageReason(const std::string& sopClass, const gdcm::DataSet& ds,
                           bool hasPixelData) {
  const std::string& c = sopClass;
  auto starts = [&](const char* prefix) { return c.rfind(prefix, 0) == 0; };
  if (c == "1.2.840.10008.1.3.10") return "DICOMDIR (media directory, no image)";
  if (starts("1.2.840.10008.5.1.4.1.1.88.")) return "structured report (SR), no image";
  if (starts("1.2.840.10008.5.1.4.1.1.481.") && !hasPixelData)
    return "radiotherapy object (RT), no image";
  if (starts("1.2.840.10008.5.1.4.1.1.481.2")) return "radiotherapy dose (RT Dose), not an MR image";
  if (c == "1.2.840.10008.5.1.4.1.1.66.4") return "segmentation object (SEG)";
  if (starts("1.2.840.10008.5.1.4.1.1.11.")) return "presentation state, no image";
  if (c == "1.2.840.10008.5.1.4.1.1.104.1") return "encapsulated PDF";
  if (starts("1.2.840.10008.5.1.4.1.1.104.")) return "encapsulated document";
  if (starts("1.2.840.10008.5.1.4.1.1.9.")) return "waveform, no image";
  if (c == "1.2.840.10008.5.1.4.1.1.66") return "raw data, no image";
  if (!hasPixelData && !ds.FindDataElement(kFloatPixelData) &&
      !ds.FindDataElement(kDoubleFloatPixelData))
    return "no pixel data";
  return nullptr;
}

std::uint64_t BytesPerFrame(const FrameInfo& f) {
  return std::uint64_t(f.rows) * f.columns * f.samplesPerPixel * ((f.bitsAllocated + 7) / 8);
}

void ReadCommonTags(const TagReader& t, const gdcm::DataSet& ds, FrameInfo& f) {
  auto s = [&](std::uint16_t g, std::uint16_t e) { return t.String(ds, gdcm::Tag(g, e)); };
  auto num = [&](std::uint16_t g, std::uint16_t e, double fb = 0) {
    return t.Number(ds, gdcm::Tag(g, e), fb);
  };
  f.sopClassUid = s(0x0008, 0x0016);
  f.sopInstanceUid = s(0x0008, 0x0018);
  f.studyInstanceUid = s(0x0020, 0x000d);
  f.seriesInstanceUid = s(0x0020, 0x000e);
  f.frameOfReferenceUid = s(0x0020, 0x0052);
  f.patientId = s(0x0010, 0x0020);
  f.patientName = s(0x0010, 0x0010);
  f.studyDate = s(0x0008, 0x0020);
  f.studyDescription = s(0x0008, 0x1030);
  f.accessionNumber = s(0x0008, 0x0050);
  f.patientBirthDate = s(0x0010, 0x0030);
  f.patientSex = s(0x0010, 0x0040);
  f.studyTime = s(0x0008, 0x0030);
  f.institutionName = s(0x0008, 0x0080);
  f.modality = s(0x0008, 0x0060);
  f.seriesDescription = s(0x0008, 0x103e);
  f.bodyPartExamined = s(0x0018, 0x0015);
  f.patientPosition = s(0x0018, 0x5100);
  f.manufacturer = s(0x0008, 0x0070);
  f.seriesNumber = static_cast<int>(num(0x0020, 0x0011));
  f.instanceNumber = static_cast<int>(num(0x0020, 0x0013));
  f.acquisitionNumber = static_cast<int>(num(0x0020, 0x0012));
  f.temporalPosition = static_cast<int>(num(0x0020, 0x0100));
  f.rows = static_cast<unsigned>(std::max(0.0, num(0x0028, 0x0010)));
  f.columns = static_cast<unsigned>(std::max(0.0, num(0x0028, 0x0011)));
  f.samplesPerPixel = static_cast<unsigned>(std::max(1.0, num(0x0028, 0x0002, 1)));
  f.bitsAllocated = static_cast<unsigned>(std::max(1.0, num(0x0028, 0x0100, 16)));
  f.photometricInterpretation = s(0x0028, 0x0004);
  f.numberOfFrames = static_cast<int>(std::max(1.0, num(0x0028, 0x0008, 1)));
  f.imageType = s(0x0008, 0x0008);
  f.scanningSequence = s(0x0018, 0x0020);
  f.sequenceVariant = s(0x0018, 0x0021);
  f.scanOptions = s(0x0018, 0x0022);
  f.sequenceName = s(0x0018, 0x0024);
  f.inPlanePhaseEncodingDirection = s(0x0018, 0x1312);
  if (const auto m = t.Numbers(ds, gdcm::Tag(0x0018, 0x1310)); m.size() == 4) {
    std::copy(m.begin(), m.end(), f.acquisitionMatrix.begin());
  }
  f.repetitionTime = num(0x0018, 0x0080);
  f.echoTime = num(0x0018, 0x0081);
  f.inversionTime = num(0x0018, 0x0082);
  f.flipAngle = num(0x0018, 0x1314);
  f.echoNumber = static_cast<int>(num(0x0018, 0x0086));
  f.sliceThickness = num(0x0018, 0x0050);
  f.spacingBetweenSlices = num(0x0018, 0x0088);
  f.rescaleSlope = num(0x0028, 0x1053, 1);
  if (f.rescaleSlope == 0) f.rescaleSlope = 1;
  f.rescaleIntercept = num(0x0028, 0x1052, 0);

  const auto ipp = t.Numbers(ds, gdcm::Tag(0x0020, 0x0032));
  const auto iop = t.Numbers(ds, gdcm::Tag(0x0020, 0x0037));
  const auto ps = t.Numbers(ds, gdcm::Tag(0x0028, 0x0030));
  if (ipp.size() == 3 && iop.size() == 6 && ps.size() == 2) {
    std::copy(ipp.begin(), ipp.end(), f.position.begin());
    std::copy(iop.begin(), iop.end(), f.orientation.begin());
    f.pixelSpacing = {ps[0], ps[1]};
    f.hasGeometry = ps[0] > 0 && ps[1] > 0;
  }

  // b-value: standard tag, then vendor private tags (Siemens CSA-era, GE), then the Siemens
  // sequence name ("*ep_b800t").
  const auto b = t.Numbers(ds, gdcm::Tag(0x0018, 0x9087));
  std::vector<double> bPrivate;
  if (b.empty() && f.manufacturer.find("SIEMENS") != std::string::npos)
    bPrivate = t.Numbers(ds, gdcm::Tag(0x0019, 0x100c));
  if (b.empty() && bPrivate.empty() && f.manufacturer.find("GE") != std::string::npos)
    bPrivate = t.Numbers(ds, gdcm::Tag(0x0043, 0x1039));
  if (!b.empty()) {
    f.hasBValue = true;
    f.bValue = b.front();
  } else if (!bPrivate.empty() &&
             (std::fmod(bPrivate.front(), 1e9) > 0 ||
              f.scanningSequence.find("EP") != std::string::npos)) {
    f.hasBValue = true;
    f.bValue = std::fmod(bPrivate.front(), 1e9);  // GE stores b + 1e9 on some versions
  } else {
    const auto pos = f.sequenceName.find("ep_b");
    if (pos != std::string::npos) {
      const char* digits = f.sequenceName.c_str() + pos + 4;
      if (std::isdigit(static_cast<unsigned char>(*digits))) {
        const double v = std::strtod(digits, nullptr);
        // "*ep_b50_800" names the b-values of a derived (ADC/calculated) image: no single b.
        if (f.sequenceName.find('_', pos + 4) == std::string::npos) {
          f.hasBValue = true;
          f.bValue = v;
        }
      }
    }
  }
  const auto dir = t.Numbers(ds, gdcm::Tag(0x0018, 0x9089));
  if (dir.size() == 3) std::copy(dir.begin(), dir.end(), f.diffusionDirection.begin());
}

// Fills per-frame values of an Enhanced (multi-frame) object from its functional groups.
void ReadFunctionalGroups(const TagReader& t, const gdcm::DataSet* perFrame,
                          const gdcm::DataSet* shared, FrameInfo& f) {
  if (const auto* pos = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0020, 0x9113))) {
    const auto v = t.Numbers(*pos, gdcm::Tag(0x0020, 0x0032));
    if (v.size() == 3) std::copy(v.begin(), v.end(), f.position.begin());
  }
  bool haveIop = false, havePs = false;
  if (const auto* ori = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0020, 0x9116))) {
    const auto v = t.Numbers(*ori, gdcm::Tag(0x0020, 0x0037));
    if (v.size() == 6) {
      std::copy(v.begin(), v.end(), f.orientation.begin());
      haveIop = true;
    }
  }
  if (const auto* pm = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0028, 0x9110))) {
    const auto v = t.Numbers(*pm, gdcm::Tag(0x0028, 0x0030));
    if (v.size() == 2 && v[0] > 0 && v[1] > 0) {
      f.pixelSpacing = {v[0], v[1]};
      havePs = true;
    }
    f.sliceThickness = t.Number(*pm, gdcm::Tag(0x0018, 0x0050), f.sliceThickness);
    f.spacingBetweenSlices = t.Number(*pm, gdcm::Tag(0x0018, 0x0088), f.spacingBetweenSlices);
  }
  const bool havePos = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0020, 0x9113)) != nullptr;
  f.hasGeometry = havePos && haveIop && havePs;
  if (const auto* echo = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0018, 0x9114))) {
    f.echoTime = t.Number(*echo, gdcm::Tag(0x0018, 0x9082), f.echoTime);
  }
  if (const auto* timing = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0018, 0x9112))) {
    f.repetitionTime = t.Number(*timing, gdcm::Tag(0x0018, 0x0080), f.repetitionTime);
    f.flipAngle = t.Number(*timing, gdcm::Tag(0x0018, 0x1314), f.flipAngle);
  }
  if (const auto* diff = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0018, 0x9117))) {
    const auto b = t.Numbers(*diff, gdcm::Tag(0x0018, 0x9087));
    if (!b.empty()) {
      f.hasBValue = true;
      f.bValue = b.front();
    }
    if (const auto* dirSeq = FirstItem(*diff, gdcm::Tag(0x0018, 0x9076))) {
      const auto d = t.Numbers(*dirSeq, gdcm::Tag(0x0018, 0x9089));
      if (d.size() == 3) std::copy(d.begin(), d.end(), f.diffusionDirection.begin());
    }
  }
  if (const auto* content = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0020, 0x9111))) {
    f.temporalPosition =
        static_cast<int>(t.Number(*content, gdcm::Tag(0x0020, 0x9128), f.temporalPosition));
  }
  if (const auto* pvt = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0028, 0x9145))) {
    f.rescaleSlope = t.Number(*pvt, gdcm::Tag(0x0028, 0x1053), f.rescaleSlope);
    if (f.rescaleSlope == 0) f.rescaleSlope = 1;
    f.rescaleIntercept = t.Number(*pvt, gdcm::Tag(0x0028, 0x1052), f.rescaleIntercept);
  }
  if (const auto* fov = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0018, 0x9125))) {
    const std::string pe = t.String(*fov, gdcm::Tag(0x0018, 0x1312));
    if (!pe.empty()) f.inPlanePhaseEncodingDirection = pe;
  }
  if (const auto* frameType = FunctionalGroup(perFrame, shared, gdcm::Tag(0x0018, 0x9226))) {
    const std::string ft = t.String(*frameType, gdcm::Tag(0x0008, 0x9007));
    if (!ft.empty()) f.imageType = ft;
  }
}

std::string SerializeScan(const ScanResult& r) {
  nlohmann::json j;
  j["f"] = r.frames;
  j["n"] = r.nonImage;
  j["u"] = r.unreadable;
  const std::vector<std::uint8_t> bytes = nlohmann::json::to_cbor(j);
  return std::string(bytes.begin(), bytes.end());
}

void AppendScan(const std::string& bytes, ScanResult& out) {
  const nlohmann::json j = nlohmann::json::from_cbor(bytes);
  for (const auto& f : j.at("f")) out.frames.push_back(f.get<FrameInfo>());
  for (const auto& s : j.at("n")) out.nonImage.push_back(s.get<SkippedFile>());
  for (const auto& s : j.at("u")) out.unreadable.push_back(s.get<SkippedFile>());
}

// Reads one file's header; appends its frames or records why it was skipped.
void ScanFile(const fs::path& path, std::uintmax_t size, ScanResult& out) {
  const std::string name = path.string();
  gdcm::Reader reader;
  reader.SetFileName(name.c_str());
  bool ok = false;
  try {
    ok = reader.ReadUpToTag(kPixelData, std::set<gdcm::Tag>{kPixelData});
  } catch (const std::exception& e) {
    out.unreadable.push_back({name, std::string("DICOM header could not be parsed: ") + e.what()});
    return;
  }
  if (!ok) {
    out.unreadable.push_back({name, "DICOM header could not be parsed (truncated or corrupt)"});
    return;
  }
  const gdcm::File& file = reader.GetFile();
  const gdcm::DataSet& ds = file.GetDataSet();
  const TagReader tags(file);

  std::string sopClass = tags.String(gdcm::Tag(0x0008, 0x0016));
  if (sopClass.empty()) sopClass = Trim(file.GetHeader().GetMediaStorageAsString());
  if (sopClass.empty()) {
    // DICOMDIR carries its class in the meta header only.
    gdcm::MediaStorage ms;
    ms.SetFromFile(file);
    if (ms == gdcm::MediaStorage::MediaStorageDirectoryStorage) sopClass = "1.2.840.10008.1.3.10";
  }
  // ReadUpToTag stops in front of the pixel data: bytes left over mean the file has some.
  // (At end of file the stream position is -1: no pixel data.)
  const std::size_t position = reader.GetStreamCurrentPosition();
  const std::uint64_t headerEnd = position == static_cast<std::size_t>(-1) ? size : position;
  const bool hasPixelData = headerEnd > 0 && headerEnd + 8 <= size;
  if (const char* why = NonImageReason(sopClass, ds, hasPixelData)) {
    out.nonImage.push_back({name, why});
    return;
  }

  FrameInfo base;
  base.path = name;
  base.transferSyntaxUid = file.GetHeader().GetDataSetTransferSyntax().GetString()
                               ? file.GetHeader().GetDataSetTransferSyntax().GetString()
                               : "";
  ReadCommonTags(tags, ds, base);
  if (base.sopClassUid.empty()) base.sopClassUid = sopClass;
  if (base.rows == 0 || base.columns == 0) {
    out.unreadable.push_back({name, "image object without Rows/Columns"});
    return;
  }

  // Uncompressed pixel data shorter than the header promises: truncated file.
  const gdcm::TransferSyntax ts = file.GetHeader().GetDataSetTransferSyntax();
  const bool deflated = ts == gdcm::TransferSyntax::DeflatedExplicitVRLittleEndian;
  if (!ts.IsEncapsulated() && !deflated) {
    std::uint64_t expected = BytesPerFrame(base) * std::uint64_t(base.numberOfFrames);
    // YBR_FULL_422 stores two samples' worth of bytes per pixel, not three.
    if (base.photometricInterpretation == "YBR_FULL_422" && base.samplesPerPixel == 3)
      expected = expected * 2 / 3;
    const std::uint64_t pos = headerEnd;
    if (pos > 0 && pos < size && size - pos < expected) {
      out.unreadable.push_back(
          {name, "truncated: pixel data holds " + std::to_string(size - pos) + " bytes, header " +
                     "declares " + std::to_string(expected)});
      return;
    }
  }

  const gdcm::DataSet* shared = FirstItem(ds, kSharedGroups);
  gdcm::SmartPointer<gdcm::SequenceOfItems> perFrameSeq;
  if (ds.FindDataElement(kPerFrameGroups))
    perFrameSeq = ds.GetDataElement(kPerFrameGroups).GetValueAsSQ();
  const bool enhanced = shared || (perFrameSeq && perFrameSeq->GetNumberOfItems() > 0);

  if (!enhanced) {
    if (base.numberOfFrames == 1) {
      out.frames.push_back(base);
      return;
    }
    // Classic multi-frame without per-frame geometry: frames share one plane; no volume geometry.
    for (int i = 0; i < base.numberOfFrames; ++i) {
      FrameInfo f = base;
      f.frameIndex = i;
      f.hasGeometry = false;
      out.frames.push_back(f);
    }
    return;
  }
  const std::size_t items = perFrameSeq ? perFrameSeq->GetNumberOfItems() : 0;
  if (items != 0 && items != static_cast<std::size_t>(base.numberOfFrames)) {
    out.unreadable.push_back({name, "multi-frame object: " + std::to_string(items) +
                                        " per-frame items for " +
                                        std::to_string(base.numberOfFrames) + " frames"});
    return;
  }
  for (int i = 0; i < base.numberOfFrames; ++i) {
    FrameInfo f = base;
    f.frameIndex = i;
    const gdcm::DataSet* perFrame =
        items ? &perFrameSeq->GetItem(static_cast<gdcm::SequenceOfItems::SizeType>(i + 1))
                     .GetNestedDataSet()
              : nullptr;
    ReadFunctionalGroups(tags, perFrame, shared, f);
    out.frames.push_back(f);
  }
}

}  // namespace

ScanResult ScanDicomFolder(const fs::path& root) {
  // Problems are reported per file in the result; GDCM's own console warnings would only
  // bury them.
  gdcm::Trace::WarningOff();
  gdcm::Trace::DebugOff();
  gdcm::Trace::ErrorOff();
  std::error_code ec;
  if (!fs::exists(root, ec)) throw std::runtime_error(root.string() + ": no such file or folder");
  ScanResult out;
  std::vector<fs::path> files;
  if (fs::is_regular_file(root, ec)) {
    files.push_back(root);
  } else if (fs::is_directory(root, ec)) {
    fs::recursive_directory_iterator it(
        root, fs::directory_options::skip_permission_denied, ec);
    if (ec) throw std::runtime_error(root.string() + ": cannot list folder: " + ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
  } else {
    throw std::runtime_error(root.string() + ": not a regular file or folder");
  }
  std::sort(files.begin(), files.end());
  std::vector<std::pair<fs::path, std::uintmax_t>> candidates;
  for (const fs::path& p : files) {
    ++out.filesExamined;
    const std::uintmax_t size = fs::file_size(p, ec);
    if (ec) {
      out.unreadable.push_back({p.string(), "cannot read file: " + ec.message()});
      continue;
    }
    if (!LooksLikeDicom(p, size)) {
      ++out.notDicom;
      continue;
    }
    candidates.emplace_back(p, size);
  }

  // Headers are parsed in a child process: a file that makes the parser abort, hang or
  // allocate without bound is recorded by name, and the scan goes on with the next file.
  constexpr std::uint64_t kParserMemory = std::uint64_t(1) << 30;
  std::size_t start = 0;
  while (start < candidates.size()) {
    const ChildOutcome outcome = RunInChild(
        [&](const ChildSend& send) {
          for (std::size_t i = start; i < candidates.size(); ++i) {
            ScanResult one;
            try {
              ScanFile(candidates[i].first, candidates[i].second, one);
            } catch (const std::bad_alloc&) {
              one = ScanResult{};
              one.unreadable.push_back({candidates[i].first.string(),
                                        "header declares sizes the reader refuses to allocate"});
            }
            send(SerializeScan(one));
          }
          return 0;
        },
        60.0, kParserMemory);
    for (const std::string& message : outcome.outputs) AppendScan(message, out);
    const std::size_t done = start + outcome.outputs.size();
    if (outcome.ok && done == candidates.size()) break;
    if (done >= candidates.size()) break;
    out.unreadable.push_back({candidates[done].first.string(),
                              "DICOM parser failed: " +
                                  (outcome.message.empty() ? "no result" : outcome.message)});
    start = done + 1;
  }
  return out;
}

}  // namespace ischia
