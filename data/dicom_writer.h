#pragma once
// Writing single-frame DICOM objects (e.g. MR Image Storage) with GDCM: the caller lists the
// attributes as strings in their DICOM encoding and gives 16-bit pixels. GDCM stays private.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ischia {

class DicomImageWriter {
 public:
  // Sets an attribute. `value` is the DICOM string form (multiple values separated by '\');
  // binary VRs (US, SS, UL, SL, FL, FD) are converted from their decimal text. Replaces any
  // earlier value of the same tag.
  void Set(std::uint16_t group, std::uint16_t element, const std::string& vr,
           const std::string& value);
  // 16-bit unsigned monochrome pixels, row-major (rows x columns). Also sets Rows, Columns,
  // SamplesPerPixel, PhotometricInterpretation, BitsAllocated/Stored, HighBit and
  // PixelRepresentation.
  void SetPixels(unsigned rows, unsigned columns, unsigned bitsStored,
                 std::vector<std::uint16_t> pixels);
  // Writes Part-10 Explicit VR Little Endian with a file meta header. Throws
  // std::runtime_error naming the file on failure.
  void Write(const std::filesystem::path& path) const;

 private:
  struct Attribute {
    std::string vr, value;
  };
  std::map<std::uint32_t, Attribute> attributes_;
  unsigned rows_ = 0, columns_ = 0;
  std::vector<std::uint16_t> pixels_;
};

// A decimal string (VR DS, at most 16 characters) for `value`, with as many significant digits
// as fit. Parsing the result gives the value the writer promises to the reader.
std::string FormatDecimalString(double value);
// Parses what FormatDecimalString wrote.
double ParseDecimalString(const std::string& text);
// A UID under the 2.25 root (UUID-derived, at most 64 characters) from two 64-bit numbers.
std::string MakeUid(std::uint64_t high, std::uint64_t low);

}  // namespace ischia
