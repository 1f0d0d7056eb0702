"""Helpers shared by the catalogue tests (a module of its own: conftest modules clash by name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pystac
from stac_testdata import read_features

from fusion.catalog import SearchSettings, StacApiSource
from fusion.catalog.search import items_from_dicts


def api_source(
    url: str, *, cloud_filter: str = "auto", without: tuple[str, ...] = (), **search: Any
) -> StacApiSource:
    """A stac-api source over the test server's collections, with quick retries."""
    same = {b: b for b in ("blue", "green", "red", "nir08", "swir16", "swir22")}
    pc_s2 = {
        "blue": "B02",
        "green": "B03",
        "red": "B04",
        "nir08": "B8A",
        "swir16": "B11",
        "swir22": "B12",
    }
    collections = {
        "landsat-c2-l2": {"sensor": "landsat", "bands": same, "mask_asset": "qa_pixel"},
        "sentinel-2-c1-l2a": {"sensor": "sentinel2", "bands": same, "mask_asset": "scl"},
        "sentinel-2-l2a": {"sensor": "sentinel2", "bands": pc_s2, "mask_asset": "SCL"},
    }
    source = StacApiSource.model_validate(
        {
            "kind": "stac-api",
            "url": url,
            "cloud_filter": cloud_filter,
            "collections": {k: v for k, v in collections.items() if k not in without},
        }
    )
    defaults = {"retries": 3, "backoff_factor": 0.0, "timeout_s": 5.0, "page_size": 50, **search}
    return source.bind("test-api", SearchSettings(**defaults))


def load_item(path: Path) -> pystac.Item:
    return items_from_dicts(read_features(path)[:1])[0]


def load_items(path: Path) -> list[pystac.Item]:
    """Items of a file, leaving out those saved without geometry (fields-limited searches)."""
    return items_from_dicts([f for f in read_features(path) if f.get("geometry")])


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path
