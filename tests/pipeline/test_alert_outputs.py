"""Monitor outputs of a run: alert layers with styles, a valid STAC catalogue, polygons appended.

Runs the Sentinel-2 series (no network weights needed) over 18 months of a small demo AOI.
"""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import pystac
import pytest
import rasterio
from shapely.geometry import box, mapping

from fusion.pipeline import RunConfig, run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("alerts")
    aoi = folder / "aoi.geojson"
    aoi.write_text(
        json.dumps(
            {
                "type": "Feature",
                "properties": {},
                "geometry": mapping(box(24.450, 0.785, 24.465, 0.800)),
            }
        )
    )
    out = folder / "out"
    config = RunConfig(
        aoi=aoi,
        out=out,
        start=dt.date(2023, 1, 1),
        end=dt.date(2024, 6, 30),
        series="sentinel2",
        mask_buffer_m=30,
    )
    # The second run starts the monitor over (--fresh): a plain rerun would find nothing new.
    ids = [run(replace(config, fresh=i > 0), progress=False).manifest.run_id for i in range(2)]
    return out, ids


def test_alert_layers_exist_with_styles(two_runs: tuple[Path, list[str]]) -> None:
    out, _ = two_runs
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = {o["kind"] for o in manifest["outputs"]}
    assert {
        "alert_date",
        "confidence",
        "magnitude",
        "valid_count",
        "alert_polygons",
        "stac",
    } <= kinds
    for record in manifest["outputs"]:
        path = out / record["path"]
        assert path.is_file(), path
        if path.suffix in (".tif", ".gpkg"):
            assert ET.parse(path.with_suffix(".qml")).getroot().tag == "qgis"
    (tile,) = manifest["tiles"]
    assert set(tile["alerts"]) == {"confirmed_ha", "provisional_ha", "polygons"}
    with rasterio.open(next(out.glob("*/confidence.tif"))) as src:
        assert src.colormap(1)[2][:3] == (220, 0, 0)
        assert src.tags(1)["CATEGORY_2"] == "confirmed"


def test_output_catalogue_validates_and_points_at_files(two_runs: tuple[Path, list[str]]) -> None:
    out, ids = two_runs
    collection = pystac.read_file(out / "stac" / "collection.json")
    assert isinstance(collection, pystac.Collection)
    assert collection.id == f"fusion-{ids[-1]}"
    collection.validate_all()
    items = list(collection.get_items())
    assert items
    for item in items:
        for asset in item.assets.values():
            assert Path(asset.get_absolute_href()).is_file()
    assert {"alerts", "qgis_project", "report"} <= collection.assets.keys()
    for asset in collection.assets.values():
        assert Path(asset.get_absolute_href()).is_file()
    assert collection.assets["report"].media_type == "text/html"


def test_polygons_accumulate_across_runs(two_runs: tuple[Path, list[str]]) -> None:
    out, ids = two_runs
    frame = gpd.read_file(out / "alerts.gpkg", layer="alerts")
    per_run = frame.groupby("run_id").size()
    assert set(per_run.index) <= set(ids)
    # the same inputs give the same polygons in both runs
    if len(frame):
        assert per_run.get(ids[0], 0) == per_run.get(ids[1], 0)
        assert {
            "area_ha",
            "first_date",
            "confirmed_date",
            "confidence",
            "magnitude",
            "sensors",
        } <= set(frame.columns)
        assert (frame["sensors"] == "sentinel2").all()
