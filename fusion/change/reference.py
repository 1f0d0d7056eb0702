"""Self-referenced index (rNBR) and the forest baseline.

Zhang et al. 2021 (RSE 261:112470) subtract, per date, the median NBR of stable forest within
about 1 km: haze, illumination and phenology shared by the neighbourhood cancel, a clearing
does not. Here the neighbourhood median is computed exactly on a coarse grid and interpolated:

1. the tile is cut into square cells of ``window / cells_per_window`` pixels (200 m at 10 m);
   each cell gives the median and count of its valid forest pixels on each date. A pixel
   more than ``reference_outlier`` from its own history median is left out on that date, so
   a clearing does not lower the reference of its own neighbourhood, however large it is
   (as long as some standing forest stays in the window);
2. at each cell centre, the reference is the count-weighted median of the cell medians in the
   ``cells_per_window²`` cells around it (the ~1 km window): a median of medians, robust like
   the pixel median and cheap (the windowed per-pixel median of 10⁴ values per pixel is not);
   it is NaN where fewer than ``reference_min_fraction`` of the window's pixels (inside the
   tile) are valid forest (a mostly cloudy window gives no reference, and its pixels no
   observation on that date);
3. the coarse reference is interpolated bilinearly to pixel centres, ignoring NaN cells.

Cells are aligned to the array origin, so results do not depend on dask chunking; every step
works date by date, so the time chunking passes through.
"""

from __future__ import annotations

from functools import partial

import dask.array as da
import numpy as np
import odc.geo.xr  # noqa: F401  (registers the .odc accessor on xarray objects)
import xarray as xr
from dask import is_dask_collection

from fusion.change._robust import nanmedian, weighted_nanmedian
from fusion.change.params import MonitorParams
from fusion.errors import MonitorInputError

_DIMS = ("time", "y", "x")


def grid_resolution(index: xr.DataArray) -> float:
    """Pixel size of ``index`` in metres, from its odc-geo geobox (or regular y/x coordinates)."""
    gbox = index.odc.geobox if index.sizes.get("x", 0) > 1 or index.sizes.get("y", 0) > 1 else None
    if gbox is None:
        raise MonitorInputError(
            f"index {index.name!r} has no regular y/x grid to size the ~1 km reference window: "
            "attach an odc-geo geobox (odc.geo.xr.assign_crs) or pass self_reference=False"
        )
    if gbox.crs is not None and gbox.crs.geographic:
        raise MonitorInputError(
            f"index {index.name!r} is in geographic CRS {gbox.crs}: reproject it to a metric "
            "(UTM) grid or pass self_reference=False"
        )
    return float(abs(gbox.resolution.x))


def history_median(
    index: xr.DataArray, *, monitor_start: np.datetime64
) -> tuple[xr.DataArray, xr.DataArray]:
    """Per-pixel median and count of the valid acquisitions before ``monitor_start``; lazy."""
    hist = index.isel(time=np.flatnonzero(index["time"].values < monitor_start))
    hist = hist.chunk(time=-1) if is_dask_collection(hist) else hist
    med = xr.apply_ufunc(
        nanmedian,
        hist,
        input_core_dims=[["time"]],
        dask="parallelized",
        output_dtypes=[np.float32],
    )
    return med.rename("history_median"), hist.count("time").rename("history_count")


def forest_baseline(
    median: xr.DataArray, count: xr.DataArray, *, params: MonitorParams
) -> xr.DataArray:
    """Forest at the start of monitoring: history median ≥ ``forest_threshold`` with at least
    ``min_history`` valid history observations (see :func:`history_median`). Bool ``(y, x)``."""
    return ((median >= params.forest_threshold) & (count >= params.min_history)).rename("forest")


def cell_size(resolution_m: float, params: MonitorParams) -> int:
    """Cell side in pixels: ``window_m / cells_per_window`` rounded, at least one pixel."""
    return max(1, round(params.window_m / resolution_m / params.cells_per_window))


