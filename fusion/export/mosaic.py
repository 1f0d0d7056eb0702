"""Mosaics of the per-tile rasters: one GDAL VRT per layer and UTM zone, with its style.

A run over several tiles writes each layer per tile (a COG each); analysts want one layer to
open. Tiles of one zone share the zone's 10 m grid, so a VRT places them without resampling:
``mosaic/<zone>/<layer>.vrt`` points at the tiles' COGs by relative paths (the output folder
can be moved), carries their band descriptions, nodata and colour table, and gets the tiles'
``.qml`` style beside it. Tiles of different zones are different grids: one VRT per zone.

Written by hand (XML): GDAL's Python bindings, which have ``BuildVRT``, are not a dependency,
and the layout here is the simplest VRT there is (non-overlapping sources on one grid).
"""

from __future__ import annotations

import math
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import rasterio
from rasterio.enums import ColorInterp

from fusion.export.atomic import atomic_path
from fusion.export.manifest import RunManifest

MOSAIC_DIR = "mosaic"
MOSAIC_KINDS = (
    "confidence",
    "alert_date",
    "confirmed_date",
    "magnitude",
    "valid_count",
    "composite",
    "valid_observations",
)
"""The per-tile layers that get a mosaic (one file per tile; the fused dates are per scene)."""

_GDAL_TYPES = {
    "uint8": "Byte",
    "int8": "Int8",
    "uint16": "UInt16",
    "int16": "Int16",
    "uint32": "UInt32",
    "int32": "Int32",
    "float32": "Float32",
    "float64": "Float64",
}


@dataclass(frozen=True)
class _Source:
    path: Path
    """Where the file is now (staged or published)."""
    relative: str
    """Its path relative to the output folder."""


def write_mosaics(manifest: RunManifest, staging: Path, *, published: Path) -> list[Path]:
    """Write the VRTs (and styles) of ``manifest``'s tiled layers into ``staging``.

    Nothing is written for a run of one tile. Outputs of tiles carried over from an earlier
    run are read from ``published``. Returns the VRTs written.
    """
    if len({o.tile for o in manifest.outputs if o.tile is not None}) < 2:
        return []
    groups: dict[tuple[str, str], list[_Source]] = {}
    for record in manifest.outputs:
        if record.tile is None or record.kind not in MOSAIC_KINDS:
            continue
        path = staging / record.path
        if not path.exists():
            path = published / record.path
        zone = record.tile.split("_")[0]
        groups.setdefault((zone, record.kind), []).append(_Source(path, record.path))
    written = []
    for (zone, kind), sources in sorted(groups.items()):
        target = staging / MOSAIC_DIR / zone / f"{kind}.vrt"
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            tmp.write_text(_vrt(sources, depth=2), encoding="utf-8")
        style = sources[0].path.with_suffix(".qml")
        if style.exists():
            shutil.copyfile(style, target.with_suffix(".qml"))
        written.append(target)
    return written


def _vrt(sources: list[_Source], *, depth: int) -> str:
    """The VRT XML of non-overlapping ``sources`` on one grid; ``depth``: folders between the
    VRT and the output folder."""
    metas = []
    for source in sources:
        with rasterio.open(source.path) as src:
            metas.append(
                {
                    "transform": src.transform,
                    "width": src.width,
                    "height": src.height,
                    "crs": src.crs,
                    "count": src.count,
                    "dtype": src.dtypes[0],
                    "nodata": src.nodata,
                    "descriptions": src.descriptions,
                    "palette": src.colorinterp[0] == ColorInterp.palette,
                    "colormap": src.colormap(1)
                    if src.colorinterp[0] == ColorInterp.palette
                    else None,
                }
            )
    first = metas[0]
    res = first["transform"].a
    left = min(m["transform"].c for m in metas)
    top = max(m["transform"].f for m in metas)
    right = max(m["transform"].c + m["width"] * res for m in metas)
    bottom = min(m["transform"].f - m["height"] * res for m in metas)
    width, height = round((right - left) / res), round((top - bottom) / res)
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = first["crs"].to_wkt()
    ET.SubElement(root, "GeoTransform").text = f"{left!r}, {res!r}, 0.0, {top!r}, 0.0, {-res!r}"
    prefix = "../" * depth
    for band in range(1, first["count"] + 1):
        node = ET.SubElement(
            root, "VRTRasterBand", dataType=_GDAL_TYPES[first["dtype"]], band=str(band)
        )
        if first["nodata"] is not None:
            ET.SubElement(node, "NoDataValue").text = _number(first["nodata"])
        if first["descriptions"][band - 1]:
            ET.SubElement(node, "Description").text = first["descriptions"][band - 1]
        if band == 1 and first["palette"] and first["colormap"]:
            ET.SubElement(node, "ColorInterp").text = "Palette"
            table = ET.SubElement(node, "ColorTable")
            for value in range(max(first["colormap"]) + 1):
                c = first["colormap"].get(value, (0, 0, 0, 0))
                ET.SubElement(
                    table, "Entry", c1=str(c[0]), c2=str(c[1]), c3=str(c[2]), c4=str(c[3])
                )
        for source, meta in zip(sources, metas, strict=True):
            simple = ET.SubElement(node, "SimpleSource")
            ET.SubElement(simple, "SourceFilename", relativeToVRT="1").text = (
                prefix + source.relative
            )
            ET.SubElement(simple, "SourceBand").text = str(band)
            size = {"xSize": str(meta["width"]), "ySize": str(meta["height"])}
            ET.SubElement(simple, "SrcRect", {"xOff": "0", "yOff": "0", **size})
            x_off = round((meta["transform"].c - left) / res)
            y_off = round((top - meta["transform"].f) / res)
            ET.SubElement(simple, "DstRect", {"xOff": str(x_off), "yOff": str(y_off), **size})
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


def _number(value: float) -> str:
    return "nan" if isinstance(value, float) and math.isnan(value) else repr(value)
