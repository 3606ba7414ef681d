#pragma once
// Internal to visualization/: the 3D scene (shared by the renders and the viewer) and the key
// images.
#include <vtkActor.h>
#include <vtkImageActor.h>
#include <vtkLookupTable.h>
#include <vtkPolyData.h>
#include <vtkRenderer.h>
#include <vtkScalarBarActor.h>
#include <vtkSmartPointer.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "plane_sampling.h"
#include "render_util.h"
#include "study_visuals.h"

namespace ischia {

// Surfaces by name: "bone_left", "tendon_right", "tear_left", ...
using SurfaceSet = std::map<std::string, vtkSmartPointer<vtkPolyData>>;

struct SceneContent {
  SurfaceSet surfaces;
  const FloatImage* planeImage = nullptr;  // MRI shown as planes (optional)
  IntensityWindow window;
  std::string planeImageName;
  std::optional<Vec3> tipLeft, tipRight;
  double thicknessMaxMm = 15;  // colour scale upper end
  bool compactLegend = false;  // short legend texts (narrow viewports)
};

struct SceneActors {
  std::map<std::string, vtkSmartPointer<vtkActor>> surfaces;  // same names as SurfaceSet
  std::vector<vtkSmartPointer<vtkImageActor>> planes;
  vtkSmartPointer<vtkScalarBarActor> colourBar;
  std::array<double, 6> bounds{};  // of the surfaces (LPS mm)
  Vec3 centre{};
  double coronalY = 0, axialZ = 0;  // where the MRI planes are
  std::string planeText;            // says where the planes are
};

// The thickness colour scale (viridis-like, NaN grey) over [0, maxMm].
vtkSmartPointer<vtkLookupTable> ThicknessLookupTable(double maxMm);

// Adds surfaces, MRI planes, L/R labels and the colour bar to `renderer`.
SceneActors PopulateScene(vtkRenderer* renderer, const SceneContent& content);

// Points the parallel camera of `renderer` at the scene from posterior, rotated by
// `azimuthDeg` about the patient's long axis (+ towards the patient's left) and raised by
// `elevationDeg`; fits the scene.
void SetSceneCamera(vtkRenderer* renderer, const SceneActors& scene, double azimuthDeg,
                    double elevationDeg);

// Removes every renderer from `window` (reused between pictures: one OpenGL context, shaders
// compiled once).
void ClearWindow(vtkRenderWindow* window);

// The three 3D renders into `dir`; returns their outputs.images entries.
nlohmann::json WriteSceneRenders(vtkRenderWindow* window, const SceneContent& content,
                                 const std::filesystem::path& dir, const std::string& relDir);

// The key images into `dir`; returns their outputs.images entries, appends warnings.
nlohmann::json WriteKeyImages(vtkRenderWindow* window, const StudyVisualsInput& input,
                              const std::filesystem::path& dir, const std::string& relDir,
                              std::vector<std::string>& warnings);

}  // namespace ischia
