"""STAC API search through pystac-client against a real stac-fastapi-pgstac server.

Faults (429, 503, slow answers) are injected by the server's ASGI middleware, so the real
requests/urllib3 retry machinery is exercised end to end.
"""

from __future__ import annotations

import time
import warnings
from datetime import UTC, date, datetime
from typing import Any

import pytest
import shapely.geometry
from catalog_helpers import api_source
from pystac_client import Client
from shapely.geometry import box, mapping
from stac_testdata import GENERATED_BBOX
from stac_testserver import StacTestServer, free_port

from fusion.catalog import search_items
from fusion.errors import DuplicateItemWarning, SearchError, TruncatedSearchWarning

pytestmark = [pytest.mark.stac_api, pytest.mark.shared_data]

AOI = mapping(box(*GENERATED_BBOX))
YEAR: dict[str, Any] = {"start": date(2024, 1, 1), "end": date(2024, 12, 31)}
# Two Earth Search tiles in Ceará, Brazil, published in sentinel-2-l2a and sentinel-2-c1-l2a.
CEARA = mapping(box(-40.2, -4.7, -39.95, -4.6))


def expected(
    server: StacTestServer,
    collections: list[str],
    *,
    area: dict[str, Any] = AOI,
    start: date = YEAR["start"],
    end: date = YEAR["end"],
    max_cloud: float | None = None,
) -> set[str]:
    """Ids the server should return, worked out from the loaded items with shapely."""
    aoi = shapely.geometry.shape(area)
    lo = datetime(start.year, start.month, start.day, tzinfo=UTC)
    hi = datetime(end.year, end.month, end.day, 23, 59, 59, 999999, tzinfo=UTC)
    ids = set()
    for item in server.items_in(collections):
        when = datetime.fromisoformat(item["properties"]["datetime"].replace("Z", "+00:00"))
        cloud = item["properties"].get("eo:cloud_cover")
        if not (lo <= when <= hi and shapely.geometry.shape(item["geometry"]).intersects(aoi)):
            continue
        if max_cloud is not None and (cloud is None or cloud >= max_cloud):
            continue
        ids.add(item["id"])
    return ids


def ids(items: list[Any]) -> set[str]:
    return {i.id for i in items}


def test_server_is_a_real_stac_api(api: StacTestServer) -> None:
    client = Client.open(api.url)
    assert client.conforms_to("ITEM_SEARCH") and client.conforms_to("FILTER")
    assert api.startup_s < 20, f"fixture startup took {api.startup_s:.1f} s"
    assert len(api.generated) >= 150


def test_intersects_datetime_and_sensors(api: StacTestServer) -> None:
    result = search_items(api_source(api.url), intersects=AOI, max_cloud=None, **YEAR)
    assert ids(result.items["sentinel2"]) == expected(
        api, ["sentinel-2-c1-l2a", "sentinel-2-l2a"], max_cloud=80
    )
    assert ids(result.items["landsat"]) == expected(api, ["landsat-c2-l2"], max_cloud=80)
    assert all(i.collection_id == "landsat-c2-l2" for i in result.items["landsat"])
    times = [i.datetime for i in result.items["sentinel2"]]
    assert times == sorted(times)  # type: ignore[type-var]


def test_date_range_is_inclusive_of_the_end_day(api: StacTestServer) -> None:
    window: dict[str, Any] = {
        "start": date(2024, 2, 3),
        "end": date(2024, 2, 9),
    }  # scenes on both days
    result = search_items(
        api_source(api.url), intersects=AOI, max_cloud=100, sensors=["sentinel2"], **window
    )
    got = ids(result.items["sentinel2"])
    assert got == expected(api, ["sentinel-2-c1-l2a"], max_cloud=100, **window)
    days = {p.datetime.date() for p in result.provenance if p.datetime is not None}
    assert days == {date(2024, 2, 3), date(2024, 2, 6), date(2024, 2, 9)}
    assert "landsat" not in result.items


