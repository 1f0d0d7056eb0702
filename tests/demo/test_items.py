"""The demo items are faithful Earth Search v1 items whose metadata match the written COGs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import odc.stac
import pyarrow.parquet as pq
import pystac
import pytest
import rasterio
from demo_helpers import SMALL_AOI, facts, item_documents
from stac_geoparquet.arrow import stac_table_to_items

from fusion.catalog.metadata import processing_baseline, sensor_of
from fusion.demo import DemoCatalog

LANDSAT_ASSETS = {"blue", "green", "red", "nir08", "swir16", "swir22", "qa_pixel"}
S2_ASSETS = {"blue", "green", "red", "nir", "nir08", "swir16", "swir22", "scl"}


def _strip_nulls(value: Any) -> Any:
    """stac-geoparquet fills fields absent from one collection with nulls; drop them."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value]
    return value


def test_ids_are_unique_and_assets_complete(small_catalog: DemoCatalog) -> None:
    docs = item_documents(small_catalog)
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids))
    for doc in docs:
        item = pystac.Item.from_dict(doc)
        expected = LANDSAT_ASSETS if sensor_of(item) == "landsat" else S2_ASSETS
        assert set(item.assets) == expected
        for asset in item.assets.values():
            assert Path(asset.href).is_absolute() and Path(asset.href).is_file(), asset.href


def test_raster_and_proj_fields_match_the_files(small_catalog: DemoCatalog) -> None:
    for doc in item_documents(small_catalog)[:12]:
        props = doc["properties"]
        for key, asset in doc["assets"].items():
            band = asset["raster:bands"][0]
            shape = asset.get("proj:shape", props.get("proj:shape"))
            transform = asset.get("proj:transform", props.get("proj:transform"))
            with rasterio.open(asset["href"]) as src:
                assert src.crs.to_epsg() == props["proj:epsg"]
                assert src.dtypes[0] == band["data_type"], (doc["id"], key)
                assert src.nodata == band["nodata"], (doc["id"], key)
                assert [src.height, src.width] == shape, (doc["id"], key)
                assert list(src.transform)[:6] == transform, (doc["id"], key)
                assert abs(src.res[0] - band["spatial_resolution"]) < 1e-9
                assert src.profile["tiled"] and src.profile["compress"] == "deflate"
                assert src.block_shapes[0] == (256, 256)


def test_cloud_cover_matches_the_scene_masks(small_catalog: DemoCatalog) -> None:
    known = facts(small_catalog)
    for doc in item_documents(small_catalog):
        props = doc["properties"]
        if doc["collection"] == "landsat-c2-l2":
            with rasterio.open(doc["assets"]["qa_pixel"]["href"]) as src:
                qa = src.read(1)
            cloudy = 100.0 * float(((qa >> 3) & 1).mean())
            assert props["landsat:collection_category"] in ("T1", "T2")
        else:
            with rasterio.open(doc["assets"]["scl"]["href"]) as src:
                scl = src.read(1)
            cloudy = 100.0 * float(np.isin(scl, [8, 9, 10]).mean())
        assert props["eo:cloud_cover"] == pytest.approx(cloudy, abs=0.01)
        # ... and close to the simulated 10 m cloud fraction of that acquisition.
        assert props["eo:cloud_cover"] == pytest.approx(
            100 * known[doc["id"]]["cloud_fraction"], abs=6
        )


def test_reprocessed_duplicates_carry_newer_baselines(small_catalog: DemoCatalog) -> None:
    items = [pystac.Item.from_dict(d) for d in item_documents(small_catalog)]
    s2 = [i for i in items if sensor_of(i) == "sentinel2"]
    groups: dict[tuple[str, Any], list[pystac.Item]] = {}
    for item in s2:
        groups.setdefault((item.properties["grid:code"], item.datetime), []).append(item)
    pairs = [g for g in groups.values() if len(g) > 1]
    assert pairs, "the test world was configured with 20 % duplicates"
    for pair in pairs:
        assert {i.id[-6:] for i in pair} == {"_0_L2A", "_1_L2A"}
        first, second = sorted(pair, key=lambda i: i.id)
        old, new = processing_baseline(first), processing_baseline(second)
        assert old is not None and new is not None and new > old >= (4, 0)
        assert second.properties["created"] > first.properties["created"]
    assert all((processing_baseline(i) or (0, 0)) >= (4, 0) for i in s2)


