#pragma once
// Reading the pixel data of an ImageStack into a float volume in LPS space.
#include <cstdint>
#include <string>

#include "dicom_ingest.h"
#include "image_types.h"

namespace ischia {

struct VolumeReadOptions {
  // Refuse a volume whose float buffer would exceed this fraction of available memory.
  double maxFractionOfAvailableMemory = 0.5;
  // Hard limits on header-declared sizes, to refuse absurd headers before any allocation.
  std::uint64_t maxRowsOrColumns = 8192;
  std::uint64_t maxSlices = 20000;
  // A missing slice leaves a zero-filled plane in the regular grid; irregular spacing is refused.
  bool allowMissingSlices = true;
  // A decoder that takes longer than this on one file is stopped (corrupt stream).
  double decodeTimeoutSeconds = 120;
  // Child processes that decode the files side by side (each takes an equal share of them).
  int decodeProcesses = 1;
};

// Reads every slice (any transfer syntax GDCM decodes), applies rescale slope/intercept and
// places each slice at its grid position. Throws std::runtime_error naming the file and reason.
FloatImage::Pointer ReadStackVolume(const ImageStack& stack, const VolumeReadOptions& options = {});

// Checks the header-declared size of a stack against the limits and available memory;
// throws std::runtime_error with the reason if it must be refused.
void CheckStackSize(const ImageStack& stack, const VolumeReadOptions& options = {});

// Bytes of memory available to this process now (MemAvailable, bounded by cgroup/rlimit).
std::uint64_t AvailableMemoryBytes();

}  // namespace ischia
