"""Alert outputs: encoded dates, class layer with colours, styles that parse, GeoPackage append."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rio_cogeo.cogeo import cog_validate
from shapely.geometry import box

from fusion.export.alerts import (
    DATE_ORIGIN,
    append_polygons,
    days_since_origin,
    write_alert_rasters,
)

GEOBOX = GeoBox.from_bbox((215_490, 80_520, 218_370, 83_400), "EPSG:32635", resolution=10)  # 288²


def _alerts() -> tuple[xr.Dataset, xr.DataArray]:
    coords = xr_coords(GEOBOX)
    shape = GEOBOX.shape
    date = np.full(shape, np.datetime64("NaT"), "datetime64[ns]")
    date[10:20, 10:20] = np.datetime64("2024-03-01")
    confidence = np.zeros(shape, "uint8")
    confidence[10:20, 10:20] = 2
    confidence[50:52, 50:52] = 1
    magnitude = np.where(confidence > 0, 0.3, np.nan).astype("float32")
    ds = xr.Dataset(
        {
            "alert_date": (("y", "x"), date),
            "confirmed_date": (
                ("y", "x"),
                np.where(confidence == 2, date + np.timedelta64(10, "D"), date),
            ),
            "confidence": (("y", "x"), confidence),
            "magnitude": (("y", "x"), magnitude),
            "valid_count": (("y", "x"), np.full(shape, 12, "uint16")),
        },
        coords=coords,
    )
    inside = xr.DataArray(np.ones(shape, bool), dims=("y", "x"), coords=coords)
    inside[:, -10:] = False
    return ds, inside


def test_dates_are_days_since_origin_and_nat_is_zero() -> None:
    dates = xr.DataArray(np.array(["2015-01-02", "NaT", "2024-03-01"], dtype="datetime64[ns]"))
    assert days_since_origin(dates).values.tolist() == [
        1,
        0,
        (dt.date(2024, 3, 1) - DATE_ORIGIN).days,
    ]


def test_alert_rasters_are_valid_styled_cogs(tmp_path: Path) -> None:
    ds, inside = _alerts()
    files = write_alert_rasters(
        ds, tmp_path, inside=inside, period=(dt.date(2023, 1, 1), dt.date(2024, 6, 30)), tags={}
    )
    assert set(files) == {"alert_date", "confirmed_date", "confidence", "magnitude", "valid_count"}
    for path in files.values():
        assert cog_validate(path)[0], path
        style = path.with_suffix(".qml")
        assert ET.parse(style).getroot().tag == "qgis"
    with rasterio.open(files["confidence"]) as src:
        values = src.read(1)
        assert src.nodata == 255 and values[0, -1] == 255  # outside the AOI
        assert values[15, 15] == 2 and values[51, 51] == 1
        assert src.colormap(1)[2][:3] == (220, 0, 0)
    with rasterio.open(files["alert_date"]) as src:
        assert src.read(1)[15, 15] == (dt.date(2024, 3, 1) - DATE_ORIGIN).days
        assert "days since 2015-01-01" in src.tags()["DATE_ENCODING"]
    with rasterio.open(files["confirmed_date"]) as src:
        assert src.read(1)[15, 15] == (dt.date(2024, 3, 11) - DATE_ORIGIN).days
        assert src.read(1)[51, 51] == 0  # provisional: not confirmed
    palette = ET.parse(files["confidence"].with_suffix(".qml")).getroot()
    labels = [e.get("label") for e in palette.iter("paletteEntry")]
    assert labels == ["no alert", "provisional", "confirmed"]


def _polygons(run_id: str, n: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "area_ha": [0.1] * n,
            "first_date": pd.to_datetime(["2024-03-01"] * n),
            "confidence": [2] * n,
            "run_id": [run_id] * n,
        },
        geometry=[box(216_000 + 100 * i, 81_000, 216_050 + 100 * i, 81_050) for i in range(n)],
        crs="EPSG:32635",
    )


def test_polygons_append_across_runs_in_wgs84(tmp_path: Path) -> None:
    published = tmp_path / "out" / "alerts.gpkg"
    append_polygons(_polygons("run1", 2), None, published)
    second = append_polygons(_polygons("run2", 3), published, tmp_path / "staging" / "alerts.gpkg")
    frame = gpd.read_file(second, layer="alerts")
    assert frame.crs.to_epsg() == 4326
    assert frame["run_id"].tolist() == ["run1"] * 2 + ["run2"] * 3
    assert len(gpd.read_file(published, layer="alerts")) == 2, "the published file is untouched"
    assert second.with_suffix(".qml").is_file()


@pytest.mark.parametrize("empty_first", [True, False])
def test_a_run_without_alerts_still_writes_a_readable_layer(
    tmp_path: Path, empty_first: bool
) -> None:
    first = _polygons("run1", 0 if empty_first else 1)
    path = append_polygons(first, None, tmp_path / "alerts.gpkg")
    assert len(gpd.read_file(path, layer="alerts")) == len(first)
