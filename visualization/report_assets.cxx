#include "report_assets.h"

namespace ischia::report {

const char* const kReportCss = R"CSS(
:root{--ink:#1b1f24;--muted:#5b6570;--line:#cfd5dc;--head:#eef1f4;--accent:#24415f}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font-family:"DejaVu Sans","Liberation Sans",Arial,Helvetica,sans-serif;color:var(--ink);
 margin:0 auto;max-width:1120px;padding:16px 24px 32px;font-size:14px;line-height:1.38;background:#fff}
h1{font-size:21px;margin:0 0 6px;color:var(--accent)}
h2{font-size:16px;margin:20px 0 8px;padding-bottom:3px;border-bottom:2px solid var(--accent);color:var(--accent)}
h3{font-size:14px;margin:12px 0 6px}
p{margin:4px 0 8px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}
th{background:var(--head);font-weight:600}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.unit{color:var(--muted);white-space:nowrap}
td.na{color:var(--muted);text-align:center}
th.group{text-align:center}
tr.group td{background:#f7f8fa;font-weight:600}
table.ids{width:auto;margin:0}
table.ids th,table.ids td{border:none;padding:1px 14px 1px 0;background:none}
table.ids th{color:var(--muted);font-weight:normal;white-space:nowrap}
table.small td,table.small th{font-size:12px;padding:2px 6px}
header.banner{border-bottom:3px solid var(--accent);padding-bottom:8px;margin-bottom:10px}
.sub{color:var(--muted);font-size:12.5px}
.uid{font-family:"DejaVu Sans Mono",monospace;font-size:11.5px;word-break:break-all}
.failed{border:2px solid #b71c1c;background:#fdecea;padding:10px 14px;border-radius:6px;margin:10px 0}
.failed strong{color:#b71c1c;font-size:17px}
.grades{display:flex;gap:14px;margin:8px 0}
.grade{flex:1;border:3px solid #777;border-radius:8px;padding:8px 14px;background:#f3f3f3}
.grade .side{font-size:13px;font-weight:700;letter-spacing:.12em;text-transform:uppercase;color:var(--muted)}
.grade .value{font-size:26px;font-weight:700;margin:2px 0}
.grade .why{font-size:12.5px}
.g-unknown{border-color:#8a939c;background:#f1f3f5}.g-unknown .value{color:#4a525b}
.g-normal{border-color:#2e7d32;background:#edf7ee}.g-normal .value{color:#1b5e20}
.g-tendinopathy{border-color:#c77700;background:#fff4e0}.g-tendinopathy .value{color:#8a4f00}
.g-partial_tear{border-color:#c62828;background:#fdecea}.g-partial_tear .value{color:#b71c1c}
.g-complete_tear{border-color:#7f0000;background:#f8d7d7}.g-complete_tear .value{color:#7f0000}
.rule{font-size:12.5px;background:#f7f8fa;border-left:3px solid var(--line);padding:6px 10px;margin:6px 0}
.note{color:var(--muted);font-size:12.5px}
.warn{color:#8a4f00}
ul.qc{margin:4px 0 8px;padding-left:20px}
ul.qc li{margin:2px 0}
.sev-error{color:#b71c1c}.sev-warning{color:#8a4f00}
.figs{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:10px}
.figs.three{grid-template-columns:repeat(3,minmax(0,1fr))}
figure{margin:0;border:1px solid var(--line);padding:6px;background:#fff}
figure img{width:100%;height:auto;display:block;background:#000;cursor:zoom-in}
.figs figure.zoom{grid-column:1/-1}
.figs figure.zoom img{cursor:zoom-out}
figcaption{font-size:12px;color:var(--muted);margin-top:4px}
.missing{border:1px dashed #9aa3ad;color:#4a525b;padding:28px 12px;text-align:center;background:#f7f8fa;font-size:12.5px}
.chart{width:100%;max-width:760px;height:auto}
#viewer-label{position:absolute;top:6px;left:10px;z-index:2;color:#e8ecf0;font-size:13px;pointer-events:none}
#viewer{position:relative;width:100%;height:560px;border:1px solid var(--line);background:#15181c}
#viewer-controls{margin:6px 0;display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center}
#viewer-controls button{font:inherit;font-size:13px;padding:3px 10px;border:1px solid #9aa3ad;border-radius:4px;background:#f4f6f8;cursor:pointer}
#viewer-controls label{font-size:13px;white-space:nowrap}
.legend{display:flex;align-items:center;gap:8px;font-size:12.5px;margin:4px 0}
.legend .bar{width:220px;height:12px;border:1px solid #777}
.swatch{display:inline-block;width:12px;height:12px;border:1px solid #555;vertical-align:-1px;margin-right:3px}
pre.params{font-size:11px;background:#f7f8fa;border:1px solid var(--line);padding:6px 8px;white-space:pre-wrap;word-break:break-word}
footer{margin-top:24px;border-top:1px solid var(--line);padding-top:6px;font-size:12px;color:var(--muted)}
.print-only{display:none}
@media print{
 body{max-width:none;padding:0;font-size:9.5pt;line-height:1.3}
 th,td{padding:2px 6px}
 h2{margin-top:10px}
 .grade{padding:5px 12px}
 .grade .value{font-size:20pt}
 h2{break-after:avoid;page-break-after:avoid;margin-top:14px}
 h3{break-after:avoid;page-break-after:avoid}
 .screen-only{display:none!important}
 .print-only{display:block!important}
 tr,figure,.grade,.grades,.keep,.rule,svg{break-inside:avoid;page-break-inside:avoid}
 thead{display:table-header-group}
 .figs{gap:6px}
 figure img{width:auto;max-width:100%;max-height:125mm;margin:0 auto}
 .figs figure.wide{grid-column:1/-1}
 pre.params{font-size:7.5pt}
}
)CSS";

// Builds the meshes embedded in #ischia-meshes with vtk.js (global `vtk`, the UMD bundle).
// Every failure ends in a message in #viewer-status; the static renders stay the fallback.
const char* const kViewerScript = R"JS(
(function () {
  var status = document.getElementById('viewer-status');
  function fail(msg) {
    status.textContent = msg + ' The static renders above show the same surfaces.';
    status.className = 'note warn';
  }
  try {
    if (typeof vtk === 'undefined') { fail('Interactive 3D view unavailable: the vtk.js library did not load.'); return; }
    var probe = document.createElement('canvas');
    if (!(probe.getContext('webgl2') || probe.getContext('webgl'))) {
      fail('Interactive 3D view unavailable: this browser offers no WebGL.'); return;
    }
    var data = JSON.parse(document.getElementById('ischia-meshes').textContent);
    var container = document.getElementById('viewer');
    var controls = document.getElementById('viewer-controls');
    container.hidden = false; controls.hidden = false;
    var grw = vtk.Rendering.Misc.vtkGenericRenderWindow.newInstance({ background: [0.09, 0.1, 0.12] });
    grw.setContainer(container);
    grw.resize();
    var renderer = grw.getRenderer(), renderWindow = grw.getRenderWindow();
    function decode(b64, T) {
      var s = atob(b64), u = new Uint8Array(s.length);
      for (var i = 0; i < s.length; i++) u[i] = s.charCodeAt(i);
      return new T(u.buffer);
    }
    var lut = vtk.Rendering.Core.vtkColorTransferFunction.newInstance();
    var range = data.scalar_range;
    if (range) {
      data.ramp.forEach(function (s) { lut.addRGBPoint(range[0] + s[0] * (range[1] - range[0]), s[1], s[2], s[3]); });
    }
    var bounds = [Infinity, -Infinity, Infinity, -Infinity, Infinity, -Infinity];
    data.meshes.forEach(function (m) {
      var pd = vtk.Common.DataModel.vtkPolyData.newInstance();
      pd.getPoints().setData(decode(m.points, Float32Array), 3);
      var t = decode(m.triangles, Uint32Array), n = t.length / 3, cells = new Uint32Array(n * 4);
      for (var i = 0; i < n; i++) {
        cells[4 * i] = 3; cells[4 * i + 1] = t[3 * i]; cells[4 * i + 2] = t[3 * i + 1]; cells[4 * i + 3] = t[3 * i + 2];
      }
      pd.getPolys().setData(cells);
      var colourByScalars = !!(m.scalars && range);
      if (colourByScalars) {
        pd.getPointData().setScalars(vtk.Common.Core.vtkDataArray.newInstance({
          name: m.scalar_name, values: decode(m.scalars, Float32Array), numberOfComponents: 1 }));
      }
      var normals = vtk.Filters.Core.vtkPolyDataNormals.newInstance();
      normals.setInputData(pd);
      var mapper = vtk.Rendering.Core.vtkMapper.newInstance();
      mapper.setInputConnection(normals.getOutputPort());
      if (colourByScalars) {
        mapper.setLookupTable(lut);
        mapper.setScalarRange(range[0], range[1]);
        mapper.setScalarVisibility(true);
        mapper.setInterpolateScalarsBeforeMapping(true);
      } else {
        mapper.setScalarVisibility(false);
      }
      var actor = vtk.Rendering.Core.vtkActor.newInstance();
      actor.setMapper(mapper);
      actor.getProperty().setColor(m.colour[0], m.colour[1], m.colour[2]);
      actor.getProperty().setOpacity(m.opacity);
      actor.getProperty().setSpecular(0.15);
      renderer.addActor(actor);
      for (var a = 0; a < 3; a++) {
        bounds[2 * a] = Math.min(bounds[2 * a], m.bounds[2 * a]);
        bounds[2 * a + 1] = Math.max(bounds[2 * a + 1], m.bounds[2 * a + 1]);
      }
      var label = document.createElement('label'), box = document.createElement('input');
      box.type = 'checkbox'; box.checked = true;
      box.addEventListener('change', function () { actor.setVisibility(box.checked); renderWindow.render(); });
      var sw = document.createElement('span'); sw.className = 'swatch';
      sw.style.background = 'rgb(' + m.colour.map(function (c) { return Math.round(255 * c); }).join(',') + ')';
      label.appendChild(box); label.appendChild(sw); label.appendChild(document.createTextNode(m.label));
      controls.appendChild(label);
    });
    // Orientation cube in patient terms (LPS: +x left, +y posterior, +z superior).
    var cube = vtk.Rendering.Core.vtkAnnotatedCubeActor.newInstance();
    cube.setDefaultStyle({ fontStyle: 'bold', fontFamily: 'Arial', fontColor: 'black', faceColor: '#d8dde3',
      edgeThickness: 0.08, edgeColor: 'black', resolution: 256 });
    // Face rotations keep the letters upright (as vtk.js's own 'lps' preset).
    cube.setXPlusFaceProperty({ text: 'L', faceRotation: 90 });
    cube.setXMinusFaceProperty({ text: 'R', faceRotation: -90 });
    cube.setYPlusFaceProperty({ text: 'P', faceRotation: 180 });
    cube.setYMinusFaceProperty({ text: 'A', faceRotation: 0 });
    cube.setZPlusFaceProperty({ text: 'S', faceRotation: 0 });
    cube.setZMinusFaceProperty({ text: 'I', faceRotation: 180 });
    var marker = vtk.Interaction.Widgets.vtkOrientationMarkerWidget.newInstance({
      actor: cube, interactor: grw.getInteractor() });
    marker.setEnabled(true);
    marker.setViewportCorner(vtk.Interaction.Widgets.vtkOrientationMarkerWidget.Corners.BOTTOM_LEFT);
    marker.setViewportSize(0.16);
    var viewNames = { posterior: 'from posterior: patient left on the left of the screen',
      left_oblique: 'from left posterior oblique', right_oblique: 'from right posterior oblique',
      inferior: 'from below (as axial images): patient left on the right of the screen' };
    var viewLabel = document.getElementById('viewer-label');
    var views = { posterior: [0, 1, 0], left_oblique: [0.7071, 0.7071, 0], right_oblique: [-0.7071, 0.7071, 0],
      inferior: [0, 0, -1] };
    function setView(name) {
      var d = views[name], c = [(bounds[0] + bounds[1]) / 2, (bounds[2] + bounds[3]) / 2, (bounds[4] + bounds[5]) / 2];
      var cam = renderer.getActiveCamera();
      cam.setFocalPoint(c[0], c[1], c[2]);
      cam.setPosition(c[0] + 500 * d[0], c[1] + 500 * d[1], c[2] + 500 * d[2]);
      cam.setViewUp(0, name === 'inferior' ? -1 : 0, name === 'inferior' ? 0 : 1);  // feet view: anterior up
      renderer.resetCamera();
      cam.zoom(1.3);  // resetCamera leaves a wide margin around the bounds
      renderWindow.render();
      if (viewLabel) viewLabel.textContent = 'View ' + viewNames[name];
    }
    document.querySelectorAll('#viewer-controls button[data-view]').forEach(function (b) {
      b.addEventListener('click', function () { setView(b.getAttribute('data-view')); });
    });
    window.addEventListener('resize', function () { grw.resize(); renderWindow.render(); });
    setView('posterior');
    status.textContent = 'Drag to rotate, scroll to zoom, shift-drag to pan; the buttons restore standard views. ' +
      'Coordinates are patient LPS millimetres.';
    status.className = 'note';
  } catch (e) {
    fail('Interactive 3D view failed: ' + (e && e.message ? e.message : e) + '.');
  }
})();
)JS";

}  // namespace ischia::report
