# The per-study report (report.html, report.pdf): its own library, kept apart from the renderer.
# VTK:: targets only; VTK_LIBRARIES is left as the renderer's find_package set it.
set(_ischia_vtk_libraries "${VTK_LIBRARIES}")
find_package(VTK 9.1 REQUIRED COMPONENTS CommonCore CommonDataModel FiltersCore IOXML IOGeometry)
set(VTK_LIBRARIES "${_ischia_vtk_libraries}")
add_library(ischia_report STATIC
  ${CMAKE_CURRENT_LIST_DIR}/report.cxx
  ${CMAKE_CURRENT_LIST_DIR}/report_html.cxx
  ${CMAKE_CURRENT_LIST_DIR}/report_sections.cxx
  ${CMAKE_CURRENT_LIST_DIR}/report_assets.cxx
  ${CMAKE_CURRENT_LIST_DIR}/report_mesh.cxx
  ${CMAKE_CURRENT_LIST_DIR}/report_text.cxx
  ${CMAKE_CURRENT_LIST_DIR}/report_pdf.cxx
)
target_include_directories(ischia_report PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(ischia_report PUBLIC nlohmann_json::nlohmann_json
  PRIVATE VTK::CommonCore VTK::CommonDataModel VTK::FiltersCore VTK::IOXML VTK::IOGeometry)
# Where scripts/setup.sh installs the vtk.js bundle (npm, pinned version); found at run time.
target_compile_definitions(ischia_report PRIVATE
  ISCHIA_VTKJS_BUNDLE="${CMAKE_BINARY_DIR}/third_party/vtkjs/node_modules/vtk.js/vtk.js")
