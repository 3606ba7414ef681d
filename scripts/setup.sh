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
  slurm-wlm munge
  chromium poppler-utils fonts-dejavu-core
)
# npm (for the vtk.js bundle): Debian's nodejs + npm unless a node with npm is already there (a
# NodeSource nodejs ships npm itself and conflicts with Debian's npm package).
if ! command -v npm >/dev/null 2>&1; then packages+=(nodejs npm); fi
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

# vtk.js for report.html's interactive 3D view: a pinned version from the npm registry, installed
# into the build tree; ischia inlines its UMD bundle (node_modules/vtk.js/vtk.js, ~2.5 MB).
vtkjs_version=37.3.1
vtkjs_dir="$here/build/third_party/vtkjs"
if [[ "$(node -p "require('$vtkjs_dir/node_modules/vtk.js/package.json').version" 2>/dev/null)" \
      != "$vtkjs_version" ]]; then
  echo "setup: installing vtk.js $vtkjs_version into $vtkjs_dir"
  mkdir -p "$vtkjs_dir"
  npm install --prefix "$vtkjs_dir" --no-save --no-package-lock --ignore-scripts --no-audit \
    --no-fund --omit=dev --loglevel=error "vtk.js@$vtkjs_version"
fi

jobs="$(nproc)"
cmake -S "$here" -B "$here/build" -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build "$here/build" -j "$jobs"
echo "setup: built $here/build/ischia"