@pytest.mark.shared_data
def test_items_follow_the_real_earth_search_schema(
    small_catalog: DemoCatalog, shared_data: Path
) -> None:
    folder = shared_data / "stac-items" / "pystac-client_cassettes"
    real = {
        "sentinel-2-l2a": json.loads((folder / "earthsearch_v1_sentinel-2-l2a.json").read_text()),
        "landsat-c2-l2": json.loads((folder / "earthsearch_v1_landsat-c2-l2.json").read_text()),
    }
    seen = set()
    for doc in item_documents(small_catalog):
        ref = real[doc["collection"]]
        seen.add(doc["collection"])
        assert set(doc) == set(ref)
        # Every property of the real item is present (asset-storage fields aside).
        assert set(ref["properties"]) - {"storage:platform", "storage:region"} <= set(
            doc["properties"]
        )
        assert set(doc["properties"]) <= set(ref["properties"]) | {"s2:sequence"}
        for key, asset in doc["assets"].items():
            ref_asset = ref["assets"][key]
            assert asset["roles"] == ref_asset["roles"] and asset["type"] == ref_asset["type"]
            ref_fields = set(ref_asset) - {
                "storage:platform",
                "storage:region",
                "storage:requester_pays",
            }
            assert set(asset) == ref_fields, (doc["id"], key)
            for ours, theirs in zip(asset["raster:bands"], ref_asset["raster:bands"], strict=True):
                assert ours.keys() == theirs.keys()
                assert {k: ours[k] for k in ours if k != "spatial_resolution"} == {
                    k: theirs[k] for k in theirs if k != "spatial_resolution"
                }
            for ours, theirs in zip(
                asset.get("eo:bands", []), ref_asset.get("eo:bands", []), strict=True
            ):
                assert (
                    ours["name"] == theirs["name"] and ours["common_name"] == theirs["common_name"]
                )
    assert seen == set(real)


def test_geoparquet_round_trip_gives_back_the_items(small_catalog: DemoCatalog) -> None:
    table = pq.read_table(small_catalog.items_parquet)
    docs = {d["id"]: d for d in item_documents(small_catalog)}
    back = [_strip_nulls(d) for d in stac_table_to_items(table)]
    assert sorted(d["id"] for d in back) == sorted(docs)
    for doc in back:
        ours = docs[doc["id"]]
        for key in ("created", "updated"):  # parquet keeps instants, not their spelling
            assert doc["properties"].pop(key)[:23] == ours["properties"][key][:23]
        expected = {
            **ours,
            "properties": {
                k: v for k, v in ours["properties"].items() if k not in ("created", "updated")
            },
        }
        assert doc == expected
    for name, path in small_catalog.collections.items():
        assert json.loads(path.read_text())["id"] == name


def test_odc_stac_loads_the_demo_items_on_the_aoi_grid(small_catalog: DemoCatalog) -> None:
    back = [
        _strip_nulls(d) for d in stac_table_to_items(pq.read_table(small_catalog.items_parquet))
    ]
    items = [pystac.Item.from_dict(d) for d in back]
    by_sensor = Counter(sensor_of(i) for i in items)
    assert by_sensor["landsat"] > 0 and by_sensor["sentinel2"] > 0
    s2 = next(i for i in items if sensor_of(i) == "sentinel2")
    landsat = next(i for i in items if sensor_of(i) == "landsat")
    loaded = odc.stac.load([s2], bands=["red", "swir16", "scl"], geobox=SMALL_AOI)
    loaded30 = odc.stac.load([landsat], bands=["red", "qa_pixel"], geobox=SMALL_AOI.zoom_out(3))
    for data, item, key in (
        (loaded, s2, "red"),
        (loaded30, landsat, "red"),
        (loaded30, landsat, "qa_pixel"),
    ):
        with rasterio.open(item.assets[key].href) as src:
            window = rasterio.windows.from_bounds(
                *data.odc.geobox.boundingbox, transform=src.transform
            )
            expected = src.read(1, window=window)
        assert np.array_equal(data[key].isel(time=0).values, expected), (item.id, key)
    # A 20 m band lands on the 10 m grid by pixel replication (nearest), not shifted.
    with rasterio.open(s2.assets["swir16"].href) as src:
        window = rasterio.windows.from_bounds(*SMALL_AOI.boundingbox, transform=src.transform)
        swir20 = src.read(1, window=window)
    assert np.array_equal(loaded.swir16.isel(time=0).values[::2, ::2], swir20)
