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
from dataclasses import dataclass
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
PINNED_DIMS = ("pin", "pin_field", "pin_time")


@dataclass(frozen=True)
class Pinned:
    """The series at pixels charted by earlier runs (:mod:`fusion.pipeline.sample_history`),
    computed: an alert holding one keeps that pixel, so its chart continues across runs."""

    x: np.ndarray
    y: np.ndarray
    """Pixel centres (tile CRS), in the order earlier runs charted them."""
    series: np.ndarray
    """``(pin, field, time)``: the index, its sigma and the monitor's score, like a candidate's."""


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


def pinned_series(
    index: xr.DataArray,
    sigma: xr.DataArray,
    *,
    x: np.ndarray,
    y: np.ndarray,
    score: xr.DataArray | None = None,
) -> xr.DataArray:
    """The index, sigma and score series at the pixel centres ``x``, ``y``; lazy, dims
    :data:`PINNED_DIMS` (time last). Reads only the chunks holding the pixels."""
    cols = xr.DataArray(_positions(index["x"].values, x), dims="pin")
    rows = xr.DataArray(_positions(index["y"].values, y), dims="pin")
    fields = [index, sigma] + ([] if score is None else [score])
    picked = [a.transpose("time", "y", "x").isel(y=rows, x=cols).astype(np.float32) for a in fields]
    if score is None:
        picked.append(xr.full_like(picked[0], np.nan))
    stacked = xr.concat(picked, dim="pin_field").drop_vars(
        [c for c in picked[0].coords], errors="ignore"
    )
    return stacked.rename(time="pin_time").transpose(*PINNED_DIMS)


def _positions(centres: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Index of each ``wanted`` pixel centre among ``centres`` (the grid's; exact values)."""
    return np.array([np.flatnonzero(centres == v)[0] for v in np.asarray(wanted)], np.int64)


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
    pinned: Pinned | None = None,
) -> pd.DataFrame:
    """The series at the ``top_n`` largest ``polygons`` (rank 1 = largest), from the computed
    :func:`alert_candidates`; columns :data:`SAMPLE_COLUMNS`.

    A polygon holding a ``pinned`` pixel takes the first such (the pixel its chart showed in
    earlier runs); else the candidate of its largest patch; a polygon holding neither (it was
    never among the largest patches of a block) is left out with a log line.
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
    if pinned is None:
        pinned = Pinned(np.empty(0), np.empty(0), np.empty((0, _FIELDS, ntime)))
    pin_points = gpd.GeoSeries(gpd.points_from_xy(pinned.x, pinned.y), crs=polygons.crs)
    pin_rows, pin_cols = (
        _positions(alerts["y"].values, pinned.y),
        _positions(alerts["x"].values, pinned.x),
    )
    for rank, (_, polygon) in enumerate(top.iterrows(), start=1):
        held = np.flatnonzero(pin_points.within(polygon.geometry).to_numpy())
        if held.size:
            k = held[0]
            frame = _frame(
                tile,
                rank,
                times,
                sensors,
                tuple(pinned.series[k]),
                pinned.x[k],
                pinned.y[k],
                polygon,
            )
            frames.append(frame.assign(**_pixel_dates(dates, pin_rows[k], pin_cols[k])))
            continue
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
        series = (
            records[best, _SERIES : _SERIES + ntime],
            records[best, _SERIES + ntime : _SERIES + 2 * ntime],
            records[best, _SERIES + 2 * ntime :],
        )
        frames.append(
            _frame(tile, rank, times, sensors, series, xs[best], ys[best], polygon).assign(
                **_pixel_dates(dates, rows[best], cols[best])
            )
        )
    if not frames:
        return pd.DataFrame({c: [] for c in SAMPLE_COLUMNS})
    frame = pd.concat(frames, ignore_index=True)
    # Only acquisitions that observed the pixel: the rest are clouds or gaps.
    return frame[frame["value"].notna()].reset_index(drop=True)[SAMPLE_COLUMNS]


def _frame(
    tile: str,
    rank: int,
    times: np.ndarray,
    sensors: np.ndarray,
    series: tuple[np.ndarray, ...],
    x: float,
    y: float,
    polygon: pd.Series,
) -> pd.DataFrame:
    """One alert's rows: every time of the series (index, sigma, score) at pixel ``x``, ``y``."""
    value, spread, score = series
    return pd.DataFrame(
        {
            "tile": tile,
            "alert_rank": rank,
            "time": pd.to_datetime(times),
            "sensor": sensors,
            "value": value,
            "sigma": spread,
            "score": score,
            "x": float(x),
            "y": float(y),
            "area_ha": float(polygon["area_ha"]),
            "confidence": int(polygon["confidence"]),
        }
    )


def _pixel_dates(dates: dict[str, np.ndarray], row: int, col: int) -> dict[str, pd.Timestamp]:
    """The sampled pixel's own first-anomaly and confirmation dates (NaT where none)."""
    return {
        n: pd.Timestamp(dates[n][row, col]) if n in dates else pd.NaT
        for n in ("alert_date", "confirmed_date")
    }
