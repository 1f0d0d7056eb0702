"""Provenance: which item, from where, went into a run; written to the run manifest.

Hrefs are recorded without query strings or user info: Planetary Computer SAS tokens (and any
``user:password@``) are credentials that expire or leak, and a manifest is a public record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pystac

from fusion.bands import Sensor
from fusion.catalog.metadata import processing_baseline


@dataclass(frozen=True)
class ItemProvenance:
    """Where one item came from and what it is."""

    item_id: str
    """The STAC item id."""
    source: str
    """Name of the data source in data_catalog.yaml (``demo``, ``earth-search``, ...)."""
    collection: str | None
    """The item's collection id."""
    sensor: Sensor
    """``"landsat"`` or ``"sentinel2"``."""
    datetime: dt.datetime | None
    """Acquisition time (UTC)."""
    platform: str | None
    """Lower-case platform (``landsat-9``, ``sentinel-2b``)."""
    cloud_cover: float | None
    """Scene cloud cover from ``eo:cloud_cover``, %."""
    processing_baseline: str | None
    """Sentinel-2 processing baseline ``"05.11"``; None for Landsat or when unknown."""
    tier: str | None
    """Landsat collection category (T1, T2, RT); None for Sentinel-2."""
    assets: Mapping[str, str] = field(repr=False)
    """Asset key → href, stripped of query strings and credentials."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "assets", MappingProxyType(dict(self.assets)))

    @property
    def baseline(self) -> str | None:
        """Short name of :attr:`processing_baseline`."""
        return self.processing_baseline

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the run manifest."""
        when = self.datetime
        return {
            "item_id": self.item_id,
            "source": self.source,
            "collection": self.collection,
            "sensor": self.sensor,
            "datetime": when.isoformat().replace("+00:00", "Z") if when is not None else None,
            "platform": self.platform,
            "cloud_cover": self.cloud_cover,
            "processing_baseline": self.processing_baseline,
            "tier": self.tier,
            "assets": dict(self.assets),
        }


def clean_href(href: str) -> str:
    """An href without query string, fragment or ``user:password@`` (keeps local paths as is)."""
    parts = urlsplit(href)
    if not parts.scheme or len(parts.scheme) == 1:  # a path, or a Windows drive letter
        return href
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def item_provenance(
    item: pystac.Item,
    *,
    source: str,
    sensor: Sensor,
    asset_keys: Iterable[str] | None = None,
) -> ItemProvenance:
    """Provenance of an item; ``asset_keys`` limits the hrefs to the assets that are read."""
    keys = list(item.assets) if asset_keys is None else [k for k in asset_keys if k in item.assets]
    props = item.properties
    baseline = processing_baseline(item) if sensor == "sentinel2" else None
    cloud = props.get("eo:cloud_cover")
    when = item.datetime or item.common_metadata.start_datetime
    platform = props.get("platform")
    tier = props.get("landsat:collection_category") if sensor == "landsat" else None
    if sensor == "landsat" and tier is None:
        tier = next((t for t in ("T1", "T2", "RT") if item.id.endswith(f"_{t}")), None)
    return ItemProvenance(
        item_id=item.id,
        source=source,
        collection=item.collection_id,
        sensor=sensor,
        datetime=when.astimezone(dt.UTC) if when is not None else None,
        platform=str(platform).lower() if platform is not None else None,
        cloud_cover=float(cloud) if cloud is not None else None,
        processing_baseline=f"{baseline[0]:02d}.{baseline[1]:02d}" if baseline else None,
        tier=str(tier) if tier is not None else None,
        assets={k: clean_href(item.assets[k].href) for k in keys},
    )
