"""Facts read off a STAC item: which sensor took it, which processing baseline made it.

Kept separate from search and ingest because both need them (dedupe keeps the newest
baseline; scaling decides the BOA offset from it).
"""

from __future__ import annotations

import re

import pystac

from fusion.bands import Sensor
from fusion.errors import ItemMetadataError

# Product URIs and ids carry the baseline as "_N0400_" (S2 naming convention).
_BASELINE_IN_NAME = re.compile(r"_N(\d{2})(\d{2})(?:_|$)")
_BASELINE_PROP = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\s*$")


def sensor_of(item: pystac.Item) -> Sensor:
    """Return ``"landsat"`` or ``"sentinel2"`` for an item, from its collection or platform."""
    collection = (item.collection_id or "").lower()
    platform = str(item.properties.get("platform", "")).lower()
    if "landsat" in collection or platform.startswith("landsat"):
        return "landsat"
    if "sentinel-2" in collection or platform.startswith("sentinel-2"):
        return "sentinel2"
    raise ItemMetadataError(
        f"item {item.id!r}: cannot tell its sensor (collection {item.collection_id!r}, "
        f"platform {platform!r}); fusion reads Landsat C2 L2 and Sentinel-2 L2A collections — "
        "map this collection to a sensor in data_catalog.yaml"
    )


def processing_baseline(item: pystac.Item) -> tuple[int, int] | None:
    """The Sentinel-2 processing baseline of an item as ``(major, minor)``, or None if unknown.

    Read from ``s2:processing_baseline`` first, then from the product URI or the item id
    (``..._N0400_...``). Never guessed from the acquisition date: reprocessed old scenes carry
    new baselines (DESIGN.md, "Band and unit conventions").
    """
    value = item.properties.get("s2:processing_baseline")
    if value is not None:
        match = _BASELINE_PROP.match(str(value))
        if match:
            return int(match.group(1)), int(match.group(2))
    for name in (item.properties.get("s2:product_uri"), item.id):
        if name:
            found = _BASELINE_IN_NAME.search(str(name).removesuffix(".SAFE"))
            if found:
                return int(found.group(1)), int(found.group(2))
    return None
