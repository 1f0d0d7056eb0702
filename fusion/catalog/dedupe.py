"""Drop duplicate items: the same acquisition published twice (reprocessing, two collections).

Sentinel-2: the same MGRS tile sensed at the same time (within a second) is one acquisition,
whatever the collection (Earth Search ``sentinel-2-l2a`` and ``sentinel-2-c1-l2a`` both carry
it) or processing baseline (ESA reprocesses the archive: 02.xx → 05.00). Keep the newest
baseline, then the newest processing (``s2:generation_time``, else ``created``).

Landsat: the same platform, WRS-2 path/row and date is one scene. Keep Tier 1 over Tier 2 over
Real-Time (RT scenes are replaced by T1/T2 about two weeks later, USGS Landsat Collection 2
tiers), then the newest processing.

Remaining ties go to the collection listed first in data_catalog.yaml, then the smaller id,
so the result never depends on the order an API returned the items in.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import pystac

from fusion.catalog.metadata import processing_baseline, sensor_of
from fusion.errors import DuplicateItemWarning, ItemMetadataError

# Two items of one tile closer in time than this are the same acquisition; distinct
# acquisitions of a tile are at least one orbit (~100 min) apart.
SAME_SENSING: Final = timedelta(seconds=1)
_TIERS: Final = {"T1": 3, "T2": 2, "RT": 1}
_MIN_TIME: Final = datetime.min.replace(tzinfo=UTC)

# S2 tile in ids: S2B_T20EPT_..., S2B_20EPT_..., S2A_MSIL2A_..._T60VUK_...
_S2_TILE_IN_ID = re.compile(r"_T?(\d{2}[C-X][A-Z]{2})(?:_|$)")
# Landsat C2 product ids: LC08_L2SP_033032_20231008[_20231017]_02_T1
_LANDSAT_ID = re.compile(
    r"^L[COTEM]0?(\d)_L\w{3}_(\d{3})(\d{3})_(\d{8})(?:_(\d{8}))?_\d{2}_(T1|T2|RT)\b"
)


@dataclass(frozen=True)
class DedupeResult:
    """Items kept, and what was dropped in favour of what."""

    kept: list[pystac.Item]
    """One item per acquisition, in the input order."""
    dropped: dict[str, str] = field(default_factory=dict)
    """Dropped item id → id of the item kept in its place."""


def s2_tile(item: pystac.Item) -> str | None:
    """MGRS tile (``35NKA``) from grid:code, mgrs:* / s2:mgrs_tile, or the id."""
    props = item.properties
    code = str(props.get("grid:code", ""))
    if code.upper().startswith("MGRS-"):
        return code[5:].upper()
    if props.get("s2:mgrs_tile"):
        return str(props["s2:mgrs_tile"]).upper().removeprefix("T")
    zone, band, square = (
        props.get(k) for k in ("mgrs:utm_zone", "mgrs:latitude_band", "mgrs:grid_square")
    )
    if zone is not None and band and square:
        return f"{int(zone):02d}{band}{square}".upper()
    found = _S2_TILE_IN_ID.search(item.id)
    return found.group(1) if found else None


def landsat_scene(item: pystac.Item) -> tuple[str, str, str, str] | None:
    """(platform digit, path, row, acquisition date YYYYMMDD) of a Landsat item, if known."""
    props = item.properties
    parsed = _LANDSAT_ID.match(item.id)
    platform = (
        str(props.get("platform", "")).lower().removeprefix("landsat-").removeprefix("landsat_")
    )
    path, row = props.get("landsat:wrs_path"), props.get("landsat:wrs_row")
    when = item.datetime.strftime("%Y%m%d") if item.datetime is not None else None
    if parsed:
        platform = platform or parsed.group(1)
        path, row = path or parsed.group(2), row or parsed.group(3)
        when = parsed.group(4)
    if not (platform and path and row and when):
        return None
    return platform, f"{int(path):03d}", f"{int(row):03d}", when


def landsat_tier(item: pystac.Item) -> str | None:
    tier = item.properties.get("landsat:collection_category")
    if tier:
        return str(tier).upper()
    parsed = _LANDSAT_ID.match(item.id)
    return parsed.group(6) if parsed else None


def _time(value: object) -> datetime | None:
    if not value:
        return None
    text = str(value)
    try:
        if re.fullmatch(r"\d{8}", text):
            parsed = datetime.strptime(text, "%Y%m%d")
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _processed(item: pystac.Item) -> datetime:
    """When the item's product was made: generation time, product date, else catalogue time."""
    props = item.properties
    parsed = _LANDSAT_ID.match(item.id)
    candidates = (
        props.get("s2:generation_time"),
        props.get("landsat:product_generated"),
        parsed.group(5) if parsed else None,
        props.get("created"),
        props.get("updated"),
    )
    return next((t for t in map(_time, candidates) if t is not None), _MIN_TIME)


