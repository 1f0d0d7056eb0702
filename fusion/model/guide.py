"""Pick the Sentinel-2 guide for a Landsat date: per pixel, the nearest valid acquisition.

For the pipeline runner: given the tile's ingested Sentinel-2 series (``time, band, y, x``,
NaN = invalid, bandpass-adjusted) and a Landsat date, build a ``(band, y, x)`` guide that takes
each pixel from the nearest-in-time acquisition where it is valid (within a window), and the
matching per-pixel time gap for :func:`fusion.fuse`'s ``guide_dt_days``. Lazy: only ``where``
on the inputs, no compute.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


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
    first = s2.isel(time=order[0], drop=True)
    guide = first
    dt = xr.full_like(first.isel(band=0, drop=True), gaps[order[0]], dtype=np.float32)
    dt = dt.where(first.notnull().all("band"))
    for i in order[1:]:
        cand = s2.isel(time=i, drop=True)
        take = guide.isnull().any("band") & cand.notnull().all("band")
        guide = guide.where(~take, cand)
        dt = dt.where(~take, np.float32(gaps[i]))
    return guide.astype(np.float32), dt.astype(np.float32).rename("guide_dt_days")
