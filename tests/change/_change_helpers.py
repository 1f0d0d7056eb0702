"""Synthetic index series for the change tests: stable forest, clearings, clouds, haze."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

START = "2020-01-01"
STEP_DAYS = 4


def grid(ny: int, nx: int, res: float = 10.0) -> GeoBox:
    """A UTM 35N grid with edges on multiples of 30 m."""
    x0, y0 = 300_000, 9_000_000
    return GeoBox.from_bbox(
        (x0, y0, x0 + nx * res, y0 + ny * res), crs="EPSG:32635", resolution=res
    )


def times(n: int, step_days: int = STEP_DAYS) -> pd.DatetimeIndex:
    return pd.date_range(START, periods=n, freq=f"{step_days}D")


def series(
    n: int = 60,
    ny: int = 24,
    nx: int = 24,
    *,
    base: float = 0.6,
    noise: float = 0.02,
    cloud: float = 0.0,
    seed: int = 0,
    res: float = 10.0,
) -> xr.DataArray:
    """Stable forest NBR ``base`` + Gaussian noise, a fraction ``cloud`` of values NaN."""
    rng = np.random.default_rng(seed)
    data = (base + noise * rng.standard_normal((n, ny, nx))).astype(np.float32)
    data[rng.random(data.shape) < cloud] = np.nan
    coords = {"time": times(n), **xr_coords(grid(ny, nx, res))}
    return xr.DataArray(data, dims=("time", "y", "x"), coords=coords, name="nbr")


def at(index: xr.DataArray, i: int) -> str:
    """The ISO date of acquisition ``i``."""
    return str(index["time"].values[i])[:10]
