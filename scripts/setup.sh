#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (as root) and builds ischia (Release) into build/.
# Idempotent: rerunning only rebuilds what changed.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  build-essential cmake ninja-build pkg-config
  libinsighttoolkit5-dev libvtk9-dev libgdcm-dev libgdcm-tools libdcmtk-dev
  libcli11-dev nlohmann-json3-dev libsqlite3-dev zlib1g-dev libfftw3-dev
  libgtest-dev libgmock-dev
  xvfb xauth libx11-dev
  python3
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

jobs="$(nproc)"
cmake -S "$here" -B "$here/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$here/build" -j "$jobs"
echo "setup: built $here/build/ischia"
