"""Dedupe: one item per acquisition, the newest baseline / best tier / newest processing wins."""

from __future__ import annotations

import copy
from datetime import timedelta
from pathlib import Path

import pystac
import pytest
from catalog_helpers import load_item, load_items

from fusion.catalog.dedupe import dedupe_items, landsat_scene, s2_tile
from fusion.errors import DuplicateItemWarning

pytestmark = pytest.mark.shared_data

CASSETTES = "pystac-client_cassettes"


@pytest.fixture(scope="module")
def pc_s2(shared_data: Path) -> pystac.Item:
    """Planetary Computer S2 L2A item, baseline 02.12, tile 60VUK."""
    return load_item(shared_data / "stac-items" / CASSETTES / "pc_sentinel-2-l2a.json")


@pytest.fixture(scope="module")
def es_landsat(shared_data: Path) -> pystac.Item:
    """Earth Search Landsat 8 C2 L2 item, path/row 033/032, T1."""
    return load_item(shared_data / "stac-items" / CASSETTES / "earthsearch_v1_landsat-c2-l2.json")


def reprocessed(item: pystac.Item, baseline: str, generated: str) -> pystac.Item:
    """A copy of a PC S2 item as if ESA had reprocessed it with another baseline."""
    out = item.clone()
    major_minor = baseline.replace(".", "")
    out.id = item.id.rsplit("_", 1)[0] + "_" + generated.replace("-", "").replace(":", "")[:15]
    out.properties = copy.deepcopy(item.properties)
    out.properties["s2:processing_baseline"] = baseline
    out.properties["s2:generation_time"] = generated
    out.properties["s2:product_uri"] = item.properties["s2:product_uri"].replace(
        "_N0212_", f"_N{major_minor}_"
    )
    return out


def landsat_copy(item: pystac.Item, tier: str, processed: str | None = None) -> pystac.Item:
    out = item.clone()
    out.properties = copy.deepcopy(item.properties)
    out.id = item.id.replace("_T1", f"_{tier}")
    out.properties["landsat:collection_category"] = tier
    if processed:
        out.properties["landsat:product_generated"] = processed
    return out


def test_keys_from_real_items(
    shared_data: Path, pc_s2: pystac.Item, es_landsat: pystac.Item
) -> None:
    es_c1 = load_item(
        shared_data / "stac-items" / CASSETTES / "earthsearch_v1_sentinel-2-c1-l2a.json"
    )
    assert s2_tile(es_c1) == "20EPT"  # grid:code MGRS-20EPT
    assert s2_tile(pc_s2) == "60VUK"  # s2:mgrs_tile
    assert landsat_scene(es_landsat) == ("8", "033", "032", "20231008")
    pc_landsat = load_item(shared_data / "stac-items" / CASSETTES / "pc_landsat-c2-l2.json")
    assert landsat_scene(pc_landsat) == ("9", "084", "082", "20250722")


@pytest.mark.parametrize("order", [1, -1])
def test_newer_baseline_wins_whatever_the_order(pc_s2: pystac.Item, order: int) -> None:
    old = reprocessed(pc_s2, "05.00", "2023-03-01T10:00:00Z")
    new = reprocessed(pc_s2, "05.10", "2023-01-01T10:00:00Z")  # newer baseline, older run
    with pytest.warns(DuplicateItemWarning, match=r"dropped 1 duplicate item\(s\) of 2"):
        result = dedupe_items([old, new][::order])
    assert [i.properties["s2:processing_baseline"] for i in result.kept] == ["05.10"]
    assert result.dropped == {old.id: new.id}


def test_same_baseline_newest_generation_wins(pc_s2: pystac.Item) -> None:
    first = reprocessed(pc_s2, "05.10", "2023-01-01T10:00:00Z")
    second = reprocessed(pc_s2, "05.10", "2024-06-01T10:00:00Z")
    result = dedupe_items([second, first], warn=False)
    assert [i.id for i in result.kept] == [second.id]


