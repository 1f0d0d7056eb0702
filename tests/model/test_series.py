"""fuse_series: a tile's Landsat series fused lazily with per-date nearest guides."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import xarray as xr
from _model_helpers import scene

from fusion.model.fuse import fuse
from fusion.model.series import fuse_series


def _stack(arrays: list[xr.DataArray], days: list[str]) -> xr.DataArray:
    times = np.array(days, dtype="datetime64[ns]")
    out = xr.concat(arrays, dim="time").assign_coords(time=times)
    return out.assign_coords(item_id=("time", [f"item-{d}" for d in days]))


def test_series_is_lazy_and_matches_single_fuse(tiny_weights: Path) -> None:
    l1, g1 = scene(9, 9, seed=1)
    l2, g2 = scene(9, 9, seed=2)
    landsat = _stack([l1, l2], ["2024-01-01", "2024-02-01"]).chunk({"time": 1})
    s2 = _stack([g1, g2], ["2024-01-03", "2024-03-20"]).chunk({"time": 1})

    def _no_compute(*args: object, **kwargs: object) -> None:
        raise AssertionError("fuse_series computed")

    with dask.config.set(scheduler=_no_compute):
        ds = fuse_series(landsat, s2, window_days=20, weights=tiny_weights)
    assert ds.reflectance.dims == ("time", "band", "y", "x") and ds.sizes["time"] == 2
    assert list(ds.item_id.values) == ["item-2024-01-01", "item-2024-02-01"]
    got = ds.compute()
    assert np.all(got.guide_dt_days.values[0] == 2.0)
    assert np.isnan(got.guide_dt_days.values[1]).all()  # nearest S2 is 29 d away: beyond the window
    one = fuse(l1, g1, guide_dt_days=2.0, weights=tiny_weights)
    np.testing.assert_allclose(got.reflectance.values[0], one.reflectance.values, atol=1e-5)
    none = fuse(l2, None, weights=tiny_weights)
    np.testing.assert_allclose(got.reflectance.values[1], none.reflectance.values, atol=1e-5)
