"""Physical-range checks that catch a wrong scale/offset before it reaches the model.

:func:`range_stats` is lazy (a few numbers per time slice); :func:`check_physical_range` is
the eager helper the pipeline runner calls: it computes the statistics and raises
:class:`PhysicalRangeError` naming the item(s) and the likely cause.

Two failure modes, two statistics (DESIGN.md, peer complaint 1):

* an offset applied where none belongs (−0.1 on a baseline < 04.00 product, or twice) pushes
  dark surfaces (water, shadow, dense forest in blue) below −0.05: ``out_of_range``;
* an offset missing (baseline ≥ 04.00 read with offset 0) lifts every pixel by 0.1 — still
  "in range", but no pixel is dark any more: ``dark_fraction`` ≈ 0. Forest, water and
  shadow make this near impossible for a real scene over the Congo Basin.
"""

from __future__ import annotations

from typing import Final

import dask.array as da
import numpy as np
import xarray as xr

from fusion.errors import PhysicalRangeError

PHYSICAL_RANGE: Final = (-0.05, 1.2)
"""Valid surface reflectance, with room for atmospheric-correction noise and bright clouds."""
DARK_THRESHOLD: Final = 0.05
"""A pixel is "dark" if its darkest band is below this (forest blue, water SWIR: ~0.01–0.04)."""


def range_stats(
    reflectance: xr.DataArray,
    *,
    valid_range: tuple[float, float] = PHYSICAL_RANGE,
    dark_threshold: float = DARK_THRESHOLD,
) -> xr.Dataset:
    """Per time slice: valid pixel count and fractions below, above, and dark. Lazy.

    ``reflectance`` has dims (time, band, y, x) and NaN for invalid pixels. A pixel counts as
    valid when it is finite in every band.
    """
    low, high = valid_range
    # One kernel per scene counts all four pixel classes: the same statistics as a chain of
    # xarray reductions, in one task per scene instead of about fifteen.
    refl = reflectance.transpose(..., "band", "y", "x")
    kwargs = {"low": low, "high": high, "dark": dark_threshold}
    data = refl.data
    if isinstance(data, da.Array):
        # Whole scenes per task; the band axis becomes the count axis, y and x are dropped.
        data = data.rechunk({-3: -1, -2: -1, -1: -1})
        data = da.map_blocks(
            _range_counts,
            data,
            drop_axis=[data.ndim - 2, data.ndim - 1],
            chunks=(*data.chunks[:-3], (4,)),
            dtype=np.int64,
            meta=np.empty((0,) * (data.ndim - 2), dtype=np.int64),
            **kwargs,
        ).rechunk(-1)  # a few numbers per scene: one chunk, so each statistic is one task
    else:
        data = _range_counts(np.asarray(data), **kwargs)
    lead = refl.dims[:-3]
    counts = xr.DataArray(
        data,
        dims=(*lead, "count"),
        coords={n: c for n, c in refl.coords.items() if set(c.dims) <= set(lead)},
    )
    n_valid, below, above, dark = (counts.isel(count=i) for i in range(4))
    denom = n_valid.where(n_valid > 0).astype(np.float32)
    stats = xr.Dataset(
        {
            "n_valid": n_valid.astype(np.int64),
            "below_fraction": (below / denom).astype(np.float32),
            "above_fraction": (above / denom).astype(np.float32),
            "dark_fraction": (dark / denom).astype(np.float32),
        }
    )
    stats["out_of_range_fraction"] = stats["below_fraction"] + stats["above_fraction"]
    return stats.assign_attrs(valid_range=list(valid_range), dark_threshold=dark_threshold)


def _range_counts(block: np.ndarray, *, low: float, high: float, dark: float) -> np.ndarray:
    """Valid, below-range, above-range and dark pixels of ``(..., band, y, x)``, int64 ``(..., 4)``.

    A pixel is valid when finite in every band; the other classes count valid pixels only.
    """
    valid = ~np.isnan(block).any(axis=-3)
    below = (block < low).any(axis=-3) & valid
    above = (block > high).any(axis=-3) & valid
    # fmin skips NaN like xarray's min; pixels with a NaN band are not valid anyway.
    darkest = (np.fmin.reduce(block, axis=-3) < dark) & valid
    return np.stack([m.sum(axis=(-2, -1)) for m in (valid, below, above, darkest)], axis=-1)


def check_physical_range(
    data: xr.Dataset | xr.DataArray,
    *,
    tolerance: float = 0.01,
    min_dark_fraction: float = 5e-4,
    min_valid: int = 10_000,
) -> xr.Dataset:
    """Compute :func:`range_stats` and raise if any item breaks the physical range.

    Raises :class:`PhysicalRangeError` when more than ``tolerance`` of an item's valid pixels
    are out of range, or (for items with at least ``min_valid`` valid pixels) fewer than
    ``min_dark_fraction`` are dark; ``min_dark_fraction=0`` disables the second test (for bright
    deserts or snowfields, never the case in the Congo Basin). Returns the computed statistics.
    This is the one function of the stage that computes: call it from the pipeline runner.
    """
    if isinstance(data, xr.DataArray):
        stats = range_stats(data)
    elif "n_valid" in data:
        stats = data
    else:
        stats = range_stats(data["reflectance"])
        for name in ("item_id", "dn_offset"):
            if name in data.coords:
                stats = stats.assign_coords({name: data[name]})
    if "time" not in stats.dims:
        stats = stats.expand_dims("time")
    stats = stats.compute()
    ids = _item_ids(stats)
    problems: list[str] = []
    low, high = stats.attrs.get("valid_range", PHYSICAL_RANGE)
    dark_at = stats.attrs.get("dark_threshold", DARK_THRESHOLD)
    for i, item_id in enumerate(ids):
        n = int(stats["n_valid"][i])
        if n == 0:
            continue
        below = float(stats["below_fraction"][i])
        above = float(stats["above_fraction"][i])
        dark = float(stats["dark_fraction"][i])
        offset = _offset_note(stats, i)
        if below + above > tolerance:
            problems.append(
                f"item {item_id}: {100 * (below + above):.1f} % of {n} valid pixels outside "
                f"{low}…{high} ({100 * below:.1f} % below, {100 * above:.1f} % above){offset}; "
                "likely a wrong scale/offset — a −0.1 BOA offset applied to a baseline < 04.00 "
                "product, or applied twice, if mostly below; a missing scale if mostly above"
            )
        elif min_dark_fraction > 0 and n >= min_valid and dark < min_dark_fraction:
            problems.append(
                f"item {item_id}: only {100 * dark:.3f} % of {n} valid pixels are darker than "
                f"{dark_at} in any band{offset}; reflectance is biased high — likely the −1000 DN "
                "BOA offset of a baseline ≥ 04.00 product was not applied (check the item's "
                "s2:processing_baseline)"
            )
    if problems:
        raise PhysicalRangeError(
            "; ".join(problems) + " — fix the item metadata or drop the item(s); pass "
            "tolerance/min_dark_fraction to relax the check"
        )
    return stats


def _item_ids(stats: xr.Dataset) -> list[str]:
    if "item_id" in stats.coords:
        return [str(v) for v in np.atleast_1d(stats["item_id"].values)]
    return [f"#{i}" for i in range(stats.sizes.get("time", 1))]


def _offset_note(stats: xr.Dataset, i: int) -> str:
    if "dn_offset" not in stats.coords:
        return ""
    return f" (offset applied: {float(stats['dn_offset'][i]):g})"
