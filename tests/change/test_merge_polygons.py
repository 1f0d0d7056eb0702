"""Alert polygons of several tiles: one table, patches cut by tile edges whole again, tiles
without alerts included."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_zeros
from shapely.geometry import box

from fusion.change.polygons import COLUMNS, alert_polygons, merge_tile_polygons


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
    found = _table([(300_000, 90_000, 300_100, 90_100, 1, "2023-08-01", 0.3)])
    for frames in ([empty, found], [found, empty], [empty, empty]):
        merged = merge_tile_polygons(frames)
        assert str(merged["first_date"].dtype).startswith("datetime64")
        merged.to_file(tmp_path / "alerts.gpkg", layer="alerts", driver="GPKG")
        assert len(gpd.read_file(tmp_path / "alerts.gpkg")) == len(merged)


def _table(
    rows: list[tuple[float, float, float, float, int, str, float]], crs: str = "EPSG:32635"
) -> gpd.GeoDataFrame:
    """Polygons (x0, y0, x1, y1, confidence, first date, magnitude) of one tile."""
    boxes = [box(*r[:4]) for r in rows]
    return gpd.GeoDataFrame(
        {
            "area_ha": [b.area / 1e4 for b in boxes],
            "first_date": [np.datetime64(r[5], "ns") for r in rows],
            "confirmed_date": [
                np.datetime64(r[5], "ns") + np.timedelta64(10, "D") if r[4] == 2 else np.nan
                for r in rows
            ],
            "confidence": np.array([r[4] for r in rows], np.uint8),
            "magnitude": np.array([r[6] for r in rows], np.float32),
            "sensors": "sentinel2",
            "run_id": "r",
        },
        geometry=boxes,
        crs=crs,
    )


def test_a_patch_cut_by_a_tile_edge_is_one_polygon_again() -> None:
    # Tiles meet at x = 300 100: a confirmed patch lies across it, a provisional one touches
    # the edge on one side only, and a corner-touching confirmed patch joins (8-connected).
    west = _table(
        [
            (300_000, 90_000, 300_100, 90_100, 2, "2023-08-01", 0.2),
            (300_050, 90_200, 300_100, 90_300, 1, "2023-09-01", 0.1),
            (300_000, 90_350, 300_100, 90_400, 2, "2023-10-05", 0.4),
        ]
    )
    east = _table(
        [
            (300_100, 90_000, 300_300, 90_100, 2, "2023-07-20", 0.5),
            (300_100, 90_300, 300_150, 90_350, 2, "2023-10-01", 0.4),
            (300_100, 90_400, 300_200, 90_500, 2, "2023-10-01", 0.4),
        ]
    )
    merged = merge_tile_polygons([west, east]).to_crs("EPSG:32635")
    assert len(merged) == 3
    whole = merged.loc[merged["area_ha"].idxmax()]
    assert abs(whole["area_ha"] - 3.0) < 1e-9
    assert abs(whole.geometry.area / 1e4 - 3.0) < 1e-6
    assert whole["first_date"] == np.datetime64("2023-07-20")
    assert whole["confirmed_date"] == np.datetime64("2023-07-30")
    assert abs(whole["magnitude"] - (0.2 * 1 + 0.5 * 2) / 3) < 1e-6
    # provisional (west) and confirmed (east) touch at a corner: different classes stay apart
    assert sorted(merged["confidence"].tolist()) == [1, 2, 2]
    # the three confirmed patches meeting at corners across the edge form one chain
    assert sorted(merged["area_ha"].round(4).tolist()) == [0.5, 1.75, 3.0]


def test_tiles_of_other_zones_are_not_merged() -> None:
    a = _table([(300_000, 90_000, 300_100, 90_100, 2, "2023-08-01", 0.2)])
    b = _table([(300_000, 90_000, 300_100, 90_100, 2, "2023-08-01", 0.2)], crs="EPSG:32634")
    assert len(merge_tile_polygons([a, b])) == 2
