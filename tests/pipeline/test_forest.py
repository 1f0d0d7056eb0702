"""``--forest-mask``: a user's forest raster, in any CRS, on the tile grid; bad masks refused."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
import rasterio
from _pipeline_helpers import write_aoi
from odc.geo.geobox import GeoBox
from rasterio.transform import from_bounds

from fusion.errors import ConfigError
from fusion.pipeline import RunConfig, run
from fusion.pipeline.forest import load_forest_mask

TILE = GeoBox.from_bbox((300_000, 90_000, 300_600, 90_300), crs="EPSG:32635", resolution=10)


def write_mask(path: Path, values: np.ndarray, bounds: tuple[float, ...], crs: str | None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[1],
        height=values.shape[0],
        count=1,
        dtype="uint8",
        nodata=255,
        crs=crs,
        transform=from_bounds(*bounds, values.shape[1], values.shape[0]),
    ) as dst:
        dst.write(values, 1)
    return path


def test_mask_in_another_crs_lands_on_the_tile_grid(tmp_path: Path) -> None:
    # Left half forest, right half not, in geographic coordinates around the tile.
    west, south, east, north = TILE.extent.to_crs("EPSG:4326").boundingbox.bbox
    pad = 0.001
    values = np.zeros((40, 80), np.uint8)
    values[:, :40] = 1
    bounds = (west - pad, south - pad, east + pad, north + pad)  # the split at the centre
    mask = load_forest_mask(write_mask(tmp_path / "m.tif", values, bounds, "EPSG:4326"), TILE)
    assert mask.dtype == bool and mask.shape == (TILE.height, TILE.width)
    assert mask.odc.geobox == TILE
    forest = np.asarray(mask.values)
    assert forest[:, :25].all() and not forest[:, -25:].any()


def test_nodata_and_outside_are_not_forest(tmp_path: Path) -> None:
    values = np.full((30, 30), 255, np.uint8)
    values[:, :15] = 1
    left, bottom, _, top = TILE.extent.boundingbox.bbox
    path = write_mask(tmp_path / "m.tif", values, (left, bottom, left + 300, top), "EPSG:32635")
    forest = np.asarray(load_forest_mask(path, TILE).values)
    assert forest[:, :10].all()  # x < 150 m: forest
    assert not forest[:, 20:].any()  # nodata, then outside the raster


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no-crs", "has no CRS"),
        ("elsewhere", "does not overlap"),
        ("not-a-raster", "cannot be read"),
    ],
)
def test_bad_masks_are_refused_naming_the_file(tmp_path: Path, case: str, message: str) -> None:
    path = tmp_path / f"{case}.tif"
    ones = np.ones((10, 10), np.uint8)
    if case == "no-crs":
        write_mask(path, ones, TILE.extent.boundingbox.bbox, None)
    elif case == "elsewhere":
        write_mask(path, ones, (500_000, 500_000, 500_100, 500_100), "EPSG:32635")
    else:
        path.write_text("not a GeoTIFF")
    with pytest.raises(ConfigError, match=message) as err:
        load_forest_mask(path, TILE)
    assert str(path) in str(err.value)


@pytest.mark.slow
def test_a_run_monitors_only_the_masked_forest(tmp_path: Path) -> None:
    aoi = write_aoi(tmp_path / "aoi.geojson", (24.450, 0.785, 24.462, 0.797))
    base = RunConfig(
        aoi=aoi,
        out=tmp_path / "derived",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2024, 6, 30),
    )
    derived = run(base, progress=False).manifest
    assert sum(t.alerts["polygons"] for t in derived.tiles) > 0
    (tile,) = derived.tiles
    left, bottom, right, top = tile.bounds
    path = write_mask(
        tmp_path / "no-forest.tif",
        np.zeros((10, 10), np.uint8),
        (left, bottom, right, top),
        tile.crs,
    )
    masked = run(
        RunConfig(**{**base.__dict__, "out": tmp_path / "masked", "forest_mask": path}),
        progress=False,
    ).manifest
    assert sum(t.alerts["polygons"] for t in masked.tiles) == 0
