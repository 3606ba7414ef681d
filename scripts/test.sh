#!/usr/bin/env bash
# Runs the full test suite (GoogleTest through ctest) on the build made by scripts/setup.sh.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmake --build "$here/build" -j "$(nproc)"
cd "$here/build"
ctest --output-on-failure -j "$(nproc)" "$@"
