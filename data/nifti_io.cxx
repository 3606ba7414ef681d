#include "nifti_io.h"

#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkNiftiImageIO.h>

#include <stdexcept>
#include <string>

namespace ischia {
namespace {

template <class TImage>
void Write(const TImage* image, const std::filesystem::path& path) {
  if (image == nullptr) throw std::invalid_argument("writing " + path.string() + ": no image");
  auto writer = itk::ImageFileWriter<TImage>::New();
  writer->SetImageIO(itk::NiftiImageIO::New());
  writer->SetFileName(path.string());
  writer->SetInput(image);
  const std::string name = path.filename().string();
  writer->SetUseCompression(name.size() > 3 && name.substr(name.size() - 3) == ".gz");
  try {
    writer->Update();
  } catch (const itk::ExceptionObject& e) {
    throw std::runtime_error("cannot write NIfTI " + path.string() + ": " + e.GetDescription());
  }
}

template <class TImage>
typename TImage::Pointer Read(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw std::runtime_error("NIfTI file not found: " + path.string());
  auto reader = itk::ImageFileReader<TImage>::New();
  reader->SetImageIO(itk::NiftiImageIO::New());
  reader->SetFileName(path.string());
  try {
    reader->Update();
  } catch (const itk::ExceptionObject& e) {
    throw std::runtime_error("cannot read NIfTI " + path.string() + ": " + e.GetDescription());
  }
  typename TImage::Pointer image = reader->GetOutput();
  image->DisconnectPipeline();
  return image;
}

}  // namespace

void WriteNifti(const LabelImage* image, const std::filesystem::path& path) { Write(image, path); }
void WriteNifti(const FloatImage* image, const std::filesystem::path& path) { Write(image, path); }
void WriteNifti(const MaskImage* image, const std::filesystem::path& path) { Write(image, path); }
LabelImage::Pointer ReadLabelNifti(const std::filesystem::path& path) {
  return Read<LabelImage>(path);
}
FloatImage::Pointer ReadFloatNifti(const std::filesystem::path& path) {
  return Read<FloatImage>(path);
}
MaskImage::Pointer ReadMaskNifti(const std::filesystem::path& path) {
  return Read<MaskImage>(path);
}

}  // namespace ischia
