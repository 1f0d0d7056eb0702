"""Real STAC items from Earth Search, Planetary Computer, USGS and stac-geoparquet map to the right
asset keys and scale/offset; the offset follows the processing baseline only."""

from __future__ import annotations

import copy
import json
import pickle
import warnings
from pathlib import Path
from typing import Any

import pystac
import pytest

from fusion.bands import CANONICAL_BANDS
from fusion.errors import ItemMetadataError, ScaleOffsetMismatchWarning
from fusion.ingest.items import (
    EARTH_SEARCH_V1,
    LEGACY,
    PLANETARY_COMPUTER,
    CollectionBands,
    guess_collection_bands,
    item_bands,
)

pytestmark = pytest.mark.shared_data

MSI = ("B02", "B03", "B04", "B8A", "B11", "B12")


def _features(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return data
    return data["features"] if data.get("type") == "FeatureCollection" else [data]


def _items(shared_data: Path, name: str) -> list[pystac.Item]:
    with warnings.catch_warnings():
        # pystac's storage-extension migration cannot parse Earth Search's s3 hrefs; harmless.
        warnings.simplefilter("ignore", UserWarning)
        return [pystac.Item.from_dict(f) for f in _features(shared_data / "stac-items" / name)]


# (file, band mapping of its source, expected asset keys, mask, scale, offset, warns)
CASES = [
    (
        "pystac-client_cassettes/earthsearch_v1_landsat-c2-l2.json",
        EARTH_SEARCH_V1,
        CANONICAL_BANDS,
        "qa_pixel",
        2.75e-5,
        -0.2,
        False,
    ),
    (
        "pystac-client_cassettes/pc_landsat-c2-l2.json",
        PLANETARY_COMPUTER,
        CANONICAL_BANDS,
        "qa_pixel",
        2.75e-5,
        -0.2,
        False,
    ),
    (
        "pystac-client_cassettes/all_planetarycomputer_landsat-c2-l2.geojson",
        PLANETARY_COMPUTER,
        CANONICAL_BANDS,
        "qa_pixel",
        2.75e-5,
        -0.2,
        False,
    ),
    (
        "stac-geoparquet/tests/data/landsat-c2-l2-pc.json",
        PLANETARY_COMPUTER,
        CANONICAL_BANDS,
        "qa_pixel",
        2.75e-5,
        -0.2,
        False,
    ),
    # USGS's own STAC: no raster:bands at all, so the Landsat C2 L2 defaults apply.
    (
        "odc-stac/tests/data/LC08_L2SP_028030_20200114_20200824_02_T1_SR.json",
        LEGACY,
        CANONICAL_BANDS,
        "qa_pixel",
        2.75e-5,
        -0.2,
        False,
    ),
    (
        "odc-stac/tests/data/LE07_L2SP_044033_20210329_20210424_02_T1_SR.json",
        LEGACY,
        CANONICAL_BANDS,
        "qa_pixel",
        2.75e-5,
        -0.2,
        False,
    ),
    # Earth Search v1 L2A, baselines 05.09/05.11: offset −0.1, agreeing with raster:bands; the
    # boa_offset_applied flag is not consulted, so no warning.
    (
        "pystac-client_cassettes/earthsearch_v1_sentinel-2-l2a.json",
        EARTH_SEARCH_V1,
        CANONICAL_BANDS,
        "scl",
        1e-4,
        -0.1,
        False,
    ),
    (
        "pystac-client_cassettes/all_earth-search_sentinel-2-l2a.geojson",
        EARTH_SEARCH_V1,
        CANONICAL_BANDS,
        "scl",
        1e-4,
        -0.1,
        False,
    ),
    (
        "pystac-client_cassettes/earthsearch_v1_sentinel-2-c1-l2a.json",
        EARTH_SEARCH_V1,
        CANONICAL_BANDS,
        "scl",
        1e-4,
        -0.1,
        False,
    ),
    # Planetary Computer: MSI asset names, no scale/offset metadata at all.
    (
        "pystac-client_cassettes/pc_sentinel-2-l2a.json",
        PLANETARY_COMPUTER,
        MSI,
        "SCL",
        1e-4,
        0.0,
        False,
    ),
    (
        "pystac-client_cassettes/all_planetarycomputer_sentinel-2-l2a.geojson",
        PLANETARY_COMPUTER,
        MSI,
        "SCL",
        1e-4,
        0.0,
        False,
    ),
    (
        "stac-geoparquet/tests/data/sentinel-2-l2a-pc.json",
        PLANETARY_COMPUTER,
        MSI,
        "SCL",
        1e-4,
        -0.1,
        False,
    ),
    (
        "stac-geoparquet/tests/sentinel-2-item.json",
        PLANETARY_COMPUTER,
        MSI,
        "SCL",
        1e-4,
        -0.1,
        False,
    ),
    (
        "odc-stac/tests/data/S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531.json",
        PLANETARY_COMPUTER,
        MSI,
        "SCL",
        1e-4,
        0.0,
        False,
    ),
    (
        "odc-stac/tests/data/S2B_MSIL2A_20190629T212529_R043_T06VVN_20201006T080531_raster_ext.json",
        PLANETARY_COMPUTER,
        MSI,
        "SCL",
        1e-4,
        0.0,
        False,
    ),
    # Earth Search v0: baseline only in sentinel:product_id (N0214).
    ("odc-stac/tests/data/S2A_28QCH_20200714_0_L2A.json", LEGACY, MSI, "SCL", 1e-4, 0.0, False),
]


@pytest.mark.parametrize(
    ("name", "source", "assets", "mask", "scale", "offset", "warns"),
    CASES,
    ids=[c[0].rsplit("/", 1)[-1] for c in CASES],
)
def test_real_items_map_to_assets_and_scale_offset(
    shared_data: Path,
    name: str,
    source: dict[str, CollectionBands],
    assets: tuple[str, ...],
    mask: str,
    scale: float,
    offset: float,
    warns: bool,
) -> None:
    items = [i for i in _items(shared_data, name) if i.assets]
    assert items
    for item in items:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ib = item_bands(item, source[item.collection_id or ""])
        mismatch = [w for w in caught if issubclass(w.category, ScaleOffsetMismatchWarning)]
        assert bool(mismatch) == warns, [str(w.message) for w in mismatch]
        if mismatch:
            assert item.id in str(mismatch[0].message)
        assert tuple(ib.assets[b] for b in CANONICAL_BANDS) == assets
        assert guess_collection_bands(item).assets == assets
        assert all(key in item.assets for key in assets)
        assert ib.mask_asset == mask
        assert ib.scale == pytest.approx(scale, rel=1e-9)
        assert ib.offset == pytest.approx(offset, abs=1e-12)
        assert ib.item_id == item.id
        if ib.sensor == "sentinel2":
            assert ib.baseline is not None
            assert (ib.offset != 0.0) == (ib.baseline >= (4, 0))
            assert ib.platform.startswith("sentinel-2")


def test_items_without_assets_name_item_asset_and_collection(shared_data: Path) -> None:
    # The c1 search cassette holds 10 field-filtered items with no assets.
    stripped = [
        i
        for i in _items(
            shared_data, "pystac-client_cassettes/all_earth-search_sentinel-2-c1-l2a.geojson"
        )
        if not i.assets
    ]
    assert len(stripped) == 10
    with pytest.raises(ItemMetadataError, match=rf"{stripped[0].id}.*'blue'.*sentinel-2-c1-l2a"):
        item_bands(stripped[0], EARTH_SEARCH_V1["sentinel-2-c1-l2a"])


def test_l1c_item_has_no_scl(shared_data: Path) -> None:
    (item,) = _items(shared_data, "pystac-client_cassettes/earthsearch_v1_sentinel-2-l1c.json")
    with pytest.raises(ItemMetadataError, match=r"'scl'.*sentinel-2-l1c"):
        item_bands(item, EARTH_SEARCH_V1["sentinel-2-l2a"])


def _edited(item: pystac.Item, **props: Any) -> pystac.Item:
    out = copy.deepcopy(item)
    for key, value in props.items():
        if value is None:
            out.properties.pop(key, None)
        else:
            out.properties[key] = value
    return out


def test_offset_from_baseline_never_from_date(shared_data: Path) -> None:
    (pc,) = _items(shared_data, "pystac-client_cassettes/pc_sentinel-2-l2a.json")  # 2019, 02.12
    mapping = PLANETARY_COMPUTER["sentinel-2-l2a"]
    # A 2019 scene reprocessed at baseline 04.00 carries the offset despite its date.
    assert item_bands(_edited(pc, **{"s2:processing_baseline": "04.00"}), mapping).offset == -0.1
    assert item_bands(_edited(pc, **{"s2:processing_baseline": "03.01"}), mapping).offset == 0.0
    # Baseline read from the product URI when the property is missing.
    uri = "S2A_MSIL2A_20220301T000001_N0301_R116_T60VUK_20220301T000001.SAFE"
    no_prop = _edited(pc, **{"s2:processing_baseline": None, "s2:product_uri": uri})
    assert item_bands(no_prop, mapping).baseline == (3, 1)
    assert item_bands(no_prop, mapping).offset == 0.0


def test_catalogue_offset_contradicting_baseline_warns_and_baseline_wins(shared_data: Path) -> None:
    (es,) = _items(shared_data, "pystac-client_cassettes/earthsearch_v1_sentinel-2-c1-l2a.json")
    old = _edited(es, **{"s2:processing_baseline": "03.00"})  # raster:bands still say −0.1
    with pytest.warns(
        ScaleOffsetMismatchWarning, match=r"raster:bands offset -0.1.*baseline 03.00"
    ):
        ib = item_bands(old, EARTH_SEARCH_V1["sentinel-2-c1-l2a"])
    assert ib.offset == 0.0


def test_unknown_baseline_is_an_error_naming_item_and_fix(shared_data: Path) -> None:
    (es,) = _items(shared_data, "pystac-client_cassettes/earthsearch_v1_sentinel-2-c1-l2a.json")
    bare = _edited(es, **{"s2:processing_baseline": None, "s2:product_uri": None})
    bare.id = "S2B_T20EPT_20250731_NO_BASELINE"
    with pytest.raises(
        ItemMetadataError, match=r"S2B_T20EPT_20250731_NO_BASELINE.*add s2:processing_baseline"
    ):
        item_bands(bare, EARTH_SEARCH_V1["sentinel-2-c1-l2a"])


def test_wrong_sensor_mapping_is_rejected(shared_data: Path) -> None:
    (landsat,) = _items(shared_data, "pystac-client_cassettes/pc_landsat-c2-l2.json")
    with pytest.raises(ItemMetadataError, match="landsat"):
        item_bands(landsat, PLANETARY_COMPUTER["sentinel-2-l2a"])


def test_collection_bands_must_cover_canonical_bands() -> None:
    with pytest.raises(ValueError, match="missing"):
        CollectionBands("landsat", {"blue": "blue"}, "qa_pixel")
    cb = CollectionBands("sentinel2", dict(zip(CANONICAL_BANDS, MSI, strict=True)), "SCL")
    assert cb.assets == MSI
    with pytest.raises(TypeError):
        cb.bands["blue"] = "B01"  # type: ignore[index]
    # Picklable (dask workers receive these), and still read-only afterwards.
    again = pickle.loads(pickle.dumps(cb))
    assert again == cb and again.assets == MSI
    with pytest.raises(TypeError):
        again.bands["blue"] = "B01"  # type: ignore[index]


def test_item_bands_pickle(shared_data: Path) -> None:
    (item,) = _items(shared_data, "pystac-client_cassettes/pc_landsat-c2-l2.json")
    ib = item_bands(item, PLANETARY_COMPUTER["landsat-c2-l2"])
    assert pickle.loads(pickle.dumps(ib)) == ib
