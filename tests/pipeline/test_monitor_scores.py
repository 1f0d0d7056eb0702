"""The tile's score series: the monitor's own scores, sharing its self-reference tasks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from fusion.change import monitored_index, scores, start, update
from fusion.pipeline.tile import monitor_scores

N, T0 = 40, "2020-03-01"  # 15 history acquisitions every 4 days, 25 monitored
_REFERENCE_TASKS = ("_cell_part", "_window_median", "_upsample")


def _series() -> tuple[xr.DataArray, xr.DataArray]:
    rng = np.random.default_rng(2)
    data = (0.6 + 0.02 * rng.standard_normal((N, 48, 48))).astype(np.float32)
    data[25:, 10:20, 10:20] = 0.15  # a clearing
    data[rng.random(data.shape) < 0.3] = np.nan
    gbox = GeoBox.from_bbox((300_000, 9_000_000, 300_480, 9_000_480), "EPSG:32635", resolution=10)
    coords = {"time": pd.date_range("2020-01-01", periods=N, freq="4D"), **xr_coords(gbox)}
    index = xr.DataArray(data, dims=("time", "y", "x"), coords=coords, name="nbr")
    sigma = xr.full_like(index, 0.01)
    chunks = {"time": -1, "y": 24, "x": 24}
    return index.chunk(chunks), sigma.chunk(chunks)


def _reference_tasks(*collections: xr.Dataset | xr.DataArray) -> set[object]:
    keys: set[object] = set()
    for c in collections:
        keys |= {k for k in dict(c.__dask_graph__()) if any(n in str(k) for n in _REFERENCE_TASKS)}
    return keys


def test_fresh_scores_share_the_monitors_reference_and_equal_its_scores() -> None:
    index, sigma = _series()
    state = start(index, monitor_start=T0, sigma=sigma)
    z = monitor_scores(index, sigma, before=None, after=state)
    assert _reference_tasks(z) and _reference_tasks(z) <= _reference_tasks(state)
    computed = state.compute()
    expected = scores(computed, monitored_index(computed, index), sigma).values
    history = index["time"].values < np.datetime64(T0)
    values = z.values
    assert np.isnan(values[history]).all()
    np.testing.assert_array_equal(values[~history], expected[~history])
    assert np.nanmin(values[~history][:, 10:20, 10:20]) < -5  # the clearing scores low


def test_incremental_scores_share_the_updates_reference() -> None:
    index, sigma = _series()
    first = start(index[:30], monitor_start=T0, sigma=sigma[:30]).compute()
    # An incremental run's series holds the new dates: their reference is the update's own.
    new = update(first, index[30:], sigma=sigma[30:])
    z_new = monitor_scores(index[30:], sigma[30:], before=first, after=new)
    assert _reference_tasks(z_new) and _reference_tasks(z_new) <= _reference_tasks(new)
    # Dates monitored by the first run get their scores too, equal to a fresh run's.
    after = update(first, index, sigma=sigma)
    z = monitor_scores(index, sigma, before=first, after=after)
    fresh = monitor_scores(index, sigma, before=None, after=start(index, monitor_start=T0))
    np.testing.assert_array_equal(z.values, fresh.values)
    np.testing.assert_array_equal(z_new.values, fresh.values[30:])
