"""A QGIS project (``project.qgz``) that opens a run's outputs as styled layers in groups.

Built with the standard library (PyQGIS lives outside the virtual environment): a ``.qgs``
XML document zipped into ``.qgz``. Each layer embeds the ``.qml`` written beside its file,
because QGIS loads a same-named ``.qml`` only when a layer is added by hand, never from a
project. Data sources are relative (``./tile/confidence.tif``), so the output folder can be
moved or copied whole; the project is written at the folder's root.

Layer tree, top to bottom: the alert polygons, then one group per tile with the alert
layers, a collapsed and hidden ``fused series`` sub-group, the composite and the
observation counts. Only the polygons, alert confidence and composite are switched on:
the other layers are opaque and would hide them.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pyogrio
import rasterio
from odc.geo.geom import BoundingBox, box
from pyproj import CRS

from fusion.export.atomic import atomic_path
from fusion.export.manifest import OutputRecord, RunManifest

log = logging.getLogger(__name__)

PROJECT_NAME = "project.qgz"
QGIS_VERSION = "3.22.0"
"""Oldest QGIS the project is tested with (Debian 12's); newer versions read it unchanged."""

_HEADER = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
_TILE_ORDER = (
    "confidence",
    "alert_date",
    "confirmed_date",
    "magnitude",
    "valid_count",
    "fused",
    "composite",
    "valid_observations",
)
"""Raster kinds within a tile group, top first (``fused`` stands for both fused kinds);
unknown kinds follow, switched off."""
_FUSED_KINDS = ("fused", "fused_sigma")
_SHOWN = {"alert_polygons", "confidence", "composite"}
_NAMES = {"alert_polygons": "alert polygons", "valid_observations": "clear observations"}


@dataclass(frozen=True)
class _Layer:
    """One map layer of the project."""

    id: str
    name: str
    source: str
    """Data source relative to the project file (GDAL/OGR syntax)."""
    raster: bool
    crs: CRS
    style: Path
    """The ``.qml`` beside the data file (embedded when present)."""
    shown: bool
    fused: bool = False


def write_qgis_project(
    manifest: RunManifest, folder: Path, *, published: Path | None = None
) -> Path:
    """Write ``folder/project.qgz`` with every raster and vector output of ``manifest``.

    ``manifest.outputs`` paths are relative to ``folder`` (the staging folder during a run:
    the relative layer paths stay right once the files are published). Outputs not in
    ``folder`` are read from ``published``, the output folder (tiles an incremental run
    carried over unchanged).
    """
    path = folder / PROJECT_NAME
    folders = (folder,) if published is None else (folder, published)
    document = _HEADER + ET.tostring(_document(manifest, folders), encoding="unicode")
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("project.qgs", document)
    return path


def _document(manifest: RunManifest, folders: tuple[Path, ...]) -> ET.Element:
    tiles = [t.id for t in manifest.tiles]
    crs_names = {t.crs for t in manifest.tiles}
    # One UTM zone: metres and no distortion. Tiles across zones share geographic coordinates.
    crs = CRS.from_user_input(crs_names.pop() if len(crs_names) == 1 else "EPSG:4326")
    by_tile: dict[str, list[_Layer]] = {tile: [] for tile in tiles}
    on_top: list[_Layer] = []
    for record in sorted(manifest.outputs, key=_rank):
        for layer in _layers(record, folders):
            if record.tile is None:
                on_top.append(layer)
            else:
                by_tile.setdefault(record.tile, []).append(layer)

    root = ET.Element("qgis", version=QGIS_VERSION, projectname=f"fusion {manifest.run_id}")
    ET.SubElement(root, "title").text = f"fusion run {manifest.run_id}"
    ET.SubElement(root, "projectCrs").append(_spatialrefsys(crs))
    tree = ET.SubElement(root, "layer-tree-group")
    for layer in on_top:
        tree.append(_tree_layer(layer))
    for tile, layers in by_tile.items():
        if layers:
            tree.append(_tile_group(tile, layers))
    project_layers = ET.SubElement(root, "projectlayers")
    for layer in [*on_top, *(la for layers in by_tile.values() for la in layers)]:
        project_layers.append(_map_layer(layer))
    bounds = manifest.aoi.get("bounds_wgs84")
    if bounds is not None:
        left, bottom, right, top = (float(v) for v in bounds)
        _add_view_extent(
            root, box(left, bottom, right, top, "EPSG:4326").to_crs(crs).boundingbox, crs
        )
    properties = ET.SubElement(root, "properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", type="bool").text = "false"
    # QGIS reads <projectCrs> only when this flag is set (otherwise the project has no CRS).
    srs = ET.SubElement(properties, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", type="int").text = "1"
    ET.indent(root)
    return root


def _rank(record: OutputRecord) -> int:
    """Position of a kind in a tile group; sorting is stable, so the manifest's order (dates
    in time order, each fused date beside its sigma) holds within a kind."""
    kind = "fused" if record.kind in _FUSED_KINDS else record.kind
    return _TILE_ORDER.index(kind) if kind in _TILE_ORDER else len(_TILE_ORDER)


def _layers(record: OutputRecord, folders: tuple[Path, ...]) -> Iterable[_Layer]:
    """The map layers of one output file: one per raster, one per GeoPackage table."""
    found = [folder / record.path for folder in folders if (folder / record.path).exists()]
    if not found:
        log.warning("QGIS project: %s is in the manifest but not on disk; left out", record.path)
        return
    path = found[0]
    source = "./" + Path(record.path).as_posix()
    shown = record.kind in _SHOWN
    if path.suffix == ".tif":
        with rasterio.open(path) as src:
            crs = CRS.from_wkt(src.crs.to_wkt())
            date = src.tags().get("FUSION_DATE")
        fused = record.kind in _FUSED_KINDS
        yield _Layer(
            id=_layer_id(record.path),
            name=f"{date or ''} {path.stem}".strip() if fused else _name(record.kind),
            source=source,
            raster=True,
            crs=crs,
            style=path.with_suffix(".qml"),
            shown=shown,
            fused=fused,
        )
    elif path.suffix == ".gpkg":
        tables = [str(name) for name, _ in pyogrio.list_layers(path)]
        for table in tables:
            info = pyogrio.read_info(path, layer=table)
            yield _Layer(
                id=_layer_id(f"{record.path}_{table}"),
                name=_name(record.kind) if len(tables) == 1 else table,
                source=f"{source}|layername={table}",
                raster=False,
                crs=CRS.from_user_input(info["crs"]),
                style=path.with_suffix(".qml"),
                shown=shown,
            )


def _name(kind: str) -> str:
    return _NAMES.get(kind, kind.replace("_", " "))


def _layer_id(relative: str) -> str:
    """A stable id from the output path (unique within the run)."""
    return re.sub(r"\W", "_", relative)


def _tile_group(tile: str, layers: list[_Layer]) -> ET.Element:
    group = _tree_group(tile, checked=True, expanded=True)
    fused: ET.Element | None = None
    for layer in layers:
        if not layer.fused:
            group.append(_tree_layer(layer))
            continue
        if fused is None:  # the fused kinds are adjacent in the sorted layers
            fused = _tree_group("fused series", checked=False, expanded=False)
            group.append(fused)
        fused.append(_tree_layer(layer))
    return group


def _tree_group(name: str, *, checked: bool, expanded: bool) -> ET.Element:
    return ET.Element(
        "layer-tree-group",
        name=name,
        checked="Qt::Checked" if checked else "Qt::Unchecked",
        expanded="1" if expanded else "0",
    )


def _tree_layer(layer: _Layer) -> ET.Element:
    return ET.Element(
        "layer-tree-layer",
        id=layer.id,
        name=layer.name,
        source=layer.source,
        providerKey="gdal" if layer.raster else "ogr",
        checked="Qt::Checked" if layer.shown else "Qt::Unchecked",
        expanded="1" if layer.shown else "0",
    )


def _map_layer(layer: _Layer) -> ET.Element:
    element = ET.Element("maplayer", type="raster" if layer.raster else "vector")
    ET.SubElement(element, "id").text = layer.id
    ET.SubElement(element, "datasource").text = layer.source
    ET.SubElement(element, "layername").text = layer.name
    ET.SubElement(element, "srs").append(_spatialrefsys(layer.crs))
    provider = ET.SubElement(element, "provider")
    provider.text = "gdal" if layer.raster else "ogr"
    if not layer.raster:
        provider.set("encoding", "UTF-8")
    if layer.style.is_file():
        # The style's top-level elements (<pipe>, <renderer-v2>, ...) are what QGIS reads
        # from a <maplayer>; the .qml is ours, so it is trusted XML.
        element.extend(ET.parse(layer.style).getroot())
    return element


def _spatialrefsys(crs: CRS) -> ET.Element:
    """QGIS's CRS element: WKT and the authority code, from either of which QGIS builds it."""
    element = ET.Element("spatialrefsys")
    ET.SubElement(element, "wkt").text = crs.to_wkt()
    authority = crs.to_authority()
    if authority is not None:
        ET.SubElement(element, "authid").text = ":".join(authority)
    ET.SubElement(element, "description").text = crs.name
    ET.SubElement(element, "geographicflag").text = "true" if crs.is_geographic else "false"
    return element


def _add_view_extent(root: ET.Element, bounds: BoundingBox, crs: CRS) -> None:
    """Open on the AOI: the project's default view and the desktop's map canvas."""
    xmin, ymin, xmax, ymax = (repr(float(v)) for v in bounds)
    view = ET.SubElement(root, "ProjectViewSettings", UseProjectScales="0", rotation="0")
    default = ET.SubElement(view, "DefaultViewExtent", xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)
    default.append(_spatialrefsys(crs))
    canvas = ET.SubElement(root, "mapcanvas", name="theMapCanvas", annotationsVisible="1")
    ET.SubElement(canvas, "units").text = "degrees" if crs.is_geographic else "meters"
    extent = ET.SubElement(canvas, "extent")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), (xmin, ymin, xmax, ymax), strict=True):
        ET.SubElement(extent, tag).text = value
    ET.SubElement(canvas, "rotation").text = "0"
    ET.SubElement(canvas, "destinationsrs").append(_spatialrefsys(crs))
