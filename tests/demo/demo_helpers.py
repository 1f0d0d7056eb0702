"""Constants and helpers of the demo tests."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from odc.geo.geobox import GeoBox

from fusion.demo import DemoCatalog, DemoConfig

# A 1.5 km AOI grid in the default demo's UTM zone, edges on multiples of 30 m.
SMALL_AOI = GeoBox.from_bbox((216_000, 87_000, 217_500, 88_500), crs="EPSG:32635", resolution=10)
START, END = dt.date(2023, 6, 1), dt.date(2023, 9, 30)
# Short history and more duplicates so four months hold clearings and reprocessed scenes.
SMALL_CONFIG = DemoConfig(history_days=30, end_buffer_days=10, sentinel2_duplicate_fraction=0.2)
# No clouds, no haze: every pixel is clear, for radiometric and geometric checks.
CLEAR_CONFIG = DemoConfig(cloud_cover_mean=0.0, haze_fraction=(0.0, 0.0), global_haze_max=0.0)
CLEAR_END = dt.date(2023, 6, 30)


def item_documents(catalog: DemoCatalog) -> list[dict[str, Any]]:
    """Every item JSON written beside its COGs, sorted by datetime."""
    docs = [
        json.loads(path.read_text())
        for path in catalog.root.rglob("*.json")
        if path.parent.name not in ("collections", "truth") and path.name != "demo_catalog.json"
    ]
    return sorted(docs, key=lambda d: (d["properties"]["datetime"], d["id"]))


def facts(catalog: DemoCatalog) -> dict[str, dict[str, Any]]:
    """Per-acquisition facts by item id."""
    return {f["item_id"]: f for f in json.loads(Path(catalog.acquisitions_path).read_text())}
