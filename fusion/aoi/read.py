"""Read an AOI file (GeoJSON, GeoPackage, Shapefile…) and validate it.

Every failure is an :class:`~fusion.errors.AOIError` whose message names the file, what is
wrong and how to fix it, so the CLI can print it as one line.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import geopandas as gpd
import shapely
from pyogrio.errors import DataSourceError, FieldError, GeometryError
from pyproj.exceptions import CRSError, ProjError
from shapely.geometry.base import BaseGeometry

from fusion.errors import AOIError, FusionWarning


class AOIRepairedWarning(FusionWarning):
    """The AOI geometry was invalid in a harmless way and was repaired."""


_POLYGONAL = ("Polygon", "MultiPolygon")
# A repair may change the area by at most this share before we refuse to guess the intent.
_MAX_REPAIR_AREA_CHANGE = 1e-6


def read_aoi(path: str | Path) -> gpd.GeoDataFrame:
    """Read, validate and dissolve an AOI into one polygonal feature in EPSG:4326.

    Raises :class:`AOIError` for a missing or unreadable file, no features, non-polygonal
    geometry, an unknown CRS, coordinates out of range, or an invalid polygon that cannot be
    repaired without guessing (self-intersections).
    """
    path = Path(path)
    if not path.exists():
        raise AOIError(
            f"AOI file {path}: not found; check the path (relative paths start at {Path.cwd()})"
        )
    if path.is_file() and path.stat().st_size == 0:
        raise AOIError(f"AOI file {path}: the file is empty; export the AOI polygon again")
    gdf = _read_features(path)
    if gdf.empty or gdf.geometry.isna().all():
        raise AOIError(
            f"AOI file {path}: contains no features; draw or export at least one polygon"
        )
    gdf = gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]
    kinds = sorted(set(gdf.geom_type))
    if not set(kinds) <= set(_POLYGONAL):
        raise AOIError(
            f"AOI file {path}: geometry type {', '.join(kinds)} is not an area; fusion needs a "
            "Polygon or MultiPolygon (buffer points or lines into polygons first)"
        )
    if gdf.crs is None:
        raise AOIError(
            f"AOI file {path}: has no coordinate reference system; save it with a CRS "
            "(GeoJSON is always EPSG:4326; for a Shapefile keep the .prj file)"
        )
    _check_range(gdf, path)
    geometry = _validated_union(gdf, path)
    out = gpd.GeoDataFrame({"name": [path.stem]}, geometry=[geometry], crs=gdf.crs)
    try:
        out = out.to_crs("EPSG:4326")
    except (CRSError, ProjError) as exc:
        raise AOIError(
            f"AOI file {path}: its coordinate reference system {gdf.crs.name!r} cannot be "
            f"transformed to WGS 84 ({' '.join(str(exc).split())[:200]}); re-export the AOI in "
            "EPSG:4326 or another standard CRS"
        ) from exc
    _check_range(out, path)
    _check_antimeridian(out, path)
    out.attrs["path"] = str(path)  # for later messages (aoi_grid's size limit)
    return out


def _read_features(path: Path) -> gpd.GeoDataFrame:
    if path.suffix.lower() in (".geojson", ".json"):
        # pyogrio reports broken JSON vaguely; json tells the line and column.
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AOIError(
                f"AOI file {path}: not valid JSON ({exc}); fix or re-export the file"
            ) from exc
    try:
        return gpd.read_file(path)
    except (DataSourceError, FieldError, GeometryError, ValueError, OSError) as exc:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AOIError(
            f"AOI file {path}: cannot be read as vector data ({cause}); use GeoJSON, "
            "GeoPackage or Shapefile"
        ) from exc


def _check_range(gdf: gpd.GeoDataFrame, path: Path) -> None:
    if not gdf.crs.is_geographic:
        return
    minx, miny, maxx, maxy = gdf.total_bounds
    if minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise AOIError(
            f"AOI file {path}: coordinates out of range (bounds {minx:.6g}, {miny:.6g}, "
            f"{maxx:.6g}, {maxy:.6g}) for geographic {gdf.crs.to_string()}; longitude must lie "
            "in −180…180 and latitude in −90…90 — are x and y swapped, or is the CRS wrong?"
        )


def _check_antimeridian(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse a polygon wider than half the globe: it is one that crosses the antimeridian,
    written the short way round (179.5 → −179.5), which every GIS reads as the long way."""
    for part in shapely.get_parts(gdf.geometry.iloc[0]):
        minx, _, maxx, _ = part.bounds
        if maxx - minx > 180:
            raise AOIError(
                f"AOI file {path}: a polygon spans {maxx - minx:.0f}° of longitude, so it "
                "crosses the antimeridian (180°) and reads as going round the globe; split it "
                "at 180° into a MultiPolygon (RFC 7946 section 3.1.9)"
            )


def _validated_union(gdf: gpd.GeoDataFrame, path: Path) -> BaseGeometry:
    parts = []
    for index, geom in enumerate(gdf.geometry):
        if not geom.is_valid:
            geom = _repair(geom, index, path)
        parts.append(geom)
    union = shapely.union_all(parts)
    if union.is_empty or union.area == 0:
        raise AOIError(f"AOI file {path}: the polygons have no area; draw a real polygon")
    return union


def _repair(geom: BaseGeometry, index: int, path: Path) -> BaseGeometry:
    reason = shapely.is_valid_reason(geom)
    if reason.startswith("Self-intersection"):
        # A bow-tie has no single meaning (which lobe is the area?): refuse to guess.
        raise AOIError(
            f"AOI file {path}: feature {index} is a self-intersecting polygon ({reason}); "
            "redraw it without crossing edges or run QGIS 'Fix geometries' and check the result"
        )
    repaired = shapely.make_valid(geom)
    polygons = [g for g in shapely.get_parts(repaired) if g.geom_type in _POLYGONAL]
    fixed = shapely.union_all(polygons) if polygons else shapely.Polygon()
    reference = geom.area
    if fixed.is_empty or abs(fixed.area - reference) > _MAX_REPAIR_AREA_CHANGE * max(
        reference, 1e-12
    ):
        raise AOIError(
            f"AOI file {path}: feature {index} is invalid ({reason}) and cannot be repaired "
            "without changing its area; fix it in a GIS and export it again"
        )
    warnings.warn(
        f"AOI file {path}: feature {index} was invalid ({reason}) and has been repaired",
        AOIRepairedWarning,
        stacklevel=3,
    )
    return fixed
