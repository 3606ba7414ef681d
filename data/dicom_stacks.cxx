// Grouping frames into studies and geometrically consistent stacks, and checking slice spacing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "dicom_ingest.h"

namespace ischia {

namespace {

using Vec3 = std::array<double, 3>;

Vec3 Cross(const Vec3& a, const Vec3& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
double Dot(const Vec3& a, const Vec3& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec3 Normalized(Vec3 v) {
  const double n = std::sqrt(Dot(v, v));
  if (n > 0) {
    for (double& c : v) c /= n;
  }
  return v;
}
Vec3 RowDir(const FrameInfo& f) {
  return Normalized({f.orientation[0], f.orientation[1], f.orientation[2]});
}
Vec3 ColDir(const FrameInfo& f) {
  return Normalized({f.orientation[3], f.orientation[4], f.orientation[5]});
}
Vec3 Normal(const FrameInfo& f) { return Normalized(Cross(RowDir(f), ColDir(f))); }

std::string Format(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

// Orientation key: IOP rounded so that float noise between slices does not split a stack.
std::string OrientationKey(const FrameInfo& f) {
  std::ostringstream os;
  for (double c : f.orientation) os << std::lround(c * 1000) << ',';
  return os.str();
}

struct SplitKey {
  std::string orientation, size, echo, diffusion, repeat;
  bool operator<(const SplitKey& o) const {
    return std::tie(orientation, size, echo, diffusion, repeat) <
           std::tie(o.orientation, o.size, o.echo, o.diffusion, o.repeat);
  }
};

// Sorts slices along the normal, then measures the spacing from the positions: the regular
// spacing is the median gap; gaps that are integer multiples of it are missing slices, others
// are irregular. SliceThickness is never used for spacing.
void SortAndMeasure(ImageStack& stack) {
  auto& s = stack.slices;
  const FrameInfo& first = s.front();
  stack.rows = first.rows;
  stack.columns = first.columns;
  if (!first.hasGeometry) {
    std::stable_sort(s.begin(), s.end(), [](const FrameInfo& a, const FrameInfo& b) {
      return std::tie(a.instanceNumber, a.path, a.frameIndex) <
             std::tie(b.instanceNumber, b.path, b.frameIndex);
    });
    stack.problems.push_back(
        "no geometry (ImagePositionPatient, ImageOrientationPatient or PixelSpacing missing)");
    return;
  }
  const Vec3 n = Normal(first);
  std::stable_sort(s.begin(), s.end(), [&](const FrameInfo& a, const FrameInfo& b) {
    return Dot(a.position, n) < Dot(b.position, n);
  });
  const Vec3 r = RowDir(first), c = ColDir(first);
  for (int i = 0; i < 3; ++i) stack.direction[i] = {r[i], c[i], n[i]};
  stack.origin = s.front().position;
  stack.spacing = {first.pixelSpacing[1], first.pixelSpacing[0], 1.0};
  if (s.size() < 2) {
    stack.spacing[2] = first.spacingBetweenSlices > 0 ? first.spacingBetweenSlices
                       : first.sliceThickness > 0     ? first.sliceThickness
                                                      : 1.0;
    return;
  }
  std::vector<double> gaps;
  for (std::size_t i = 1; i < s.size(); ++i) {
    gaps.push_back(Dot(s[i].position, n) - Dot(s[i - 1].position, n));
  }
  std::vector<double> sorted = gaps;
  std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
  const double regular = sorted[sorted.size() / 2];
  stack.spacing[2] = regular;
  if (regular <= 1e-3) {
    stack.irregularSpacing = true;
    stack.problems.push_back("slices at identical positions");
    return;
  }
  // In-plane drift of the positions (sheared stack, e.g. gantry tilt) cannot be one volume grid.
  double maxShear = 0;
  for (const FrameInfo& f : s) {
    const Vec3 d{f.position[0] - stack.origin[0], f.position[1] - stack.origin[1],
                 f.position[2] - stack.origin[2]};
    maxShear = std::max({maxShear, std::abs(Dot(d, r)), std::abs(Dot(d, c))});
  }
  if (maxShear > 0.05 + 0.01 * stack.spacing[0]) {
    stack.irregularSpacing = true;
    stack.problems.push_back("slice positions drift in-plane by up to " +
                             Format("%.2f", maxShear) + " mm (sheared stack)");
  }
  const double tolerance = std::max(0.01, 0.05 * regular);
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    const double ratio = gaps[i] / regular;
    const long steps = std::lround(ratio);
    if (steps >= 1 && std::abs(gaps[i] - steps * regular) <= tolerance) {
      if (steps > 1) {
        stack.missingSlices += static_cast<int>(steps - 1);
        stack.problems.push_back(
            std::to_string(steps - 1) + " slice(s) missing between slices " + std::to_string(i) +
            " and " + std::to_string(i + 1) + ": gap " + Format("%.2f", gaps[i]) +
            " mm, regular spacing " + Format("%.2f", regular) + " mm");
      }
    } else {
      stack.irregularSpacing = true;
      stack.problems.push_back("irregular spacing between slices " + std::to_string(i) + " and " +
                               std::to_string(i + 1) + ": gap " + Format("%.3f", gaps[i]) +
                               " mm, regular spacing " + Format("%.3f", regular) + " mm");
    }
  }
}

// Splits frames that sit at the same position (repeats, dynamics) into separate stacks, by
// acquisition/temporal position where those differ, otherwise by order of occurrence.
std::vector<std::vector<FrameInfo>> SplitDuplicatePositions(std::vector<FrameInfo> frames) {
  if (!frames.front().hasGeometry) return {frames};
  const Vec3 n = Normal(frames.front());
  auto posKey = [&](const FrameInfo& f) { return std::llround(Dot(f.position, n) * 100); };
  std::map<long long, int> count;
  for (const FrameInfo& f : frames) ++count[posKey(f)];
  int maxCount = 0;
  for (const auto& [k, v] : count) maxCount = std::max(maxCount, v);
  if (maxCount <= 1) return {frames};

  std::stable_sort(frames.begin(), frames.end(), [](const FrameInfo& a, const FrameInfo& b) {
    return std::tie(a.temporalPosition, a.acquisitionNumber, a.instanceNumber, a.path,
                    a.frameIndex) < std::tie(b.temporalPosition, b.acquisitionNumber,
                                             b.instanceNumber, b.path, b.frameIndex);
  });
  std::vector<std::vector<FrameInfo>> out(static_cast<std::size_t>(maxCount));
  std::map<long long, int> seen;
  for (const FrameInfo& f : frames) out[static_cast<std::size_t>(seen[posKey(f)]++)].push_back(f);
  return out;
}

}  // namespace

std::string ImageStack::OrientationName() const {
  if (slices.empty() || !slices.front().hasGeometry) return "unknown";
  const Vec3 n{direction[0][2], direction[1][2], direction[2][2]};
  const double ax = std::abs(n[0]), ay = std::abs(n[1]), az = std::abs(n[2]);
  std::string name = az >= ax && az >= ay ? "axial" : ay >= ax ? "coronal" : "sagittal";
  const double cosine = std::max({ax, ay, az});
  if (cosine < std::cos(1.0 * M_PI / 180.0)) name += " oblique";
  return name;
}

std::vector<int> ImageStack::SliceGridIndices() const {
  std::vector<int> idx;
  if (slices.empty()) return idx;
  if (!slices.front().hasGeometry || spacing[2] <= 0) {
    for (std::size_t i = 0; i < slices.size(); ++i) idx.push_back(static_cast<int>(i));
    return idx;
  }
  const Vec3 n{direction[0][2], direction[1][2], direction[2][2]};
  const double d0 = Dot(slices.front().position, n);
  for (const FrameInfo& f : slices) {
    idx.push_back(static_cast<int>(std::lround((Dot(f.position, n) - d0) / spacing[2])));
  }
  return idx;
}

std::vector<Study> BuildStudies(const std::vector<FrameInfo>& frames) {
  // Study -> series -> frames, dropping exact duplicate instances (same SOP instance and frame).
  std::map<std::string, std::map<std::string, std::vector<FrameInfo>>> tree;
  std::set<std::pair<std::string, int>> seenInstances;
  std::map<std::string, int> duplicatesPerSeries;
  for (const FrameInfo& f : frames) {
    if (!f.sopInstanceUid.empty() && !seenInstances.insert({f.sopInstanceUid, f.frameIndex}).second) {
      ++duplicatesPerSeries[f.seriesInstanceUid];
      continue;
    }
    const std::string study = f.studyInstanceUid.empty() ? "(no StudyInstanceUID)" : f.studyInstanceUid;
    // Frames without a series UID cannot be told apart: each file stands alone.
    const std::string series = f.seriesInstanceUid.empty() ? "(no SeriesInstanceUID) " + f.path : f.seriesInstanceUid;
    tree[study][series].push_back(f);
  }

  std::vector<Study> studies;
  for (auto& [studyUid, seriesMap] : tree) {
    Study study;
    const FrameInfo& any = seriesMap.begin()->second.front();
    study.studyInstanceUid = studyUid;
    study.patientId = any.patientId;
    study.patientName = any.patientName;
    study.studyDate = any.studyDate;
    study.studyDescription = any.studyDescription;
    study.patientBirthDate = any.patientBirthDate;
    study.patientSex = any.patientSex;
    study.studyTime = any.studyTime;
    study.accessionNumber = any.accessionNumber;
    study.institutionName = any.institutionName;

    for (auto& [seriesUid, seriesFrames] : seriesMap) {
      // Which dimensions vary inside this series decides both the split and its label.
      std::map<SplitKey, std::vector<FrameInfo>> groups;
      std::set<std::string> orientations, sizes, echoes, diffusions;
      auto keyOf = [](const FrameInfo& f) {
        SplitKey k;
        k.orientation = f.hasGeometry ? OrientationKey(f) : "none";
        std::ostringstream size;
        size << f.rows << 'x' << f.columns << '@' << std::lround(f.pixelSpacing[0] * 1e4) << ','
             << std::lround(f.pixelSpacing[1] * 1e4);
        k.size = size.str();
        std::ostringstream echo;
        echo << f.echoNumber << '/' << std::lround(f.echoTime * 100);
        k.echo = echo.str();
        std::ostringstream diff;
        if (f.hasBValue) {
          diff << std::lround(f.bValue) << '/' << std::lround(f.diffusionDirection[0] * 1000)
               << ',' << std::lround(f.diffusionDirection[1] * 1000) << ','
               << std::lround(f.diffusionDirection[2] * 1000);
        }
        k.diffusion = diff.str();
        return k;
      };
      for (const FrameInfo& f : seriesFrames) {
        const SplitKey k = keyOf(f);
        orientations.insert(k.orientation);
        sizes.insert(k.size);
        echoes.insert(k.echo);
        diffusions.insert(k.diffusion);
        groups[k].push_back(f);
      }
      std::vector<ImageStack> seriesStacks;
      int orientationIndex = 0;
      std::string lastOrientation;
      for (auto& [key, groupFrames] : groups) {
        if (key.orientation != lastOrientation) {
          ++orientationIndex;
          lastOrientation = key.orientation;
        }
        const FrameInfo& f0 = groupFrames.front();
        std::vector<std::string> label;
        if (orientations.size() > 1)
          label.push_back("orientation " + std::to_string(orientationIndex) + "/" +
                          std::to_string(orientations.size()));
        if (sizes.size() > 1)
          label.push_back(std::to_string(f0.columns) + "x" + std::to_string(f0.rows));
        if (echoes.size() > 1) {
          label.push_back("TE=" + Format("%g", f0.echoTime) +
                          (f0.echoNumber ? " echo " + std::to_string(f0.echoNumber) : ""));
        }
        if (diffusions.size() > 1 && f0.hasBValue) {
          std::string d = "b=" + Format("%g", f0.bValue);
          const auto& g = f0.diffusionDirection;
          if (g[0] != 0 || g[1] != 0 || g[2] != 0)
            d += " dir=(" + Format("%.2f", g[0]) + "," + Format("%.2f", g[1]) + "," +
                 Format("%.2f", g[2]) + ")";
          label.push_back(d);
        }
        auto parts = SplitDuplicatePositions(groupFrames);
        for (std::size_t p = 0; p < parts.size(); ++p) {
          ImageStack stack;
          stack.studyInstanceUid = studyUid;
          stack.seriesInstanceUid = f0.seriesInstanceUid;
          stack.frameOfReferenceUid = f0.frameOfReferenceUid;
          stack.seriesNumber = f0.seriesNumber;
          stack.seriesDescription = f0.seriesDescription;
          stack.orientationsInSeries = static_cast<int>(orientations.size());
          std::vector<std::string> l = label;
          if (parts.size() > 1)
            l.push_back("repeat " + std::to_string(p + 1) + "/" + std::to_string(parts.size()) +
                        " (duplicate positions)");
          for (std::size_t i = 0; i < l.size(); ++i) stack.splitLabel += (i ? ", " : "") + l[i];
          stack.slices = std::move(parts[p]);
          SortAndMeasure(stack);
          if (const auto it = duplicatesPerSeries.find(f0.seriesInstanceUid);
              it != duplicatesPerSeries.end())
            stack.problems.push_back(std::to_string(it->second) +
                                     " duplicate copies of instances ignored");
          stack.role = ClassifyStack(stack, stack.roleReason);
          seriesStacks.push_back(std::move(stack));
        }
      }
      for (auto& s : seriesStacks) study.stacks.push_back(std::move(s));
    }
    std::stable_sort(study.stacks.begin(), study.stacks.end(),
                     [](const ImageStack& a, const ImageStack& b) {
                       const FrameInfo& fa = a.slices.front();
                       const FrameInfo& fb = b.slices.front();
                       return std::tie(a.seriesNumber, a.seriesInstanceUid, fa.bValue,
                                       fa.echoTime, a.splitLabel) <
                              std::tie(b.seriesNumber, b.seriesInstanceUid, fb.bValue,
                                       fb.echoTime, b.splitLabel);
                     });
    studies.push_back(std::move(study));
  }
  return studies;
}

}  // namespace ischia