def self_reference(
    index: xr.DataArray,
    forest: xr.DataArray,
    *,
    params: MonitorParams,
    baseline: xr.DataArray | None = None,
) -> xr.DataArray:
    """``index`` minus its per-date neighbourhood median over stable ``forest`` (rNBR).

    Args:
        index: dims ``(time, y, x)``, float, NaN = invalid; numpy or dask.
        forest: ``(y, x)`` bool, the pixels whose values make the reference.
        params: window size, cells per window, minimum valid fraction, outlier bound.
        baseline: ``(y, x)`` history median of ``index`` (:func:`history_median`); with
            ``params.reference_outlier``, a pixel joins a date's reference only within that
            bound of it. None uses every valid forest pixel.

    Returns:
        float32 DataArray like ``index``; NaN where ``index`` is NaN or the window has no
        reference on that date.
    """
    cell = cell_size(grid_resolution(index), params)
    k = params.cells_per_window
    index = index.transpose(*_DIMS)
    usable = index.where(forest.transpose("y", "x").data)
    if baseline is not None and params.reference_outlier is not None:
        base = baseline.transpose("y", "x").data
        usable = usable.where(abs(index - base) <= params.reference_outlier)
    masked = usable.data.astype(np.float32)
    ref = _reference(masked, cell=cell, k=k, min_fraction=params.reference_min_fraction)
    out = (index.astype(np.float32) - index.copy(data=ref)).astype(np.float32)
    return out.rename(f"r{index.name}" if index.name else None)


