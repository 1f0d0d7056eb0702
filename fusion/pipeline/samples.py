"""The dense index series at the largest alerts of a tile, for the run report's charts.

The per-date index values are not an output (a tile's series is far larger than its
rasters), and the alert polygons are only known once the tile is computed. A second compute
of the series at chosen pixels would read every scene of their chunks again (on a demo
tile, one chunk: as long as the whole tile), so the tile's one compute carries candidates
instead: :func:`alert_candidates` keeps, per spatial block, the series at one pixel of each of
the block's largest alert patches (a few kilobytes), and :func:`alert_samples` matches them to
the largest polygons afterwards.
"""

from __future__ import annotations

import logging
from typing import Any

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from scipy import ndimage

from fusion.bands import Sensor
from fusion.pipeline.series import Series

log = logging.getLogger("fusion.pipeline")

SAMPLE_COLUMNS = [
    "tile",
    "alert_rank",
    "time",
    "sensor",
    "value",
    "sigma",
    "score",
    "x",
    "y",
    "area_ha",
    "confidence",
    "alert_date",
    "confirmed_date",
]
"""Columns of :func:`alert_samples`' frame: one row per alert and valid acquisition.
``score`` is the monitor's score of the observation (:func:`fusion.change.monitor.scores`;
NaN before monitor start, where the self-reference has no value on that date, or where the
pixel is not monitored); ``x``/``y`` (tile CRS) locate the sampled pixel; ``area_ha`` and ``confidence`` describe the
alert polygon; ``alert_date`` and ``confirmed_date`` are the sampled pixel's own (NaT where
the pixel has none)."""

_SIZE, _ROW, _COL, _SERIES = 0, 1, 2, 3
"""Layout of a candidate's record: patch size (pixels in the block), row, column, then the
index series, the sigma series and the score series."""
_FIELDS = 3
"""Series per candidate: the index, its sigma and the monitor's score."""

CANDIDATE_DIMS = ("sample_k", "sample_by", "sample_bx", "sample_field")


def observation_sensors(
    times: np.ndarray, loaded: dict[Sensor, xr.Dataset], *, series: Series
) -> np.ndarray:
    """The sensor of each time of :func:`fusion.pipeline.series.dense_index`'s output.

    ``dense_index`` drops the per-sensor coordinates when it concatenates the sensors, and
    keeps the Landsat observation where a Landsat and a Sentinel-2 scene share an instant;
    the same order decides here.
    """
    labels = np.full(len(times), "", dtype=object)
    order: list[Sensor] = ["landsat", "sentinel2"] if series == "fused" else [series]
    for sensor in reversed(order):  # the first sensor wins a shared instant
        if sensor in loaded:
            labels[np.isin(times, loaded[sensor]["time"].values)] = sensor
    return labels


def alert_candidates(
    alerts: xr.Dataset,
    index: xr.DataArray,
    sigma: xr.DataArray,
    *,
    score: xr.DataArray | None = None,
    mask: xr.DataArray | None = None,
    per_block: int = 4,
) -> xr.DataArray:
    """Per spatial block of ``index``, the series at the ``per_block`` largest alert patches; lazy.

    ``alerts`` holds ``confidence`` on the index grid; a patch is a connected (8-neighbour)
    group of equal confidence, as in the polygons; only pixels inside ``mask`` (the AOI, as
    the polygons) count. ``score`` (like ``index``; None: all NaN) is the monitor's score of
    each observation. Dims :data:`CANDIDATE_DIMS`; records without a patch are NaN.
    """
    values = da.asarray(index.transpose("time", "y", "x").data).rechunk({0: -1})
    spread = da.asarray(sigma.transpose("time", "y", "x").data).rechunk(values.chunks)
    if score is None:
        zs = da.full(values.shape, np.nan, dtype=np.float32, chunks=values.chunks)
    else:
        zs = da.asarray(score.transpose("time", "y", "x").data).rechunk(values.chunks)
    confidence = alerts["confidence"] if mask is None else alerts["confidence"].where(mask, 0)
    conf = da.asarray(confidence.transpose("y", "x").data).rechunk(values.chunks[1:])
    ntime = values.shape[0]
    chunks = (
        (per_block,),
        (1,) * len(values.chunks[1]),
        (1,) * len(values.chunks[2]),
        (_SERIES + _FIELDS * ntime,),
    )
    packed = da.map_blocks(
        _block_candidates,
        conf[None],
        values,
        spread,
        zs,
        per_block=per_block,
        new_axis=[3],
        chunks=chunks,
        dtype=np.float32,
    )
    return xr.DataArray(packed, dims=CANDIDATE_DIMS)


