// Surfaces for the report's vtk.js viewer: read with VTK, triangulated, decimated to a budget and
// flattened into base64 arrays (vtk.js builds the polydata directly, whatever the file's encoding).
#include <vtkCellArray.h>
#include <vtkDataArray.h>
#include <vtkDecimatePro.h>
#include <vtkIdList.h>
#include <vtkLogger.h>
#include <vtkNew.h>
#include <vtkObjectFactory.h>
#include <vtkOutputWindow.h>
#include <vtkPointData.h>
#include <vtkPoints.h>
#include <vtkPolyData.h>
#include <vtkSTLReader.h>
#include <vtkSmartPointer.h>
#include <vtkTriangleFilter.h>
#include <vtkXMLPolyDataReader.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "report_internal.h"

namespace ischia::report {
namespace fs = std::filesystem;

namespace {

constexpr std::uintmax_t kMaxMeshFileBytes = 512ull << 20;

// Keeps VTK's messages (the reader's and its XML parser's) instead of printing them; the first
// error becomes the reason a mesh is not embedded. Installed only while one file is read (the
// report stage runs alone, after the analysis).
class CapturingOutputWindow : public vtkOutputWindow {
 public:
  static CapturingOutputWindow* New();
  vtkTypeMacro(CapturingOutputWindow, vtkOutputWindow);
  void DisplayText(const char* text) override {
    if (text && first.empty()) first = text;
  }
  // The defaults also log through vtkLogger (to stderr): keep these quiet too.
  void DisplayErrorText(const char* text) override { DisplayText(text); }
  void DisplayWarningText(const char* text) override { DisplayText(text); }
  void DisplayGenericWarningText(const char* text) override { DisplayText(text); }
  void DisplayDebugText(const char*) override {}
  std::string first;
};
vtkStandardNewMacro(CapturingOutputWindow);

class ScopedCapture {
 public:
  ScopedCapture()
      : previous_(vtkOutputWindow::GetInstance()),
        verbosity_(vtkLogger::GetCurrentVerbosityCutoff()) {
    vtkOutputWindow::SetInstance(window_);
    vtkLogger::SetStderrVerbosity(vtkLogger::VERBOSITY_OFF);  // errors also go to vtkLogger
  }
  ~ScopedCapture() {
    vtkLogger::SetStderrVerbosity(verbosity_);
    vtkOutputWindow::SetInstance(previous_);
  }
  const std::string& Text() const { return window_->first; }

 private:
  vtkSmartPointer<vtkOutputWindow> previous_;
  vtkLogger::Verbosity verbosity_;
  vtkNew<CapturingOutputWindow> window_;
};

template <typename Reader>
vtkSmartPointer<vtkPolyData> ReadWith(const fs::path& file) {
  vtkNew<Reader> reader;
  ScopedCapture capture;
  reader->SetFileName(file.c_str());
  reader->Update();
  std::string error = capture.Text();
  if (!error.empty()) {
    // VTK messages carry the source location first; keep the last line, the message itself.
    while (!error.empty() && std::isspace(static_cast<unsigned char>(error.back())))
      error.pop_back();
    const auto nl = error.find_last_of('\n');
    throw std::runtime_error("unreadable: " +
                             (nl == std::string::npos ? error : error.substr(nl + 1)));
  }
  vtkSmartPointer<vtkPolyData> out = reader->GetOutput();
  return out;
}

}  // namespace

ViewerMesh LoadViewerMesh(const fs::path& file, std::size_t maxTriangles) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw std::runtime_error("missing");
  const std::uintmax_t bytes = fs::file_size(file, ec);
  if (ec || bytes == 0) throw std::runtime_error("empty file");
  if (bytes > kMaxMeshFileBytes) throw std::runtime_error("file too large to embed");
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  vtkSmartPointer<vtkPolyData> input;
  if (ext == ".vtp") {
    input = ReadWith<vtkXMLPolyDataReader>(file);
  } else if (ext == ".stl") {
    input = ReadWith<vtkSTLReader>(file);
  } else {
    throw std::runtime_error("not a .vtp or .stl surface");
  }
  if (!input || input->GetNumberOfPoints() == 0 || input->GetNumberOfPolys() == 0) {
    throw std::runtime_error("no surface in the file");
  }
  vtkNew<vtkTriangleFilter> triangles;
  triangles->SetInputData(input);
  triangles->PassVertsOff();
  triangles->PassLinesOff();
  triangles->Update();
  vtkSmartPointer<vtkPolyData> surface = triangles->GetOutput();
  ViewerMesh mesh;
  mesh.trianglesInFile = static_cast<std::size_t>(surface->GetNumberOfPolys());
  if (maxTriangles > 0 && mesh.trianglesInFile > maxTriangles) {
    // DecimatePro removes vertices without making new ones: point scalars stay exact.
    vtkNew<vtkDecimatePro> decimate;
    decimate->SetInputData(surface);
    decimate->SetTargetReduction(1.0 - static_cast<double>(maxTriangles) / mesh.trianglesInFile);
    decimate->PreserveTopologyOff();
    decimate->SplittingOff();
    decimate->BoundaryVertexDeletionOn();
    decimate->SetMaximumError(VTK_DOUBLE_MAX);
    decimate->Update();
    surface = decimate->GetOutput();
  }

