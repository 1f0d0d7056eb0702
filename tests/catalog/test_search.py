"""search_items: argument checks and the result object, on a geoparquet built in code."""

from __future__ import annotations

import warnings
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box, mapping

from fusion.catalog import GeoparquetSource, SearchSettings, search_items
from fusion.errors import SearchError

SAME = {b: b for b in ("blue", "green", "red", "nir08", "swir16", "swir22")}
AOI = mapping(box(24.44, 0.77, 24.48, 0.81))


def s2_item(i: int, day: int, cloud: float) -> dict[str, Any]:
    when = datetime(2024, 3, day, 8, 50, 19)
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "id": f"S2A_T35NKA_{when:%Y%m%dT%H%M%S}_L2A" + ("" if i == 0 else f"_{i}"),
        "collection": "sentinel-2-c1-l2a",
        "geometry": mapping(box(24.3, 0.6, 24.7, 1.0)),
        "bbox": [24.3, 0.6, 24.7, 1.0],
        "properties": {
            "datetime": f"{when:%Y-%m-%dT%H:%M:%S}Z",
            "platform": "sentinel-2a",
            "eo:cloud_cover": cloud,
            "grid:code": "MGRS-35NKA",
            "s2:processing_baseline": "05.10" if i == 0 else "05.00",
        },
        "links": [],
        "assets": {
            k: {"href": f"https://example.org/{i}/{day}/{k}.tif?token=x"} for k in [*SAME, "scl"]
        },
        "stac_extensions": [],
    }


@pytest.fixture
def source(tmp_path: Path) -> GeoparquetSource:
    import stac_geoparquet.arrow as sga

    items = [s2_item(0, d, float(d * 3)) for d in range(1, 21)] + [
        s2_item(1, 5, 1.0)
    ]  # a duplicate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sga.to_parquet(sga.parse_stac_items_to_arrow(items), tmp_path / "s2.parquet")
    src = GeoparquetSource.model_validate(
        {
            "kind": "geoparquet",
            "path": str(tmp_path / "s2.parquet"),
            "collections": {
                "sentinel-2-c1-l2a": {"sensor": "sentinel2", "bands": SAME, "mask_asset": "scl"}
            },
        }
    )
    return src.bind("tiny", SearchSettings(max_cloud=30))


def test_result_counts_dedupe_and_manifest(source: GeoparquetSource) -> None:
    with pytest.warns(Warning) as record:
        result = search_items(
            source, intersects=AOI, start=date(2024, 3, 1), end=date(2024, 3, 31), max_cloud=None
        )
    # the source's default max_cloud=30 applies: days 1..9 (3 % .. 27 %) + the duplicate of day 5
    assert len(result) == 9
    assert result.duplicates_dropped == {
        "S2A_T35NKA_20240305T085019_L2A_1": "S2A_T35NKA_20240305T085019_L2A"
    }
    assert result.items["landsat"] == [] and not result.truncated
    assert "source 'tiny' has no landsat collection; none searched" in result.warnings
    assert any("dropped 1 duplicate" in str(w.message) for w in record)
    manifest = result.to_dict()
    assert manifest["counts"] == {"landsat": 0, "sentinel2": 9}
    assert all("?" not in href for p in manifest["items"] for href in p["assets"].values())
    assert [i.id for i in result.all_items()] == [p["item_id"] for p in manifest["items"]]
    assert set(manifest["items"][0]["assets"]) == {*SAME, "scl"}


def test_explicit_max_cloud_overrides_the_default(source: GeoparquetSource) -> None:
    result = search_items(
        source,
        intersects=AOI,
        start=date(2024, 3, 1),
        end=date(2024, 3, 31),
        max_cloud=100,
        sensors=["sentinel2"],
    )
    assert len(result) == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"start": date(2024, 3, 9), "end": date(2024, 3, 1)},
            "start 2024-03-09 is after end 2024-03-01; swap them",
        ),
        ({"intersects": {"type": "Polygon"}}, "search area: not a GeoJSON geometry"),
        (
            {"intersects": mapping(box(500_000, 0, 510_000, 10_000))},
            "not longitude/latitude; reproject the AOI to EPSG:4326",
        ),
    ],
)
def test_bad_arguments(source: GeoparquetSource, kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "intersects": AOI,
        "start": date(2024, 3, 1),
        "end": date(2024, 3, 31),
        "max_cloud": None,
    }
    with pytest.raises(SearchError, match=message):
        search_items(source, **{**args, **kwargs})


@pytest.mark.filterwarnings("ignore::fusion.errors.DuplicateItemWarning")  # the demo reprocesses
def test_demo_source_end_to_end() -> None:
    """The shipped default source searches the simulator's catalogue over a real AOI grid."""
    from fusion.aoi import aoi_grid, read_aoi
    from fusion.catalog import load_catalog

    repo = Path(__file__).resolve().parents[2]
    tile = aoi_grid(read_aoi(repo / "congo.geojson"))[0]
    source = load_catalog(repo / "data_catalog.yaml").source()
    result = search_items(
        source,
        intersects=tile.geometry.to_crs("EPSG:4326").json,
        start=date(2024, 1, 1),
        end=date(2024, 1, 31),
        max_cloud=100,
        demo_geobox=tile.geobox,
    )
    assert result.source == "demo"
    assert result.items["landsat"] and result.items["sentinel2"]
    assert {i.collection_id for i in result.all_items()} == set(result.bands)
    for record in result.provenance:
        assert record.datetime is not None and date(2024, 1, 1) <= record.datetime.date() <= date(
            2024, 1, 31
        )
        assert set(record.assets) == {
            *result.bands[record.collection or ""].bands.values(),
            result.bands[record.collection or ""].mask_asset,
        }