def _min_counts(ny: int, nx: int, *, cell: int, k: int, min_fraction: float) -> np.ndarray:
    """Minimum valid count of each cell's window: a fraction of its pixels inside the grid
    (windows at tile edges, and tiles smaller than a window, hold fewer pixels)."""
    rows = np.minimum(cell, ny - cell * np.arange(-(-ny // cell)))
    cols = np.minimum(cell, nx - cell * np.arange(-(-nx // cell)))
    h = k // 2
    inside = np.pad((rows[:, None] * cols[None, :]).astype(np.float64), h)
    window = np.lib.stride_tricks.sliding_window_view(inside, (k, k)).sum(axis=(-2, -1))
    return np.ceil(min_fraction * window)


def _reference(
    values: np.ndarray | da.Array, *, cell: int, k: int, min_fraction: float
) -> np.ndarray:
    """Full-resolution reference (time, y, x) from forest-masked values; numpy or dask."""
    _, ny, nx = values.shape
    min_count = _min_counts(ny, nx, cell=cell, k=k, min_fraction=min_fraction)
    pad = ((0, 0), (0, -ny % cell), (0, -nx % cell))
    yi, xi = np.arange(ny), np.arange(nx)
    if not is_dask_collection(values):
        padded = np.pad(values, pad, constant_values=np.nan)
        med, cnt = _cell_stats(padded, cell)
        coarse = _window_median(med, cnt, k=k, min_count=min_count)
        return _upsample(coarse, yi, xi, cell=cell)
    assert isinstance(values, da.Array)
    darr = da.pad(values, pad, constant_values=np.nan)
    # Chunks must hold whole cells: round each spatial chunk down to a multiple of the cell.
    target = tuple(max(cell, (c[0] // cell) * cell) for c in darr.chunks[1:])
    darr = darr.rechunk({1: target[0], 2: target[1]})
    coarse_chunks = (darr.chunks[0], *(tuple(c // cell for c in ch) for ch in darr.chunks[1:]))
    med = darr.map_blocks(
        partial(_cell_part, cell=cell, part=0), chunks=coarse_chunks, dtype=np.float32
    )
    cnt = darr.map_blocks(
        partial(_cell_part, cell=cell, part=1), chunks=coarse_chunks, dtype=np.float32
    )
    # The coarse grid of a tile is small (time × ~50 × ~50): one spatial chunk.
    med, cnt = med.rechunk({1: -1, 2: -1}), cnt.rechunk({1: -1, 2: -1})
    coarse = da.map_blocks(_window_median, med, cnt, k=k, min_count=min_count, dtype=np.float32)
    ychunks = values.chunks[1]
    xchunks = values.chunks[2]
    return da.blockwise(
        _upsample,
        "tyx",
        coarse,
        "tab",
        da.from_array(yi, chunks=(ychunks,)),
        "y",
        da.from_array(xi, chunks=(xchunks,)),
        "x",
        cell=cell,
        concatenate=True,
        dtype=np.float32,
    )


def _cell_stats(block: np.ndarray, cell: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell median and valid count of a (time, y, x) block whose y/x are whole cells."""
    t, ny, nx = block.shape
    cells = block.reshape(t, ny // cell, cell, nx // cell, cell).transpose(0, 1, 3, 2, 4)
    cells = cells.reshape(t, ny // cell, nx // cell, cell * cell)
    med = np.stack([nanmedian(c) for c in cells]) if t else np.zeros(cells.shape[:3], np.float32)
    return med.astype(np.float32), np.isfinite(cells).sum(-1).astype(np.float32)


def _cell_part(block: np.ndarray, *, cell: int, part: int) -> np.ndarray:
    return _cell_stats(block, cell)[part]


def _window_median(
    med: np.ndarray, cnt: np.ndarray, *, k: int, min_count: np.ndarray
) -> np.ndarray:
    """Count-weighted median of cell medians over the k×k cells around each cell, per date."""
    h = k // 2
    pad = ((h, h), (h, h))
    out = np.empty(med.shape, np.float32)
    for i in range(med.shape[0]):  # one date at a time bounds memory to one date's windows
        m = np.lib.stride_tricks.sliding_window_view(
            np.pad(med[i], pad, constant_values=np.nan), (k, k)
        )
        c = np.lib.stride_tricks.sliding_window_view(np.pad(cnt[i], pad), (k, k))
        shape = (*m.shape[:2], k * k)
        ref, total = weighted_nanmedian(m.reshape(shape), c.reshape(shape))
        out[i] = np.where(total >= min_count, ref, np.nan)
    return out


def _axis_weights(idx: np.ndarray, cell: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear neighbours and weight of pixel centres ``idx`` between cell centres."""
    u = (idx + 0.5) / cell - 0.5
    j0 = np.floor(u).astype(np.int64)
    w1 = (u - j0).astype(np.float32)
    return np.clip(j0, 0, n - 1), np.clip(j0 + 1, 0, n - 1), w1


def _upsample(coarse: np.ndarray, yi: np.ndarray, xi: np.ndarray, *, cell: int) -> np.ndarray:
    """NaN-aware bilinear interpolation of cell-centre values to pixels ``yi × xi``."""
    y0, y1, wy = _axis_weights(yi, cell, coarse.shape[1])
    x0, x1, wx = _axis_weights(xi, cell, coarse.shape[2])
    out = np.empty((coarse.shape[0], yi.size, xi.size), np.float32)
    num = np.zeros((yi.size, xi.size), np.float32)
    den = np.zeros((yi.size, xi.size), np.float32)
    corners = [
        (y0, x0, (1 - wy)[:, None] * (1 - wx)[None, :]),
        (y0, x1, (1 - wy)[:, None] * wx[None, :]),
        (y1, x0, wy[:, None] * (1 - wx)[None, :]),
        (y1, x1, wy[:, None] * wx[None, :]),
    ]
    for i in range(coarse.shape[0]):
        num[:] = 0
        den[:] = 0
        for ry, rx, w in corners:
            v = coarse[i][np.ix_(ry, rx)]
            ok = np.isfinite(v)
            num += np.where(ok, v, 0) * w
            den += ok * w
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(den > 0, num / den, np.nan)
    return out