def test_bbox_elsewhere_finds_only_real_items_there(api: StacTestServer) -> None:
    with pytest.warns(DuplicateItemWarning):
        result = search_items(
            api_source(api.url),
            intersects=CEARA,
            start=date(2025, 7, 1),
            end=date(2025, 7, 31),
            max_cloud=None,
        )
    real = expected(
        api,
        ["sentinel-2-c1-l2a", "sentinel-2-l2a"],
        area=CEARA,
        start=date(2025, 7, 1),
        end=date(2025, 7, 31),
        max_cloud=80,
    )
    assert real and not result.items["landsat"]
    assert ids(result.items["sentinel2"]) | set(result.duplicates_dropped) == real


@pytest.mark.parametrize("mode", ["auto", "cql2", "query", "client"])
def test_cloud_prefilter_in_every_mode(api: StacTestServer, mode: str) -> None:
    result = search_items(
        api_source(api.url, cloud_filter=mode),
        intersects=AOI,
        max_cloud=30,
        sensors=["sentinel2"],
        **YEAR,
    )
    want = expected(api, ["sentinel-2-c1-l2a"], max_cloud=30)
    assert ids(result.items["sentinel2"]) == want
    assert 0 < len(want) < len(expected(api, ["sentinel-2-c1-l2a"]))
    assert all(p.cloud_cover is not None and p.cloud_cover < 30 for p in result.provenance)


def test_collections_restrict_the_search(api: StacTestServer) -> None:
    source = api_source(api.url, without=("sentinel-2-l2a",))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DuplicateItemWarning)
        result = search_items(
            source, intersects=CEARA, start=date(2025, 7, 1), end=date(2025, 7, 31), max_cloud=None
        )
    assert {i.collection_id for i in result.items["sentinel2"]} == {"sentinel-2-c1-l2a"}
    assert not result.duplicates_dropped


def test_pagination_beyond_one_page(api: StacTestServer) -> None:
    source = api_source(api.url, page_size=10)
    result = search_items(source, intersects=AOI, max_cloud=100, sensors=["sentinel2"], **YEAR)
    search = Client.open(api.url).search(
        collections=["sentinel-2-c1-l2a", "sentinel-2-l2a"], intersects=AOI, datetime="2024-01-01/2024-12-31",
        query={"eo:cloud_cover": {"lt": 100}},
    )  # fmt: skip
    matched = search.matched()
    assert matched is not None and matched > 10
    assert len(result.items["sentinel2"]) == matched
    assert not result.truncated
    assert api.faults.requests("/search") >= matched // 10 + 1  # one POST per page


def test_retries_after_429_and_503(api: StacTestServer) -> None:
    clean = search_items(
        api_source(api.url), intersects=AOI, max_cloud=None, sensors=["landsat"], **YEAR
    )
    api.faults.reset()
    api.faults.fail(429, 2)
    api.faults.fail(503, 1)
    result = search_items(
        api_source(api.url), intersects=AOI, max_cloud=None, sensors=["landsat"], **YEAR
    )
    assert api.faults.injected(429) == 2 and api.faults.injected(503) == 1
    assert ids(result.items["landsat"]) == ids(clean.items["landsat"])
    # the same POST retried: 3 failures then the page
    assert [s for m, p, s in api.faults.log if p == "/search"][:4] == [429, 429, 503, 0]


def test_retry_after_header_is_respected(api: StacTestServer) -> None:
    api.faults.fail(429, 1, retry_after="1")
    t0 = time.perf_counter()
    search_items(api_source(api.url), intersects=AOI, max_cloud=None, sensors=["landsat"], **YEAR)
    assert time.perf_counter() - t0 >= 1.0
    assert api.faults.injected(429) == 1


def test_exhausted_retries_name_the_endpoint_and_status(api: StacTestServer) -> None:
    api.faults.fail(503, 10)
    with pytest.raises(SearchError) as info:
        search_items(api_source(api.url, retries=2), intersects=AOI, max_cloud=None, **YEAR)
    message = str(info.value)
    assert f"STAC API {api.url}/search: HTTP 503" in message
    assert "after 2 retries" in message and "data_catalog.yaml" in message
    assert api.faults.injected(503) == 3  # first try + 2 retries


