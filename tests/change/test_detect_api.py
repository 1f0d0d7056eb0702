"""The public contract of ``fusion.detect``: layout, dtypes, options and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dask
import numpy as np
import pytest
import xarray as xr
from _change_helpers import at, series

from fusion.change import MonitorParams, detect
from fusion.errors import FusionError, MonitorInputError, MonitorParamsError

REPO = Path(__file__).resolve().parents[2]


def _cleared(n: int = 40, size: int = 12) -> xr.DataArray:
    idx = series(n, size, size, seed=30)
    data = idx.values.copy()
    data[25:, :4, :4] = 0.15
    return idx.copy(data=data)


def test_output_layout_and_dtypes() -> None:
    idx = _cleared()
    out = detect(
        idx.transpose("y", "x", "time"), monitor_start=np.datetime64(idx["time"].values[15])
    )
    assert set(out.data_vars) >= {"alert_date", "confidence", "magnitude", "valid_count"}
    assert out["alert_date"].dtype == np.dtype("datetime64[ns]")
    assert out["confirmed_date"].dtype == np.dtype("datetime64[ns]")
    assert out["confidence"].dtype == np.uint8
    assert out["magnitude"].dtype == np.float32
    assert out["valid_count"].dtype == np.uint16
    for var in out.data_vars.values():
        assert var.dims == ("y", "x")
    xr.testing.assert_equal(out["x"], idx["x"])
    assert out.odc.geobox == idx.odc.geobox
    assert (out["confidence"].values[:4, :4] == 2).all()
    assert np.isnan(out["magnitude"].values[4:, 4:]).all()


def test_top_level_lazy_attribute() -> None:
    code = (
        "import sys, fusion; assert 'fusion.change' not in sys.modules; "
        "f = fusion.detect; d = sys.modules['fusion.change.detect']; "
        "assert f is d.detect and 'detect' in fusion.__all__"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)


def test_forest_mask_restricts_alerts_and_accepts_0_1() -> None:
    idx = _cleared()
    mask = xr.zeros_like(idx.isel(time=0, drop=True), dtype=np.uint8)
    mask[:, 2:] = 1
    out = detect(idx, monitor_start=at(idx, 15), forest_mask=mask)
    assert (out["confidence"].values[:4, :2] == 0).all()
    assert (out["confidence"].values[:4, 2:4] == 2).all()
    free = detect(idx, monitor_start=at(idx, 15), forest_mask=mask, forest_only=False)
    assert (free["confidence"].values[:4, :4] == 2).all()


def test_history_forest_threshold_selects_monitored_pixels() -> None:
    idx = _cleared()
    out = detect(idx, monitor_start=at(idx, 15), forest_threshold=0.9)
    assert (out["confidence"] == 0).all()


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda a: a.rename(y="row"), "dims"),
        (lambda a: a.isel(time=slice(None, None, -1)), "strictly increasing"),
        (lambda a: a.assign_coords(time=np.arange(a.sizes["time"])), "datetime64"),
        (lambda a: a.astype(np.int16), "dtype"),
        (lambda a: a.values, "not an xarray.DataArray"),
    ],
)
def test_malformed_index_is_refused(mutate, match) -> None:
    idx = _cleared()
    with pytest.raises(MonitorInputError, match=match):
        detect(mutate(idx), monitor_start=at(idx, 15))


@pytest.mark.parametrize(
    "start,match",
    [
        ("2019-06-01", "no history"),
        ("2030-01-01", "after the last observation"),
        ("not a date", "not a date"),
        (20200101, "not a date"),
    ],
)
def test_monitor_start_outside_the_series_is_refused(start, match) -> None:
    with pytest.raises(MonitorInputError, match=match):
        detect(_cleared(), monitor_start=start)


def test_too_short_history_and_bad_sigma_or_mask() -> None:
    idx = _cleared()
    with pytest.raises(MonitorInputError, match="min_history"):
        detect(idx, monitor_start=at(idx, 3))
    with pytest.raises(MonitorInputError, match="sigma"):
        detect(idx, monitor_start=at(idx, 15), sigma=idx.isel(time=slice(1, None)))
    with pytest.raises(MonitorInputError, match="forest_mask"):
        detect(idx, monitor_start=at(idx, 15), forest_mask=idx.isel(time=0, y=slice(1, None)))
    with pytest.raises(MonitorInputError, match="self_reference=False"):
        detect(idx.isel(y=[0], x=[0]), monitor_start=at(idx, 15))


@pytest.mark.parametrize(
    "params,match",
    [
        ({"threshold": 1.0}, "threshold"),
        ({"confirm_needed": 3, "confirm_window": 2}, "confirm_window"),
        ({"confirm_threshold": -5.0}, "confirm_threshold"),
        ({"cells_per_window": 4}, "odd"),
        ({"expiry_days": 0}, "expiry_days"),
        ({"treshold": -3}, "unknown monitor parameter"),
    ],
)
def test_bad_params_are_refused(params, match) -> None:
    idx = _cleared()
    with pytest.raises(MonitorParamsError, match=match) as err:
        detect(idx, monitor_start=at(idx, 15), **params)
    assert isinstance(err.value, FusionError)


def test_params_dataclass_is_frozen_and_documented() -> None:
    p = MonitorParams()
    with pytest.raises(AttributeError):
        p.threshold = -2  # type: ignore[misc]
    assert (p.confirm_needed, p.confirm_window) == (2, 4)
    assert MonitorParams.from_kwargs(p.to_dict()) == p


def _refuse_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("detect computed a dask graph; it must stay lazy")


def test_dask_input_builds_a_graph_without_computing() -> None:
    idx = _cleared()
    mask = xr.ones_like(idx.isel(time=0, drop=True), dtype=np.uint8).chunk(y=6)
    with dask.config.set(scheduler=_refuse_compute):
        out = detect(idx.chunk(y=6, x=5), monitor_start=at(idx, 15), forest_mask=mask)
        sigma = xr.full_like(idx, 0.01).chunk(y=6, x=5)
        detect(idx.chunk(y=6, x=5), monitor_start=at(idx, 15), sigma=sigma)
    assert (out["confidence"].values[:4, :4] == 2).all()
