"""Provenance records: what the manifest says about each item, never with tokens or passwords."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from catalog_helpers import load_item

from fusion.catalog import clean_href, item_provenance

CASSETTES = "pystac-client_cassettes"


@pytest.mark.parametrize(
    ("href", "clean"),
    [
        (
            "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/T60VUK_B02_10m.tif"
            "?st=2024-01-01T00%3A00%3A00Z&se=2024-01-02&sp=rl&sv=2021-06-08&sr=c&sig=AbC%2Bsecret%3D",
            "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/T60VUK_B02_10m.tif",
        ),
        ("https://user:pa55@example.org:8443/a/b.tif#frag", "https://example.org:8443/a/b.tif"),
        (
            "s3://usgs-landsat/collection02/x_SR_B2.TIF",
            "s3://usgs-landsat/collection02/x_SR_B2.TIF",
        ),
        ("/data/demo/scene_B02.tif", "/data/demo/scene_B02.tif"),
        ("C:/data/scene.tif", "C:/data/scene.tif"),
    ],
)
def test_clean_href(href: str, clean: str) -> None:
    assert clean_href(href) == clean


@pytest.mark.shared_data
def test_sentinel2_record_from_a_signed_planetary_computer_item(shared_data: Path) -> None:
    item = load_item(shared_data / "stac-items" / CASSETTES / "pc_sentinel-2-l2a.json")
    for asset in item.assets.values():  # what planetary_computer.sign does to every href
        asset.href += "?st=2024-01-01&se=2024-01-02&sp=rl&sig=SECRET%3D"
    record = item_provenance(
        item, source="planetary-computer", sensor="sentinel2", asset_keys=["B04", "SCL", "nope"]
    )
    assert record.item_id == item.id and record.collection == "sentinel-2-l2a"
    assert record.processing_baseline == "02.12" and record.tier is None
    assert record.platform == "sentinel-2a" and record.cloud_cover == pytest.approx(56.297088)
    assert record.datetime == dt.datetime(2019, 1, 1, 0, 0, 1, 24000, tzinfo=dt.UTC)
    assert set(record.assets) == {"B04", "SCL"}
    text = json.dumps(record.to_dict())
    assert "SECRET" not in text and "?" not in text and "sig=" not in text
    assert json.loads(text)["assets"]["B04"].endswith(".tif")
    assert json.loads(text)["datetime"] == "2019-01-01T00:00:01.024000Z"


@pytest.mark.shared_data
def test_landsat_record(shared_data: Path) -> None:
    item = load_item(shared_data / "stac-items" / CASSETTES / "earthsearch_v1_landsat-c2-l2.json")
    record = item_provenance(item, source="earth-search", sensor="landsat")
    data = record.to_dict()
    assert data["tier"] == "T1" and data["processing_baseline"] is None
    assert data["platform"] == "landsat-8" and data["sensor"] == "landsat"
    assert set(data["assets"]) == set(item.assets)  # no asset_keys: every asset
    assert list(data) == [
        "item_id",
        "source",
        "collection",
        "sensor",
        "datetime",
        "platform",
        "cloud_cover",
        "processing_baseline",
        "tier",
        "assets",
    ]
    with pytest.raises(AttributeError):
        record.item_id = "other"  # type: ignore[misc]
