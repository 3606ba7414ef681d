#pragma once
// The small fixed set of image types every layer works with. All are 3-D and carry their
// physical space (origin, spacing, direction) in DICOM patient coordinates (LPS, millimetres).
#include <itkImage.h>

#include <cstdint>

namespace ischia {

using FloatImage = itk::Image<float, 3>;       // intensities after rescale slope/intercept
using MaskImage = itk::Image<std::uint8_t, 3>;   // 0/1 masks
using LabelImage = itk::Image<std::uint16_t, 3>; // label maps (see LabelValue)

// Label values shared by the phantom's ground truth and the analysis output.
enum LabelValue : std::uint16_t {
  kLabelBackground = 0,
  kLabelBone = 1,    // ischial tuberosity / ischium
  kLabelTendon = 2,  // proximal hamstring tendon
  kLabelTear = 3,    // fluid-signal tear
};

}  // namespace ischia
