"""Self-referenced index (rNBR) and forest baseline."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from _change_helpers import series

from fusion.change.params import MonitorParams
from fusion.change.reference import cell_size, forest_baseline, history_median, self_reference
from fusion.errors import MonitorInputError

P = MonitorParams()


def _forest(index: xr.DataArray) -> xr.DataArray:
    return xr.ones_like(index.isel(time=0, drop=True), dtype=bool)


def test_cell_size_follows_resolution() -> None:
    assert cell_size(10, P) == 20  # 1 km window = 5 cells of 200 m
    assert cell_size(30, P) == 7


def test_shared_offset_is_removed() -> None:
    idx = series(6, 40, 40, noise=0.0, res=30)
    field = 0.55 + 0.1 * np.sin(np.linspace(0, 3, 40))[None, :] * np.ones((40, 1))
    offsets = np.array([0, -0.1, 0.05, -0.2, 0.0, 0.1], np.float32)
    idx = idx.copy(data=(field[None] + offsets[:, None, None]).astype(np.float32))
    out = self_reference(idx, _forest(idx), params=P)
    # Every date differs only by a scene-wide offset: the self-referenced values agree.
    np.testing.assert_allclose(out.values - out.values[0], 0, atol=2e-6)
    assert out.dtype == np.float32 and out.dims == ("time", "y", "x")


def test_mostly_cloudy_window_gives_no_reference() -> None:
    idx = series(3, 30, 30, res=30, seed=1)
    data = idx.values.copy()
    rng = np.random.default_rng(0)
    data[1][rng.random((30, 30)) < 0.995] = np.nan  # ~4 clear pixels of 900
    out = self_reference(idx.copy(data=data), _forest(idx), params=P)
    assert np.isnan(out.values[1]).all()
    assert np.isfinite(out.values[[0, 2]]).all()


def test_large_clearing_does_not_drag_the_reference() -> None:
    idx = series(12, 60, 60, res=30, seed=2)
    data = idx.values.copy()
    cleared = np.random.default_rng(0).random((60, 60)) < 0.6  # 60 % of every window
    data[8:, cleared] = 0.1
    idx = idx.copy(data=data)
    med, count = history_median(idx, monitor_start=idx["time"].values[6])
    forest = forest_baseline(med, count, params=P)
    assert forest.all()
    robust = self_reference(idx, forest, params=P, baseline=med)
    plain = self_reference(idx, forest, params=MonitorParams(reference_outlier=None))
    # Standing forest keeps its rNBR near 0 with the outlier rule; the plain median falls
    # into the clearing, which lifts the forest and hides the clearing.
    assert abs(float(robust.values[8:, ~cleared].mean())) < 0.01
    assert float(robust.values[8:, cleared].mean()) < -0.4
    assert float(plain.values[8:, ~cleared].mean()) > 0.3
    assert float(plain.values[8:, cleared].mean()) > -0.1


@pytest.mark.parametrize("chunks", [{"y": 7, "x": 11}, {"time": 1, "y": 25, "x": 50}])
def test_numpy_and_dask_agree_exactly(chunks: dict[str, int]) -> None:
    idx = series(5, 50, 50, cloud=0.5, res=30, seed=3)
    forest = _forest(idx)
    forest[:10] = False
    expected = self_reference(idx, forest, params=P)
    lazy = self_reference(idx.chunk(chunks), forest, params=P)
    assert lazy.chunks is not None
    xr.testing.assert_identical(lazy.compute(), expected)


def test_geographic_or_missing_grid_is_refused() -> None:
    idx = series(3, 4, 4)
    bare = xr.DataArray(idx.values, dims=idx.dims, coords={"time": idx["time"]})
    with pytest.raises(MonitorInputError, match="self_reference=False"):
        self_reference(bare.isel(y=[0], x=[0]), _forest(bare.isel(y=[0], x=[0])), params=P)
    geo = idx.odc.assign_crs("EPSG:4326")
    with pytest.raises(MonitorInputError, match="geographic"):
        self_reference(geo, _forest(idx), params=P)