def test_sensing_time_to_the_second(pc_s2: pystac.Item) -> None:
    close = reprocessed(pc_s2, "05.10", "2024-06-01T10:00:00Z")
    assert close.datetime is not None
    close.datetime += timedelta(milliseconds=400)
    later = reprocessed(pc_s2, "05.10", "2024-06-01T11:00:00Z")
    assert later.datetime is not None
    later.datetime += timedelta(minutes=100)  # next orbit over the same tile: another scene
    result = dedupe_items([pc_s2, close, later], warn=False)
    assert {i.id for i in result.kept} == {close.id, later.id}
    assert result.dropped == {pc_s2.id: close.id}


def test_other_tiles_are_not_duplicates(shared_data: Path) -> None:
    items = load_items(
        shared_data / "stac-items" / CASSETTES / "all_planetarycomputer_sentinel-2-l2a.geojson"
    )
    assert len({i.datetime for i in items}) == 1  # one datatake, 33 tiles
    result = dedupe_items(items)
    assert len(result.kept) == len(items) and not result.dropped


def test_real_items_across_collections_prefer_the_first_listed(shared_data: Path) -> None:
    folder = shared_data / "stac-items" / CASSETTES
    c1 = load_items(folder / "all_earth-search_sentinel-2-c1-l2a.geojson")
    old = load_items(folder / "all_earth-search_sentinel-2-l2a.geojson")
    both = old + c1  # the API order must not matter
    with pytest.warns(DuplicateItemWarning):
        result = dedupe_items(both, collection_priority=["sentinel-2-c1-l2a", "sentinel-2-l2a"])
    # the 6 acquisitions of 2025-07-31 exist in both; each kept once, from collection 1
    assert len(result.dropped) == 6
    assert all(
        d.endswith("_0_L2A") and k.startswith(("S2B_T", "S2A_T", "S2C_T"))
        for d, k in result.dropped.items()
    )
    assert len(result.kept) == len(both) - 6
    assert "S2A_13TDE_20231008_0_L2A" in {i.id for i in result.kept}  # only in the old collection
    flipped = dedupe_items(
        both, collection_priority=["sentinel-2-l2a", "sentinel-2-c1-l2a"], warn=False
    )
    assert set(flipped.dropped) == set(result.dropped.values())


def test_landsat_t1_beats_rt_and_t2(es_landsat: pystac.Item) -> None:
    rt = landsat_copy(es_landsat, "RT", processed="2023-12-01T00:00:00Z")  # newer, but RT
    t2 = landsat_copy(es_landsat, "T2")
    with pytest.warns(DuplicateItemWarning, match="dropped 2 duplicate"):
        result = dedupe_items([rt, es_landsat, t2])
    assert [i.id for i in result.kept] == [es_landsat.id]
    assert result.dropped == {rt.id: es_landsat.id, t2.id: es_landsat.id}
    assert dedupe_items([rt, t2], warn=False).kept == [t2]


def test_landsat_same_tier_newest_processing_wins(es_landsat: pystac.Item) -> None:
    newer = landsat_copy(es_landsat, "T1", processed="2024-05-01T00:00:00Z")
    newer.id = "LC08_L2SP_033032_20231008_20240501_02_T1"
    result = dedupe_items([es_landsat, newer], warn=False)
    assert [i.id for i in result.kept] == [newer.id]


def test_landsat_other_platform_or_date_is_another_scene(es_landsat: pystac.Item) -> None:
    l9 = landsat_copy(es_landsat, "T1")
    l9.id = es_landsat.id.replace("LC08", "LC09")
    l9.properties["platform"] = "landsat-9"
    next_pass = landsat_copy(es_landsat, "T1")
    next_pass.id = es_landsat.id.replace("20231008", "20231024")
    assert next_pass.datetime is not None
    next_pass.datetime += timedelta(days=16)
    result = dedupe_items([es_landsat, l9, next_pass])
    assert len(result.kept) == 3 and not result.dropped
