#include "vtk_convert.h"

#include <vtkDataArray.h>
#include <vtkPointData.h>
#include <vtkType.h>

#include <algorithm>

namespace ischia {
namespace {

template <typename TImage>
vtkSmartPointer<vtkImageData> Convert(const TImage& image, int vtkType) {
  const auto region = image.GetLargestPossibleRegion();
  const auto size = region.GetSize();
  auto out = vtkSmartPointer<vtkImageData>::New();
  out->SetDimensions(static_cast<int>(size[0]), static_cast<int>(size[1]),
                     static_cast<int>(size[2]));
  // VTK's origin is the world point of index (0,0,0), as in ITK: the region index must be 0
  // or be folded into the origin.
  typename TImage::PointType origin;
  image.TransformIndexToPhysicalPoint(region.GetIndex(), origin);
  out->SetOrigin(origin[0], origin[1], origin[2]);
  out->SetSpacing(image.GetSpacing()[0], image.GetSpacing()[1], image.GetSpacing()[2]);
  double direction[9];
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 3; ++c) direction[3 * r + c] = image.GetDirection()[r][c];
  out->SetDirectionMatrix(direction);
  out->AllocateScalars(vtkType, 1);
  const auto* src = image.GetBufferPointer();
  auto* dst = static_cast<typename TImage::PixelType*>(out->GetScalarPointer());
  std::copy(src, src + region.GetNumberOfPixels(), dst);
  out->GetPointData()->GetScalars()->SetName("values");
  return out;
}

}  // namespace

vtkSmartPointer<vtkImageData> ToVtkImage(const FloatImage& image) {
  return Convert(image, VTK_FLOAT);
}
vtkSmartPointer<vtkImageData> ToVtkImage(const LabelImage& image) {
  return Convert(image, VTK_UNSIGNED_SHORT);
}
vtkSmartPointer<vtkImageData> ToVtkImage(const MaskImage& image) {
  return Convert(image, VTK_UNSIGNED_CHAR);
}

}  // namespace ischia
