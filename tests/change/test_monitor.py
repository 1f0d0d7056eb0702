"""Monitor behaviour on synthetic series through the public ``fusion.detect``."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _change_helpers import at, series

from fusion.change import detect

START = 20  # acquisitions 0..19 are history


def _clearing(idx: xr.DataArray, step: int, rows: slice, cols: slice, value: float = 0.15):
    """Clear a block from acquisition ``step`` on, keeping its cloud (NaN) pattern."""
    data = idx.values.copy()
    block = data[step:, rows, cols]
    data[step:, rows, cols] = np.where(np.isnan(block), np.nan, value)
    return idx.copy(data=data)


def _valid_steps(idx: xr.DataArray, y: int, x: int, start: int) -> np.ndarray:
    return start + np.flatnonzero(np.isfinite(idx.values[start:, y, x]))


def test_stable_forest_raises_no_confirmed_alert() -> None:
    idx = series(80, 30, 30, noise=0.02, cloud=0.5, seed=10)
    out = detect(idx, monitor_start=at(idx, START))
    assert int((out["confidence"] == 2).sum()) == 0
    # Single anomalies happen (z ≤ -3 is ~0.1 % per observation) but stay rare and unconfirmed.
    assert float((out["confidence"] == 1).mean()) < 0.02
    assert out["valid_count"].dtype == np.uint16
    assert int(out["valid_count"].max()) <= 60


def test_clearing_under_clouds_is_provisional_then_confirmed_at_the_right_dates() -> None:
    idx = _clearing(series(60, 24, 24, cloud=0.5, seed=11), 35, slice(8, 13), slice(8, 13))
    full = detect(idx, monitor_start=at(idx, START))
    times = idx["time"].values
    for y, x in [(8, 8), (10, 11), (12, 12)]:
        steps = _valid_steps(idx, y, x, 35)
        # First anomaly alerts provisionally ...
        part = detect(idx.isel(time=slice(0, steps[0] + 1)), monitor_start=at(idx, START))
        assert int(part["confidence"][y, x]) == 1
        assert part["alert_date"].values[y, x] == times[steps[0]]
        # ... one agreeing observation is not enough for 2 of the next 4 ...
        part = detect(idx.isel(time=slice(0, steps[1] + 1)), monitor_start=at(idx, START))
        assert int(part["confidence"][y, x]) == 1
        # ... the second confirms, dated at the first anomaly.
        assert int(full["confidence"][y, x]) == 2
        assert full["alert_date"].values[y, x] == times[steps[0]]
        assert full["confirmed_date"].values[y, x] == times[steps[2]]
        assert 0.4 < float(full["magnitude"][y, x]) < 0.5
    outside = np.ones((24, 24), bool)
    outside[8:13, 8:13] = False
    assert int((full["confidence"].values[outside] == 2).sum()) == 0
    assert np.isnat(full["alert_date"].values[outside & (full["confidence"].values == 0)]).all()


def test_single_dip_is_provisional_then_expires() -> None:
    idx = series(60, 10, 10, seed=12)
    data = idx.values.copy()
    data[30, 2:5, 2:5] = 0.3  # cloud-edge haze on one date
    idx = idx.copy(data=data)
    part = detect(idx.isel(time=slice(0, 32)), monitor_start=at(idx, START))
    assert (part["confidence"].values[2:5, 2:5] == 1).all()
    assert (part["alert_date"].values[2:5, 2:5] == idx["time"].values[30]).all()
    full = detect(idx, monitor_start=at(idx, START))
    assert (full["confidence"].values[2:5, 2:5] == 0).all()
    assert np.isnat(full["alert_date"].values[2:5, 2:5]).all()


def test_provisional_alert_expires_after_expiry_days_without_observations() -> None:
    idx = series(80, 4, 4, seed=13)
    data = idx.values.copy()
    data[30] = 0.2
    data[31:] = np.nan  # 50 acquisitions × 4 days of cloud
    idx = idx.copy(data=data)
    # The whole scene drops: without self-reference (which would remove it), as one pixel would.
    assert (
        detect(idx, monitor_start=at(idx, START), self_reference=False)["confidence"] == 0
    ).all()
    kept = detect(idx, monitor_start=at(idx, START), self_reference=False, expiry_days=None)
    assert (kept["confidence"] == 1).all()


def test_regrowth_keeps_the_confirmed_alert() -> None:
    idx = series(70, 8, 8, seed=14)
    data = idx.values.copy()
    data[30:34, :4] = 0.2  # cleared for four acquisitions, then back to forest values
    idx = idx.copy(data=data)
    out = detect(idx, monitor_start=at(idx, START))
    assert (out["confidence"].values[:4] == 2).all()
    assert (out["alert_date"].values[:4] == idx["time"].values[30]).all()
    assert (out["confidence"].values[4:] == 0).all()


def test_confirmation_rule_is_configurable() -> None:
    idx = series(60, 4, 4, seed=15)
    data = idx.values.copy()
    data[[30, 33]] = 0.2  # anomaly, two normal, one agreeing: 1 of the next 4
    idx = idx.copy(data=data)
    kw = {"monitor_start": at(idx, START), "self_reference": False}
    assert (detect(idx, **kw)["confidence"] == 0).all()
    out = detect(idx, **kw, confirm_needed=1)
    assert (out["confidence"] == 2).all()
    assert (out["confirmed_date"].values == idx["time"].values[33]).all()
    out = detect(idx, **kw, confirm_needed=1, confirm_window=2)
    assert (out["confidence"] == 0).all()


def test_scene_wide_haze_alarms_only_without_self_reference() -> None:
    idx = series(60, 40, 40, res=30, seed=16)
    haze = np.linspace(0.08, 0.12, 40, dtype=np.float32)[None, :]  # smooth, scene-wide
    data = idx.values.copy()
    data[40:43] -= haze
    idx = idx.copy(data=data)
    raw = detect(idx, monitor_start=at(idx, START), self_reference=False)
    assert float((raw["confidence"] == 2).mean()) > 0.5
    ref = detect(idx, monitor_start=at(idx, START))
    assert int((ref["confidence"] == 2).sum()) == 0
    # The hazy dates were observed (haze subtracted), not skipped.
    xr.testing.assert_equal(ref["valid_count"], raw["valid_count"])


def test_observation_sigma_weakens_the_score() -> None:
    idx = _clearing(series(60, 6, 6, seed=17), 35, slice(None), slice(None), value=0.45)
    sure = detect(idx, monitor_start=at(idx, START), self_reference=False)
    assert (sure["confidence"] == 2).all()
    noisy = xr.full_like(idx, 0.1)
    vague = detect(idx, monitor_start=at(idx, START), self_reference=False, sigma=noisy)
    assert (vague["confidence"] == 0).all()
    # NaN sigma makes the observation invalid.
    nan_sigma = xr.full_like(idx, 0.01).where(idx["time"] < idx["time"][50])
    counted = detect(idx, monitor_start=at(idx, START), self_reference=False, sigma=nan_sigma)
    assert (counted["valid_count"] == 30).all()


def test_single_pixel_without_self_reference() -> None:
    idx = _clearing(series(50, 1, 1, seed=18, cloud=0.3), 30, slice(None), slice(None))
    out = detect(idx, monitor_start=at(idx, START), self_reference=False)
    assert out["confidence"].shape == (1, 1)
    assert int(out["confidence"][0, 0]) == 2
    steps = _valid_steps(idx, 0, 0, 30)
    assert out["alert_date"].values[0, 0] == idx["time"].values[steps[0]]


@pytest.mark.parametrize("chunks", [{"y": 7, "x": 5}, {"y": 24, "x": 12}])
def test_numpy_and_dask_give_identical_results(chunks: dict[str, int]) -> None:
    idx = _clearing(series(50, 24, 24, cloud=0.4, seed=19), 30, slice(3, 9), slice(10, 20))
    sigma = xr.full_like(idx, 0.01)
    expected = detect(idx, monitor_start=at(idx, START), sigma=sigma)
    assert not any(v.chunks for v in expected.data_vars.values())
    lazy = detect(idx.chunk(chunks), monitor_start=at(idx, START), sigma=sigma.chunk(chunks))
    assert all(v.chunks for v in lazy.data_vars.values())
    xr.testing.assert_identical(lazy.compute(), expected)
    assert int((expected["confidence"] == 2).sum()) >= 50
