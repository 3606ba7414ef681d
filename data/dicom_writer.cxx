#include "dicom_writer.h"

#include <gdcmAttribute.h>
#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmFile.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmTransferSyntax.h>
#include <gdcmVR.h>
#include <gdcmWriter.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace ischia {
namespace {

std::vector<std::string> SplitValues(const std::string& value) {
  std::vector<std::string> out;
  std::string current;
  for (char c : value) {
    if (c == '\\') {
      out.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  out.push_back(current);
  return out;
}

template <class T>
void AppendLittleEndian(std::string& bytes, T value) {
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));
  // The hosts this builds on are little endian; keep the byte order explicit anyway.
  const std::uint16_t probe = 1;
  const bool little = *reinterpret_cast<const unsigned char*>(&probe) == 1;
  for (std::size_t i = 0; i < sizeof(T); ++i)
    bytes += static_cast<char>(raw[little ? i : sizeof(T) - 1 - i]);
}

std::string EncodeBinary(const std::string& vr, const std::string& value) {
  std::string bytes;
  if (value.empty()) return bytes;
  for (const std::string& v : SplitValues(value)) {
    if (vr == "US")
      AppendLittleEndian<std::uint16_t>(bytes, static_cast<std::uint16_t>(std::stoul(v)));
    else if (vr == "SS")
      AppendLittleEndian<std::int16_t>(bytes, static_cast<std::int16_t>(std::stol(v)));
    else if (vr == "UL")
      AppendLittleEndian<std::uint32_t>(bytes, static_cast<std::uint32_t>(std::stoul(v)));
    else if (vr == "SL")
      AppendLittleEndian<std::int32_t>(bytes, static_cast<std::int32_t>(std::stol(v)));
    else if (vr == "FL")
      AppendLittleEndian<float>(bytes, std::stof(v));
    else
      AppendLittleEndian<double>(bytes, std::stod(v));
  }
  return bytes;
}

bool IsBinaryVr(const std::string& vr) {
  return vr == "US" || vr == "SS" || vr == "UL" || vr == "SL" || vr == "FL" || vr == "FD";
}

}  // namespace

void DicomImageWriter::Set(std::uint16_t group, std::uint16_t element, const std::string& vr,
                           const std::string& value) {
  if (gdcm::VR::GetVRType(vr.c_str()) == gdcm::VR::INVALID || vr.size() != 2) {
    throw std::invalid_argument("unknown DICOM VR '" + vr + "'");
  }
  attributes_[(static_cast<std::uint32_t>(group) << 16) | element] = {vr, value};
}

void DicomImageWriter::SetPixels(unsigned rows, unsigned columns, unsigned bitsStored,
                                 std::vector<std::uint16_t> pixels) {
  if (pixels.size() != static_cast<std::size_t>(rows) * columns) {
    throw std::invalid_argument("pixel count does not match rows x columns");
  }
  if (bitsStored < 8 || bitsStored > 16) throw std::invalid_argument("BitsStored must be 8-16");
  rows_ = rows;
  columns_ = columns;
  pixels_ = std::move(pixels);
  Set(0x0028, 0x0002, "US", "1");
  Set(0x0028, 0x0004, "CS", "MONOCHROME2");
  Set(0x0028, 0x0010, "US", std::to_string(rows));
  Set(0x0028, 0x0011, "US", std::to_string(columns));
  Set(0x0028, 0x0100, "US", "16");
  Set(0x0028, 0x0101, "US", std::to_string(bitsStored));
  Set(0x0028, 0x0102, "US", std::to_string(bitsStored - 1));
  Set(0x0028, 0x0103, "US", "0");
}

void DicomImageWriter::Write(const std::filesystem::path& path) const {
  if (pixels_.empty()) throw std::runtime_error("writing " + path.string() + ": no pixel data");
  gdcm::Writer writer;
  gdcm::File& file = writer.GetFile();
  gdcm::DataSet& ds = file.GetDataSet();
  for (const auto& [key, attribute] : attributes_) {
    gdcm::DataElement de(
        gdcm::Tag(static_cast<std::uint16_t>(key >> 16), static_cast<std::uint16_t>(key & 0xFFFF)));
    de.SetVR(gdcm::VR::GetVRType(attribute.vr.c_str()));
    std::string bytes;
    if (IsBinaryVr(attribute.vr)) {
      bytes = EncodeBinary(attribute.vr, attribute.value);
    } else {
      bytes = attribute.value;
      if (bytes.size() % 2) bytes += (attribute.vr == "UI" || attribute.vr == "OB") ? '\0' : ' ';
    }
    de.SetByteValue(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
    ds.Replace(de);
  }
  // Little endian, low byte first (as AppendLittleEndian), filled in place.
  std::string bytes(pixels_.size() * 2, '\0');
  for (std::size_t i = 0; i < pixels_.size(); ++i) {
    bytes[2 * i] = static_cast<char>(pixels_[i] & 0xFF);
    bytes[2 * i + 1] = static_cast<char>(pixels_[i] >> 8);
  }
  gdcm::DataElement pixelData(gdcm::Tag(0x7fe0, 0x0010));
  pixelData.SetVR(gdcm::VR::OW);
  pixelData.SetByteValue(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
  ds.Replace(pixelData);

  gdcm::FileMetaInformation& meta = file.GetHeader();
  meta.SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  writer.SetFileName(path.string().c_str());
  if (!writer.Write()) throw std::runtime_error("cannot write DICOM file " + path.string());
}

std::string FormatDecimalString(double value) {
  if (!std::isfinite(value)) throw std::invalid_argument("DS value is not finite");
  if (value == 0) return "0";
  char buffer[64];
  for (int digits = 15; digits >= 1; --digits) {
    std::snprintf(buffer, sizeof(buffer), "%.*g", digits, value);
    if (std::strlen(buffer) <= 16) return buffer;
  }
  throw std::invalid_argument("value does not fit a DS");
}

double ParseDecimalString(const std::string& text) { return std::stod(text); }

std::string MakeUid(std::uint64_t high, std::uint64_t low) {
  // 128-bit integer in decimal (no leading zeros), as ISO/IEC 9834-8 2.25 UIDs are written.
  unsigned __int128 v = (static_cast<unsigned __int128>(high) << 64) | low;
  if (v == 0) return "2.25.0";
  std::string digits;
  while (v > 0) {
    digits += static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  }
  return "2.25." + std::string(digits.rbegin(), digits.rend());
}

}  // namespace ischia
