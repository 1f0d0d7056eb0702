"""Search a configured source for the items over an AOI and a date range, per sensor.

:func:`search_items` picks the searcher for the source's ``kind`` (STAC API, stac-geoparquet,
the demo world, Sentinel Hub), runs one search per sensor over that sensor's collections,
drops duplicate acquisitions and records provenance. Searchers share the small
:class:`Searcher` protocol so a new backend is one class.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any, Protocol

import pystac
import shapely.geometry

from fusion.bands import SENSORS, Sensor
from fusion.catalog.dedupe import dedupe_items, duplicates_message
from fusion.catalog.provenance import ItemProvenance, item_provenance
from fusion.catalog.sources import (
    DemoSource,
    GeoparquetSource,
    SearchSettings,
    SentinelHubSource,
    Source,
    StacApiSource,
)
from fusion.errors import DuplicateItemWarning, SearchError, SourceError, TruncatedSearchWarning

if TYPE_CHECKING:
    from odc.geo.geobox import GeoBox

    from fusion.ingest.items import CollectionBands

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchRequest:
    """One search: an AOI, a date range, a cloud limit and the collections of one sensor."""

    intersects: Mapping[str, Any]
    """GeoJSON geometry, EPSG:4326."""
    start: datetime
    """First instant searched (UTC)."""
    end: datetime
    """Last instant searched (UTC, inclusive)."""
    max_cloud: float | None
    """Items with ``eo:cloud_cover`` at or above this are left out; None: no limit."""
    collections: tuple[str, ...]
    """Collection ids to search (all of one sensor)."""
    sensor: Sensor
    """The sensor of those collections."""
    settings: SearchSettings
    """Page size, item cap, retries, timeout."""

    @property
    def datetime_range(self) -> str:
        """RFC 3339 interval as STAC APIs take it."""
        return f"{_rfc3339(self.start)}/{_rfc3339(self.end)}"


@dataclass(frozen=True)
class Hits:
    """What one searcher call returned."""

    items: list[pystac.Item]
    """Items found (at most ``settings.max_items``)."""
    matched: int | None = None
    """How many items the backend says matched, if it says."""
    truncated: bool = False
    """True when matches were left out because of ``max_items``."""


class Searcher(Protocol):
    """A backend that answers :class:`SearchRequest` s."""

    def search(self, request: SearchRequest) -> Hits:
        """Items matching the request; raise SearchError naming the backend on failure."""
        ...


@dataclass(frozen=True)
class SearchResult:
    """Items per sensor after dedupe, with provenance and what went wrong on the way."""

    source: str
    """Name of the source searched."""
    items: Mapping[Sensor, list[pystac.Item]]
    """Sensor → items sorted by time, one per acquisition; every requested sensor is a key."""
    provenance: list[ItemProvenance]
    """One record per kept item, for the run manifest."""
    truncated: bool = False
    """True when a search hit ``max_items`` and matching items were left out."""
    duplicates_dropped: Mapping[str, str] = field(default_factory=dict)
    """Dropped duplicate item id → id of the item kept instead."""
    warnings: list[str] = field(default_factory=list)
    """Messages of the warnings raised during the search (also in the manifest)."""
    bands: Mapping[str, CollectionBands] = field(default_factory=dict)
    """Collection id → how ingest reads its items (``load_sensor``'s mapping)."""
    patch_url: Callable[[str], str] | None = None
    """Signs asset hrefs right before reading (Planetary Computer); None: read as they are."""

    def __len__(self) -> int:
        return sum(len(v) for v in self.items.values())

    def all_items(self) -> list[pystac.Item]:
        """Items of every sensor, sorted by time."""
        return sorted((i for v in self.items.values() for i in v), key=_item_time)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary for the run manifest."""
        return {
            "source": self.source,
            "counts": {sensor: len(items) for sensor, items in self.items.items()},
            "truncated": self.truncated,
            "duplicates_dropped": dict(self.duplicates_dropped),
            "warnings": list(self.warnings),
            "items": [p.to_dict() for p in self.provenance],
        }


def search_items(
    source: Source,
    *,
    intersects: Mapping[str, Any],
    start: date,
    end: date,
    max_cloud: float | None,
    sensors: Sequence[Sensor] = SENSORS,
    demo_geobox: GeoBox | None = None,
) -> SearchResult:
    """Search one source for items over ``intersects`` (GeoJSON, EPSG:4326) from start to end.

    ``end`` is inclusive (the whole day). ``max_cloud`` None takes the source's
    ``search.max_cloud``. ``demo_geobox`` (the AOI grid) is needed by the demo source only.
    Warns TruncatedSearchWarning when a search hits ``max_items`` and DuplicateItemWarning
    when duplicates are dropped; both messages are kept in ``SearchResult.warnings``.
    """
    geometry = _check_geometry(intersects)
    if _as_date(start) > _as_date(end):
        raise SearchError(f"search dates: start {start} is after end {end}; swap them")
    settings = source.search_settings
    request_start = datetime.combine(_as_date(start), time.min, tzinfo=UTC)
    request_end = datetime.combine(_as_date(end), time.max, tzinfo=UTC)
    searcher = searcher_for(
        source, demo_geobox=demo_geobox, start=_as_date(start), end=_as_date(end)
    )
    cloud = settings.max_cloud if max_cloud is None else max_cloud

    found: dict[Sensor, list[pystac.Item]] = {}
    dropped: dict[str, str] = {}
    messages: list[str] = []
    truncated = False
    for sensor in sensors:
        collections = tuple(source.collections_for(sensor))
        if not collections:
            note = f"source {source.name!r} has no {sensor} collection; none searched"
            log.info(note)
            messages.append(note)
            found[sensor] = []
            continue
        request = SearchRequest(
            geometry, request_start, request_end, cloud, collections, sensor, settings
        )
        hits = searcher.search(request)
        log.info(
            "%s: %d %s item(s) found (%s)",
            source.name,
            len(hits.items),
            sensor,
            ", ".join(collections),
        )
        if hits.truncated:
            truncated = True
            messages.append(_warn_truncated(source.name, sensor, hits, settings))
        deduped = dedupe_items(hits.items, collection_priority=collections, warn=False)
        if deduped.dropped:
            context = f"source {source.name!r}, {sensor}: "
            message = duplicates_message(deduped.dropped, len(hits.items), context=context)
            warnings.warn(message, DuplicateItemWarning, stacklevel=2)
            messages.append(message)
        dropped.update(deduped.dropped)
        found[sensor] = sorted(deduped.kept, key=_item_time)

    provenance = [
        item_provenance(
            item, source=source.name, sensor=sensor, asset_keys=_asset_keys(source, item)
        )
        for sensor, items in found.items()
        for item in items
    ]
    bands = {cid: config.to_bands() for cid, config in source.collections.items()}
    return SearchResult(
        source.name, found, provenance, truncated, dropped, messages, bands, source.patch_url
    )


def searcher_for(
    source: Source, *, demo_geobox: GeoBox | None = None, start: date, end: date
) -> Searcher:
    """The searcher for a source's kind (imports backends lazily: sentinelhub is slow to import)."""
    if isinstance(source, StacApiSource):
        from fusion.catalog.stac_api import StacApiSearcher

        return StacApiSearcher(source)
    if isinstance(source, GeoparquetSource):
        from fusion.catalog.geoparquet import GeoparquetSearcher

        return GeoparquetSearcher(source.path, source_name=source.name)
    if isinstance(source, DemoSource):
        from fusion.catalog.geoparquet import demo_searcher

        return demo_searcher(source, geobox=demo_geobox, start=start, end=end)
    if isinstance(source, SentinelHubSource):
        from fusion.catalog.sentinelhub import SentinelHubSearcher

        return SentinelHubSearcher(source)
    raise SourceError(
        f"source {getattr(source, 'name', source)!r}: unsupported kind; fix its `kind`"
    )


def cloud_ok(item_properties: Mapping[str, Any], max_cloud: float | None) -> bool:
    """True unless the item's ``eo:cloud_cover`` is known and not below ``max_cloud``.

    Items without cloud cover are kept: the pixel masks judge them at ingest.
    """
    if max_cloud is None:
        return True
    cloud = item_properties.get("eo:cloud_cover")
    return cloud is None or float(cloud) < max_cloud


def items_from_dicts(dicts: list[dict[str, Any]]) -> list[pystac.Item]:
    """pystac Items from item dicts (dicts are consumed)."""
    with warnings.catch_warnings():
        # pystac migrates storage extension v1 → v2 and warns for every https asset it cannot
        # map to a bucket (Earth Search v1 items); harmless, and it would flood the logs.
        warnings.filterwarnings("ignore", "Could not parse bucket/account from href", UserWarning)
        return [pystac.Item.from_dict(d, preserve_dict=False) for d in dicts]


def _warn_truncated(source: str, sensor: Sensor, hits: Hits, settings: SearchSettings) -> str:
    matched = (
        f"{hits.matched} items matched" if hits.matched is not None else "more items may match"
    )
    message = (
        f"source {source!r}, {sensor}: {matched} but max_items={settings.max_items} returned "
        f"{len(hits.items)}; narrow the dates or AOI, or raise search.max_items in data_catalog.yaml"
    )
    warnings.warn(message, TruncatedSearchWarning, stacklevel=3)
    return message


def _asset_keys(source: Source, item: pystac.Item) -> list[str] | None:
    config = source.collections.get(item.collection_id or "")
    if config is None:
        return None
    return [*config.bands.values(), config.mask_asset]


def _check_geometry(intersects: Mapping[str, Any]) -> dict[str, Any]:
    try:
        geom = shapely.geometry.shape(intersects)
    except Exception as err:  # shapely raises several types for bad GeoJSON
        raise SearchError(
            f"search area: not a GeoJSON geometry ({err}); pass a Polygon or MultiPolygon in EPSG:4326"
        ) from err
    minx, miny, maxx, maxy = geom.bounds
    if geom.is_empty or not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise SearchError(
            f"search area: bounds {geom.bounds} are empty or not longitude/latitude; reproject "
            "the AOI to EPSG:4326 (fusion.aoi.read_aoi does)"
        )
    return dict(intersects)


def _as_date(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _item_time(item: pystac.Item) -> tuple[datetime, str]:
    when = item.datetime or item.common_metadata.start_datetime or datetime.min.replace(tzinfo=UTC)
    return (when, item.id)
