"""Decimated reads of the run's rasters for the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from fusion.report.rasters import QUICKLOOK_PX, rgb_quicklook, tile_px, values_inside

LEFT, TOP = 216_180, 88_530


def _write(path: Path, data: np.ndarray, *, nodata: float | None = None) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=data.shape[2],
        height=data.shape[1],
        count=data.shape[0],
        dtype=data.dtype,
        crs="EPSG:32635",
        transform=from_origin(LEFT, TOP, 10, 10),
        nodata=nodata,
    ) as dst:
        dst.write(data)
    return path


@pytest.mark.parametrize("max_px", [40, 20, 8])
def test_values_inside_a_geometry_on_a_decimated_grid(tmp_path: Path, max_px: int) -> None:
    data = np.ones((1, 40, 40), np.uint16)
    data[0, :, 20:] = 2  # the east half
    data[0, :4, :] = 65535  # nodata rows along the north edge
    path = _write(tmp_path / "counts.tif", data, nodata=65535)
    west = box(LEFT, TOP - 400, LEFT + 200, TOP)
    values = values_inside(path, west, max_px=max_px)
    assert set(values.tolist()) == {1}
    # The west half less its nodata rows: 36 × 20 pixels, sampled at (max_px / 40)².
    assert values.size == pytest.approx(36 * 20 * (max_px / 40) ** 2, rel=0.15)
    everything = values_inside(path, None, max_px=max_px)
    assert set(everything.tolist()) == {1, 2}


def test_rgb_quicklook_stretches_and_makes_no_data_transparent(tmp_path: Path) -> None:
    data = np.full((6, 10, 10), 0.04, np.float32)
    data[:, 0, 0] = np.nan
    data[2, 5, 5] = 0.2  # red beyond the stretch maximum (0.08): saturates
    layer = rgb_quicklook(_write(tmp_path / "composite.tif", data), max_px=10)
    assert layer.data.shape == (10, 10, 4)
    assert layer.data[0, 0, 3] == 0 and layer.data[1, 1, 3] == 1
    np.testing.assert_allclose(layer.data[1, 1, :3], [0.04 / 0.08, 0.04 / 0.1, 0.04 / 0.06])
    assert layer.data[5, 5, 0] == 1.0
    assert layer.extent == (LEFT, LEFT + 100, TOP - 100, TOP)


def test_tile_quicklooks_shrink_as_tiles_share_the_map() -> None:
    assert tile_px(1) == QUICKLOOK_PX
    assert tile_px(4) == QUICKLOOK_PX // 2
    assert tile_px(10_000) == 64
