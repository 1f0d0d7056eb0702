"""A run's monitor graph: replay from the settled state, settle at the cut, go live; and the
tile's score series (the monitor's own scores, sharing its self-reference tasks)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from fusion.change import monitored_index, scores, start
from fusion.pipeline.monitoring import advance_monitor, monitor_scores, settle_cut

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


def _advance(
    index: xr.DataArray,
    sigma: xr.DataArray,
    settled: xr.Dataset | None = None,
    cut: np.datetime64 | None = None,
):  # type: ignore[no-untyped-def]
    return advance_monitor(index, sigma, settled=settled, cut=cut, monitor_start=T0)


def _last(state: xr.Dataset) -> np.datetime64:
    return np.datetime64(state.attrs["last_time"], "ns")


def test_settle_cut_is_the_newest_acquisition_minus_the_late_days() -> None:
    times = pd.to_datetime(["2020-01-05", "2020-03-01", "2020-02-01"]).values
    assert settle_cut(times, 30) == np.datetime64("2020-01-31", "ns")
    assert settle_cut(times, 0) == np.datetime64("2020-03-01", "ns")
    assert settle_cut(times[:0], 30) is None


@pytest.mark.parametrize("started_at", [None, 20, 30])
def test_settled_state_is_a_run_ending_at_the_cut_and_live_a_run_over_everything(
    started_at: int | None,
) -> None:
    index, sigma = _series()
    cut = index["time"].values[32]
    before = None
    if started_at is not None:
        before = start(index[:started_at], monitor_start=T0, sigma=sigma[:started_at]).compute()
    graph = _advance(index, sigma, before, cut)
    xr.testing.assert_identical(
        graph.settled.compute(), start(index[:33], monitor_start=T0, sigma=sigma[:33]).compute()
    )
    xr.testing.assert_identical(
        graph.live.compute(), start(index, monitor_start=T0, sigma=sigma).compute()
    )


def test_a_cut_inside_the_history_settles_the_whole_history() -> None:
    index, sigma = _series()
    graph = _advance(index, sigma, cut=index["time"].values[3])
    # The whole history (15 dates) and no monitored date.
    assert index["time"].values[14] <= _last(graph.settled) < np.datetime64(T0)
    assert _last(graph.live) == index["time"].values[-1]


def test_fresh_scores_share_the_monitors_reference_and_equal_its_scores() -> None:
    index, sigma = _series()
    graph = _advance(index, sigma)
    state = graph.live
    z = monitor_scores(index, sigma, graph)
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
    # An incremental run's series holds the new dates: their reference is the update's own,
    # also when the run settles part of them.
    fresh = monitor_scores(index, sigma, _advance(index, sigma))
    for cut in (None, index["time"].values[33]):
        new = _advance(index[30:], sigma[30:], first, cut)
        z_new = monitor_scores(index[30:], sigma[30:], new, before=_last(first))
        assert _reference_tasks(z_new) and _reference_tasks(z_new) <= _reference_tasks(new.live)
        np.testing.assert_array_equal(z_new.values, fresh.values[30:])
    # Dates monitored by the first run get their scores too, equal to a fresh run's.
    z = monitor_scores(index, sigma, _advance(index, sigma, first), before=_last(first))
    np.testing.assert_array_equal(z.values, fresh.values)
