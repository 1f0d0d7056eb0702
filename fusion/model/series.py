"""Fuse a tile's whole Landsat series: one lazy :func:`fusion.fuse` per Landsat date.

For the pipeline runner. Takes the ingest outputs of one tile (Landsat on ``tile.geobox30``,
Sentinel-2 on ``tile.geobox``, both ``reflectance (time, band, y, x)``) and returns the fused
10 m series; nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from fusion.model.fuse import fuse
from fusion.model.guide import nearest_clear_guide
from fusion.model.weights import DEFAULT_WEIGHTS


def fuse_series(
    landsat: xr.DataArray,
    sentinel2: xr.DataArray | None,
    *,
    window_days: float = 30.0,
    weights: str | Path = DEFAULT_WEIGHTS,
) -> xr.Dataset:
    """Fused 10 m Landsat for every date of ``landsat`` (``time, band, y, x``).

    Each date's guide is, per pixel, the nearest valid Sentinel-2 acquisition within
    ``window_days`` (:func:`fusion.model.guide.nearest_clear_guide`), with its per-pixel time gap.
    Returns ``reflectance``, ``sigma`` (``time, band, y, x``), ``observed`` and
    ``guide_dt_days`` (``time, y, x``; NaN where no guide was used), with Landsat's
    ``time`` coordinates (``item_id``, ``platform`` …) kept.
    """
    parts = []
    for i in range(landsat.sizes["time"]):
        scene = landsat.isel(time=i)
        guide, dt = (None, None)
        if sentinel2 is not None:
            guide, dt = nearest_clear_guide(sentinel2, scene.time.values, window_days=window_days)
        ds = fuse(scene.drop_vars("time"), guide, guide_dt_days=dt, weights=weights)
        gap = dt if dt is not None else xr.full_like(ds.observed, np.nan, dtype=np.float32)
        parts.append(
            ds.assign(guide_dt_days=gap.drop_vars([c for c in gap.coords if c not in ("y", "x")]))
        )
    out = xr.concat(
        parts, dim="time", coords="minimal", compat="override", combine_attrs="override"
    )
    return out.assign_coords({name: c for name, c in landsat.coords.items() if c.dims == ("time",)})