def test_timeouts_are_retried_then_reported(api: StacTestServer) -> None:
    api.faults.delay(1.5, 1)
    result = search_items(
        api_source(api.url, timeout_s=0.4),
        intersects=AOI,
        max_cloud=None,
        sensors=["landsat"],
        **YEAR,
    )
    assert result.items["landsat"] and api.faults.delayed == 1
    api.faults.reset()
    api.faults.delay(1.5, 5)
    with pytest.raises(
        SearchError,
        match=rf"STAC API {api.url}/search: no answer within timeout_s=0.4 s after 1 retries",
    ):
        search_items(
            api_source(api.url, timeout_s=0.4, retries=1), intersects=AOI, max_cloud=None, **YEAR
        )
    assert api.faults.delayed == 2


def test_client_errors_are_not_retried(api: StacTestServer) -> None:
    api.faults.fail(400, 3)
    with pytest.raises(
        SearchError, match=rf"STAC API {api.url}/search: HTTP 400 .*the API rejected the request"
    ):
        search_items(api_source(api.url), intersects=AOI, max_cloud=None, **YEAR)
    assert api.faults.injected(400) == 1


def test_connection_refused_is_a_search_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(
        SearchError,
        match=rf"STAC API {url}: connection failed \(\[Errno 111\] Connection refused\) after 1 retries",
    ):
        search_items(api_source(url, retries=1), intersects=AOI, max_cloud=None, **YEAR)


def test_truncation_warns_and_flags(api: StacTestServer) -> None:
    with pytest.warns(TruncatedSearchWarning) as record:
        result = search_items(
            api_source(api.url, max_items=7, page_size=5), intersects=AOI, max_cloud=None, **YEAR
        )
    matched = {
        sensor: len(expected(api, [coll], max_cloud=80))
        for sensor, coll in [("landsat", "landsat-c2-l2"), ("sentinel2", "sentinel-2-c1-l2a")]
    }
    assert [str(w.message).split(":")[0:2] for w in record] == [
        [
            "source 'test-api', landsat",
            f" {matched['landsat']} items matched but max_items=7 returned 7; narrow the dates or AOI, or raise search.max_items in data_catalog.yaml",
        ],
        [
            "source 'test-api', sentinel2",
            f" {matched['sentinel2']} items matched but max_items=7 returned 7; narrow the dates or AOI, or raise search.max_items in data_catalog.yaml",
        ],
    ]
    assert result.truncated
    assert len(result.items["sentinel2"]) == 7 and len(result.items["landsat"]) == 7
    assert sum("max_items=7" in w for w in result.warnings) == 2


def test_duplicates_across_s2_collections_keep_collection_1(api: StacTestServer) -> None:
    with pytest.warns(
        DuplicateItemWarning,
        match=r"source 'test-api', sentinel2: dropped 2 duplicate item\(s\) of 4",
    ):
        result = search_items(
            api_source(api.url),
            intersects=CEARA,
            start=date(2025, 7, 31),
            end=date(2025, 7, 31),
            max_cloud=None,
        )
    kept = ids(result.items["sentinel2"])
    assert kept == {"S2B_T24MUV_20250731T130245_L2A", "S2B_T24MUA_20250731T130245_L2A"}
    assert result.duplicates_dropped == {
        "S2B_24MUV_20250731_0_L2A": "S2B_T24MUV_20250731T130245_L2A",
        "S2B_24MUA_20250731_0_L2A": "S2B_T24MUA_20250731T130245_L2A",
    }
    assert [p.item_id for p in result.provenance] == [i.id for i in result.items["sentinel2"]]
    manifest = result.to_dict()
    assert manifest["counts"] == {"landsat": 0, "sentinel2": 2}
    assert manifest["duplicates_dropped"] == result.duplicates_dropped


def test_planetary_computer_items_provenance_has_no_query_strings(api: StacTestServer) -> None:
    pc_area = mapping(box(170.0, 56.0, 171.5, 57.0))  # Kamchatka tiles of the PC cassette
    result = search_items(
        api_source(api.url),
        intersects=pc_area,
        start=date(2019, 1, 1),
        end=date(2019, 1, 1),
        max_cloud=None,
    )
    assert result.items["sentinel2"]
    for record in result.provenance:
        assert set(record.assets) == {"B02", "B03", "B04", "B8A", "B11", "B12", "SCL"}
        assert record.processing_baseline == "02.12" and record.platform == "sentinel-2a"
        assert all(
            href.startswith("https://") and "?" not in href for href in record.assets.values()
        )
