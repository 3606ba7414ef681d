#include "finished_run.h"

#include <cmath>
#include <fstream>

#include "cli.h"
#include "dicom_ingest.h"
#include "nifti_io.h"
#include "preprocess.h"
#include "volume_reader.h"

namespace ischia {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::array<double, 3> Point(const json& j) {
  if (!j.is_array() || j.size() != 3) return {0, 0, 0};
  return {j[0].get<double>(), j[1].get<double>(), j[2].get<double>()};
}

SideOverlay SideFromJson(const std::string& name, const json& s) {
  SideOverlay o;
  o.side = name;
  o.found = s.value("found", false);
  o.reason = s.value("reason", std::string());
  if (!o.found) return o;
  o.tipLps = Point(s.value("tuberosity_mm", json()));
  o.footprintLps = Point(s.value("footprint_mm", json()));
  o.tendonFound = s.value("tendon_found", false);
  const json tendon = s.value("tendon", json::object());
  for (const json& m : tendon.value("profile", json::array())) {
    SectionOverlay sec;
    sec.distanceBelowFootprintMm = m.value("distance_mm", 0.0);
    sec.zMm = m.value("z_mm", 0.0);
    sec.thicknessMm = m.value("thickness_mm", 0.0);
    sec.widthMm = m.value("width_mm", 0.0);
    sec.csaMm2 = m.value("csa_mm2", 0.0);
    const json tc = m.value("thickness_caliper_mm", json()),
               wc = m.value("width_caliper_mm", json());
    if (tc.is_array() && tc.size() == 2) sec.thicknessCaliperLps = {Point(tc[0]), Point(tc[1])};
    if (wc.is_array() && wc.size() == 2) sec.widthCaliperLps = {Point(wc[0]), Point(wc[1])};
    o.profile.push_back(sec);
  }
  const json tear = s.value("tear", json::object());
  o.tearType = tear.value("type", std::string("none"));
  // null when the stump was not found (the retraction is unknown)
  const json retraction = tear.value("retraction_mm", json());
  o.retractionMm = retraction.is_number() ? retraction.get<double>() : 0.0;
  o.grade = s.value("grade", std::string());
  return o;
}

const ImageStack* FindStack(const std::vector<Study>& studies, const json& used) {
  const std::string uid = used.value("series_instance_uid", std::string());
  const std::string split = used.value("split_label", std::string());
  for (const Study& st : studies)
    for (const ImageStack& s : st.stacks)
      if (s.seriesInstanceUid == uid && s.splitLabel == split) return &s;
  return nullptr;
}

}  // namespace

FinishedRun LoadFinishedRun(const fs::path& outDir, const std::optional<fs::path>& studyDir) {
  FinishedRun run;
  run.outDir = outDir;
  std::ifstream f(outDir / "result.json");
  if (!f) throw InputError(outDir.string() + " holds no result.json: not a finished ischia run");
  try {
    run.result = json::parse(f);
  } catch (const std::exception& e) {
    throw InputError((outDir / "result.json").string() + " is not valid JSON: " + e.what());
  }
  if (run.result.value("status", std::string()) != "ok") {
    throw InputError("the run in " + outDir.string() + " did not succeed (status " +
                     run.result.value("status", std::string("?")) + "): nothing to show");
  }
  if (!fs::exists(outDir / "labels.nii.gz"))
    throw InputError(outDir.string() + " has no labels.nii.gz");
  try {
    run.labels = ReadLabelNifti(outDir / "labels.nii.gz");
  } catch (const std::exception& e) {
    throw InputError(e.what());
  }
  const json study = run.result.value("study", json::object());
  fs::path dir = studyDir ? *studyDir : fs::path(study.value("study_dir", std::string()));
  const std::string relative = study.value("study_dir_from_output", std::string());
  if (!studyDir && (dir.empty() || !fs::exists(dir)) && !relative.empty() &&
      fs::exists(outDir / relative))
    dir = outDir / relative;
  if (dir.empty() || !fs::exists(dir)) {
    throw InputError("the study folder " +
                     (dir.empty() ? std::string("(not in result.json)") : dir.string()) +
                     " is not there: give it with --study DIR");
  }
  const std::vector<Study> studies = BuildStudies(ScanDicomFolder(dir).frames);
  const json used = study.value("series_used", json::object());
  const ImageStack* fluid = FindStack(studies, used.value("axial_fluid_sensitive", json::object()));
  if (!fluid) {
    throw InputError(dir.string() + " does not hold the analysed axial fluid-sensitive series " +
                     used.value("axial_fluid_sensitive", json::object())
                         .value("series_instance_uid", std::string()));
  }
  run.fluid = ReadStackVolume(*fluid);
  run.fluidName = fluid->seriesDescription.empty() ? "fluid-sensitive" : fluid->seriesDescription;
  bool sameOrigin = true;
  for (int i = 0; i < 3; ++i)
    sameOrigin &= std::fabs(run.fluid->GetOrigin()[i] - run.labels->GetOrigin()[i]) < 0.1;
  if (run.fluid->GetLargestPossibleRegion() != run.labels->GetLargestPossibleRegion() ||
      !sameOrigin) {
    throw InputError("labels.nii.gz and the axial fluid-sensitive series of " + dir.string() +
                     " have different grids");
  }
  // The NIfTI round trip keeps the geometry to float precision: use the series' exactly.
  run.labels->CopyInformation(run.fluid);
  if (const ImageStack* t1 = FindStack(studies, used.value("axial_t1", json::object()))) {
    try {
      run.t1 = ResampleIntoGrid(*ReadStackVolume(*t1), *run.fluid);
      run.t1Name = t1->seriesDescription.empty() ? "T1" : t1->seriesDescription;
    } catch (const std::exception& e) {
      run.warnings.push_back(std::string("axial T1 not shown: ") + e.what());
    }
  }
  const json sides = run.result.value("sides", json::object());
  run.left = SideFromJson("left", sides.value("left", json::object()));
  run.right = SideFromJson("right", sides.value("right", json::object()));
  run.midlineXmm = run.result.value("analysis_qc", json::object()).value("midline_x_mm", 0.0);
  return run;
}

}  // namespace ischia