def _rank(item: pystac.Item, priority: dict[str, int]) -> tuple[object, ...]:
    """Sort key: the smallest is the item to keep."""
    if sensor_of(item) == "sentinel2":
        quality: tuple[int, ...] = processing_baseline(item) or (-1, -1)
    else:
        quality = (_TIERS.get(landsat_tier(item) or "", 0),)
    order = priority.get(item.collection_id or "", len(priority))
    neg_quality = tuple(-q for q in quality)
    return (neg_quality, -_processed(item).timestamp(), order, item.id)


def _groups(items: Sequence[pystac.Item]) -> list[list[int]]:
    """Indices of items that are the same acquisition (groups of one included)."""
    by_key: dict[tuple[str, ...], list[int]] = {}
    s2_by_tile: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        try:
            sensor = sensor_of(item)
        except ItemMetadataError:
            sensor = None
        if sensor == "sentinel2" and item.datetime is not None and (tile := s2_tile(item)):
            s2_by_tile.setdefault(tile, []).append(i)
            continue
        scene = landsat_scene(item) if sensor == "landsat" else None
        key = ("landsat", *scene) if scene else ("id", item.collection_id or "", item.id)
        by_key.setdefault(key, []).append(i)
    groups = list(by_key.values())
    for members in s2_by_tile.values():
        members.sort(key=lambda i: items[i].datetime or _MIN_TIME)
        current = [members[0]]
        for i in members[1:]:
            first = items[current[0]].datetime
            now = items[i].datetime
            if first is not None and now is not None and now - first < SAME_SENSING:
                current.append(i)
            else:
                groups.append(current)
                current = [i]
        groups.append(current)
    return groups


def dedupe_items(
    items: Iterable[pystac.Item],
    *,
    collection_priority: Sequence[str] = (),
    warn: bool = True,
) -> DedupeResult:
    """Keep one item per acquisition (see module docstring); warn DuplicateItemWarning."""
    listed = list(items)
    priority = {c: i for i, c in enumerate(collection_priority)}
    keep: set[int] = set()
    dropped: dict[str, str] = {}
    for group in _groups(listed):
        best = min(group, key=lambda i: _rank(listed[i], priority))
        keep.add(best)
        for i in group:
            if i != best and listed[i] is not listed[best]:
                dropped[listed[i].id] = listed[best].id
    kept = [item for i, item in enumerate(listed) if i in keep]
    if dropped and warn:
        warnings.warn(duplicates_message(dropped, len(listed)), DuplicateItemWarning, stacklevel=2)
    return DedupeResult(kept=kept, dropped=dropped)


def duplicates_message(dropped: dict[str, str], total: int, *, context: str = "") -> str:
    """The DuplicateItemWarning text: counts and the first few dropped → kept ids."""
    shown = ", ".join(f"{d} (kept {k})" for d, k in list(dropped.items())[:5])
    more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
    return (
        f"{context}dropped {len(dropped)} duplicate item(s) of {total} (the same acquisition "
        f"published twice; kept the newest baseline/tier/processing): {shown}{more}"
    )
