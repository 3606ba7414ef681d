#include "threading.h"

#include <itkMultiThreaderBase.h>
#include <omp.h>

#include <thread>

namespace ischia {

int ConfigureThreads(int requested) {
  int n = requested;
  if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
  if (n <= 0) n = 1;
  itk::MultiThreaderBase::SetGlobalMaximumNumberOfThreads(static_cast<itk::ThreadIdType>(n));
  itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(static_cast<itk::ThreadIdType>(n));
  omp_set_num_threads(n);
  return n;
}

}  // namespace ischia
