"""A STAC catalogue of a run's outputs, so other tools can index and load them.

One Collection per output folder (extent: the AOI and the period; assets: the alert
GeoPackage, the mosaics, the QGIS project and the report), one Item per tile with its rasters
as assets. Hrefs are relative: the folder can be moved or served as is. Written
self-contained into ``stac/``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pystac
from odc.geo import Geometry

from fusion.export.manifest import RunManifest

STAC_DIR = "stac"
COG = pystac.MediaType.COG
GPKG = "application/geopackage+sqlite3"
# Run-level outputs: manifest kind → (asset key, title, roles); mosaics are keyed per file.
_RUN_FILES = {
    "alert_polygons": ("alerts", "alert polygons", ["data"]),
    "mosaic": ("", "mosaic of the tiles", ["data"]),
    "qgis_project": ("qgis_project", "QGIS project of the outputs", ["overview"]),
    "report": ("report", "run report", ["overview"]),
}
# By suffix; a GDAL VRT has no registered media type, so its assets carry none.
_MEDIA = {".gpkg": GPKG, ".tif": COG, ".html": pystac.MediaType.HTML, ".qgz": "application/zip"}
_ROLES = {
    "composite": ["data", "reflectance"],
    "valid_observations": ["data", "metadata"],
    "alert_date": ["data"],
    "confidence": ["data"],
    "magnitude": ["data"],
    "valid_count": ["data", "metadata"],
    "fused": ["data", "reflectance"],
    "fused_sigma": ["data", "uncertainty"],
}

_STATE_KINDS = frozenset({"monitor_state", "alert_series_history"})
"""Per-tile files that only the next run reads (``<out>/state``): not catalogued."""


def write_output_catalog(
    manifest: RunManifest, staging: Path, *, footprints: dict[str, Geometry]
) -> list[Path]:
    """Write the catalogue of the staged outputs; returns the files written (in ``staging``)."""
    start, end = manifest.period
    when = (
        dt.datetime.combine(start, dt.time.min, dt.UTC),
        dt.datetime.combine(end, dt.time.max, dt.UTC),
    )
    bounds = manifest.aoi["bounds_wgs84"]
    collection = pystac.Collection(
        id=f"fusion-{manifest.run_id}",
        description=f"fusion run {manifest.run_id}: harmonised composite, fused Landsat, "
        "forest-disturbance alerts",
        extent=pystac.Extent(
            pystac.SpatialExtent([bounds]), pystac.TemporalExtent([[when[0], when[1]]])
        ),
        license="other",
    )
    root = staging / STAC_DIR
    for record in manifest.outputs:
        if record.tile is not None or record.kind not in _RUN_FILES:
            continue
        key, title, roles = _RUN_FILES[record.kind]
        path = Path(record.path)
        # mosaic/<zone>/<layer>.vrt → mosaic_<zone>_<layer>: one per zone and layer.
        key = key or "_".join(path.with_suffix("").parts)
        collection.add_asset(
            key,
            pystac.Asset(
                f"../{record.path}",
                title=title,
                media_type=_MEDIA.get(path.suffix.lower()),
                roles=roles,
            ),
        )
    for tile in manifest.tiles:
        footprint = footprints[tile.id].to_crs("EPSG:4326")
        item = pystac.Item(
            id=tile.id,
            geometry=footprint.json,
            bbox=list(footprint.boundingbox.bbox),
            datetime=None,
            start_datetime=when[0],
            end_datetime=when[1],
            properties={"fusion:run_id": manifest.run_id, "fusion:crs": tile.crs},
        )
        for record in manifest.outputs:
            if record.tile != tile.id or record.kind in _STATE_KINDS:
                continue
            key = Path(record.path).stem if record.kind.startswith("fused") else record.kind
            item.add_asset(
                key,
                pystac.Asset(
                    f"../../{record.path}", media_type=COG, roles=_ROLES.get(record.kind, ["data"])
                ),
            )
        collection.add_item(item)
    collection.normalize_hrefs(str(root))
    collection.make_all_asset_hrefs_relative()
    collection.save(pystac.CatalogType.SELF_CONTAINED)
    return sorted(p for p in root.rglob("*.json"))
