"""Pick the Sentinel-2 guide for a Landsat date: per pixel, the nearest valid acquisition.

For the pipeline runner: given the tile's ingested Sentinel-2 series (``time, band, y, x``,
NaN = invalid, bandpass-adjusted) and a Landsat date, build a ``(band, y, x)`` guide that takes
each pixel from the nearest-in-time acquisition where it is valid (within a window), and the
matching per-pixel time gap for :func:`fusion.fuse`'s ``guide_dt_days``. Lazy for dask input:
one task per spatial chunk that reads the candidate acquisitions' chunks directly, no compute.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, cast

import dask.array as da
import numpy as np
import xarray as xr
from dask import is_dask_collection
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph


def nearest_clear_guide(
    s2: xr.DataArray,
    when: np.datetime64,
    *,
    window_days: float = 30.0,
    max_dates: int = 6,
    latest: np.datetime64 | None = None,
) -> tuple[xr.DataArray | None, xr.DataArray | None]:
    """``(guide, dt_days)`` for the Landsat date ``when``, or ``(None, None)`` if no
    acquisition lies within ``window_days``.

    ``guide``: ``(band, y, x)``, NaN where no acquisition in the window was valid. ``dt_days``:
    ``(y, x)`` float32 |time gap| of the acquisition used, NaN where none. At most the
    ``max_dates`` nearest acquisitions are considered, which bounds the graph size.
    ``latest``: acquisitions after it are not considered (causal fusion; None: no limit).
    """
    if s2.sizes.get("time", 0) == 0:
        return None, None
    when_ns = np.asarray(when).astype("datetime64[ns]")
    gaps = np.abs((s2.time.values - when_ns) / np.timedelta64(1, "D")).astype(np.float64)
    usable = gaps <= window_days
    if latest is not None:
        usable &= s2.time.values <= np.asarray(latest).astype("datetime64[ns]")
    order = [int(i) for i in np.argsort(gaps, kind="stable") if usable[i]][:max_dates]
    if not order:
        return None, None
    s2 = s2.transpose("time", "band", "y", "x")
    first = s2.isel(time=order[0], drop=True)
    used = [float(gaps[i]) for i in order]
    plane = first.isel(band=0, drop=True)
    if not is_dask_collection(s2.data):
        scenes = [np.asarray(s2.data[i]) for i in order]
        guide_np, dt_np = _pick(scenes, used)
        return first.copy(data=guide_np), plane.copy(data=dt_np).rename("guide_dt_days")
    data = s2.data.rechunk({1: -1})
    # Guide bands and dt from one pick per chunk, split afterwards.
    stacked = _from_scenes(data, order, partial(_pick_stacked, gaps=used))
    nb = data.shape[1]
    return first.copy(data=stacked[:nb]), plane.copy(data=stacked[nb]).rename("guide_dt_days")


def _pick(scenes: Sequence[np.ndarray], gaps: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(guide, dt)`` of candidate ``(band, y, x)`` scenes, nearest first, and their gaps.

    Per pixel the first scene valid in every band wins, whole (never a mix of bands);
    ``dt`` is its gap as float32, NaN where no scene is valid.
    """
    guide = scenes[0].astype(np.float32, copy=False)
    dt = np.full(guide.shape[1:], np.float32(gaps[0]), dtype=np.float32)
    dt = np.where(~np.isnan(guide).any(0), dt, np.float32(np.nan))
    for cand, gap in zip(scenes[1:], gaps[1:], strict=True):
        take = np.isnan(guide).any(0) & ~np.isnan(cand).any(0)
        guide = np.where(~take, guide, cand).astype(np.float32, copy=False)
        dt = np.where(~take, dt, np.float32(gap))
    return guide, dt


def _pick_stacked(*scenes: np.ndarray, gaps: Sequence[float]) -> np.ndarray:
    """:func:`_pick` as one ``(band + 1, y, x)`` array: the guide's bands, then ``dt``."""
    guide, dt = _pick(scenes, gaps)
    return np.concatenate([guide, dt[None]], axis=0)


def _from_scenes(data: da.Array, times: Sequence[int], func: Callable[..., np.ndarray]) -> da.Array:
    """``func`` of the ``(band, y, x)`` slices at ``times`` of ``data`` (``time, band, y, x``,
    one band chunk), a ``(band + 1, y, x)`` array; one task per spatial chunk that takes the
    scenes' chunks as they are.

    Selecting each date with ``isel`` and combining them with xarray's ``where`` costs a
    handful of graph tasks per date and Landsat scene; this costs one per spatial chunk.
    """
    starts = np.cumsum((0, *data.chunks[0]))
    name = f"nearest-guide-{tokenize(data, list(times), func)}"
    layer: dict[Any, Any] = {}
    _, _, ny, nx = data.numblocks
    for j in range(ny):
        for k in range(nx):
            args = []
            for t in times:
                block = int(np.searchsorted(starts, t, side="right")) - 1
                args.append((_take, (data.name, block, 0, j, k), int(t - starts[block])))
            layer[(name, 0, j, k)] = (func, *args)
    chunks = ((data.shape[1] + 1,), *data.chunks[2:])
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[cast(Any, data)])
    meta = np.empty((0,) * len(chunks), dtype=np.float32)
    return da.Array(graph, name, chunks=chunks, dtype=np.float32, meta=meta)


def _take(block: np.ndarray, offset: int) -> np.ndarray:
    return block[offset]
