"""Alert polygons of several tiles merge into one GeoPackage, tiles without alerts included."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_zeros
from shapely.geometry import box

from fusion.change.polygons import COLUMNS, alert_polygons
from fusion.pipeline.runner import _merge_polygons


def _no_alerts() -> gpd.GeoDataFrame:
    gbox = GeoBox.from_bbox((300_000, 90_000, 300_200, 90_200), crs="EPSG:32635", resolution=10)
    conf = xr_zeros(gbox, dtype="uint8")
    alerts = xr.Dataset(
        {
            "confidence": conf,
            "alert_date": conf.astype("datetime64[ns]").where(False),
            "confirmed_date": conf.astype("datetime64[ns]").where(False),
            "magnitude": conf.astype("float32").where(False),
        }
    )
    return alert_polygons(alerts, sensors=["sentinel2"], run_id="r")


def test_a_tile_without_alerts_keeps_the_column_types(tmp_path: Path) -> None:
    empty = _no_alerts()
    assert list(empty.columns[:-1]) == COLUMNS and len(empty) == 0
    assert str(empty["first_date"].dtype) == "datetime64[ns]"
    found = gpd.GeoDataFrame(
        {
            "area_ha": [0.1],
            "first_date": [np.datetime64("2023-08-01", "ns")],
            "confirmed_date": [np.datetime64("NaT", "ns")],
            "confidence": np.array([1], np.uint8),
            "magnitude": np.array([0.3], np.float32),
            "sensors": ["sentinel2"],
            "run_id": ["r"],
        },
        geometry=[box(300_000, 90_000, 300_100, 90_100)],
        crs="EPSG:32635",
    )
    for frames in ([empty, found], [found, empty], [empty, empty]):
        merged = _merge_polygons(frames)
        assert str(merged["first_date"].dtype).startswith("datetime64")
        merged.to_file(tmp_path / "alerts.gpkg", layer="alerts", driver="GPKG")
        assert len(gpd.read_file(tmp_path / "alerts.gpkg")) == len(merged)
