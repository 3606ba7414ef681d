#pragma once
// Internal to the hamstring analysis: the voxel grid in LPS mm, slice-wise binary morphology
// and connected components on plain buffers (one voxel layout, no ITK template instantiation
// per operation: compile time matters). Not part of the public API.
#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "hamstring_analysis.h"

namespace ischia::hamstring {

using Mask = std::vector<std::uint8_t>;

// Grid of an axial image: index axis 2 is the slice axis, nearest to patient z.
struct Grid {
  int nx = 0, ny = 0, nz = 0;
  double sx = 1, sy = 1, sz = 1;
  std::array<double, 3> origin{};
  std::array<std::array<double, 3>, 3> dir{};  // dir[row][column], column c = index axis c
  std::size_t Index(int i, int j, int k) const {
    return (static_cast<std::size_t>(k) * ny + j) * nx + i;
  }
  std::size_t SliceSize() const { return static_cast<std::size_t>(nx) * ny; }
  std::size_t Size() const { return SliceSize() * nz; }
  std::array<double, 3> Point(double i, double j, double k) const {
    const double v[3] = {i * sx, j * sy, k * sz};
    std::array<double, 3> p;
    for (int r = 0; r < 3; ++r)
      p[r] = origin[r] + dir[r][0] * v[0] + dir[r][1] * v[1] + dir[r][2] * v[2];
    return p;
  }
  // Continuous index of an LPS point.
  std::array<double, 3> ContinuousIndex(const std::array<double, 3>& p) const;
  // +1 if k increases towards the head, -1 otherwise.
  int SuperiorStep() const { return dir[2][2] >= 0 ? 1 : -1; }
  // Slice index that is `steps` slices inferior to k (may leave the grid).
  int Inferior(int k, int steps = 1) const { return k - SuperiorStep() * steps; }
};

// Throws std::invalid_argument if the slice axis is not within 30 degrees of patient z.
Grid MakeGrid(const FloatImage& image);

// Runs f(k) for every slice on ITK's thread pool; each call must only write its own slice.
void ForEachSlice(int nz, const std::function<void(int)>& f);

// 8-connected components of one slice; labels 1..n (0 background). Returns n.
int LabelSlice(const std::uint8_t* mask, int nx, int ny, std::vector<int>& labels);
// Components in 3-D: 8-connected in-plane, same (i, j) between adjacent slices.
int LabelVolume(const Mask& mask, const Grid& g, std::vector<int>& labels);

// In-plane disk offsets (di, dj) within radiusMm.
std::vector<std::array<int, 2>> DiskOffsets(const Grid& g, double radiusMm);
// Slice-wise dilation / erosion by a disk.
void DilateSlice(const std::uint8_t* in, std::uint8_t* out, const Grid& g,
                 const std::vector<std::array<int, 2>>& disk);
void ErodeSlice(const std::uint8_t* in, std::uint8_t* out, const Grid& g,
                const std::vector<std::array<int, 2>>& disk);
// Slice-wise opening (erosion, then dilation) by a disk: what remains lies within `in`.
void OpenSlice(const std::uint8_t* in, std::uint8_t* out, const Grid& g,
               const std::vector<std::array<int, 2>>& disk);
// Fills the background regions of a slice not connected to the slice border (4-connected).
void FillHolesSlice(std::uint8_t* m, int nx, int ny);

// Percentile (0..1) of the values where mask != 0 (mask may be null: all).
double Percentile(const float* values, const std::uint8_t* mask, std::size_t n, double p);

}  // namespace ischia::hamstring
