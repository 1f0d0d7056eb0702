"""Reading and writing the demo world's files: scene COGs and the saved truth.

The truth folder holds what :func:`fusion.demo.demo_truth` needs to recompute the surface on
any date (no per-date rasters are stored): the base reflectance, class map, farm phases and
clearing ids as COGs, and the clearings as GeoPackage (world CRS) and GeoJSON (EPSG:4326).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Final

import geopandas as gpd
import numpy as np
import rasterio
from odc.geo.geobox import GeoBox

from fusion.bands import CANONICAL_BANDS
from fusion.demo.clearings import Clearing, ClearingTable
from fusion.demo.world import Surface

BASE: Final = "base_reflectance.tif"
CLASSES: Final = "classes.tif"
FARM_PHASE: Final = "farm_phase.tif"
CLEARING_ID: Final = "clearing_id.tif"
CLEARINGS_GPKG: Final = "clearings.gpkg"
CLEARINGS_GEOJSON: Final = "clearings.geojson"
ACQUISITIONS: Final = "acquisitions.json"


def write_cog(
    path: Path,
    data: np.ndarray,
    geobox: GeoBox,
    *,
    nodata: float | None,
    descriptions: tuple[str, ...] = (),
    overviews: bool = False,
) -> Path:
    """Write a ``(y, x)`` or ``(band, y, x)`` array on ``geobox`` as a deflated COG, 256 tiles.

    Scene files skip overviews (they are small); class-like layers get nearest overviews.
    """
    stack = data if data.ndim == 3 else data[np.newaxis]
    assert geobox.crs is not None and stack.shape[1:] == (geobox.shape.y, geobox.shape.x)
    floating = np.issubdtype(stack.dtype, np.floating)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(
        path,
        "w",
        driver="COG",
        width=geobox.shape.x,
        height=geobox.shape.y,
        count=stack.shape[0],
        dtype=stack.dtype.name,
        crs=f"EPSG:{geobox.crs.epsg}" if geobox.crs.epsg else geobox.crs.to_wkt(),
        transform=geobox.affine,
        nodata=nodata,
        blocksize=256,
        compress="deflate",
        predictor=3 if floating else 2,
        overviews="auto" if overviews else "none",
        overview_resampling="average" if floating else "nearest",
    ) as dst:
        dst.write(stack)
        for index, text in enumerate(descriptions, start=1):
            dst.set_band_description(index, text)
    return path


def read_array(path: Path) -> np.ndarray:
    """All bands of a raster, squeezed to ``(y, x)`` when it has one band."""
    with rasterio.open(path) as src:
        data = src.read()
    return data[0] if data.shape[0] == 1 else data


def write_truth(
    folder: Path,
    surface: Surface,
    clearing_id: np.ndarray,
    clearings: list[Clearing],
    geobox: GeoBox,
) -> None:
    """Save the static surface and the clearings."""
    write_cog(folder / BASE, surface.base, geobox, nodata=None, descriptions=CANONICAL_BANDS)
    write_cog(folder / CLASSES, surface.classes, geobox, nodata=None, overviews=True)
    write_cog(folder / FARM_PHASE, surface.farm_phase, geobox, nodata=float("nan"))
    write_cog(folder / CLEARING_ID, clearing_id, geobox, nodata=None)
    frame = gpd.GeoDataFrame(
        {
            "id": [c.id for c in clearings],
            "area_ha": [c.area_ha for c in clearings],
            "clear_date": [c.clear_date.isoformat() for c in clearings],
            "regrowth_days": [c.regrowth_days for c in clearings],
            "kind": [c.kind for c in clearings],
            "severity": [c.severity for c in clearings],
        },
        geometry=[c.geometry for c in clearings],
        crs=f"EPSG:{geobox.crs.epsg}" if geobox.crs and geobox.crs.epsg else None,
    )
    frame.to_file(folder / CLEARINGS_GPKG, driver="GPKG", layer="clearings")
    frame.to_crs("EPSG:4326").to_file(folder / CLEARINGS_GEOJSON, driver="GeoJSON")


def read_clearings(folder: Path) -> gpd.GeoDataFrame:
    """The ground-truth clearings (world CRS), ``clear_date`` as ``datetime.date``."""
    frame = gpd.read_file(folder / CLEARINGS_GPKG, layer="clearings")
    frame["clear_date"] = [dt.date.fromisoformat(str(d)[:10]) for d in frame["clear_date"]]
    return frame


def read_truth(folder: Path) -> tuple[Surface, np.ndarray, ClearingTable]:
    """What :func:`fusion.demo.world.truth_at` needs, from a truth folder."""
    surface = Surface(
        base=read_array(folder / BASE).astype(np.float32),
        classes=read_array(folder / CLASSES),
        farm_phase=read_array(folder / FARM_PHASE).astype(np.float32),
    )
    clearing_id = read_array(folder / CLEARING_ID)
    frame = read_clearings(folder)
    table = ClearingTable.from_rows(
        [int(i) for i in frame["id"]],
        list(frame["clear_date"]),
        [int(r) for r in frame["regrowth_days"]],
        [float(s) for s in frame["severity"]],
        [str(k) for k in frame["kind"]],
    )
    return surface, clearing_id, table
