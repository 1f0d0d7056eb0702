"""Items for the test STAC API: real ones from ../shared/data and generated ones for paging.

Generated items copy a real Earth Search item and move it over the demo AOI (Yangambi, DR
Congo), where no real item lies, with deterministic dates and cloud cover.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Generated items lie over the demo AOI (Yangambi, DR Congo) so they never mix with real ones.
GENERATED_BBOX = (24.30, 0.60, 24.70, 1.00)
N_GENERATED_S2 = 120
N_GENERATED_LANDSAT = 45


def collection_doc(collection_id: str) -> dict[str, Any]:
    """A minimal valid STAC collection."""
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": collection_id,
        "description": f"{collection_id} (test copy)",
        "license": "proprietary",
        "extent": {
            "spatial": {"bbox": [[-180.0, -90.0, 180.0, 90.0]]},
            "temporal": {"interval": [["2013-01-01T00:00:00Z", None]]},
        },
        "links": [],
    }


def read_features(path: Path) -> list[dict[str, Any]]:
    """Items of a STAC item, ItemCollection or list-of-items JSON file."""
    data = json.loads(path.read_text())
    if isinstance(data, list):
        return data
    if data.get("type") == "FeatureCollection":
        return list(data["features"])
    return [data]


REAL_ITEM_FILES = (
    "pystac-client_cassettes/all_earth-search_sentinel-2-c1-l2a.geojson",
    "pystac-client_cassettes/all_earth-search_sentinel-2-l2a.geojson",
    "pystac-client_cassettes/all_planetarycomputer_landsat-c2-l2.geojson",
    "pystac-client_cassettes/all_planetarycomputer_sentinel-2-l2a.geojson",
    "pystac-client_cassettes/earthsearch_v1_landsat-c2-l2.json",
    "stac-geoparquet/tests/data/landsat-c2-l2-pc.json",
    "stac-geoparquet/tests/data/sentinel-2-l2a-pc.json",
)


def real_items(stac_items: Path) -> list[dict[str, Any]]:
    """Real Earth Search and Planetary Computer items, one copy of each (id, collection).

    Items saved from a ``fields``-limited search (no geometry) cannot be indexed and are left out.
    """
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for name in REAL_ITEM_FILES:
        for feature in read_features(stac_items / name):
            if not feature.get("geometry"):
                continue
            seen.setdefault((feature["collection"], feature["id"]), feature)
    return list(seen.values())


def _box(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Polygon", "coordinates": [ring]}


def _retarget(
    template: dict[str, Any],
    item_id: str,
    when: datetime,
    cloud: float,
    bbox: tuple[float, float, float, float],
) -> dict[str, Any]:
    item = copy.deepcopy(template)
    old_id = item["id"]
    item["id"] = item_id
    item["bbox"] = list(bbox)
    item["geometry"] = _box(*bbox)
    props = item["properties"]
    props["datetime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    props["eo:cloud_cover"] = cloud
    item["links"] = []
    for asset in item["assets"].values():
        asset["href"] = asset["href"].replace(old_id, item_id)
    return item


def generated_items(
    s2_template: dict[str, Any], landsat_template: dict[str, Any]
) -> list[dict[str, Any]]:
    """Deterministic items over :data:`GENERATED_BBOX`: enough to span several result pages."""
    x0, y0, x1, y1 = GENERATED_BBOX
    items = []
    start = datetime(2024, 1, 1, 8, 50, 19, tzinfo=UTC)
    for i in range(N_GENERATED_S2):
        when = start + timedelta(days=3 * i)
        platform = "sentinel-2a" if i % 2 else "sentinel-2b"
        item_id = f"S2{platform[-1].upper()}_T35NKA_{when:%Y%m%dT%H%M%S}_L2A"
        item = _retarget(s2_template, item_id, when, float((i * 37) % 101), (x0, y0, x1, y1))
        props = item["properties"]
        props.update(
            {
                "platform": platform,
                "grid:code": "MGRS-35NKA",
                "mgrs:utm_zone": 35,
                "mgrs:latitude_band": "N",
                "mgrs:grid_square": "KA",
            }
        )
        props["s2:product_uri"] = (
            f"S2{platform[-1].upper()}_MSIL2A_{when:%Y%m%dT%H%M%S}_N0510_R036_T35NKA.SAFE"
        )
        props["s2:processing_baseline"] = "05.10"
        items.append(item)
    start = datetime(2024, 1, 4, 8, 21, 5, tzinfo=UTC)
    for i in range(N_GENERATED_LANDSAT):
        when = start + timedelta(days=8 * i)
        platform = "landsat-8" if i % 2 else "landsat-9"
        item_id = f"LC0{platform[-1]}_L2SP_176060_{when:%Y%m%d}_02_T1"
        item = _retarget(
            landsat_template,
            item_id,
            when,
            float((i * 53) % 101),
            (x0 + 0.05, y0 + 0.05, x1 - 0.05, y1 - 0.05),
        )
        props = item["properties"]
        props.update(
            {
                "platform": platform,
                "landsat:wrs_path": "176",
                "landsat:wrs_row": "060",
                "grid:code": "WRS2-176060",
                "landsat:collection_category": "T1",
            }
        )
        items.append(item)
    return items
