"""Search of a stac-geoparquet file written from real items, and the demo source's wiring."""

from __future__ import annotations

import warnings
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely.geometry
from shapely.geometry import box, mapping
from stac_testdata import read_features

from fusion.catalog import parse_catalog, search_items
from fusion.errors import SearchError, SourceError, TruncatedSearchWarning

pytestmark = pytest.mark.shared_data

FILES = (
    "pystac-client_cassettes/all_planetarycomputer_sentinel-2-l2a.geojson",
    "pystac-client_cassettes/all_planetarycomputer_landsat-c2-l2.geojson",
    "stac-geoparquet/tests/data/sentinel-2-l2a-pc.json",
    "stac-geoparquet/tests/data/landsat-c2-l2-pc.json",
)
KAMCHATKA = mapping(box(170.0, 56.0, 171.5, 57.0))
CATALOG = """\
default_source: local
sources:
  local:
    kind: geoparquet
    path: items.parquet
    search: {max_cloud: 100, max_items: 1000}
    collections:
      landsat-c2-l2:
        sensor: landsat
        bands: {blue: blue, green: green, red: red, nir08: nir08, swir16: swir16, swir22: swir22}
        mask_asset: qa_pixel
      sentinel-2-l2a:
        sensor: sentinel2
        bands: {blue: B02, green: B03, red: B04, nir08: B8A, swir16: B11, swir22: B12}
        mask_asset: SCL
"""


@pytest.fixture(scope="module")
def real_dicts(shared_data: Path) -> list[dict[str, Any]]:
    return [f for name in FILES for f in read_features(shared_data / "stac-items" / name)]


