#include "series_selection.h"

#include <algorithm>
#include <cstdio>
#include <tuple>

namespace ischia {

namespace {

std::string Describe(const ImageStack& s) {
  std::string d = "series " + std::to_string(s.seriesNumber);
  if (!s.seriesDescription.empty()) d += " '" + s.seriesDescription + "'";
  if (!s.splitLabel.empty()) d += " [" + s.splitLabel + "]";
  return d;
}

double CoverageMm(const ImageStack& s) {
  return s.spacing[2] * static_cast<double>(s.NumberOfSlices() + s.missingSlices);
}

double InPlaneMm(const ImageStack& s) { return std::max(s.spacing[0], s.spacing[1]); }

// Orders candidates best first (see SelectSeries) and says why the first won.
std::optional<ChosenSeries> Choose(std::vector<const ImageStack*> candidates,
                                   const std::string& roleName) {
  if (candidates.empty()) return std::nullopt;
  auto key = [](const ImageStack* s) {
    return std::make_tuple(!IsReadableAsVolume(*s), s->missingSlices, -CoverageMm(*s),
                           InPlaneMm(*s), s->seriesNumber);
  };
  std::stable_sort(candidates.begin(), candidates.end(),
                   [&](const ImageStack* a, const ImageStack* b) { return key(a) < key(b); });
  const ImageStack& best = *candidates.front();
  char buf[160];
  std::snprintf(buf, sizeof buf, "%.0f mm coverage, %.2f mm in-plane, %zu slices", CoverageMm(best),
                InPlaneMm(best), best.NumberOfSlices());
  std::string reason;
  if (candidates.size() == 1) {
    reason = "the only " + roleName + " stack (" + best.roleReason + "); " + buf;
  } else {
    reason = "best of " + std::to_string(candidates.size()) + " " + roleName +
             " stacks (readable as a volume, fewest missing slices, longest coverage, finest "
             "in-plane spacing): " +
             buf;
  }
  if (best.missingSlices > 0) {
    reason += "; " + std::to_string(best.missingSlices) + " missing slice(s)";
  }
  return ChosenSeries{best, reason};
}

}  // namespace

bool IsReadableAsVolume(const ImageStack& s) {
  return !s.slices.empty() && s.slices.front().hasGeometry &&
         s.slices.front().samplesPerPixel == 1 && !s.irregularSpacing && s.NumberOfSlices() >= 2;
}

SeriesSelection SelectSeries(const Study& study) {
  std::vector<const ImageStack*> fluid, t1, coronal;
  for (const ImageStack& s : study.stacks) {
    if (s.role == SeriesRole::AxialFluidSensitive) fluid.push_back(&s);
    if (s.role == SeriesRole::AxialT1) t1.push_back(&s);
    if (s.role == SeriesRole::CoronalFluidSensitive) coronal.push_back(&s);
  }
  std::vector<const ImageStack*> readableFluid;
  for (const ImageStack* s : fluid) {
    if (IsReadableAsVolume(*s)) readableFluid.push_back(s);
  }
  if (readableFluid.empty()) {
    std::string msg = "the study has no axial fluid-sensitive series (PD/T2 fat-sat or STIR)";
    if (!fluid.empty()) {
      msg = "no axial fluid-sensitive series can be read as a volume (" + Describe(*fluid.front()) +
            ": " +
            (fluid.front()->problems.empty() ? std::string("no patient geometry")
                                             : fluid.front()->problems.front()) +
            ")";
    }
    msg += "; the tendon and tear analysis needs one";
    throw AnalysisError("no_fluid_sensitive_axial", msg);
  }
  SeriesSelection sel;
  sel.axialFluidSensitive = *Choose(readableFluid, "axial fluid-sensitive");
  const std::string& frame = sel.axialFluidSensitive.stack.frameOfReferenceUid;

  // Optional roles: same frame of reference (resampled with an identity transform; no
  // registration yet) and readable as a volume.
  auto pick = [&](const std::vector<const ImageStack*>& all, const std::string& roleName,
                  std::string& absent) -> std::optional<ChosenSeries> {
    if (all.empty()) {
      absent = "the study has no " + roleName + " series";
      return std::nullopt;
    }
    std::vector<const ImageStack*> usable;
    for (const ImageStack* s : all) {
      if (IsReadableAsVolume(*s) && !frame.empty() && s->frameOfReferenceUid == frame) {
        usable.push_back(s);
      }
    }
    if (usable.empty()) {
      absent = "no " + roleName +
               " series shares the axial fluid-sensitive series' frame of "
               "reference and reads as a volume (" +
               Describe(*all.front()) + ")";
      return std::nullopt;
    }
    return Choose(usable, roleName);
  };
  sel.axialT1 = pick(t1, "axial T1", sel.axialT1Absent);
  sel.coronalFluidSensitive =
      pick(coronal, "coronal fluid-sensitive", sel.coronalFluidSensitiveAbsent);
  return sel;
}

}  // namespace ischia
