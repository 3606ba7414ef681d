#pragma once
// NIfTI-1 reading and writing of the project's image types through ITK's NiftiImageIO, set
// explicitly (no reliance on IO factory registration). ".nii.gz" paths are gzip-compressed.
// Geometry stays in LPS: ITK converts to and from NIfTI's RAS qform/sform.
#include <filesystem>

#include "image_types.h"

namespace ischia {

// Throw std::runtime_error naming the file and ITK's reason on failure.
void WriteNifti(const LabelImage* image, const std::filesystem::path& path);
void WriteNifti(const FloatImage* image, const std::filesystem::path& path);
void WriteNifti(const MaskImage* image, const std::filesystem::path& path);
LabelImage::Pointer ReadLabelNifti(const std::filesystem::path& path);
FloatImage::Pointer ReadFloatNifti(const std::filesystem::path& path);
MaskImage::Pointer ReadMaskNifti(const std::filesystem::path& path);

}  // namespace ischia
