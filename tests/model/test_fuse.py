"""fusion.fuse: the public API over numpy and dask, two chunkings, NaN, and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
import xarray as xr
from _model_helpers import geobox30, scene, wrap

from fusion.bands import CANONICAL_BANDS
from fusion.errors import FusionError, ModelInputError
from fusion.model.consistency import consistency_error
from fusion.model.fuse import fuse

REPO = Path(__file__).resolve().parents[2]


def _no_compute(*args: object, **kwargs: object) -> None:
    raise AssertionError("fuse computed a dask graph; it must stay lazy")


def test_numpy_in_numpy_out(tiny_weights: Path) -> None:
    landsat, guide = scene(10, 13)
    ds = fuse(landsat, guide, guide_dt_days=4, weights=tiny_weights)
    assert set(ds.data_vars) == {"reflectance", "sigma", "observed"}
    assert ds.reflectance.dims == ("band", "y", "x") and ds.sigma.dims == ("band", "y", "x")
    assert list(ds.band.values) == list(CANONICAL_BANDS)
    assert isinstance(ds.reflectance.data, np.ndarray) and ds.reflectance.dtype == np.float32
    assert ds.odc.geobox == guide.odc.geobox  # the 3× grid, same CRS
    assert consistency_error(ds.reflectance.values, landsat.values) <= 1e-4
    assert ds.observed.all()


def test_dask_in_dask_out_lazy_and_equal_to_numpy(tiny_weights: Path) -> None:
    landsat, guide = scene(24, 20, seed=1)
    ref = fuse(landsat, guide, guide_dt_days=4, weights=tiny_weights)
    with dask.config.set(scheduler=_no_compute):
        lazy = fuse(
            landsat.chunk({"y": 8, "x": 10}),
            guide.chunk({"y": 24, "x": 30}),
            guide_dt_days=4,
            weights=tiny_weights,
        )
    assert isinstance(lazy.reflectance.data, da.Array)
    assert lazy.reflectance.data.chunks[1] == (24, 24, 24)  # 3× Landsat's (tiny net: halo 5 px)
    got = lazy.compute()
    np.testing.assert_allclose(got.reflectance.values, ref.reflectance.values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got.sigma.values, ref.sigma.values, rtol=0, atol=1e-5)
    assert np.array_equal(got.observed.values, ref.observed.values)


@pytest.mark.parametrize("with_guide", [True, False])
def test_two_chunkings_agree(tiny_weights: Path, with_guide: bool) -> None:
    landsat, guide = scene(31, 29, seed=2)
    landsat = landsat.where(np.random.default_rng(0).random((31, 29)) > 0.1)
    g = guide if with_guide else None
    a = fuse(landsat.chunk({"y": 7, "x": 9}), g, guide_dt_days=3, weights=tiny_weights).compute()
    b = fuse(landsat.chunk({"y": 16, "x": 29}), g, guide_dt_days=3, weights=tiny_weights).compute()
    np.testing.assert_allclose(a.reflectance.values, b.reflectance.values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.sigma.values, b.sigma.values, rtol=0, atol=1e-5)


def test_default_weights_chunkings_agree() -> None:
    """The shipped network (larger halo) over two chunkings, guide chunked independently."""
    landsat, guide = scene(40, 36, seed=3)
    a = fuse(landsat.chunk({"y": 13, "x": 36}), guide.chunk({"y": 50}), guide_dt_days=10).compute()
    b = fuse(landsat.chunk({"y": 40, "x": 12}), guide, guide_dt_days=10).compute()
    c = fuse(landsat, guide, guide_dt_days=10)
    np.testing.assert_allclose(a.reflectance.values, b.reflectance.values, rtol=0, atol=1e-5)
    np.testing.assert_allclose(a.reflectance.values, c.reflectance.values, rtol=0, atol=1e-5)


def test_nan_never_spreads(tiny_weights: Path) -> None:
    landsat, guide = scene(12, 12, seed=4)
    landsat[:, 3:6, 3:6] = np.nan
    guide[:, 9:18, 9:12] = np.nan  # under part of the Landsat hole …
    guide[:, 27:30, 27:30] = np.nan  # … and under valid Landsat
    ds = fuse(landsat, guide, guide_dt_days=2, weights=tiny_weights)
    nan = np.isnan(ds.reflectance.values).any(0)
    expected = np.zeros((36, 36), bool)
    expected[9:18, 9:12] = True  # only where both are invalid
    assert np.array_equal(nan, expected)
    assert not ds.observed.values[9:18, 9:18].any() and ds.observed.values[:9].all()
    unguided = fuse(landsat, None, weights=tiny_weights)
    assert np.array_equal(
        np.isnan(unguided.reflectance.values).any(0),
        np.kron(np.isnan(landsat.values[0]), np.ones((3, 3))).astype(bool),
    )


def test_unguided_equals_all_nan_guide(tiny_weights: Path) -> None:
    landsat, guide = scene(9, 9, seed=5)
    a = fuse(landsat, None, weights=tiny_weights)
    b = fuse(landsat, guide * np.nan, guide_dt_days=5, weights=tiny_weights)
    np.testing.assert_allclose(a.reflectance.values, b.reflectance.values, atol=1e-6)
    assert np.isfinite(a.reflectance.values).all()


def test_any_pixel_size_and_scalar_coords_kept(tiny_weights: Path) -> None:
    landsat, guide = scene(6, 6, res=90.0)
    landsat = landsat.assign_coords(time=np.datetime64("2024-01-02"))
    ds = fuse(landsat, guide, weights=tiny_weights)
    assert ds.odc.geobox.resolution.x == 30.0 and ds.time.values == np.datetime64("2024-01-02")


def test_per_pixel_time_gap(tiny_weights: Path) -> None:
    landsat, guide = scene(9, 9, seed=6)
    dt = xr.DataArray(np.full((27, 27), 7.0, np.float32), dims=("y", "x"))
    a = fuse(landsat, guide, guide_dt_days=dt, weights=tiny_weights)
    b = fuse(landsat, guide, guide_dt_days=7.0, weights=tiny_weights)
    np.testing.assert_allclose(a.reflectance.values, b.reflectance.values, atol=1e-6)
    c = fuse(
        landsat.chunk({"y": 5}), guide, guide_dt_days=dt.chunk({"y": 15}), weights=tiny_weights
    ).compute()
    np.testing.assert_allclose(a.reflectance.values, c.reflectance.values, atol=1e-5)


def test_wrong_bands() -> None:
    landsat, guide = scene(6, 6)
    with pytest.raises(ModelInputError, match="bands"):
        fuse(landsat.isel(band=[0, 1, 2, 3, 5, 4]), guide)
    with pytest.raises(ModelInputError, match="bands"):
        fuse(landsat.isel(band=slice(0, 5)))
    with pytest.raises(ModelInputError, match="bands"):
        fuse(landsat, guide.assign_coords(band=["B02", "B03", "B04", "B8A", "B11", "B12"]))


def test_wrong_dims_dtype_and_no_crs() -> None:
    landsat, _ = scene(6, 6)
    with pytest.raises(ModelInputError, match="dims"):
        fuse(landsat.transpose("y", "x", "band"))
    with pytest.raises(ModelInputError, match="dtype"):
        fuse((landsat * 1e4).astype("uint16"))
    bare = xr.DataArray(
        landsat.values,
        dims=landsat.dims,
        coords={"band": landsat.band.values, "y": landsat.y.values, "x": landsat.x.values},
    )
    with pytest.raises(ModelInputError, match=r"CRS|grid"):
        fuse(bare)


def test_wrongly_sized_or_misaligned_guide() -> None:
    landsat, guide = scene(6, 6)
    g30 = geobox30(6, 6)
    with pytest.raises(ModelInputError, match="shape"):
        fuse(landsat, guide.isel(y=slice(0, 17)))
    with pytest.raises(ModelInputError, match="shape"):  # 20 m pixels: 2× not 3×
        fuse(landsat, wrap(np.zeros((6, 9, 9), np.float32), g30.zoom_to((9, 9))))
    shifted = wrap(guide.values, g30.zoom_to((18, 18)).translate_pix(0.5, 0))
    with pytest.raises(ModelInputError, match="shifted"):
        fuse(landsat, shifted)
    other_crs = wrap(guide.values, g30.zoom_to((18, 18))).odc.assign_crs("EPSG:32735")
    with pytest.raises(ModelInputError, match="CRS"):
        fuse(landsat, other_crs)
    with pytest.raises(ModelInputError, match=r"time-gap|guide_dt_days"):
        fuse(landsat, guide, guide_dt_days=xr.DataArray(np.zeros((6, 6)), dims=("y", "x")))
    assert issubclass(ModelInputError, FusionError)


def test_fuse_is_exported_from_the_package() -> None:
    # A fresh interpreter in the repository root: the import must resolve the real package.
    code = "import fusion, fusion.model.fuse as m; assert fusion.fuse is m.fuse and 'fuse' in fusion.__all__"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=120)
