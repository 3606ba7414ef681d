// Placeholder until the generator exists.
#include "cli.h"

namespace ischia {
void AddDemoCommand(CLI::App&, int*) {}
}  // namespace ischia
