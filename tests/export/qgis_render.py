"""Open outputs and a project in real QGIS, render them, report what QGIS saw (as JSON).

Runs under the system Python that has PyQGIS (``/usr/bin/python3``), not the project's
virtual environment, so it imports nothing from ``fusion`` and the tests assert on its
report. Usage::

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 qgis_render.py REQUEST.json

REQUEST: ``{"layers": [{"path", "table"?, "style"}], "project": path | null,
"images": folder}``. Every render goes to a PNG in ``images`` (to look at when a test
fails) and is summarised by how many pixels QGIS painted and its commonest colours.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsLayerTreeGroup,
    QgsLayerTreeLayer,
    QgsMapLayer,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRasterLayer,
    QgsRectangle,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage

SIZE = 256
#: The styles' colours of the alert classes (fusion.export.styles), as rendered.
CLASS_COLOURS = {"provisional": (255, 190, 0), "confirmed": (220, 0, 0)}


def main(request_path: str) -> None:
    request = json.loads(Path(request_path).read_text())
    app = QgsApplication([], False)
    app.initQgis()
    # Every QGIS object is made and freed inside _report: layers freed after exitQgis()
    # crash the interpreter.
    report = _report(request)
    QgsProject.instance().clear()
    app.exitQgis()
    json.dump(report, sys.stdout, indent=1)


def _report(request: dict[str, Any]) -> dict[str, Any]:
    images = Path(request["images"])
    images.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"qgis": Qgis.QGIS_VERSION, "layers": [], "project": None}
    for i, spec in enumerate(request["layers"]):
        layer = _open(spec)
        message, styled = layer.loadNamedStyle(spec["style"])
        entry = _describe(layer, images / f"layer{i:03d}.png")
        entry.update(path=spec["path"], styled=bool(styled), style_message=message)
        report["layers"].append(entry)
    if request.get("project"):
        report["project"] = _project(request["project"], images)
    return report


def _open(spec: dict[str, Any]) -> QgsMapLayer:
    name = Path(spec["path"]).stem
    if spec.get("table"):
        return QgsVectorLayer(f"{spec['path']}|layername={spec['table']}", name, "ogr")
    return QgsRasterLayer(spec["path"], name, "gdal")


def _describe(layer: QgsMapLayer, image: Path) -> dict[str, Any]:
    """Validity, CRS, renderer and a render of one layer at its own extent."""
    entry: dict[str, Any] = {"name": layer.name(), "valid": layer.isValid()}
    if not layer.isValid():
        return entry
    entry["crs"] = layer.crs().authid()
    entry["renderer"] = _renderer(layer)
    entry["render"] = _render([layer], layer.extent(), layer.crs(), image)
    return entry


def _renderer(layer: QgsMapLayer) -> dict[str, Any]:
    if isinstance(layer, QgsVectorLayer):
        renderer = layer.renderer()
        found: dict[str, Any] = {"type": renderer.type()}
        if renderer.type() == "categorizedSymbol":
            found["attribute"] = renderer.classAttribute()
            found["categories"] = [str(c.value()) for c in renderer.categories()]
        return found
    renderer = layer.renderer()
    found = {"type": renderer.type(), "bands": list(renderer.usesBands())}
    if renderer.type() == "paletted":
        found["classes"] = {str(c.value): c.label for c in renderer.classes()}
    if renderer.type() == "singlebandpseudocolor":
        shader = renderer.shader().rasterShaderFunction()
        found["range"] = [shader.minimumValue(), shader.maximumValue()]
        found["stops"] = len(shader.colorRampItemList())
    return found


def _render(
    layers: list[QgsMapLayer],
    extent: QgsRectangle,
    crs: QgsCoordinateReferenceSystem,
    image: Path,
) -> dict[str, Any]:
    """Render on a transparent background; count painted pixels and their colours."""
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setOutputSize(QSize(SIZE, SIZE))
    settings.setBackgroundColor(QColor(0, 0, 0, 0))
    settings.setExtent(extent)
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    rendered = job.renderedImage().convertToFormat(QImage.Format_ARGB32)
    rendered.save(str(image))
    bits = rendered.constBits()
    bits.setsize(rendered.sizeInBytes())
    data = bytes(bits)
    # ARGB32 is stored B, G, R, A in memory on little-endian machines.
    pixels = Counter(
        (data[i + 2], data[i + 1], data[i]) for i in range(0, len(data), 4) if data[i + 3]
    )
    return {
        "painted": sum(pixels.values()),
        "pixels": SIZE * SIZE,
        "colours": [[*rgb, n] for rgb, n in pixels.most_common(8)],
        # The alert classes' own colours, however few their pixels among the composite's.
        "class_pixels": {name: pixels[rgb] for name, rgb in CLASS_COLOURS.items()},
        "errors": [e.message for e in job.errors()],
    }


def _project(path: str, images: Path) -> dict[str, Any]:
    project = QgsProject.instance()
    found: dict[str, Any] = {"read": project.read(path)}
    crs = project.crs()
    view = project.viewSettings().defaultViewExtent()
    found.update(
        crs=crs.authid(),
        title=project.title(),
        absolute_paths=project.readBoolEntry("Paths", "/Absolute")[0],
        view_extent=[view.xMinimum(), view.yMinimum(), view.xMaximum(), view.yMaximum()],
        tree=_tree(project.layerTreeRoot()),
        layers=[],
    )
    for i, layer in enumerate(project.layerTreeRoot().layerOrder()):
        entry = _describe(layer, images / f"project{i:03d}.png")
        entry["source"] = layer.source()
        found["layers"].append(entry)
    shown = project.layerTreeRoot().checkedLayers()
    found["shown"] = [layer.name() for layer in shown]
    found["render"] = _render(shown, view, crs, images / "project.png")
    return found


def _tree(group: QgsLayerTreeGroup) -> list[dict[str, Any]]:
    """The layer tree as nested dicts: name, visibility, expansion, children."""
    nodes = []
    for child in group.children():
        node: dict[str, Any] = {
            "name": child.name(),
            "checked": child.itemVisibilityChecked(),
            "expanded": child.isExpanded(),
        }
        if isinstance(child, QgsLayerTreeGroup):
            node["children"] = _tree(child)
        elif isinstance(child, QgsLayerTreeLayer):
            node["layer"] = child.layerId()
        nodes.append(node)
    return nodes


if __name__ == "__main__":
    main(sys.argv[1])
