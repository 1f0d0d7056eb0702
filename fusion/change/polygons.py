"""Alert patches: edge trimming, minimum mapping unit, polygons.

Edge trimming (:func:`trim_edges`) clears the pixels of an alert patch whose drop is below a
share (default a half) of the patch's typical drop: the half-maximum boundary of the
disturbance. The sensors' point-spread functions, Sentinel-2's 20 m SWIR and B8A (NBR needs
both), sub-pixel misregistration and the fused Landsat's 30 m support all spread a clearing's
drop into the pixels just outside it; those see a fraction of it, and once confirmed (their
neighbours' looks confirm them) they are false alarms along every edge. Its patches are the
whole connected patches of the layer it is given (a pipeline tile): large patches are not
local, so it is not chunk-by-chunk (a dask input is computed as one chunk).

The MMU removes connected patches of alert pixels (provisional or confirmed together) smaller
than ``min_area_ha`` (default 0.05 ha = 5 pixels at 10 m): isolated pixels are mostly noise,
misregistration or cloud-edge residue. It is exact over dask chunks: a patch of fewer than
``n`` pixels fits within ``n − 1`` pixels of any of its pixels, so chunks overlapping by
``n − 1`` see every small patch whole, and at least ``n`` pixels of every large one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import Literal

import dask.array as da
import geopandas as gpd
import numpy as np
import odc.geo.xr  # noqa: F401  (registers the .odc accessor on xarray objects)
import pandas as pd
import xarray as xr
from dask import is_dask_collection
from odc.geo import CRS
from odc.geo.geobox import GeoBox
from rasterio.features import shapes
from scipy import ndimage, sparse
from scipy.sparse import csgraph
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from fusion.errors import MonitorInputError

Connectivity = Literal[4, 8]
COLUMNS = [
    "area_ha",
    "first_date",
    "confirmed_date",
    "confidence",
    "magnitude",
    "sensors",
    "run_id",
]

_DTYPES = {
    "area_ha": "float64",
    "first_date": "datetime64[ns]",
    "confirmed_date": "datetime64[ns]",
    "confidence": "uint8",
    "magnitude": "float32",
    "sensors": "object",
    "run_id": "object",
}
"""Column types, also of an empty table: concatenating an untyped empty table with others
turns the dates into objects, which GeoPackage writers reject."""
assert list(_DTYPES) == COLUMNS


def _geobox(alerts: xr.Dataset) -> tuple[GeoBox, CRS]:
    gbox = alerts.odc.geobox
    if not isinstance(gbox, GeoBox) or gbox.crs is None:
        raise MonitorInputError(
            "alert layers have no georeferenced grid (odc-geo geobox with a CRS): keep the "
            "index's y/x and spatial_ref coordinates when calling fusion.detect"
        )
    return gbox, gbox.crs


def pixel_area_ha(alerts: xr.Dataset) -> float:
    """Area of one pixel of the alert grid in hectares."""
    res = _geobox(alerts)[0].resolution
    return abs(res.x * res.y) / 10_000


def _structure(connectivity: Connectivity) -> np.ndarray:
    return ndimage.generate_binary_structure(2, 2 if connectivity == 8 else 1)


def _keep_large(mask: np.ndarray, *, n_px: int, connectivity: Connectivity) -> np.ndarray:
    labels, _ = ndimage.label(mask, structure=_structure(connectivity))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return sizes[labels] >= n_px


def apply_mmu(
    alerts: xr.Dataset, *, min_area_ha: float = 0.05, connectivity: Connectivity = 8
) -> xr.Dataset:
    """Clear alert patches smaller than ``min_area_ha`` from the output of :func:`fusion.detect`.

    Cleared pixels get confidence 0, NaT dates and NaN magnitude; ``valid_count`` is kept.
    Lazy: dask in, dask out.
    """
    n_px = max(1, math.ceil(min_area_ha / pixel_area_ha(alerts) - 1e-9))
    conf = alerts["confidence"].transpose("y", "x")
    mask = conf.data > 0
    keep_fn = partial(_keep_large, n_px=n_px, connectivity=connectivity)
    if is_dask_collection(mask):
        keep = da.map_overlap(keep_fn, mask, depth=n_px - 1, boundary="none", dtype=bool)
    else:
        keep = keep_fn(mask)
    return _clear(alerts, keep, mmu_ha=min_area_ha, mmu_connectivity=connectivity)


def _clear(alerts: xr.Dataset, keep: np.ndarray | da.Array, **attrs: float) -> xr.Dataset:
    """``alerts`` with the pixels outside ``keep`` (``y, x``) cleared: confidence 0, NaT dates,
    NaN magnitude (``valid_count`` kept); ``attrs`` added to its attributes."""
    conf = alerts["confidence"].transpose("y", "x")
    keep_da = xr.DataArray(keep, dims=("y", "x"), coords={"y": conf["y"], "x": conf["x"]})
    out = alerts.copy()
    out["confidence"] = conf.where(keep_da, 0).astype(np.uint8)
    for name in ("alert_date", "confirmed_date", "magnitude"):
        if name in out:
            out[name] = out[name].where(keep_da)
    out.attrs = {**alerts.attrs, **attrs}
    return out


def _trim(
    conf: np.ndarray, magnitude: np.ndarray, *, share: float, connectivity: Connectivity
) -> np.ndarray:
    """Keep mask: alert pixels whose magnitude is at least ``share`` × their patch's 75th
    percentile magnitude (the patch's typical full drop, robust to its own edge pixels)."""
    alert = conf > 0
    labels, n = ndimage.label(alert, structure=_structure(connectivity))
    if n == 0:
        return np.ones(conf.shape, bool)
    mag = np.where(alert & np.isfinite(magnitude), magnitude, 0.0)
    typical = ndimage.labeled_comprehension(
        mag, labels, np.arange(1, n + 1), lambda v: np.percentile(v, 75), np.float64, 0.0
    )
    reference = np.concatenate([[0.0], typical])[labels]
    return ~alert | (mag >= share * reference)


def trim_edges(
    alerts: xr.Dataset, *, share: float = 0.5, connectivity: Connectivity = 8
) -> xr.Dataset:
    """Clear alert pixels whose ``magnitude`` is below ``share`` of their patch's typical drop.

    Patches are connected alert pixels (provisional or confirmed together); the typical drop
    is the patch's 75th-percentile magnitude. Cleared pixels get confidence 0, NaT dates and
    NaN magnitude, as in :func:`apply_mmu` (apply that after this: trimming can leave small
    fragments). ``share`` 0 returns ``alerts`` unchanged. Lazy: dask in, dask out (one chunk
    over y and x, since a patch may span the whole layer).
    """
    if not 0 <= share < 1:
        raise MonitorInputError(
            f"edge trimming share={share}: must be in [0, 1) (a share of the patch's typical "
            "drop; 0 turns trimming off)"
        )
    if share == 0:
        return alerts
    conf = alerts["confidence"].transpose("y", "x")
    mag = alerts["magnitude"].transpose("y", "x")
    trim = partial(_trim, share=share, connectivity=connectivity)
    if is_dask_collection(conf.data) or is_dask_collection(mag.data):
        c, m = da.asarray(conf.data).rechunk(-1), da.asarray(mag.data).rechunk(-1)
        keep = da.map_blocks(trim, c, m, dtype=bool).rechunk(conf.chunks or c.chunks)
    else:
        keep = trim(np.asarray(conf.data), np.asarray(mag.data))
    return _clear(alerts, keep, edge_share=share)


def _labels(conf: np.ndarray, connectivity: Connectivity) -> tuple[np.ndarray, list[int]]:
    """One label per connected patch of equal confidence; the confidence of each label."""
    labels = np.zeros(conf.shape, np.int32)
    classes: list[int] = []
    for level in (1, 2):
        lab, n = ndimage.label(conf == level, structure=_structure(connectivity))
        labels[lab > 0] = lab[lab > 0] + len(classes)
        classes += [level] * n
    return labels, classes


def alert_polygons(
    alerts: xr.Dataset,
    *,
    sensors: Sequence[str],
    run_id: str,
    connectivity: Connectivity = 8,
) -> gpd.GeoDataFrame:
    """Polygons of connected alert pixels of equal confidence, with their attributes.

    An output edge (it computes its input). Columns: ``area_ha``, ``first_date`` (earliest
    alert date), ``confirmed_date`` (earliest confirmation, NaT for provisional), ``confidence``
    (1, 2), ``magnitude`` (mean over the pixels), ``sensors`` (the ``sensors`` that saw the
    run, comma-joined: GeoPackage has no list type), ``run_id``; CRS of the grid.
    """
    gbox, gcrs = _geobox(alerts)
    crs = gcrs.epsg or gcrs.to_wkt()

    def layer(name: str) -> np.ndarray:
        return np.asarray(alerts[name].transpose("y", "x").values)

    conf = layer("confidence")
    labels, classes = _labels(conf, connectivity)
    if not classes:
        return gpd.GeoDataFrame(
            {name: pd.Series([], dtype=dtype) for name, dtype in _DTYPES.items()},
            geometry=[],
            crs=crs,
        )
    inside = labels > 0
    nat = np.full(conf.shape, np.datetime64("NaT"), "datetime64[ns]")
    pixels = pd.DataFrame(
        {
            "label": labels[inside],
            "first_date": layer("alert_date")[inside],
            "confirmed_date": (layer("confirmed_date") if "confirmed_date" in alerts else nat)[
                inside
            ],
            "magnitude": layer("magnitude")[inside],
        }
    )
    table = pixels.groupby("label").agg(
        n=("label", "size"),
        first_date=("first_date", "min"),
        confirmed_date=("confirmed_date", "min"),
        magnitude=("magnitude", "mean"),
    )
    geoms: dict[int, list[BaseGeometry]] = {}
    for geom, value in shapes(
        labels, mask=inside, transform=gbox.transform, connectivity=connectivity
    ):
        geoms.setdefault(int(value), []).append(shape(geom))
    return gpd.GeoDataFrame(
        {
            "area_ha": table["n"].to_numpy() * pixel_area_ha(alerts),
            "first_date": table["first_date"].to_numpy(),
            "confirmed_date": table["confirmed_date"].to_numpy(),
            "confidence": np.asarray([classes[i - 1] for i in table.index], np.uint8),
            "magnitude": table["magnitude"].to_numpy(np.float32),
            "sensors": ",".join(sensors),
            "run_id": run_id,
        },
        geometry=[unary_union(geoms[int(i)]) for i in table.index],
        crs=crs,
    )


def merge_tile_polygons(frames: Sequence[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    """One table in EPSG:4326 from the per-tile tables of a run, patches cut by tile edges
    made whole again.

    Tiles of one UTM zone share the zone's 10 m grid, so a patch cut by a tile edge leaves
    polygons whose edges coincide exactly on both sides. Polygons of equal confidence in one
    zone that touch (an edge or a corner, as the 8-connected patches within a tile) become one:
    areas summed, the earliest first and confirmed dates, magnitude weighted by area. Across a
    zone boundary the grids differ and polygons are kept as they are.
    """
    typed = [f for f in frames if len(f)] or list(frames[:1])  # empty tables carry no types
    if not typed:
        raise ValueError("merge_tile_polygons needs at least one table")
    zones: dict[str, list[gpd.GeoDataFrame]] = {}
    for frame in typed:
        zones.setdefault(frame.crs.to_wkt(), []).append(frame)
    merged = [
        _dissolve_touching(
            gpd.GeoDataFrame(pd.concat(group, ignore_index=True), crs=group[0].crs)
        ).to_crs("EPSG:4326")
        for group in zones.values()
    ]
    return gpd.GeoDataFrame(pd.concat(merged, ignore_index=True), crs="EPSG:4326")


def _dissolve_touching(table: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Union touching polygons of equal confidence (one zone, one grid)."""
    if len(table) < 2:
        return table
    left, right = table.sindex.query(table.geometry, predicate="intersects")
    conf = table["confidence"].to_numpy()
    keep = (left < right) & (conf[left] == conf[right])
    n = len(table)
    graph = sparse.coo_matrix((np.ones(int(keep.sum())), (left[keep], right[keep])), shape=(n, n))
    _, group = csgraph.connected_components(graph, directed=False)
    if group.max() + 1 == n:
        return table
    area = table["area_ha"].to_numpy()
    weighted = table.assign(_group=group, _mag=table["magnitude"].to_numpy(np.float64) * area)
    out = weighted.dissolve(
        by="_group",
        aggfunc={
            "area_ha": "sum",
            "first_date": "min",
            "confirmed_date": "min",
            "confidence": "first",
            "_mag": "sum",
            "sensors": "first",
            "run_id": "first",
        },
    )
    out["magnitude"] = (out.pop("_mag") / out["area_ha"]).astype(np.float32)
    return gpd.GeoDataFrame(out[[*COLUMNS, "geometry"]].reset_index(drop=True), crs=table.crs)
