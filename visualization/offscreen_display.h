#pragma once
// Debian's VTK 9.1 renders through GLX: even offscreen rendering needs an X server. This finds
// one: the DISPLAY of the environment when it opens and offers GLX, else a private Xvfb
// (started with -displayfd so parallel processes never race for a display number, killed when
// this process exits, and by the kernel if this process dies first).
#include <string>

namespace ischia {

struct DisplayStatus {
  bool usable = false;
  std::string display;  // ":N" in use, when usable
  std::string how;      // "DISPLAY from the environment" / "private Xvfb" / why not usable
};

// Whether `display` (e.g. ":0") opens and offers GLX; `why` says what failed.
bool DisplayOffersGlx(const std::string& display, std::string* why = nullptr);

// Makes DISPLAY usable for OpenGL in this process (sets the DISPLAY environment variable when
// it starts Xvfb). With allowXvfb false only the environment's DISPLAY is tried. The first
// result is remembered. Call from the main thread before any VTK window is created.
DisplayStatus EnsureOpenGlDisplay(bool allowXvfb = true);

}  // namespace ischia
