"""The AOI's grid: UTM tiles at 10 m whose pixel edges lie on multiples of 30 m.

Tiles come from sentinelhub's :class:`~sentinelhub.UtmZoneSplitter` (it splits an AOI across
UTM zones and hemispheres into a fixed UTM grid); each tile is cropped to the AOI part it
holds and becomes an odc-geo :class:`~odc.geo.geobox.GeoBox`. Because the tile size is a
multiple of 30 m, every Landsat 30 m pixel of a tile covers exactly 3×3 output pixels.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Final

import geopandas as gpd
import shapely
from odc.geo import CRS, Geometry
from odc.geo.geobox import GeoBox
from shapely.geometry import box

from fusion.errors import AOIError

RESOLUTION_M: Final = 10
ALIGN_M: Final = 30  # Landsat pixel size: grid edges on multiples of this
DEFAULT_TILE_SIZE_M: Final = 5_010
"""About 5 km: 501 × 501 px at 10 m, 167 Landsat pixels. A tile is computed in one go, and its
memory grows with its area times its dates (about 6 kB per pixel for 18 months of Sentinel-2,
benchmarks/scaling.py): 5 km tiles keep a long first run near 2 GB, where 15 km tiles needed
about 13 GB. Smaller tiles cost more overhead per pixel (a search and a graph per tile)."""
MAX_AOI_KM2: Final = 250_000.0
"""Largest AOI one run takes, about 10,000 tiles of 5 km: a run processes its tiles one after
another, so a larger area (a whole country) is better run as several AOIs, each its own
scheduled run. The limit also stops a mistaken AOI (swapped coordinates, a polygon around
the globe) before the grid is enumerated."""


@dataclass(frozen=True)
class Tile:
    """One processing unit of the AOI."""

    id: str
    """Stable name from the UTM zone and the tile's lower-left corner in km, e.g. ``35N_0210_0075``.
    The same AOI always gives the same ids, so per-tile state survives between runs."""
    geobox: GeoBox
    """10 m grid of the tile (UTM), cropped to the AOI, edges on multiples of 30 m."""
    geometry: Geometry
    """The part of the AOI inside this tile, in the tile's CRS."""

    @property
    def geobox30(self) -> GeoBox:
        """The same extent at 30 m: the Landsat grid of this tile."""
        return self.geobox.zoom_out(3)

    @property
    def crs(self) -> CRS:
        """The tile's UTM CRS."""
        crs = self.geobox.crs
        assert crs is not None  # a tile is always built with a CRS
        return crs


def aoi_grid(
    aoi: gpd.GeoDataFrame,
    *,
    tile_size_m: int = DEFAULT_TILE_SIZE_M,
    max_area_km2: float = MAX_AOI_KM2,
) -> list[Tile]:
    """Split an AOI (EPSG:4326, as from :func:`fusion.aoi.read_aoi`) into UTM tiles.

    Raises :class:`AOIError` for an AOI larger than ``max_area_km2``.
    """
    if tile_size_m <= 0 or tile_size_m % ALIGN_M:
        raise AOIError(
            f"tile size {tile_size_m} m: must be a positive multiple of {ALIGN_M} m so Landsat "
            "pixels nest in the 10 m grid; pick e.g. 5010"
        )
    # Equal-area (EPSG:6933) before any UTM work: the splitter's cost grows with the area.
    area_km2 = float(aoi.to_crs("EPSG:6933").area.sum()) / 1e6
    if area_km2 > max_area_km2:
        raise AOIError(
            f"AOI {_name(aoi)}: {area_km2:,.0f} km² is larger than one run takes "
            f"({max_area_km2:,.0f} km², about {max_area_km2 * 1e6 / tile_size_m**2:,.0f} tiles); "
            "split it into several AOIs and run each (check its coordinates if it should be small)"
        )
    # Imported here: sentinelhub is slow to import and only this function needs it.
    from sentinelhub import CRS as SHCRS
    from sentinelhub import UtmZoneSplitter

    shape = shapely.union_all(list(aoi.to_crs("EPSG:4326").geometry))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        splitter = UtmZoneSplitter([shape], SHCRS.WGS84, tile_size_m)
    tiles: list[Tile] = []
    for bbox, info in zip(splitter.get_bbox_list(), splitter.get_info_list(), strict=True):
        crs = CRS(f"EPSG:{bbox.crs.epsg}")
        zone, direction = str(info["utm_zone"]), str(info["direction"])
        # The splitter's zone tiles overlap at the equator and zone edges; keep each part of
        # the AOI in exactly one tile: its own zone and hemisphere.
        part = shape.intersection(_zone_strip(int(zone), direction))
        local = Geometry(part, "EPSG:4326").to_crs(crs) & Geometry(
            box(bbox.min_x, bbox.min_y, bbox.max_x, bbox.max_y), crs
        )
        if local.is_empty or local.area == 0:
            continue
        tiles.append(
            Tile(
                id=f"{zone}{direction}_{bbox.min_x / 1000:04.0f}_{bbox.min_y / 1000:05.0f}",
                geobox=_aligned_geobox(local.boundingbox, crs),
                geometry=local,
            )
        )
    if not tiles:
        raise AOIError("the AOI covers no area once projected to UTM; check its coordinates")
    return tiles


def _name(aoi: gpd.GeoDataFrame) -> str:
    """The AOI's file (recorded by :func:`fusion.aoi.read_aoi`) or name, for messages."""
    if "path" in aoi.attrs:
        return f"file {aoi.attrs['path']}"
    if "name" in aoi.columns and len(aoi):
        return str(aoi["name"].iloc[0])
    return "(unnamed)"


def _zone_strip(zone: int, direction: str) -> shapely.Polygon:
    west = -180 + (zone - 1) * 6
    south, north = (0.0, 84.0) if direction == "N" else (-80.0, 0.0)
    return box(west, south, west + 6, north)


def _aligned_geobox(bounds: tuple[float, float, float, float], crs: CRS) -> GeoBox:
    x0, y0, x1, y1 = bounds
    snapped = (
        math.floor(x0 / ALIGN_M) * ALIGN_M,
        math.floor(y0 / ALIGN_M) * ALIGN_M,
        math.ceil(x1 / ALIGN_M) * ALIGN_M,
        math.ceil(y1 / ALIGN_M) * ALIGN_M,
    )
    return GeoBox.from_bbox(snapped, crs, resolution=RESOLUTION_M, tight=True)