@pytest.fixture(scope="module")
def parquet_dir(real_dicts: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    import stac_geoparquet.arrow as sga

    folder = tmp_path_factory.mktemp("geoparquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # stac-geoparquet notes the schema inference it does
        sga.to_parquet(sga.parse_stac_items_to_arrow(real_dicts), folder / "items.parquet")
    (folder / "data_catalog.yaml").write_text(CATALOG)
    return folder


def source_in(folder: Path, text: str = CATALOG) -> Any:
    return parse_catalog(text, source=folder / "data_catalog.yaml").source()


def expected(
    dicts: list[dict[str, Any]], area: dict[str, Any], collection: str, max_cloud: float
) -> set[str]:
    aoi = shapely.geometry.shape(area)
    return {
        d["id"]
        for d in dicts
        if d["collection"] == collection
        and shapely.geometry.shape(d["geometry"]).intersects(aoi)
        and d["properties"]["eo:cloud_cover"] < max_cloud
    }


def test_finds_the_items_whose_footprint_intersects(
    parquet_dir: Path, real_dicts: list[dict[str, Any]]
) -> None:
    source = source_in(parquet_dir)
    assert source.path == parquet_dir.resolve() / "items.parquet"
    result = search_items(
        source, intersects=KAMCHATKA, start=date(2019, 1, 1), end=date(2019, 1, 1), max_cloud=55
    )
    want = expected(real_dicts, KAMCHATKA, "sentinel-2-l2a", 55)
    assert {i.id for i in result.items["sentinel2"]} == want
    assert result.items["landsat"] == []
    item = result.items["sentinel2"][0]
    original = next(d for d in real_dicts if d["id"] == item.id)
    assert item.assets["B8A"].href == original["assets"]["B8A"]["href"]
    assert (
        item.properties["s2:processing_baseline"]
        == original["properties"]["s2:processing_baseline"]
    )
    assert [p.item_id for p in result.provenance] == [i.id for i in result.items["sentinel2"]]


def test_footprint_not_bbox_decides(parquet_dir: Path, real_dicts: list[dict[str, Any]]) -> None:
    # Inside the bounding box of tile 60VUK, outside its (and every other) footprint.
    corner = box(173.717, 58.345, 173.737, 58.365)
    in_bbox = [d["id"] for d in real_dicts if box(*d["bbox"]).intersects(corner)]
    assert any("T60VUK" in i for i in in_bbox)
    result = search_items(
        source_in(parquet_dir),
        intersects=mapping(corner),
        start=date(2019, 1, 1),
        end=date(2019, 1, 1),
        max_cloud=None,
    )
    assert len(result) == 0


def test_dates_and_collections_are_filtered(
    parquet_dir: Path, real_dicts: list[dict[str, Any]]
) -> None:
    tasmania = mapping(box(145.0, -45.0, 152.0, -37.0))
    source = source_in(parquet_dir)
    result = search_items(
        source, intersects=tasmania, start=date(2024, 4, 17), end=date(2024, 4, 17), max_cloud=None
    )
    assert {i.id for i in result.items["landsat"]} == expected(
        real_dicts, tasmania, "landsat-c2-l2", 100
    )
    assert len(result.items["landsat"]) == 4
    assert not search_items(
        source, intersects=tasmania, start=date(2024, 4, 18), end=date(2024, 5, 1), max_cloud=None
    ).items["landsat"]
    only_s2 = search_items(
        source,
        intersects=tasmania,
        start=date(2024, 4, 17),
        end=date(2024, 4, 17),
        max_cloud=None,
        sensors=["sentinel2"],
    )
    assert list(only_s2.items) == ["sentinel2"]


def test_truncation(parquet_dir: Path) -> None:
    source = source_in(parquet_dir, CATALOG.replace("max_items: 1000", "max_items: 5"))
    with pytest.warns(
        TruncatedSearchWarning, match=r"sentinel2: 33 items matched but max_items=5 returned 5"
    ):
        result = search_items(
            source,
            intersects=mapping(box(160, 50, 180, 60)),
            start=date(2019, 1, 1),
            end=date(2019, 1, 2),
            max_cloud=None,
            sensors=["sentinel2"],
        )
    assert result.truncated and len(result.items["sentinel2"]) == 5


def test_missing_or_foreign_files_are_search_errors(tmp_path: Path) -> None:
    (tmp_path / "data_catalog.yaml").write_text(CATALOG)
    source = source_in(tmp_path)
    with pytest.raises(
        SearchError, match=r"items\.parquet \(source 'local'\): file not found; fix `path`"
    ):
        search_items(
            source,
            intersects=KAMCHATKA,
            start=date(2019, 1, 1),
            end=date(2019, 1, 1),
            max_cloud=None,
        )
    pq.write_table(pa.table({"id": ["a"], "value": [1]}), tmp_path / "items.parquet")
    with pytest.raises(
        SearchError, match=r"not a stac-geoparquet table .*missing collection, datetime, geometry"
    ):
        search_items(
            source,
            intersects=KAMCHATKA,
            start=date(2019, 1, 1),
            end=date(2019, 1, 1),
            max_cloud=None,
        )


def test_demo_source_searches_the_demo_index(
    parquet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import fusion.demo

    calls: list[dict[str, Any]] = []

    def fake_ensure(
        geobox: Any, *, start: date, end: date, seed: int = 0, cache_dir: Path | None = None
    ) -> Any:
        calls.append(
            {"geobox": geobox, "start": start, "end": end, "seed": seed, "cache_dir": cache_dir}
        )
        return SimpleNamespace(items_parquet=parquet_dir / "items.parquet")

    monkeypatch.setattr(fusion.demo, "ensure_demo_catalog", fake_ensure, raising=False)
    demo = parse_catalog(
        CATALOG.replace("kind: geoparquet\n    path: items.parquet", "kind: demo\n    seed: 7"),
        source=parquet_dir / "x.yaml",
    ).source()
    grid: Any = object()  # stands in for a GeoBox: the fake only passes it on
    result = search_items(
        demo,
        intersects=KAMCHATKA,
        start=date(2019, 1, 1),
        end=date(2019, 1, 1),
        max_cloud=None,
        demo_geobox=grid,
    )
    assert calls == [
        {
            "geobox": grid,
            "start": date(2019, 1, 1),
            "end": date(2019, 1, 1),
            "seed": 7,
            "cache_dir": None,
        }
    ]
    assert result.items["sentinel2"] and result.source == "local"


def test_demo_source_needs_the_grid(parquet_dir: Path) -> None:
    demo = parse_catalog(
        CATALOG.replace("kind: geoparquet\n    path: items.parquet", "kind: demo"),
        source=parquet_dir / "x.yaml",
    ).source()
    with pytest.raises(SourceError, match=r"pass demo_geobox=tile\.geobox"):
        search_items(
            demo, intersects=KAMCHATKA, start=date(2019, 1, 1), end=date(2019, 1, 1), max_cloud=None
        )
