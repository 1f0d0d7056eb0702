"""Per-pixel median composite of every valid harmonised observation, both sensors, at 10 m.

Landsat enters at 30 m and is replicated 3×3 onto the 10 m grid (the grids nest exactly, so
nearest-neighbour is replication, not interpolation). Sentinel-2 is already bandpass-adjusted
to OLI by ingest, so the two sensors' reflectances are comparable. The median resists the
haze and cloud edges that masks miss better than the mean does.
"""

from __future__ import annotations

from collections.abc import Hashable

import dask.array as da
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_reproject

from fusion.bands import CANONICAL_BANDS


def harmonized_composite(
    landsat: xr.Dataset | None,
    sentinel2: xr.Dataset | None,
    *,
    geobox: GeoBox,
) -> xr.Dataset:
    """Lazy median composite on ``geobox`` with per-sensor valid-observation counts.

    Returns ``reflectance`` (band, y, x) float32 and ``valid_landsat`` / ``valid_sentinel2``
    (y, x) uint16: how many clear observations each pixel had.
    """
    series: list[xr.DataArray] = []
    counts: dict[str, xr.DataArray] = {}
    # Landsat is replicated onto Sentinel-2's spatial chunks, so the two line up without a
    # rechunk (None: the reprojection's own default).
    spatial = None
    if sentinel2 is not None and sentinel2["reflectance"].chunks is not None:
        s2 = sentinel2["reflectance"]
        spatial = (s2.data.chunksize[s2.get_axis_num("y")], s2.data.chunksize[s2.get_axis_num("x")])
    for name, ds in (("landsat", landsat), ("sentinel2", sentinel2)):
        if ds is None or ds.sizes.get("time", 0) == 0:
            continue
        refl = ds["reflectance"]
        if refl.odc.geobox != geobox:
            refl = xr_reproject(
                refl, geobox, resampling="nearest", dst_nodata=float("nan"), chunks=spatial
            )
        refl = refl.drop_vars([c for c in refl.coords if c not in refl.dims and c != "spatial_ref"])
        refl = refl.transpose("time", "band", "y", "x")
        series.append(refl)
        counts[f"valid_{name}"] = _valid_count(refl)
    if not series:
        raise ValueError("harmonized_composite needs at least one non-empty sensor dataset")
    if all(isinstance(r.data, da.Array) for r in series):
        median = _lazy_median(series)
    else:
        stack = xr.concat(series, dim="time", coords="minimal", compat="override", join="override")
        median = stack.median("time", skipna=True)
    median = median.astype("float32")
    median = median.transpose("band", "y", "x").sel(band=list(CANONICAL_BANDS))
    out = xr.Dataset({"reflectance": median, **counts})
    for name in ("valid_landsat", "valid_sentinel2"):
        if name not in out:
            out[name] = xr.zeros_like(median.isel(band=0, drop=True), dtype="uint16")
    return out


def _plane_coords(refl: xr.DataArray, *, keep_band: bool) -> dict[Hashable, xr.DataArray]:
    """The coordinates of ``refl`` that survive a reduction over time (and band)."""
    gone = {"time"} if keep_band else {"time", "band"}
    return {n: c for n, c in refl.coords.items() if not gone & set(c.dims) and n not in gone}


def _valid_count(refl: xr.DataArray) -> xr.DataArray:
    """Clear observations (valid in every band) per pixel of ``(time, band, y, x)``, uint16."""
    if not isinstance(refl.data, da.Array):
        return refl.notnull().all("band").sum("time").astype("uint16")
    # One task per spatial chunk over all the scenes' chunks, as for the median below.
    data = refl.data.rechunk({1: -1})
    counts = da.blockwise(
        _count_blocks,
        "yx",
        data,
        "tbyx",
        concatenate=False,
        dtype=np.uint16,
        meta=np.empty((0, 0), dtype=np.uint16),
    )
    return xr.DataArray(counts, dims=("y", "x"), coords=_plane_coords(refl, keep_band=False))


def _count_blocks(blocks: list[list[np.ndarray]]) -> np.ndarray:
    """Sum over the time chunks ``blocks`` (each a one-element list: the band axis is one
    chunk) of the pixels valid in every band."""
    valid = [~np.isnan(band_chunks[0]).any(axis=1) for band_chunks in blocks]
    return np.sum([v.sum(axis=0) for v in valid], axis=0).astype(np.uint16)


def _lazy_median(series: list[xr.DataArray]) -> xr.DataArray:
    """NaN-skipping median over ``time`` of dask ``(time, band, y, x)`` arrays taken together
    (the sensors' series, on one grid), one task per spatial chunk.

    Stacking the series and rechunking to whole time columns would split every scene's chunk
    and merge the pieces again (thousands of tasks for a tile); the blockwise call instead
    hands each task the lists of the scenes' chunks and builds the time column of one band at
    a time, which bounds the extra memory to one band. Each band goes through
    ``np.nanmedian`` exactly as dask's ``nanmedian`` (xarray's ``median`` on dask) calls it,
    so the values are the same.
    """
    # The series share their spatial chunks (a no-op rechunk when they already do), so the
    # blockwise call need not align them (aligning would warn about the product of the
    # series' time chunks, which are contracted, never built).
    ychunks, xchunks = series[-1].data.chunks[2:]
    arrays = [r.data.rechunk({1: -1, 2: ychunks, 3: xchunks}) for r in series]
    pairs: list[object] = []
    for i, arr in enumerate(arrays):
        pairs += [arr, f"{'tuvw'[i]}byx"]
    out = da.blockwise(
        _median_blocks,
        "byx",
        *pairs,
        concatenate=False,
        align_arrays=False,
        dtype=arrays[0].dtype,
        meta=np.empty((0, 0, 0), dtype=arrays[0].dtype),
    )
    return xr.DataArray(
        out, dims=("band", "y", "x"), coords=_plane_coords(series[0], keep_band=True)
    )


def _median_blocks(*series: list[np.ndarray]) -> np.ndarray:
    """Median over the time chunks of ``series`` (each ``(time, band, y, x)``), band by band."""
    blocks = [block for chunks in series for block in chunks]
    first = blocks[0]
    out = np.empty(first.shape[1:], dtype=first.dtype)
    for b in range(first.shape[1]):
        column = np.concatenate([block[:, b : b + 1] for block in blocks], axis=0)
        out[b : b + 1] = np.nanmedian(column, axis=[0])
    return out
