"""A run over an AOI across two UTM zones and the equator: four grids, one run."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import pytest
import rasterio
from _pipeline_helpers import write_aoi

from fusion.pipeline import RunConfig, run

pytestmark = pytest.mark.slow


def test_run_across_zones_and_the_equator(tmp_path: Path) -> None:
    aoi = write_aoi(tmp_path / "aoi.geojson", (23.996, -0.004, 24.004, 0.004))
    config = RunConfig(
        aoi=aoi,
        out=tmp_path / "out",
        series="sentinel2",
        start=dt.date(2023, 1, 1),
        end=dt.date(2024, 6, 30),
    )
    manifest = run(config, progress=False).manifest
    assert manifest.status == "complete"
    assert {t.crs for t in manifest.tiles} == {
        "EPSG:32634",
        "EPSG:32635",
        "EPSG:32734",
        "EPSG:32735",
    }
    zones = {t.id.split("_")[0] for t in manifest.tiles}
    assert zones == {"34N", "35N", "34S", "35S"}
    for zone in zones:
        with rasterio.open(config.out / "mosaic" / zone / "confidence.vrt") as src:
            assert src.crs is not None and src.read(1).size > 0
    polygons = gpd.read_file(config.out / "alerts.gpkg")
    assert polygons.crs.to_epsg() == 4326
    catalogue = json.loads((config.out / "stac" / "collection.json").read_text())
    items = [link for link in catalogue["links"] if link["rel"] == "item"]
    assert len(items) == len(manifest.tiles) >= 4
    mosaics = {k: a["href"] for k, a in catalogue["assets"].items() if k.startswith("mosaic_")}
    assert {f"mosaic_{zone}_confidence" for zone in zones} <= mosaics.keys()
    for href in mosaics.values():
        assert (config.out / "stac" / href).resolve().is_file()
    assert (config.out / "project.qgz").exists() and (config.out / "report.html").exists()