  const vtkIdType nPoints = surface->GetNumberOfPoints();
  std::vector<float> xyz(static_cast<std::size_t>(nPoints) * 3);
  for (vtkIdType i = 0; i < nPoints; ++i) {
    double p[3];
    surface->GetPoint(i, p);
    for (int a = 0; a < 3; ++a) {
      if (!std::isfinite(p[a])) throw std::runtime_error("non-finite point coordinates");
      xyz[3 * i + a] = static_cast<float>(p[a]);
    }
  }
  std::vector<std::uint32_t> tri;
  tri.reserve(static_cast<std::size_t>(surface->GetNumberOfPolys()) * 3);
  vtkCellArray* polys = surface->GetPolys();
  vtkNew<vtkIdList> ids;
  for (polys->InitTraversal(); polys->GetNextCell(ids);) {
    if (ids->GetNumberOfIds() != 3) continue;
    for (int a = 0; a < 3; ++a) tri.push_back(static_cast<std::uint32_t>(ids->GetId(a)));
  }
  if (tri.empty()) throw std::runtime_error("no triangles after triangulation");
  mesh.points = static_cast<std::size_t>(nPoints);
  mesh.triangles = tri.size() / 3;
  surface->GetBounds(mesh.bounds.data());
  mesh.pointsBase64 = Base64(xyz.data(), xyz.size() * sizeof(float));
  mesh.trianglesBase64 = Base64(tri.data(), tri.size() * sizeof(std::uint32_t));

  vtkDataArray* scalars = surface->GetPointData()->GetScalars();
  if (!scalars) {
    // Writers often leave no array marked active: take the first one-component array.
    vtkPointData* pd = surface->GetPointData();
    for (int i = 0; i < pd->GetNumberOfArrays() && !scalars; ++i) {
      vtkDataArray* a = pd->GetArray(i);
      if (a && a->GetNumberOfComponents() == 1 && a->GetName() &&
          std::string(a->GetName()).find("ormal") == std::string::npos) {
        scalars = a;
      }
    }
  }
  if (scalars && scalars->GetNumberOfComponents() == 1 && scalars->GetNumberOfTuples() == nPoints) {
    std::vector<float> values(static_cast<std::size_t>(nPoints));
    double lo = INFINITY, hi = -INFINITY;
    for (vtkIdType i = 0; i < nPoints; ++i) {
      const double v = scalars->GetTuple1(i);
      values[i] = static_cast<float>(std::isfinite(v) ? v : 0.0);
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
    if (lo <= hi) {
      mesh.scalarName = scalars->GetName() ? scalars->GetName() : "scalars";
      mesh.scalarRange = {lo, hi};
      mesh.scalarsBase64 = Base64(values.data(), values.size() * sizeof(float));
    }
  }
  return mesh;
}

}  // namespace ischia::report
