"""Indices and their first-order uncertainty."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from dask import is_dask_collection

from fusion.bands import CANONICAL_BANDS
from fusion.change.index import SENSOR_NOISE, nbr, nbr_sigma, ndvi, ndvi_sigma
from fusion.errors import MonitorInputError


def _refl(values: dict[str, list[float]]) -> xr.DataArray:
    data = np.array([values.get(b, [0.05] * 3) for b in CANONICAL_BANDS], np.float32)
    return xr.DataArray(
        data[:, None, :], dims=("band", "y", "x"), coords={"band": list(CANONICAL_BANDS)}
    )


def test_nbr_and_ndvi_values_nan_and_dtype() -> None:
    refl = _refl({"nir08": [0.3, np.nan, 0.0], "swir22": [0.1, 0.1, 0.0], "red": [0.1, 0.1, 0.1]})
    n = nbr(refl)
    assert n.dtype == np.float32 and n.dims == ("y", "x")
    np.testing.assert_allclose(n.values[0, 0], 0.5, rtol=1e-6)
    assert np.isnan(n.values[0, 1])  # NaN passes through
    assert np.isnan(n.values[0, 2])  # zero sum is a gap, not ±inf
    np.testing.assert_allclose(ndvi(refl).values[0, 0], 0.5, rtol=1e-6)


def test_index_is_lazy_on_dask() -> None:
    refl = _refl({"nir08": [0.3, 0.2, 0.4], "swir22": [0.1, 0.1, 0.1]})
    lazy = refl.copy(data=da.from_array(refl.values, chunks=(6, 1, 2)))
    out = nbr(lazy)
    assert is_dask_collection(out)
    np.testing.assert_array_equal(out.values, nbr(refl).values)


def test_missing_band_is_named() -> None:
    refl = _refl({}).sel(band=["red", "nir08"])
    with pytest.raises(MonitorInputError, match="swir22"):
        nbr(refl)


@pytest.mark.parametrize("fn,other", [(nbr_sigma, "swir22"), (ndvi_sigma, "red")])
def test_sigma_matches_numerical_propagation(fn, other) -> None:
    a, b, sa, sb = 0.31, 0.12, 0.006, 0.004
    refl = _refl({"nir08": [a] * 3, other: [b] * 3})
    sig = fn(refl, {"nir08": sa, other: sb})
    h = 1e-6

    def nd(x: float, y: float) -> float:
        return (x - y) / (x + y)

    da_ = (nd(a + h, b) - nd(a - h, b)) / (2 * h)
    db_ = (nd(a, b + h) - nd(a, b - h)) / (2 * h)
    expected = np.hypot(da_ * sa, db_ * sb)
    np.testing.assert_allclose(sig.values, expected, rtol=1e-4)
    assert sig.dtype == np.float32


def test_sigma_from_sensor_model_and_per_pixel_array() -> None:
    refl = _refl({"nir08": [0.3, 0.25, 0.2], "swir22": [0.1, 0.1, 0.1]})
    by_name = nbr_sigma(refl, "sentinel2")
    by_map = nbr_sigma(refl, dict(SENSOR_NOISE["sentinel2"]))
    by_array = nbr_sigma(
        refl,
        xr.full_like(refl, 0.0)
        + np.array([0.005, 0.004, 0.004, 0.006, 0.005, 0.004], np.float32)[:, None, None],
    )
    np.testing.assert_allclose(by_name.values, by_map.values)
    np.testing.assert_allclose(by_name.values, by_array.values, rtol=1e-6)
    assert (by_name.values > 0.005).all() and (by_name.values < 0.05).all()
    with pytest.raises(MonitorInputError, match="noise model"):
        nbr_sigma(refl, "modis")  # type: ignore[arg-type]