def _block_candidates(
    conf: np.ndarray,
    values: np.ndarray,
    spread: np.ndarray,
    score: np.ndarray,
    *,
    per_block: int,
    block_info: dict[Any, Any] | None = None,
) -> np.ndarray:
    assert block_info is not None
    (y0, _), (x0, _) = block_info[1]["array-location"][1:]
    out = np.full((per_block, 1, 1, _SERIES + _FIELDS * values.shape[0]), np.nan, np.float32)
    patches: list[tuple[int, int, int]] = []  # (size, row, col) of one pixel per patch
    for level in (1, 2):
        labels, n = ndimage.label(conf[0] == level, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        sizes = np.bincount(labels.ravel())[1:]
        for lab in np.argsort(-sizes, kind="stable")[:per_block]:
            rows, cols = np.nonzero(labels == lab + 1)
            # The patch pixel nearest its centroid: inside the patch even when it is concave.
            near = np.argmin((rows - rows.mean()) ** 2 + (cols - cols.mean()) ** 2)
            patches.append((int(sizes[lab]), int(rows[near]), int(cols[near])))
    patches.sort(key=lambda p: -p[0])
    for k, (size, row, col) in enumerate(patches[:per_block]):
        out[k, 0, 0, :_SERIES] = (size, y0 + row, x0 + col)
        out[k, 0, 0, _SERIES:] = np.concatenate(
            [values[:, row, col], spread[:, row, col], score[:, row, col]]
        )
    return out


def alert_samples(
    candidates: np.ndarray,
    polygons: gpd.GeoDataFrame,
    alerts: xr.Dataset,
    *,
    times: np.ndarray,
    sensors: np.ndarray,
    tile: str,
    top_n: int = 3,
) -> pd.DataFrame:
    """The series at the ``top_n`` largest ``polygons`` (rank 1 = largest), from the computed
    :func:`alert_candidates`; columns :data:`SAMPLE_COLUMNS`.

    Each polygon takes the candidate of its largest patch; a polygon holding no candidate (it
    was never among the largest patches of a block) is left out with a log line.
    """
    ntime = len(times)
    records = np.moveaxis(np.asarray(candidates), 0, 2).reshape(-1, _SERIES + _FIELDS * ntime)
    records = records[records[:, _SIZE] > 0]  # NaN records compare False
    rows, cols = records[:, _ROW].astype(int), records[:, _COL].astype(int)
    xs, ys = alerts["x"].values[cols], alerts["y"].values[rows]
    points = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=polygons.crs)
    top = polygons.sort_values("area_ha", ascending=False, kind="stable").head(top_n)
    dates = {n: alerts[n].values for n in ("alert_date", "confirmed_date") if n in alerts}
    frames = []
    for rank, (_, polygon) in enumerate(top.iterrows(), start=1):
        inside = np.flatnonzero(points.within(polygon.geometry).to_numpy())
        if inside.size == 0:
            log.info(
                "tile %s: no sampled series inside alert %d (%.2f ha)",
                tile,
                rank,
                polygon["area_ha"],
            )
            continue
        best = inside[np.argmax(records[inside, _SIZE])]
        row, col = rows[best], cols[best]
        pixel_dates = {
            n: pd.Timestamp(dates[n][row, col]) if n in dates else pd.NaT
            for n in ("alert_date", "confirmed_date")
        }
        frames.append(
            pd.DataFrame(
                {
                    "tile": tile,
                    "alert_rank": rank,
                    "time": pd.to_datetime(times),
                    "sensor": sensors,
                    "value": records[best, _SERIES : _SERIES + ntime],
                    "sigma": records[best, _SERIES + ntime : _SERIES + 2 * ntime],
                    "score": records[best, _SERIES + 2 * ntime :],
                    "x": float(xs[best]),
                    "y": float(ys[best]),
                    "area_ha": float(polygon["area_ha"]),
                    "confidence": int(polygon["confidence"]),
                    **pixel_dates,
                }
            )
        )
    if not frames:
        return pd.DataFrame({c: [] for c in SAMPLE_COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    # Only acquisitions that observed the pixel: the rest are clouds or gaps.
    return frame[frame["value"].notna()].reset_index(drop=True)[SAMPLE_COLUMNS]
