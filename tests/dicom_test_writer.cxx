#include "dicom_test_writer.h"

#include <gdcmDataElement.h>
#include <gdcmDataSet.h>
#include <gdcmFileMetaInformation.h>
#include <gdcmWriter.h>

#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace ischia::test {
namespace {

void PutString(gdcm::DataSet& ds, std::uint16_t g, std::uint16_t e, gdcm::VR vr, std::string v) {
  if (v.size() % 2) v += vr == gdcm::VR::UI ? '\0' : ' ';
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(vr);
  de.SetByteValue(v.data(), static_cast<std::uint32_t>(v.size()));
  ds.Replace(de);
}

void PutUS(gdcm::DataSet& ds, std::uint16_t g, std::uint16_t e, std::uint16_t v) {
  gdcm::DataElement de(gdcm::Tag(g, e));
  de.SetVR(gdcm::VR::US);
  de.SetByteValue(reinterpret_cast<const char*>(&v), 2);
  ds.Replace(de);
}

std::string Ds(std::initializer_list<double> values) {
  std::ostringstream os;
  os.precision(10);
  bool first = true;
  for (double v : values) {
    if (!first) os << '\\';
    os << v;
    first = false;
  }
  return os.str();
}

}  // namespace

void WriteSlice(const SliceSpec& s) {
  gdcm::Writer writer;
  gdcm::File& file = writer.GetFile();
  gdcm::DataSet& ds = file.GetDataSet();
  const std::string sop = s.sopUid.empty()
                              ? s.seriesUid + "." + std::to_string(s.instanceNumber) + "." +
                                    std::to_string(s.echoNumber)
                              : s.sopUid;
  PutString(ds, 0x0008, 0x0008, gdcm::VR::CS, s.imageType);
  PutString(ds, 0x0008, 0x0016, gdcm::VR::UI, "1.2.840.10008.5.1.4.1.1.4");
  PutString(ds, 0x0008, 0x0018, gdcm::VR::UI, sop);
  PutString(ds, 0x0008, 0x0020, gdcm::VR::DA, "20260101");
  PutString(ds, 0x0008, 0x0060, gdcm::VR::CS, "MR");
  PutString(ds, 0x0008, 0x103e, gdcm::VR::LO, s.description);
  PutString(ds, 0x0010, 0x0010, gdcm::VR::PN, "Test^Patient");
  PutString(ds, 0x0010, 0x0020, gdcm::VR::LO, "TEST001");
  PutString(ds, 0x0018, 0x0015, gdcm::VR::CS, "PELVIS");
  PutString(ds, 0x0018, 0x0020, gdcm::VR::CS, s.scanningSequence);
  PutString(ds, 0x0018, 0x0021, gdcm::VR::CS, s.sequenceVariant);
  if (!s.scanOptions.empty()) PutString(ds, 0x0018, 0x0022, gdcm::VR::CS, s.scanOptions);
  PutString(ds, 0x0018, 0x0050, gdcm::VR::DS, Ds({s.sliceThickness}));
  PutString(ds, 0x0018, 0x0080, gdcm::VR::DS, Ds({s.repetitionTime}));
  PutString(ds, 0x0018, 0x0081, gdcm::VR::DS, Ds({s.echoTime}));
  if (s.inversionTime > 0) PutString(ds, 0x0018, 0x0082, gdcm::VR::DS, Ds({s.inversionTime}));
  PutString(ds, 0x0018, 0x0086, gdcm::VR::IS, std::to_string(s.echoNumber));
  PutString(ds, 0x0018, 0x5100, gdcm::VR::CS, "FFS");
  PutString(ds, 0x0020, 0x000d, gdcm::VR::UI, s.studyUid);
  PutString(ds, 0x0020, 0x000e, gdcm::VR::UI, s.seriesUid);
  PutString(ds, 0x0020, 0x0011, gdcm::VR::IS, std::to_string(s.seriesNumber));
  PutString(ds, 0x0020, 0x0013, gdcm::VR::IS, std::to_string(s.instanceNumber));
  const auto& p = s.position;
  const auto& o = s.orientation;
  PutString(ds, 0x0020, 0x0032, gdcm::VR::DS, Ds({p[0], p[1], p[2]}));
  PutString(ds, 0x0020, 0x0037, gdcm::VR::DS, Ds({o[0], o[1], o[2], o[3], o[4], o[5]}));
  PutString(ds, 0x0020, 0x0052, gdcm::VR::UI, s.frameOfReferenceUid);
  PutUS(ds, 0x0028, 0x0002, 1);
  PutString(ds, 0x0028, 0x0004, gdcm::VR::CS, "MONOCHROME2");
  PutUS(ds, 0x0028, 0x0010, static_cast<std::uint16_t>(s.rows));
  PutUS(ds, 0x0028, 0x0011, static_cast<std::uint16_t>(s.columns));
  PutString(ds, 0x0028, 0x0030, gdcm::VR::DS, Ds({s.rowSpacing, s.columnSpacing}));
  PutUS(ds, 0x0028, 0x0100, 16);
  PutUS(ds, 0x0028, 0x0101, 16);
  PutUS(ds, 0x0028, 0x0102, 15);
  PutUS(ds, 0x0028, 0x0103, 0);
  PutString(ds, 0x0028, 0x1052, gdcm::VR::DS, Ds({s.rescaleIntercept}));
  PutString(ds, 0x0028, 0x1053, gdcm::VR::DS, Ds({s.rescaleSlope}));
  std::vector<std::uint16_t> pixels = s.pixels;
  pixels.resize(std::size_t(s.rows) * s.columns, 0);
  gdcm::DataElement pd(gdcm::Tag(0x7fe0, 0x0010));
  pd.SetVR(gdcm::VR::OW);
  pd.SetByteValue(reinterpret_cast<const char*>(pixels.data()),
                  static_cast<std::uint32_t>(pixels.size() * 2));
  ds.Replace(pd);
  gdcm::FileMetaInformation& meta = file.GetHeader();
  meta.SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  writer.SetFileName(s.path.c_str());
  if (!writer.Write()) throw std::runtime_error("cannot write test DICOM " + s.path);
}

}  // namespace ischia::test
