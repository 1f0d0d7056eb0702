"""Spatial confirmation (``grow_m``): provisional pixels beside a confirmed alert of the same
event are confirmed; the result does not depend on dask chunks or on incremental runs."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _change_helpers import at, series
from hypothesis import given, settings
from hypothesis import strategies as st

from fusion.change import alerts, detect, start, update
from fusion.errors import MonitorInputError, MonitorParamsError

START = 20
CLEAR = 35  # the clearing's first look
GROW = {"grow_m": 30.0, "self_reference": False}  # 3 pixels of 10 m


def _scene() -> xr.DataArray:
    """A 10 × 10 px clearing from acquisition 35: its left half (columns 5–9) is seen cleared
    three times, its right half (columns 10–14) once, then clouded to the end."""
    idx = series(60, 20, 20, seed=50)
    data = idx.values.copy()
    data[CLEAR:, 5:15, 5:15] = 0.15
    data[CLEAR + 1 :, 5:15, 10:15] = np.nan
    return idx.copy(data=data)


def test_single_looks_beside_a_confirmed_clearing_are_confirmed_up_to_grow_m() -> None:
    idx = _scene()
    times = idx["time"].values
    plain = detect(idx, monitor_start=at(idx, START), self_reference=False)
    grown = detect(idx, monitor_start=at(idx, START), **GROW)
    conf, conf0 = grown["confidence"].values, plain["confidence"].values
    # Without growth only the half seen three times is confirmed; the single looks expired.
    assert (conf0[5:15, 5:10] == 2).all() and (conf0[5:15, 10:15] == 0).all()
    # Growth confirms the single looks within 3 pixels of the confirmed half ...
    assert (conf[5:15, 5:13] == 2).all()
    # ... dated at their own look, confirmed when the neighbours confirmed themselves ...
    assert (grown["alert_date"].values[5:15, 10:13] == times[CLEAR]).all()
    assert (grown["confirmed_date"].values[5:15, 10:13] == times[CLEAR + 2]).all()
    np.testing.assert_allclose(grown["magnitude"].values[5:15, 10:13], 0.45, atol=0.03)
    # ... and not farther: those expired as before.
    assert (conf[5:15, 13:15] == 0).all()
    # Nothing else changes.
    outside = np.ones(conf.shape, bool)
    outside[5:15, 10:13] = False
    for name in plain.data_vars:
        np.testing.assert_array_equal(grown[name].values[outside], plain[name].values[outside])


def test_a_later_dip_beside_an_old_alert_is_its_own_event() -> None:
    idx = _scene()
    data = idx.values.copy()
    data[59, 5:15, 4] = (
        0.2  # beside the confirmed half, 96 days after the clearing's first look (expiry_days 90)
    )
    idx = idx.copy(data=data)
    out = detect(idx, monitor_start=at(idx, START), **GROW)
    assert (out["confidence"].values[5:15, 4] == 1).all()
    # Within expiry_days it would have been grown.
    out = detect(idx, monitor_start=at(idx, START), expiry_days=100, **GROW)
    assert (out["confidence"].values[5:15, 4] == 2).all()


def test_grow_threshold_keeps_weaker_single_looks_provisional() -> None:
    idx = _scene()
    kw = {"threshold": -3.0, "grow_threshold": -50.0}  # z of the single looks is about -20
    out = detect(idx, monitor_start=at(idx, START), **kw, **GROW)
    plain = detect(idx, monitor_start=at(idx, START), self_reference=False, **kw)
    xr.testing.assert_equal(out, plain)  # the params attribute differs


@pytest.mark.parametrize("chunks", [{"y": 2, "x": 3}, {"y": 7, "x": 5}, {"y": 20, "x": 11}])
def test_dask_chunks_give_the_numpy_result(chunks: dict[str, int]) -> None:
    idx = _scene()
    rng = np.random.default_rng(51)
    idx = idx.where(rng.random(idx.shape) > 0.3)  # patchy cloud
    sigma = xr.full_like(idx, 0.01)
    expected = detect(idx, monitor_start=at(idx, START), sigma=sigma, **GROW)
    lazy = detect(
        idx.chunk(chunks), monitor_start=at(idx, START), sigma=sigma.chunk(chunks), **GROW
    )
    assert all(v.chunks for v in lazy.data_vars.values())
    xr.testing.assert_identical(lazy.compute(), expected)
    plain = detect(idx, monitor_start=at(idx, START), sigma=sigma, self_reference=False)
    assert int((expected["confidence"] == 2).sum()) > int((plain["confidence"] == 2).sum())


@settings(max_examples=8, deadline=None)
@given(
    cy=st.integers(1, 20),
    cx=st.integers(1, 20),
    grow=st.sampled_from([10.0, 30.0, 80.0]),
    seed=st.integers(0, 3),
)
def test_any_chunking_gives_the_numpy_result(cy: int, cx: int, grow: float, seed: int) -> None:
    idx = _scene()
    idx = idx.where(np.random.default_rng(seed).random(idx.shape) > 0.4)
    kw = {"monitor_start": at(idx, START), "grow_m": grow, "self_reference": False}
    expected = detect(idx, **kw)
    xr.testing.assert_identical(detect(idx.chunk(y=cy, x=cx), **kw).compute(), expected)


def test_a_grid_narrower_than_the_halo_gives_the_numpy_result() -> None:
    idx = _scene().isel(y=slice(8, 11))  # 3 rows; growth reaches 3 pixels
    expected = detect(idx, monitor_start=at(idx, START), **GROW)
    lazy = detect(idx.chunk(y=1, x=4), monitor_start=at(idx, START), **GROW)
    xr.testing.assert_identical(lazy.compute(), expected)
    assert (expected["confidence"].values[:, 5:13] == 2).all()


def test_incremental_runs_equal_one_run() -> None:
    idx = _scene()
    full = start(idx, monitor_start=at(idx, START), **GROW)
    for cut in (CLEAR, CLEAR + 1, CLEAR + 2, 50):
        part = start(idx.isel(time=slice(0, cut)), monitor_start=at(idx, START), **GROW)
        xr.testing.assert_identical(update(part, idx.isel(time=slice(cut, None))), full)
    assert int((alerts(full)["confidence"] == 2).sum()) == 80


def test_growth_needs_a_metric_grid() -> None:
    idx = _scene().drop_vars(["x", "y", "spatial_ref"], errors="ignore")
    with pytest.raises(MonitorInputError, match=r"grow_m=30\.0 needs the pixel size in metres"):
        detect(idx, monitor_start=at(idx, START), **GROW)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"grow_m": -10.0}, r"grow_m=-10\.0 is invalid"),
        ({"grow_m": float("nan")}, "grow_m=nan is invalid"),
        (
            {"grow_threshold": -2.0},
            r"grow_threshold=-2\.0 is invalid: it must be at most threshold",
        ),
    ],
)
def test_bad_growth_parameters_are_named(params: dict[str, float], message: str) -> None:
    idx = _scene()
    with pytest.raises(MonitorParamsError, match=message):
        detect(idx, monitor_start=at(idx, START), self_reference=False, **params)
