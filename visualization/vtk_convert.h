#pragma once
// ITK images of the project's types as vtkImageData, geometry kept: origin, spacing and the
// direction matrix (VTK >= 9 stores it), so index (i,j,k) maps to the same LPS point in both.
// Many VTK filters and mappers still ignore the direction: code that feeds such a filter
// resamples into an axis-aligned grid first (see surfaces.h).
#include <vtkImageData.h>
#include <vtkSmartPointer.h>

#include "image_types.h"

namespace ischia {

// Deep copies (the ITK image may be released afterwards). Scalars are float / uint16 / uint8.
vtkSmartPointer<vtkImageData> ToVtkImage(const FloatImage& image);
vtkSmartPointer<vtkImageData> ToVtkImage(const LabelImage& image);
vtkSmartPointer<vtkImageData> ToVtkImage(const MaskImage& image);

}  // namespace ischia
