"""The lazy composite: one task per spatial chunk, the same values as xarray's median."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords

from fusion.bands import CANONICAL_BANDS
from fusion.composite import harmonized_composite


def _series(seed: int, times: int, geobox: GeoBox, *, chunks: int) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    values = rng.random((times, len(CANONICAL_BANDS), *geobox.shape), dtype=np.float32)
    values[values < 0.3] = np.nan  # cloud, nodata, a band missing here and there
    values[:, :, 0, 0] = np.nan  # a pixel never seen
    coords = {
        "time": np.arange(times).astype("datetime64[D]").astype("datetime64[ns]") + seed,
        "band": list(CANONICAL_BANDS),
        **xr_coords(geobox, crs_coord_name="spatial_ref"),
    }
    refl = xr.DataArray(values, dims=("time", "band", "y", "x"), coords=coords)
    return xr.Dataset({"reflectance": refl.chunk({"time": 1, "y": chunks, "x": chunks})})


@pytest.mark.filterwarnings("ignore:All-NaN slice encountered")  # the never-seen pixel
@pytest.mark.parametrize("chunks", [12, 5])
def test_lazy_median_and_counts_match_xarray(chunks: int) -> None:
    geobox = GeoBox.from_bbox((0, 0, 120, 120), "EPSG:32635", resolution=10)
    landsat, sentinel2 = _series(1, 4, geobox, chunks=chunks), _series(2, 7, geobox, chunks=chunks)
    out = harmonized_composite(landsat, sentinel2, geobox=geobox)
    stack = xr.concat([landsat["reflectance"], sentinel2["reflectance"]], dim="time").compute()
    expected = stack.median("time", skipna=True).astype("float32")
    got = out["reflectance"].compute()
    assert got.dims == ("band", "y", "x") and got.dtype == np.float32
    np.testing.assert_array_equal(got.values, expected.values)  # NaN positions included
    for name, ds in (("valid_landsat", landsat), ("valid_sentinel2", sentinel2)):
        count = ds["reflectance"].notnull().all("band").sum("time").astype("uint16")
        assert out[name].dtype == np.uint16
        np.testing.assert_array_equal(out[name].values, count.values)
    # One median task per spatial chunk, whatever the number of scenes.
    layers = out["reflectance"].data.__dask_graph__().layers
    (median,) = [name for name in layers if "median_blocks" in name]
    assert len(layers[median]) == len(out["reflectance"].data.chunks[1]) ** 2


def test_numpy_input_keeps_the_eager_path() -> None:
    geobox = GeoBox.from_bbox((0, 0, 60, 60), "EPSG:32635", resolution=10)
    s2 = _series(3, 5, geobox, chunks=6).compute()
    out = harmonized_composite(None, s2, geobox=geobox)
    assert not isinstance(out["reflectance"].data, da.Array)
    expected = s2["reflectance"].median("time", skipna=True).astype("float32")
    np.testing.assert_array_equal(out["reflectance"].values, expected.values)
    assert (out["valid_landsat"].values == 0).all()
