#pragma once
// Helpers shared by the report's source files (not part of the library's interface).
#include <array>
#include <cstddef>
#include <filesystem>
#include <string>

namespace ischia::report {

std::string Base64(const void* data, std::size_t size);
// Text for HTML element content and attribute values.
std::string HtmlEscape(const std::string& text);

// A surface prepared for the vtk.js viewer: triangles only, arrays as base64 little-endian.
struct ViewerMesh {
  std::size_t points = 0, triangles = 0, trianglesInFile = 0;
  std::string pointsBase64;     // Float32 x,y,z (LPS mm)
  std::string trianglesBase64;  // Uint32 a,b,c
  std::string scalarName;       // first point scalar array, if any (e.g. thickness in mm)
  std::string scalarsBase64;    // Float32, one per point
  std::array<double, 2> scalarRange{0, 0};
  std::array<double, 6> bounds{0, 0, 0, 0, 0, 0};
};

// Reads a .vtp or .stl surface, triangulates it and decimates it to at most `maxTriangles`.
// Throws std::runtime_error with the reason (missing, unreadable, empty, too large).
ViewerMesh LoadViewerMesh(const std::filesystem::path& file, std::size_t maxTriangles);

}  // namespace ischia::report
