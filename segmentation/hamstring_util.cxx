#include <itkMultiThreaderBase.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "hamstring_internal.h"

namespace ischia::hamstring {

Grid MakeGrid(const FloatImage& image) {
  Grid g;
  const auto size = image.GetLargestPossibleRegion().GetSize();
  g.nx = static_cast<int>(size[0]);
  g.ny = static_cast<int>(size[1]);
  g.nz = static_cast<int>(size[2]);
  g.sx = image.GetSpacing()[0];
  g.sy = image.GetSpacing()[1];
  g.sz = image.GetSpacing()[2];
  for (int r = 0; r < 3; ++r) {
    g.origin[r] = image.GetOrigin()[r];
    for (int c = 0; c < 3; ++c) g.dir[r][c] = image.GetDirection()(r, c);
  }
  if (std::fabs(g.dir[2][2]) < std::cos(30.0 * M_PI / 180.0)) {
    throw std::invalid_argument(
        "hamstring analysis: the fluid-sensitive series is not axial (slice normal more than 30 "
        "degrees from patient z)");
  }
  return g;
}

std::array<double, 3> Grid::ContinuousIndex(const std::array<double, 3>& p) const {
  // dir is orthonormal: inverse = transpose.
  std::array<double, 3> d{p[0] - origin[0], p[1] - origin[1], p[2] - origin[2]};
  std::array<double, 3> v{};
  for (int c = 0; c < 3; ++c) v[c] = dir[0][c] * d[0] + dir[1][c] * d[1] + dir[2][c] * d[2];
  return {v[0] / sx, v[1] / sy, v[2] / sz};
}

void ForEachSlice(int nz, const std::function<void(int)>& f) {
  if (nz <= 0) return;
  itk::MultiThreaderBase::Pointer mt = itk::MultiThreaderBase::New();
  mt->ParallelizeArray(
      0, nz, [&](itk::SizeValueType k) { f(static_cast<int>(k)); }, nullptr);
}

int LabelSlice(const std::uint8_t* mask, int nx, int ny, std::vector<int>& labels) {
  labels.assign(static_cast<std::size_t>(nx) * ny, 0);
  int n = 0;
  std::vector<int> stack;
  for (int j = 0; j < ny; ++j) {
    for (int i = 0; i < nx; ++i) {
      const std::size_t s = static_cast<std::size_t>(j) * nx + i;
      if (!mask[s] || labels[s]) continue;
      labels[s] = ++n;
      stack.assign(1, static_cast<int>(s));
      while (!stack.empty()) {
        const int q = stack.back();
        stack.pop_back();
        const int qi = q % nx, qj = q / nx;
        for (int dj = -1; dj <= 1; ++dj) {
          for (int di = -1; di <= 1; ++di) {
            const int a = qi + di, b = qj + dj;
            if (a < 0 || b < 0 || a >= nx || b >= ny) continue;
            const std::size_t t = static_cast<std::size_t>(b) * nx + a;
            if (mask[t] && !labels[t]) {
              labels[t] = n;
              stack.push_back(static_cast<int>(t));
            }
          }
        }
      }
    }
  }
  return n;
}

int LabelVolume(const Mask& mask, const Grid& g, std::vector<int>& labels) {
  labels.assign(mask.size(), 0);
  int n = 0;
  std::vector<std::size_t> stack;
  const std::size_t ss = g.SliceSize();
  for (std::size_t s = 0; s < mask.size(); ++s) {
    if (!mask[s] || labels[s]) continue;
    labels[s] = ++n;
    stack.assign(1, s);
    while (!stack.empty()) {
      const std::size_t q = stack.back();
      stack.pop_back();
      const int k = static_cast<int>(q / ss);
      const int rem = static_cast<int>(q % ss);
      const int qi = rem % g.nx, qj = rem / g.nx;
      auto visit = [&](std::size_t t) {
        if (mask[t] && !labels[t]) {
          labels[t] = n;
          stack.push_back(t);
        }
      };
      for (int dj = -1; dj <= 1; ++dj) {
        for (int di = -1; di <= 1; ++di) {
          const int a = qi + di, b = qj + dj;
          if (a < 0 || b < 0 || a >= g.nx || b >= g.ny) continue;
          visit(g.Index(a, b, k));
        }
      }
      if (k > 0) visit(q - ss);
      if (k + 1 < g.nz) visit(q + ss);
    }
  }
  return n;
}

std::vector<std::array<int, 2>> DiskOffsets(const Grid& g, double radiusMm) {
  std::vector<std::array<int, 2>> out;
  const int ri = static_cast<int>(std::floor(radiusMm / g.sx)),
            rj = static_cast<int>(std::floor(radiusMm / g.sy));
  for (int dj = -rj; dj <= rj; ++dj) {
    for (int di = -ri; di <= ri; ++di) {
      const double x = di * g.sx, y = dj * g.sy;
      if (x * x + y * y <= radiusMm * radiusMm + 1e-9) out.push_back({di, dj});
    }
  }
  return out;
}

void DilateSlice(const std::uint8_t* in, std::uint8_t* out, const Grid& g,
                 const std::vector<std::array<int, 2>>& disk) {
  std::fill(out, out + g.SliceSize(), 0);
  if (disk.empty()) return;
  // Each row of the structuring element as an interval [lo, hi] of column offsets. When every
  // row is one interval around column 0 (as DiskOffsets makes them), an input row dilates
  // into output row j + dj where its nearest set pixel lies within the interval: O(nx) per
  // row and offset row instead of O(|disk|) per set pixel. Otherwise, offset by offset.
  int djMin = disk.front()[1], djMax = djMin;
  for (const auto& o : disk) djMin = std::min(djMin, o[1]), djMax = std::max(djMax, o[1]);
  const int rows = djMax - djMin + 1;
  std::vector<int> lo(rows, 1 << 29), hi(rows, -(1 << 29)), count(rows, 0);
  for (const auto& o : disk) {
    const int r = o[1] - djMin;
    lo[r] = std::min(lo[r], o[0]), hi[r] = std::max(hi[r], o[0]), ++count[r];
  }
  bool intervals = true;
  for (int r = 0; r < rows; ++r) {
    intervals &= count[r] == 0 || (count[r] == hi[r] - lo[r] + 1 && lo[r] <= 0 && hi[r] >= 0);
  }
  if (!intervals) {
    for (int j = 0; j < g.ny; ++j) {
      for (int i = 0; i < g.nx; ++i) {
        if (!in[static_cast<std::size_t>(j) * g.nx + i]) continue;
        for (const auto& o : disk) {
          const int a = i + o[0], b = j + o[1];
          if (a >= 0 && b >= 0 && a < g.nx && b < g.ny)
            out[static_cast<std::size_t>(b) * g.nx + a] = 1;
        }
      }
    }
    return;
  }
  constexpr int kFar = 1 << 29;
  std::vector<int> left(g.nx), right(g.nx);  // distance to the nearest set pixel at or before/after
  for (int j = 0; j < g.ny; ++j) {
    const std::uint8_t* row = in + static_cast<std::size_t>(j) * g.nx;
    int first = -1, last = -1;
    for (int i = 0; i < g.nx; ++i) {
      if (row[i]) {
        if (first < 0) first = i;
        last = i;
      }
    }
    if (first < 0) continue;
    int prev = -kFar;
    for (int i = 0; i < g.nx; ++i) {
      if (row[i]) prev = i;
      left[i] = i - prev;
    }
    int next = 2 * kFar;
    for (int i = g.nx - 1; i >= 0; --i) {
      if (row[i]) next = i;
      right[i] = next - i;
    }
    for (int r = 0; r < rows; ++r) {
      const int b = j + djMin + r;
      if (!count[r] || b < 0 || b >= g.ny) continue;
      // Output column a is set when a set pixel lies in [a - hi, a - lo].
      std::uint8_t* o = out + static_cast<std::size_t>(b) * g.nx;
      const int a0 = std::max(0, first + lo[r]), a1 = std::min(g.nx - 1, last + hi[r]);
      for (int a = a0; a <= a1; ++a) {
        if (left[a] <= hi[r] || right[a] <= -lo[r]) o[a] = 1;
      }
    }
  }
}

void ErodeSlice(const std::uint8_t* in, std::uint8_t* out, const Grid& g,
                const std::vector<std::array<int, 2>>& disk) {
  Mask inv(g.SliceSize()), dil(g.SliceSize());
  for (std::size_t s = 0; s < inv.size(); ++s) inv[s] = !in[s];
  DilateSlice(inv.data(), dil.data(), g, disk);
  for (std::size_t s = 0; s < inv.size(); ++s) out[s] = !dil[s];
}

void OpenSlice(const std::uint8_t* in, std::uint8_t* out, const Grid& g,
               const std::vector<std::array<int, 2>>& disk) {
  Mask eroded(g.SliceSize());
  ErodeSlice(in, eroded.data(), g, disk);
  DilateSlice(eroded.data(), out, g, disk);
}

void FillHolesSlice(std::uint8_t* m, int nx, int ny) {
  std::vector<std::uint8_t> outside(static_cast<std::size_t>(nx) * ny, 0);
  std::vector<int> stack;
  auto push = [&](int i, int j) {
    const std::size_t s = static_cast<std::size_t>(j) * nx + i;
    if (!m[s] && !outside[s]) {
      outside[s] = 1;
      stack.push_back(static_cast<int>(s));
    }
  };
  for (int i = 0; i < nx; ++i) push(i, 0), push(i, ny - 1);
  for (int j = 0; j < ny; ++j) push(0, j), push(nx - 1, j);
  while (!stack.empty()) {
    const int q = stack.back();
    stack.pop_back();
    const int i = q % nx, j = q / nx;
    if (i > 0) push(i - 1, j);
    if (i + 1 < nx) push(i + 1, j);
    if (j > 0) push(i, j - 1);
    if (j + 1 < ny) push(i, j + 1);
  }
  for (std::size_t s = 0; s < outside.size(); ++s) m[s] = !outside[s];
}

double Percentile(const float* values, const std::uint8_t* mask, std::size_t n, double p) {
  std::vector<float> v;
  for (std::size_t i = 0; i < n; ++i) {
    if (!mask || mask[i]) v.push_back(values[i]);
  }
  if (v.empty()) return 0;
  const std::size_t r = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + r, v.end());
  return v[r];
}

}  // namespace ischia::hamstring
