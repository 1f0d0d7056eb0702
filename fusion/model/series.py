"""Fuse a tile's whole Landsat series: one lazy :func:`fusion.fuse` per Landsat date.

For the pipeline runner. Takes the ingest outputs of one tile (Landsat on ``tile.geobox30``,
Sentinel-2 on ``tile.geobox``, both ``reflectance (time, band, y, x)``) and returns the fused
10 m series; nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from fusion.model.adapt import ESTIMATES
from fusion.model.fuse import fuse_adapted
from fusion.model.guide import nearest_clear_guide
from fusion.model.weights import DEFAULT_WEIGHTS


def fuse_series(
    landsat: xr.DataArray,
    sentinel2: xr.DataArray | None,
    *,
    window_days: float = 30.0,
    lookahead_days: float | None = None,
    weights: str | Path = DEFAULT_WEIGHTS,
) -> xr.Dataset:
    """Fused 10 m Landsat for every date of ``landsat`` (``time, band, y, x``).

    Each date's guide is, per pixel, the nearest valid Sentinel-2 acquisition within
    ``window_days`` (:func:`fusion.model.guide.nearest_clear_guide`), with its per-pixel time gap.
    ``lookahead_days``: acquisitions after the Landsat date's UTC day guide it only up to this
    many days later (0: causal, the fused value of a date never depends on later imagery, so a
    scheduled run fuses each date as a reprocessing of the whole period does); None: the whole
    window on both sides.
    Returns ``reflectance``, ``sigma`` (``time, band, y, x``), ``observed`` and
    ``guide_dt_days`` (``time, y, x``; NaN where no guide was used), and ``adaptation``
    (``time, estimate``: each date's guide shift undone and readout sigma scale,
    :data:`fusion.model.adapt.ESTIMATES`; NaN where not adapted), with Landsat's ``time``
    coordinates (``item_id``, ``platform`` …) kept.
    """
    parts = []
    for i in range(landsat.sizes["time"]):
        scene = landsat.isel(time=i)
        guide, dt = (None, None)
        if sentinel2 is not None:
            guide, dt = nearest_clear_guide(
                sentinel2,
                scene.time.values,
                window_days=window_days,
                latest=_latest(scene.time.values, lookahead_days),
            )
        ds, adapted = fuse_adapted(
            scene.drop_vars("time"), guide, guide_dt_days=dt, weights=weights
        )
        gap = dt if dt is not None else xr.full_like(ds.observed, np.nan, dtype=np.float32)
        if adapted is None:  # no guide: nothing was adapted
            adapted = xr.DataArray(
                np.full(len(ESTIMATES), np.nan),
                dims="estimate",
                coords={"estimate": list(ESTIMATES)},
            )
        parts.append(
            ds.assign(
                guide_dt_days=gap.drop_vars([c for c in gap.coords if c not in ("y", "x")]),
                adaptation=adapted,
            )
        )
    out = xr.concat(
        parts, dim="time", coords="minimal", compat="override", combine_attrs="override"
    )
    return out.assign_coords({name: c for name, c in landsat.coords.items() if c.dims == ("time",)})


def _latest(when: np.datetime64, lookahead_days: float | None) -> np.datetime64 | None:
    """The last acquisition instant allowed to guide the Landsat date ``when``."""
    if lookahead_days is None:
        return None
    day = np.datetime64(str(np.asarray(when).astype("datetime64[D]")), "ns")
    return (
        day + np.timedelta64(86400 + round(lookahead_days * 86400), "s") - np.timedelta64(1, "ns")
    )
