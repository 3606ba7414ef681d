#pragma once
// The one place that sets how many threads the program uses: ITK's pool (voxel work) and
// OpenMP (loops the project owns).

namespace ischia {

// Sets ITK's global default and maximum thread counts and OpenMP's; `requested` <= 0 means
// the hardware concurrency. Returns the count set.
int ConfigureThreads(int requested);

}  // namespace ischia
