// Placeholder: replaced by the synthetic study generator (issue 3).
#include "cli.h"

namespace ischia {
void AddPhantomCommand(CLI::App&, int*) {}
}  // namespace ischia
