// ischia-dcmtk-decode FILE: decodes one DICOM file's pixel data with DCMTK's codecs (JPEG,
// JPEG-LS, RLE) and writes "bitsAllocated bitsStored pixelRepresentation count\n" followed by
// the raw little-endian samples to stdout. A separate program because DCMTK's bundled CharLS
// exports the same symbols as the CharLS that GDCM links: one process cannot hold both.
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: ischia-dcmtk-decode FILE\n");
    return 2;
  }
  DJDecoderRegistration::registerCodecs();
  DJLSDecoderRegistration::registerCodecs();
  DcmRLEDecoderRegistration::registerCodecs();
  DcmFileFormat file;
  if (file.loadFile(argv[1]).bad()) {
    std::fprintf(stderr, "DCMTK cannot read the file\n");
    return 1;
  }
  DcmDataset* ds = file.getDataset();
  if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad()) {
    std::fprintf(stderr, "DCMTK cannot decode the pixel data\n");
    return 1;
  }
  Uint16 bitsAllocated = 0, bitsStored = 0, pixelRep = 0;
  ds->findAndGetUint16(DCM_BitsAllocated, bitsAllocated);
  ds->findAndGetUint16(DCM_BitsStored, bitsStored);
  ds->findAndGetUint16(DCM_PixelRepresentation, pixelRep);
  const void* data = nullptr;
  unsigned long count = 0;
  std::size_t bytes = 0;
  if (bitsAllocated == 8) {
    const Uint8* px = nullptr;
    if (ds->findAndGetUint8Array(DCM_PixelData, px, &count).bad()) count = 0;
    data = px;
    bytes = count;
  } else if (bitsAllocated == 16) {
    const Uint16* px = nullptr;
    if (ds->findAndGetUint16Array(DCM_PixelData, px, &count).bad()) count = 0;
    data = px;
    bytes = count * 2;
  }
  if (!data || count == 0) {
    std::fprintf(stderr, "DCMTK found no %u-bit pixel data\n", bitsAllocated);
    return 1;
  }
  std::printf("%u %u %u %lu\n", bitsAllocated, bitsStored, pixelRep, count);
  std::fflush(stdout);
  return std::fwrite(data, 1, bytes, stdout) == bytes ? 0 : 1;
}
