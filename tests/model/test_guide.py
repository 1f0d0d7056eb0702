"""nearest_clear_guide: per pixel, the nearest valid Sentinel-2 acquisition within a window."""

from __future__ import annotations

import numpy as np
import xarray as xr

from fusion.bands import CANONICAL_BANDS
from fusion.model.guide import nearest_clear_guide


def _series() -> xr.DataArray:
    times = np.array(["2024-01-01", "2024-01-06", "2024-01-20"], dtype="datetime64[ns]")
    data = np.stack([np.full((6, 2, 2), v, np.float32) for v in (1.0, 2.0, 3.0)])
    data[1, :, 0, 0] = np.nan  # the nearest date is cloudy at (0, 0)
    data[1, 2, 1, 1] = np.nan  # … and missing one band at (1, 1)
    return xr.DataArray(
        data, dims=("time", "band", "y", "x"), coords={"time": times, "band": list(CANONICAL_BANDS)}
    )


def test_nearest_valid_per_pixel_with_its_gap() -> None:
    s2 = _series().chunk({"time": 1})
    guide, dt = nearest_clear_guide(s2, np.datetime64("2024-01-07"), window_days=30)
    assert guide is not None and dt is not None
    assert guide.dims == ("band", "y", "x") and dt.dims == ("y", "x")
    g, d = guide.compute().values, dt.compute().values
    assert g[0, 0, 1] == 2.0 and d[0, 1] == 1.0  # the nearest date
    assert g[0, 0, 0] == 1.0 and d[0, 0] == 6.0  # next nearest valid (Jan 1, 6 days) beats Jan 20
    assert g[2, 1, 1] == 1.0 and np.isfinite(g[:, 1, 1]).all()  # whole pixels, never band mixes


def test_window_limits_the_choice() -> None:
    guide, dt = nearest_clear_guide(_series(), np.datetime64("2024-01-07"), window_days=3)
    assert guide is not None and dt is not None
    assert np.isnan(guide.values[:, 0, 0]).all() and np.isnan(dt.values[0, 0])
    assert nearest_clear_guide(_series(), np.datetime64("2025-01-01"), window_days=30) == (
        None,
        None,
    )


def test_latest_excludes_later_acquisitions() -> None:
    guide, dt = nearest_clear_guide(
        _series(), np.datetime64("2024-01-05"), window_days=30, latest=np.datetime64("2024-01-05")
    )
    assert guide is not None and dt is not None
    assert (guide.values == 1.0).all() and (dt.values == 4.0).all()  # Jan 6 is nearer but later
    assert nearest_clear_guide(
        _series(), np.datetime64("2023-12-30"), window_days=30, latest=np.datetime64("2023-12-31")
    ) == (None, None)


def test_lazy_guide_matches_numpy_for_any_chunking() -> None:
    rng = np.random.default_rng(0)
    times = np.datetime64("2024-01-01", "ns") + np.arange(5) * np.timedelta64(4, "D")
    data = rng.random((5, 6, 7, 9), dtype=np.float32)
    data[rng.random(data.shape) < 0.4] = np.nan
    s2 = xr.DataArray(
        data, dims=("time", "band", "y", "x"), coords={"time": times, "band": list(CANONICAL_BANDS)}
    )
    when = np.datetime64("2024-01-09")
    eager_guide, eager_dt = nearest_clear_guide(s2, when, window_days=30)
    assert eager_guide is not None and eager_dt is not None
    for chunks in ({"time": 1}, {"time": 2, "y": 3, "x": 4}):
        guide, dt = nearest_clear_guide(s2.chunk(chunks), when, window_days=30)
        assert guide is not None and dt is not None
        np.testing.assert_array_equal(guide.values, eager_guide.values)
        np.testing.assert_array_equal(dt.values, eager_dt.values)
        # One task per spatial chunk reads the candidate dates' chunks directly.
        top = guide.data.__dask_graph__().layers[guide.data.name]
        assert len(top) == guide.data.npartitions
