"""COG writer: valid COGs with CRS, nodata, descriptions, statistics, right overviews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rio_cogeo.cogeo import cog_validate

from fusion.export import write_cog
from fusion.export.atomic import atomic_path

GEOBOX = GeoBox.from_bbox((215_490, 80_520, 221_250, 86_280), "EPSG:32635", resolution=10)  # 576²


def _array(values: np.ndarray, bands: list[str] | None = None) -> xr.DataArray:
    coords = xr_coords(GEOBOX)
    if values.ndim == 2:
        return xr.DataArray(values, dims=("y", "x"), coords=coords, name="layer")
    return xr.DataArray(values, dims=("band", "y", "x"), coords={"band": bands, **coords})


def test_reflectance_cog_is_valid_and_self_describing(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.uniform(0, 0.5, (2, *GEOBOX.shape)).astype("float32")
    values[:, :20, :20] = np.nan
    path = write_cog(
        _array(values, ["red", "nir08"]),
        tmp_path / "r.tif",
        nodata=float("nan"),
        units="reflectance",
    )
    valid, errors, _ = cog_validate(path)
    assert valid, errors
    with rasterio.open(path) as src:
        assert src.crs.to_epsg() == 32635
        assert src.transform == GEOBOX.affine
        assert np.isnan(src.nodata)
        assert src.descriptions == ("red", "nir08")
        assert src.overviews(1), "overviews are needed for QGIS at small scales"
        stats = src.tags(1)
        assert float(stats["STATISTICS_MAXIMUM"]) == pytest.approx(np.nanmax(values[0]), rel=1e-5)
        np.testing.assert_array_equal(src.read(), values)


def test_class_layer_overviews_never_invent_classes(tmp_path: Path) -> None:
    # A checkerboard of classes 0 and 2: averaging would make 1, which does not exist.
    yy, xx = np.indices(GEOBOX.shape)
    classes = (((yy + xx) % 2) * 2).astype("uint8")
    path = write_cog(
        _array(classes),
        tmp_path / "c.tif",
        nodata=255,
        overview_resampling="nearest",
        colormap={0: (0, 0, 0, 0), 1: (255, 200, 0, 255), 2: (200, 0, 0, 255)},
        category_names=["none", "provisional", "confirmed"],
    )
    with rasterio.open(path) as src:
        overview = src.read(1, out_shape=(GEOBOX.shape[0] // 2, GEOBOX.shape[1] // 2))
        assert set(np.unique(overview)) <= {0, 2}
        assert src.colormap(1)[2][:3] == (200, 0, 0)
        assert src.tags(1)["CATEGORY_2"] == "confirmed"


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "keep.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half written")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]


def test_lazy_input_is_refused(tmp_path: Path) -> None:
    lazy = _array(np.zeros(GEOBOX.shape, "float32")).chunk()
    with pytest.raises(TypeError, match="computed"):
        write_cog(lazy, tmp_path / "x.tif", nodata=None)
